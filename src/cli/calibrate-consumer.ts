/**
 * The consumer half of `shoal plan --calibrate`, in a process of its own so that its resident
 * memory is a consumer's alone. Arguments: a filesystem store, a namespace, and the versions as
 * JSON (`[{version, changes}]`): it loads the first, pinned, then refreshes to each next one,
 * and prints its figures as one JSON object.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Consumer, FsBlobStore } from '../index.ts';

const [dir, namespace, list] = process.argv.slice(2) as [string, string, string];
const versions = JSON.parse(list) as { version: number; changes: number }[];
const rss = () => process.memoryUsage().rss;
const baseRss = rss();
const consumer = await Consumer.open({
  store: new FsBlobStore({ dir }),
  namespace,
  pin: versions[0]!.version,
  watch: false,
});
const loadedRss = rss();
/** The resident high-water mark (Linux's VmHWM), or the process's peak where there is none. */
const highWater = (): number => {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb !== undefined) return Number(kb) * 1024;
  } catch {}
  return process.resourceUsage().maxRSS * 1024; // in kilobytes
};
/** Linux resets the high-water mark to the resident size now ("5"); false where it cannot. */
const resetHighWater = (): boolean => {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
};
const loadPeakRss = highWater();
let reset = true;
const refreshes: { changes: number; ms: number; rssBefore: number; peakRss: number }[] = [];
for (const v of versions.slice(1)) {
  const rssBefore = rss();
  reset = resetHighWater() && reset;
  const start = performance.now();
  await consumer.refreshTo(v.version);
  refreshes.push({ changes: v.changes, ms: performance.now() - start, rssBefore, peakRss: highWater() });
}
const peakRss = Math.max(loadedRss, ...refreshes.map((r) => r.peakRss));
await consumer.close();
process.stdout.write(JSON.stringify({ baseRss, loadedRss, loadPeakRss, peakRss, reset, refreshes }));
