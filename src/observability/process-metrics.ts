/**
 * The process's memory beside a producer's or a consumer's metrics, and the two limits it is
 * judged against: V8's heap limit, and the memory the process may use (its cgroup's limit, or
 * the machine's memory). The names are prom-client's default ones, but only these few, read at
 * scrape time: the defaults as a whole do not pass `promtool check metrics` (gauges ending in
 * `_total`) and start monitors that nothing stops.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { Gauge, type Registry } from 'prom-client';

// cgroup v2, then v1; v1 says "no limit" with a huge number, v2 with "max".
const CGROUP_LIMITS = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];

/** The cgroup's memory limit in bytes, or undefined when there is none or it cannot be read. */
function cgroupLimit(): number | undefined {
  for (const file of CGROUP_LIMITS) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      continue;
    }
    const n = Number(text);
    return Number.isFinite(n) && n > 0 && n < 2 ** 60 ? n : undefined;
  }
  return undefined;
}

/**
 * Registers the process metrics on `registry`: `process_resident_memory_bytes`,
 * `nodejs_heap_size_used_bytes`, `nodejs_heap_size_total_bytes`, `nodejs_external_memory_bytes`
 * (array buffers, where states live), `shoal_heap_limit_bytes`, `shoal_memory_limit_bytes`.
 * A registry that has prom-client's default metrics already has the first four.
 */
export function processMetrics(registry: Registry): void {
  const registers = [registry];
  const memory = (name: string, help: string, read: (m: NodeJS.MemoryUsage) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read(process.memoryUsage()));
      },
    });
  memory('process_resident_memory_bytes', 'Resident memory size in bytes.', (m) => m.rss);
  memory('nodejs_heap_size_used_bytes', 'JS heap used, in bytes.', (m) => m.heapUsed);
  memory('nodejs_heap_size_total_bytes', 'JS heap allocated, in bytes.', (m) => m.heapTotal);
  memory(
    'nodejs_external_memory_bytes',
    'Memory of C++ objects bound to JS, array buffers included (states live there), in bytes.',
    (m) => m.external,
  );
  new Gauge({
    name: 'shoal_heap_limit_bytes',
    help: "V8's limit on the JS heap (compare nodejs_heap_size_used_bytes).",
    registers,
    collect() {
      this.set(getHeapStatistics().heap_size_limit);
    },
  });
  // Read once: a container's limit is set when it starts.
  const cgroup = cgroupLimit();
  const limit = Math.min(cgroup ?? Number.POSITIVE_INFINITY, totalmem());
  new Gauge({
    name: 'shoal_memory_limit_bytes',
    help: "The memory this process may use: its cgroup's limit, or the machine's memory when lower (compare process_resident_memory_bytes).",
    registers,
  }).set(limit);
}
