/**
 * A strict RFC 4180 CSV parser: cells as written, before any schema sees them.
 *
 * Invariants: a quote never closed, a quote inside an unquoted cell or text after a closing
 * quote is a problem for that row (reported with the row's first line), and parsing goes on at
 * the next line; nothing is guessed or repaired. Line numbers count LF, CRLF and a lone CR once
 * each, inside quoted cells too, so a problem's line is the one an editor shows.
 */
/** One row of CSV text, with the line it starts on. */
export interface CsvRow {
  readonly line: number;
  readonly cells: readonly string[];
  /** Per cell: written in quotes (so `""` is an empty string, not a blank). */
  readonly quoted: readonly boolean[];
}

/**
 * Splits CSV text into rows (RFC 4180: quoted cells, doubled quotes, line breaks inside quotes;
 * rows end with LF, CRLF or CR; blank lines are skipped). A row that breaks the grammar is
 * reported and reading goes on at the next line.
 */
export function parseCsv(text: string, problem: (line: number, message: string) => void): CsvRow[] {
  const rows: CsvRow[] = [];
  const n = text.length;
  let line = 1;
  const isBreak = (j: number) => text[j] === '\n' || text[j] === '\r';
  /** Line breaks in text[from, to): LF, CRLF and a lone CR count one each. */
  const breaks = (from: number, to: number) => {
    let count = 0;
    for (let j = from; j < to; j++)
      if (text[j] === '\n' || (text[j] === '\r' && text[j + 1] !== '\n')) count++;
    return count;
  };
  /** Just past the line break at or after `from`, counting it. */
  const nextLine = (from: number) => {
    let j = from;
    while (j < n && !isBreak(j)) j++;
    if (j < n) {
      line++;
      j += text[j] === '\r' && text[j + 1] === '\n' ? 2 : 1;
    }
    return j;
  };
  let i = 0;
  while (i < n) {
    const rowLine = line;
    const cells: string[] = [];
    const quoted: boolean[] = [];
    let bad: string | undefined;
    for (;;) {
      const cell = cells.length + 1;
      if (text[i] === '"') {
        let value = '';
        let from = i + 1;
        for (;;) {
          const q = text.indexOf('"', from);
          if (q < 0) {
            bad = `cell ${cell}: a quote opened on line ${line} is never closed`;
            break;
          }
          value += text.slice(from, q);
          from = q + 1;
          if (text[from] !== '"') break;
          value += '"';
          from++;
        }
        if (bad) break;
        line += breaks(i, from);
        cells.push(value);
        quoted.push(true);
        i = from;
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && !isBreak(j)) j++;
        const value = text.slice(i, j);
        i = j;
        if (value.includes('"')) {
          bad = `cell ${cell} has a quote but does not start with one: quote the whole cell, doubling the quotes inside`;
          break;
        }
        cells.push(value);
        quoted.push(false);
      }
      if (text[i] === ',') i++;
      else if (i < n && !isBreak(i)) {
        bad = `cell ${cell} has text after its closing quote`;
        break;
      } else break;
    }
    i = nextLine(i);
    if (bad) problem(rowLine, `not valid CSV: ${bad}`);
    else if (cells.length > 1 || cells[0] !== '' || quoted[0]) rows.push({ line: rowLine, cells, quoted });
  }
  return rows;
}
