/**
 * The msgpackr codecs shoal uses for everything that is not a column: blob headers and `json`
 * field values. Plain msgpack (no record extension) so other tools can read the bytes.
 */
import { Packr } from 'msgpackr';

/** Codec for blob headers, manifests and `json` field values. */
export const msgpack: Packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'bigint' });
