/**
 * The cycle worker's entry point: a {@link CycleRunner} behind the port of cycle-thread.ts.
 * States are built on SharedArrayBuffers and answered as handles; blobs are transferred when
 * they own their memory, copied otherwise.
 */
import { parentPort, type TransferListItem, workerData } from 'node:worker_threads';
import { isShoalError } from '../errors.ts';
import { fromJSON } from '../schema/index.ts';
import { shareState, stateFromHandle } from '../state/read/state-handle.ts';
import { CycleRunner } from './cycle-runner.ts';
import type { BuildReply, CycleReply, CycleRequest, CycleWorkerData } from './cycle-thread.ts';
import type { EncodedVersion } from './stages/encode-stage.ts';

const data = workerData as CycleWorkerData;
const runner = new CycleRunner(
  fromJSON(data.schema),
  data.current && stateFromHandle(data.current),
  true,
  data.layout,
  data.compactAbove,
);
const port = parentPort!;

function ownsItsMemory(blob: Uint8Array | undefined): blob is Uint8Array {
  return (
    blob !== undefined &&
    blob.buffer instanceof ArrayBuffer &&
    blob.byteOffset === 0 &&
    blob.byteLength === blob.buffer.byteLength
  );
}

async function answer(req: CycleRequest): Promise<{ value: unknown; transfer?: TransferListItem[] }> {
  switch (req.op) {
    case 'build': {
      const { next, dropped } = await runner.buildFromLog(req.files, req.version);
      const value: BuildReply = { handle: next && shareState(next), dropped };
      return { value };
    }
    case 'adopt':
      runner.adopt(stateFromHandle(req.handle));
      return { value: undefined };
    case 'encode':
      runner.encode(req.withSnapshot, req.about);
      return { value: undefined };
    case 'integrity': {
      const encoded: EncodedVersion = runner.integrity();
      const blobs = [encoded.snapshot, encoded.delta, encoded.reverse].filter(ownsItsMemory);
      return { value: encoded, transfer: blobs.map((b) => b.buffer as ArrayBuffer) };
    }
    case 'commit':
      runner.commit();
      return { value: undefined };
    case 'discard':
      runner.discard();
      return { value: undefined };
  }
}

// Requests come one at a time (the producer awaits each), so answers keep their order.
port.on('message', async (req: CycleRequest) => {
  let reply: CycleReply;
  let transfer: TransferListItem[] | undefined;
  try {
    const a = await answer(req);
    reply = { id: req.id, ok: true, value: a.value };
    transfer = a.transfer;
  } catch (e) {
    const error = e as Error;
    reply = {
      id: req.id,
      ok: false,
      error: {
        code: isShoalError(error) ? error.code : undefined,
        message: error?.message ?? String(e),
        stack: error?.stack,
      },
    };
  }
  if (req.id !== 0) port.postMessage(reply, transfer);
});
