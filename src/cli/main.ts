#!/usr/bin/env node
/**
 * The `shoal` command. It uses the public API only, and is the one place that handles
 * process concerns: arguments, exit codes, output streams.
 */
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { failureLine } from './cli-errors.ts';
import { type CliLog, createLog, takeLogFormat } from './cli-log.ts';
import { CONSUME_USAGE, consumeCommand } from './consume-command.ts';
import { DIFF_USAGE, diffCommand, INSPECT_USAGE, inspectCommand } from './inspect-command.ts';
import { PLAN_USAGE, planCommand } from './plan-command.ts';
import { PRODUCE_USAGE, produceCommand, UsageError } from './produce-command.ts';

const COMMANDS: Readonly<Record<string, string>> = {
  produce: PRODUCE_USAGE,
  consume: CONSUME_USAGE,
  inspect: INSPECT_USAGE,
  diff: DIFF_USAGE,
  plan: PLAN_USAGE,
};

/** The options every command takes, shown with the general help and each command's. */
const GENERAL = `  -h, --help                 show this help (after a command: that command's help)
  --log-format <text|json>   stderr as lines to read (default) or one JSON object per line
                             (after any command; SHOAL_LOG_FORMAT sets the default)
`;

const EXIT_CODES = `exit codes: 0 done, 1 failed (stderr says why, one line: "shoal: <CODE>: <message>"), 2 bad usage
`;

const USAGE = `usage: shoal <command> [options]

commands:
${Object.values(COMMANDS).join('')}
options:
${GENERAL}  --version                  print shoal's version

${EXIT_CODES}`;

const commandUsage = (command: string) =>
  `usage: shoal ${COMMANDS[command]!.trimStart()}\noptions of every command:\n${GENERAL}\n${EXIT_CODES}`;

/** The package's version, from the package.json beside src/ (or dist/). */
async function packageVersion(): Promise<string> {
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** Whether `args` ask for help: `-h` or `--help` anywhere before a `--`. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '-h' || a === '--help');
}

/** Where the command's stderr lines go; `--log-format` sets its format once it is read. */
let log: CliLog = createLog('text');

// The command owns its process, so it (and never the library) may set the environment. On Node 20
// the AWS SDK warns, on the first S3 client, that its releases from January 2027 need Node 22:
// news for whoever pins shoal's SDK, not for someone running `shoal produce`. An explicit setting
// (`=false` to see it) is kept.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(argv: string[]): Promise<number> {
  const [command, ...given] = argv;
  const { format, rest } = takeLogFormat(given);
  log = createLog(format);
  if (!command) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (command === '--version') {
    process.stdout.write(`shoal ${await packageVersion()}\n`);
    return 0;
  }
  if (command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'help') {
    const about = rest[0];
    if (about !== undefined && !Object.hasOwn(COMMANDS, about))
      throw new UsageError(`unknown command "${about}"`);
    process.stdout.write(about === undefined ? USAGE : commandUsage(about));
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) throw new UsageError(`unknown command "${command}"`);
  if (asksForHelp(rest)) {
    process.stdout.write(commandUsage(command));
    return 0;
  }
  if (command === 'inspect') return inspectCommand(rest);
  if (command === 'diff') return diffCommand(rest);
  if (command === 'plan') return planCommand(rest);
  if (command === 'produce' || command === 'consume') {
    // The first SIGINT/SIGTERM asks the command to stop (its reason is the signal's name): it
    // finishes the cycle in flight. A second one exits at once, with 128 + its number.
    const stop = new AbortController();
    const onSignal = (name: NodeJS.Signals) => {
      if (!stop.signal.aborted) return stop.abort(name);
      log.write('warn', 'signal', `shoal: ${name} while stopping: exiting at once`, { signal: name });
      process.exit(128 + constants.signals[name]);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await (command === 'produce'
        ? produceCommand(rest, stop.signal, log)
        : consumeCommand(rest, stop.signal, log));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  throw new UsageError(`unknown command "${command}"`);
}

/** node:util parseArgs' own errors are usage errors too; its messages run on with advice. */
function usageMessage(error: unknown): string | undefined {
  if (error instanceof UsageError) return error.message;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  return (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
}

// A reader that stops early (`shoal inspect --records | head`) closes the pipe: that is the end
// of the output, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`shoal: ${error.code ?? 'EIO'}: cannot write the output: ${error.message}\n`);
  process.exit(1);
});

/**
 * The command is done: exit with `code` once the event loop drains, or after a second if
 * something still holds it (a NATS server that accepted the connection and never answered
 * keeps its socket open, and a closed consumer or producer cannot take it back).
 */
function exitWhenDone(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    // Stopped by a signal: a read of a FIFO or stdin may still hold the event loop open.
    if (code >= 128) process.exit(code);
    exitWhenDone(code);
  },
  (error: unknown) => {
    const usage = usageMessage(error);
    if (usage !== undefined) {
      const command = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? argv[0] : undefined;
      const help = command ? `shoal ${command} --help` : 'shoal --help';
      if (log.format === 'json') log.write('error', 'usage', `shoal: ${usage}`, { help });
      else process.stderr.write(`shoal: ${usage}\nSee '${help}'.\n`);
      exitWhenDone(2);
      return;
    }
    const code = (error as { code?: unknown }).code;
    const stack = process.env.SHOAL_DEBUG === '1' && error instanceof Error ? error.stack : undefined;
    log.write('error', 'failed', failureLine(error), {
      ...(typeof code === 'string' ? { code } : {}),
      ...(stack && log.format === 'json' ? { stack } : {}),
    });
    // In text, the stack follows the line; in JSON it is the `stack` field.
    if (stack && log.format === 'text') process.stderr.write(`${stack}\n`);
    exitWhenDone(1);
  },
);
