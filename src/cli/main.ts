#!/usr/bin/env node
/**
 * The `shoal` command. It uses the public API only, and is the one place that handles
 * process concerns: arguments, exit codes, output streams.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { decodeSnapshot, isShoalError } from '../index.ts';
import { CONSUME_USAGE, consumeCommand } from './consume-command.ts';
import { PRODUCE_USAGE, produceCommand, UsageError } from './produce-command.ts';

const USAGE = `usage: shoal <command> [options]

commands:
${PRODUCE_USAGE}${CONSUME_USAGE}  inspect <snapshot-file> [--records] [--type <name>]
      print a snapshot's version, tag, checksum, schema and record counts as JSON;
      --records dumps its records as NDJSON instead (of every type, or of --type)

options:
  -h, --help     show this help
`;

const replacer = (_: string, v: unknown) =>
  typeof v === 'bigint'
    ? `0x${v.toString(16)}`
    : v instanceof Uint8Array
      ? Buffer.from(v).toString('base64')
      : v;

async function inspect(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { records: { type: 'boolean', default: false }, type: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file) throw new UsageError('inspect needs a snapshot file');
  const state = decodeSnapshot(await readFile(file));
  if (!values.records) {
    const summary = {
      version: state.version,
      tag: state.tag,
      checksum: state.checksum,
      bytes: state.byteLength,
      counts: state.counts(),
      schema: state.schema.types.map((t) => ({
        name: t.name,
        primaryKey: t.primaryKey,
        fields: t.fields.map((f) => f.name),
      })),
    };
    process.stdout.write(`${JSON.stringify(summary, replacer, 2)}\n`);
    return;
  }
  const types = values.type ? [state.type(values.type)] : state.types;
  for (const type of types) {
    for (const view of type) {
      process.stdout.write(`${JSON.stringify({ type: type.name, record: view.toObject() }, replacer)}\n`);
    }
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'inspect') {
    await inspect(rest);
    return 0;
  }
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
