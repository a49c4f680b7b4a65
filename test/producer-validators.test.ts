/**
 * The ready-made validators and per-type re-stating, on a real filesystem store: what a
 * refused version leaves announced, and what a consumer loads after a cycle of one type.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BlobStore,
  FsBlobStore,
  Producer,
  type ProducerOptions,
  StoreAnnouncer,
  t,
  validators,
} from '../src/index.ts';
import { loadVersion, recordsOf } from './support/load.ts';

const Country = t.object('Country', { code: t.string(), name: t.string() }, { primaryKey: 'code' });
const City = t.object('City', { id: t.int(), name: t.string() }, { primaryKey: 'id' });
const Note = t.object('Note', { text: t.string() });
const schema = t.schema([Country, City, Note]);

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-validators-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const open = async (extra: Partial<ProducerOptions<typeof schema>> = {}) => {
  const store = new FsBlobStore({ dir: await tempDir(), fsync: false });
  const producer = await Producer.open({
    store,
    namespace: 'geo',
    schema,
    walDir: await tempDir(),
    fsync: false,
    cycleThread: 'main',
    ...extra,
  });
  return { store, producer };
};
const announced = async (store: BlobStore) =>
  (await new StoreAnnouncer({ store, namespace: 'geo' }).read())?.version;
const cities = (ids: number[]) => (w: { add(type: string, r: object): void }) => {
  for (const id of ids) w.add('City', { id, name: `c${id}` });
};

describe('validators.noEmptyTypes', () => {
  it('refuses a version that takes a type with records to none, and names it', async () => {
    const { store, producer } = await open({ validators: [validators.noEmptyTypes()] });
    // The first version has nothing to compare with: empty types pass.
    await producer.runCycle(cities([1, 2]));
    const v = producer.version;
    await expect(producer.runCycle(() => {})).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(
        /^version \d+ was refused: noEmptyTypes: City would go from 2 records to none\. Nothing was published\.$/,
      ),
    });
    expect(await announced(store)).toBe(v);
    // Country had none: staying at none is fine, and so is any shrink short of zero.
    expect(await producer.runCycle(cities([1]))).toMatchObject({ outcome: 'published' });
    await producer.close();
  });
});

describe('validators.maxShrink', () => {
  it('refuses a type that loses more than the share, never growth, and names the counts', async () => {
    const { store, producer } = await open({ validators: [validators.maxShrink(0.25)] });
    await producer.runCycle(cities([1, 2, 3, 4]));
    // Exactly 25% fewer is allowed.
    await producer.runCycle(cities([1, 2, 3]));
    const v = producer.version;
    await expect(producer.runCycle(cities([1, 2]))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(
        /^version \d+ was refused: maxShrink: City would shrink from 3 records to 2 \(33\.3% fewer\), more than the 25% allowed\. Nothing was published\.$/,
      ),
    });
    expect(await announced(store)).toBe(v);
    expect(await producer.runCycle(cities([1, 2, 3, 4, 5, 6, 7, 8, 9]))).toMatchObject({
      outcome: 'published',
    });
    await producer.close();
  });

  it('takes a share between 0 and 1 only', () => {
    for (const bad of [-0.1, 1.5, Number.NaN]) {
      expect(() => validators.maxShrink(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('maxShrink') }),
      );
    }
    expect(validators.maxShrink(1)).toBeTypeOf('function');
  });

  it('an unnamed validator is named by its position', async () => {
    const { producer } = await open({
      validators: [validators.maxShrink(1), ...[() => 'no, thanks']],
    });
    await expect(producer.runCycle(cities([1]))).rejects.toMatchObject({
      message: expect.stringContaining('validator 1: no, thanks.'),
    });
    await producer.close();
  });
});

describe('runCycle with types', () => {
  it('re-states only those types; the others keep the last version, as a consumer loads it', async () => {
    const { store, producer } = await open();
    await producer.runCycle((w) => {
      w.add('Country', { code: 'FR', name: 'France' });
      w.add('Country', { code: 'DE', name: 'Germany' });
      cities([1, 2])(w);
      w.add('Note', { text: 'kept, though it has no key' });
    });
    const result = await producer.runCycle(cities([2, 3]), { types: ['City'] });
    expect(result).toMatchObject({ outcome: 'published', snapshot: false });
    const state = await loadVersion(store, 'geo');
    expect(state.version).toBe(await announced(store));
    expect(recordsOf(state, 'Country')).toEqual([
      { code: 'FR', name: 'France' },
      { code: 'DE', name: 'Germany' },
    ]);
    expect(recordsOf(state, 'Note')).toEqual([{ text: 'kept, though it has no key' }]);
    expect(recordsOf(state, 'City').map((r) => r.id)).toEqual([2, 3]);
    // The same cities again: nothing changed, no version.
    expect(await producer.runCycle(cities([3, 2]), { types: ['City'] })).toEqual({ outcome: 'skipped' });
    await producer.close();
  });

  it('refuses a record of a type it does not re-state, and a type the schema lacks', async () => {
    const { store, producer } = await open();
    await producer.runCycle(cities([1]));
    const v = producer.version;
    await expect(
      producer.runCycle((w) => w.add('Country', { code: 'FR', name: 'France' }), { types: ['City'] }),
    ).rejects.toMatchObject({
      code: 'INVALID_RECORD',
      message: expect.stringContaining('Country keeps its previous records'),
    });
    await expect(producer.runCycle(cities([2]), { types: ['Town' as 'City'] })).rejects.toMatchObject({
      code: 'UNKNOWN_TYPE',
    });
    expect(await announced(store)).toBe(v);
    await producer.close();
  });
});
