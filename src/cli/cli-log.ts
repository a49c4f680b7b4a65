/**
 * What the `shoal` command says on stderr: progress, warnings and failures, in the format
 * `--log-format` asks for. `text` (the default) is one line a person reads (`shoal: ...`);
 * `json` is one JSON object per line for a log pipeline: `time` (ISO 8601), `level`, `event`,
 * `message`, and the fields that event has (`version`, `code`, `stage`, `durationMs`, `file`,
 * `line`, `url`, ...). The library only emits events; this is where they become log lines.
 * Results (the `published`, `serving`, `refresh` lines) go to stdout as JSON in either format.
 */
import { UsageError } from './usage-error.ts';

/** How stderr lines are written. */
export type LogFormat = 'text' | 'json';

/** How much a line matters. */
export type LogLevel = 'info' | 'warn' | 'error';

/** The writer the commands log through. */
export interface CliLog {
  readonly format: LogFormat;
  /**
   * Writes one line. `text` is the line in the text format (most start with `shoal: `);
   * `fields` are added to the JSON object, whose `message` is `text` without that prefix.
   */
  write(level: LogLevel, event: string, text: string, fields?: Readonly<Record<string, unknown>>): void;
}

const PREFIX = 'shoal: ';

/** A log writing to `stream` (stderr) in `format`. */
export function createLog(format: LogFormat, stream: NodeJS.WritableStream = process.stderr): CliLog {
  return {
    format,
    write(level, event, text, fields = {}) {
      if (format === 'text') {
        stream.write(`${text}\n`);
        return;
      }
      const message = text.startsWith(PREFIX) ? text.slice(PREFIX.length) : text;
      const entry = { time: new Date().toISOString(), level, event, message, ...fields };
      stream.write(
        `${JSON.stringify(entry, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
      );
    },
  };
}

/**
 * Takes `--log-format <text|json>` (or `--log-format=json`) out of a command's arguments, so
 * every command accepts it; `SHOAL_LOG_FORMAT` is the default. Bad usage for another value.
 */
export function takeLogFormat(args: readonly string[]): { format: LogFormat; rest: string[] } {
  let given = process.env.SHOAL_LOG_FORMAT;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (a === '--log-format') {
      given = args[++i];
      if (given === undefined) throw new UsageError('--log-format needs text or json');
    } else if (a.startsWith('--log-format=')) given = a.slice('--log-format='.length);
    else rest.push(a);
  }
  if (given !== undefined && given !== 'text' && given !== 'json') {
    throw new UsageError(`--log-format is text or json, got "${given}"`);
  }
  return { format: given ?? 'text', rest };
}
