/**
 * Reading CSV as records of one type: a header row naming fields, then one record per row,
 * each cell converted by its column's field kind.
 *
 * Invariants: a header that does not parse, names a field the type lacks, or names one twice
 * means nothing of the file is read; a row whose cell count is not the header's is a problem
 * for that row alone. A file's problems, grammar and validation alike, are reported in line
 * order.
 */
import type { FieldSpec, ObjectType } from '../index.ts';
import { parseCsv } from './csv-parser.ts';
import { fromCell } from './field-value-converter.ts';
import type { InputProblem, Pace, Take } from './input-record.ts';

/** Reads CSV: a header row naming fields, then one record per row. */
export async function readCsv(
  file: string,
  text: string,
  type: ObjectType | undefined,
  take: Take,
  problems: InputProblem[],
  pace: Pace,
): Promise<void> {
  const report = (line: number, message: string) => problems.push({ file, line, message });
  if (!type) {
    report(1, 'CSV input needs a type: --type, --type-of, or a file named for its type');
    return;
  }
  const before = problems.length;
  await readCsvRows(file, text, type, take, problems, pace);
  // Grammar problems are found before the rows are read: report the file's problems in line order.
  for (const p of problems.splice(before).sort((a, b) => a.line - b.line)) problems.push(p);
}

/** {@link readCsv} for a file with a type; its problems are pushed in the order found. */
async function readCsvRows(
  file: string,
  text: string,
  type: ObjectType,
  take: Take,
  problems: InputProblem[],
  pace: Pace,
): Promise<void> {
  const report = (line: number, message: string) => problems.push({ file, line, message });
  const before = problems.length;
  const rows = parseCsv(text, report);
  const header = rows.shift();
  const first = problems[before];
  if (first && (!header || first.line < header.line)) {
    // The header itself is broken: no row can be read against it.
    problems[before] = {
      ...first,
      message: `${first.message}; it is the header, so nothing of this file is read`,
    };
    problems.length = before + 1;
    return;
  }
  // An empty file holds no records, as a header-only one does (--allow-empty decides).
  if (!header) return;
  const columns: FieldSpec[] = [];
  for (const [i, cell] of header.cells.entries()) {
    const name = cell.trim();
    const f = type.field(name);
    const why = !f
      ? `column ${i + 1}, ${JSON.stringify(name)}, is not a field of ${type.name}`
      : columns.includes(f)
        ? `column ${i + 1} names field "${name}" again`
        : undefined;
    if (why) {
      report(header.line, `${why}; nothing of this file is read`);
      return;
    }
    columns.push(f!);
  }
  for (const row of rows) {
    await pace();
    if (row.cells.length !== columns.length) {
      report(row.line, `the row has ${row.cells.length} cells, the header ${columns.length}`);
      continue;
    }
    const cells = Object.fromEntries(columns.map((f, i) => [f.name, row.cells[i]]));
    take(file, row.line, type.name, cells, () => {
      const record: Record<string, unknown> = {};
      columns.forEach((f, i) => {
        const v = fromCell(f, row.cells[i]!, row.quoted[i]!);
        if (v !== undefined) record[f.name] = v;
      });
      return record;
    });
  }
}
