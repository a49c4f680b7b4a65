/**
 * The consumer half of `shoal plan --calibrate`, in a process of its own so that its resident
 * memory is a consumer's alone. Arguments: a filesystem store, a namespace, and the versions as
 * JSON (`[{version, changes}]`): it loads the first, pinned, then refreshes to each next one,
 * and prints its figures as one JSON object.
 */
import { Consumer, FsBlobStore } from '../index.ts';

const [dir, namespace, list] = process.argv.slice(2) as [string, string, string];
const versions = JSON.parse(list) as { version: number; changes: number }[];
const rss = () => process.memoryUsage().rss;
const baseRss = rss();
const consumer = await Consumer.open({
  store: new FsBlobStore({ dir }),
  namespace,
  pin: versions[0]!.version,
  watch: false,
});
const loadedRss = rss();
const refreshes: { changes: number; ms: number }[] = [];
for (const v of versions.slice(1)) {
  const start = performance.now();
  await consumer.refreshTo(v.version);
  refreshes.push({ changes: v.changes, ms: performance.now() - start });
}
await consumer.close();
// maxRSS is in kilobytes.
const peakRss = process.resourceUsage().maxRSS * 1024;
process.stdout.write(JSON.stringify({ baseRss, loadedRss, peakRss, refreshes }));
