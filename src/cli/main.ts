#!/usr/bin/env node
/**
 * The `shoal` command. It uses the public API only, and is the one place that handles
 * process concerns: arguments, exit codes, output streams.
 */
import { isShoalError } from '../index.ts';
import { CONSUME_USAGE, consumeCommand } from './consume-command.ts';
import { diffCommand, INSPECT_USAGE, inspectCommand } from './inspect-command.ts';
import { PRODUCE_USAGE, produceCommand, UsageError } from './produce-command.ts';

const USAGE = `usage: shoal <command> [options]

commands:
${PRODUCE_USAGE}${CONSUME_USAGE}${INSPECT_USAGE}
options:
  -h, --help     show this help
`;

// The command owns its process, so it (and never the library) may set the environment. On Node 20
// the AWS SDK warns, on the first S3 client, that its releases from January 2027 need Node 22:
// news for whoever pins shoal's SDK, not for someone running `shoal produce`. An explicit setting
// (`=false` to see it) is kept.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'inspect') return inspectCommand(rest);
  if (command === 'diff') return diffCommand(rest);
  if (command === 'produce' || command === 'consume') {
    // Long-running commands finish their work and exit 0 on SIGINT/SIGTERM.
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await (command === 'produce'
        ? produceCommand(rest, stop.signal)
        : consumeCommand(rest, stop.signal));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  throw new UsageError(`unknown command "${command}"`);
}

// A reader that stops early (`shoal inspect --records | head`) closes the pipe: that is the end
// of the output, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`shoal: cannot write the output: ${error.message}\n`);
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      process.stderr.write(`shoal: ${(error as Error).message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (isShoalError(error)) {
      process.stderr.write(`shoal: ${error.code}: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`shoal: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
