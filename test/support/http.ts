/**
 * Reading a running server the way a probe or a scraper does: a GET's status and body, and one
 * unlabelled metric's value out of Prometheus text.
 */

/** GETs `url`: its status and body text. */
export async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

/** The value of the unlabelled sample `name` in Prometheus text (NaN when absent). */
export const metric = (text: string, name: string): number =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.slice(name.length)
      .trim(),
  );
