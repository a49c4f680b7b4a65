import { describe, expect, it } from 'vitest';
import {
  AnnouncementWatcher,
  MemoryBlobStore,
  StoreAnnouncer,
  TUNING_PROFILES,
  type TuningProfileName,
  t,
} from '../src/index.ts';
import { resolveProducerOptions } from '../src/producer/producer-options.ts';

const schema = t.schema([t.object('T', { id: t.int() }, { primaryKey: 'id' })]);
const store = new MemoryBlobStore();

describe('tuning profiles', () => {
  it.each(['throughput', 'balanced', 'latency'] as const)('a producer takes the %s profile whole', (name) => {
    const o = resolveProducerOptions({ store, namespace: 'n', schema, profile: name }, 'host');
    const p = TUNING_PROFILES[name];
    expect([o.maxBatchRecords, o.maxBatchDelayMs, o.highWatermark, o.lowWatermark, o.snapshotEvery]).toEqual([
      p.maxBatchRecords,
      p.maxBatchDelayMs,
      p.highWatermark,
      p.lowWatermark,
      p.snapshotEvery,
    ]);
  });

  it('is the defaults when none is named, and explicit options win over it', () => {
    const none = resolveProducerOptions({ store, namespace: 'n', schema }, 'host');
    expect(none.maxBatchRecords).toBe(10_000);
    expect(none.highWatermark).toBe(1_000_000);
    expect(none.lowWatermark).toBe(500_000);
    const o = resolveProducerOptions(
      { store, namespace: 'n', schema, profile: 'latency', maxBatchDelayMs: 7, highWatermark: 1000 },
      'host',
    );
    expect(o.maxBatchDelayMs).toBe(7);
    expect(o.maxBatchRecords).toBe(1_000); // from the profile
    // A high watermark given without a low one gets half of it, as without a profile.
    expect([o.highWatermark, o.lowWatermark]).toEqual([1000, 500]);
  });

  it('refuses an unknown profile, naming the ones there are', () => {
    expect(() =>
      resolveProducerOptions({ store, namespace: 'n', schema, profile: 'fast' as TuningProfileName }, 'host'),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringMatching(/throughput, balanced, latency, got fast/),
      }),
    );
    expect(
      () => new AnnouncementWatcher({ store, namespace: 'n', profile: 'slow' as TuningProfileName }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it.each([
    ['latency', 400],
    ['balanced', 2000],
    ['throughput', 10_000],
  ] as const)('a watcher polling on the %s profile backs off from its interval', async (name, next) => {
    const s = new MemoryBlobStore();
    await new StoreAnnouncer({ store: s, namespace: 'n' }).announce({
      version: 1,
      producer: 'p',
      announcedAt: Date.now(),
    });
    const watcher = new AnnouncementWatcher({ store: s, namespace: 'n', profile: name, jitter: 0 });
    const checks: number[] = [];
    watcher.on('check', (c) => checks.push(c.intervalMs));
    expect((await watcher.start())?.version).toBe(1);
    await watcher.check();
    await watcher.close();
    // The first check finds the announcement (the profile's interval); a quiet one doubles it.
    expect(checks).toEqual([next / 2, next]);
  });
});
