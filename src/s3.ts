/**
 * `shoal/s3`: the S3 blob store. A subpath of its own so that the package root loads no AWS code.
 */

export type { RetryInfo, RetryOptions } from './blob/retry.ts';
export { S3BlobStore, type S3BlobStoreOptions } from './blob/s3-blob-store.ts';
