/**
 * The msgpackr codecs shoal uses for everything that is not a column: blob headers and `json`
 * field values. Plain msgpack (no record extension) so other tools can read the bytes.
 *
 * Every import of msgpackr in shoal goes through `msgpackr/pack` or `msgpackr/unpack`, which
 * Node resolves to msgpackr's pure-JS build: the bare `msgpackr` entry loads the optional
 * native string extractor (msgpackr-extract), whose 3.0.4 release crashed the process
 * (SIGSEGV, or "Unexpected end of buffer") on the second run over json data. Measured here,
 * the native part decoded 10k small json values no faster (2.93 vs 2.94 ms) and large frames
 * 1.4-1.8× faster, which only replay and msgpack input files see: not worth a native crash.
 */
import { Packr } from 'msgpackr/pack';

export { Packr };

/** Codec for blob headers, manifests and `json` field values. */
export const msgpack: Packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'bigint' });
