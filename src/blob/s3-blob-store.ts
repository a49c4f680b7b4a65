/**
 * The S3 store, on the caller's `S3Client` (or one made from `clientOptions`). Works against
 * AWS S3 and S3-compatible servers (set `forcePathStyle` in the client options for those).
 * Every call is retried on transient failures (blob/retry.ts); a 4xx is not retried. Blobs
 * past `multipartThresholdBytes` go up as multipart uploads. Conditional puts use `If-Match`
 * / `If-None-Match`, which AWS S3 enforces (a 412 is `PRECONDITION_FAILED`).
 *
 * Imported from `shoal/s3`, so the package root loads no AWS code.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ShoalError } from '../errors.ts';
import { checkBlobSize, MAX_BLOB_BYTES } from '../format/blob-size.ts';
import {
  type BlobInfo,
  type BlobStore,
  type CallOptions,
  checkKey,
  checkPrefix,
  notFound,
  type PutOptions,
  preconditionFailed,
  type TaggedBlob,
  throwIfAborted,
  withBlobKey,
} from './blob-store.ts';
import { type RetryOptions, withRetries } from './retry.ts';

/** Options of {@link S3BlobStore}. Give `client` or `clientOptions`. */
export interface S3BlobStoreOptions extends RetryOptions {
  /** The caller's client; the store never closes it. */
  readonly client?: S3Client;
  /**
   * Options to make a client from (closed by `close()`). Checksums default to
   * `WHEN_REQUIRED`, which S3-compatible servers accept, the SDK's own retries to 1 attempt,
   * since the store retries, and its `requestHandler` to a 5 s connection timeout and an
   * `idleTimeoutMs` socket timeout (the SDK has none: a hung connection waited forever).
   */
  readonly clientOptions?: S3ClientConfig;
  /** The bucket. */
  readonly bucket: string;
  /**
   * A key prefix inside the bucket (no leading or trailing `/`).
   * @default "" (the bucket's root)
   */
  readonly prefix?: string;
  /**
   * Blobs at least this large are uploaded in parts.
   * @default 16 MiB
   */
  readonly multipartThresholdBytes?: number;
  /**
   * The size of each part of a multipart upload (S3 needs at least 5 MiB).
   * @default 8 MiB
   */
  readonly partSizeBytes?: number;
  /**
   * A request whose connection sends or receives nothing for this long fails, and is retried
   * like any transient failure; a large blob streaming steadily never trips it. For a client
   * made from `clientOptions` (give `clientOptions.requestHandler` to set your own); a `client`
   * of yours keeps its settings.
   * @default 30000
   */
  readonly idleTimeoutMs?: number;
  /** @internal Most bytes a blob read may have (the runtime's buffer limit), for tests. */
  readonly maxBlobBytes?: number;
}

const sig = (abortSignal: AbortSignal | undefined) => (abortSignal ? { abortSignal } : {});

function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * A response body read into one buffer of its declared length, chunk by chunk as it arrives:
 * the SDK's own collector keeps every chunk and then concatenates them, holding the blob twice.
 * A body of another length than declared is a transient failure (the connection broke).
 */
async function readBody(body: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let at = 0;
  for await (const chunk of body) {
    if (at + chunk.byteLength > size) break;
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== size) {
    throw Object.assign(new Error(`the response body was not the ${size} bytes it declared`), {
      code: 'ECONNRESET',
    });
  }
  return bytes;
}

function idleTimeout(ms: number | undefined): number {
  if (ms === undefined) return 30_000;
  if (!(Number.isFinite(ms) && ms > 0 && ms <= 2_147_483_647)) {
    throw new ShoalError(
      'INVALID_OPTION',
      `idleTimeoutMs must be a positive number of milliseconds (at most 2147483647), got ${String(ms)}`,
    );
  }
  return ms;
}

/**
 * A response body without a declared length (a proxy or an S3-compatible server may stream
 * one chunked), read chunk by chunk and refused with `BLOB_TOO_LARGE` as soon as it passes
 * the most a blob may have, rather than read to its end whatever it holds.
 */
async function readUnsized(
  body: AsyncIterable<Uint8Array> & { destroy?(): void },
  max: number,
  what: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > max) {
      body.destroy?.();
      checkBlobSize(total, what, max);
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

/** A blob store in an S3 bucket. */
export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly retry: RetryOptions;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly maxBlobBytes: number;

  constructor(options: S3BlobStoreOptions) {
    if (typeof options?.bucket !== 'string' || options.bucket === '') {
      throw new ShoalError('INVALID_OPTION', 'S3BlobStore needs options.bucket');
    }
    if (!options.client && !options.clientOptions) {
      throw new ShoalError(
        'INVALID_OPTION',
        'S3BlobStore needs options.client (an S3Client) or options.clientOptions',
      );
    }
    const prefix = options.prefix ?? '';
    if (prefix !== '') checkKey(prefix, 'options.prefix');
    this.bucket = options.bucket;
    this.prefix = prefix;
    this.ownsClient = !options.client;
    this.client =
      options.client ??
      new S3Client({
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 5_000, socketTimeout: idleTimeout(options.idleTimeoutMs) },
        ...options.clientOptions,
      });
    this.retry = options;
    this.multipartThreshold = options.multipartThresholdBytes ?? 16 * 1024 * 1024;
    this.partSize = Math.max(5 * 1024 * 1024, options.partSizeBytes ?? 8 * 1024 * 1024);
    this.maxBlobBytes = options.maxBlobBytes ?? MAX_BLOB_BYTES;
  }

  private objectKey(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private classify(key: string) {
    return (error: unknown): ShoalError | undefined => {
      if (error instanceof ShoalError) return error;
      const s = status(error);
      const name = (error as Error).name;
      if (name === 'NoSuchBucket') {
        return withBlobKey(
          new ShoalError(
            'BLOB_NOT_FOUND',
            `no blob at "s3://${this.bucket}/${this.objectKey(key)}": the bucket "${this.bucket}" does not exist. Check the bucket name, and the client's region and endpoint.`,
            { cause: error },
          ),
          key,
        );
      }
      if (s === 404 || name === 'NoSuchKey' || name === 'NotFound') return notFound(key, error);
      // The SDK found no credentials before sending anything: no request will pass until some are given.
      if (name === 'CredentialsProviderError') {
        return new ShoalError(
          'STORE_UNAVAILABLE',
          `no AWS credentials for "s3://${this.bucket}/${this.objectKey(key)}" (${(error as Error).message}). Give the client credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or another source of the AWS SDK's default chain.`,
          { cause: error },
        );
      }
      if (s === 412 || name === 'PreconditionFailed') return preconditionFailed(key, error);
      if (s === 403) {
        return new ShoalError(
          'STORE_FORBIDDEN',
          `S3 refused access to "${key}" in bucket ${this.bucket} (403). Check the credentials and the bucket policy.`,
          { cause: error },
        );
      }
      if (s !== undefined && s >= 400 && s < 500) {
        return new ShoalError(
          'STORE_UNAVAILABLE',
          `S3 refused ${key} (${s} ${name}): ${(error as Error).message}`,
          { cause: error },
        );
      }
      return undefined;
    };
  }

  private run<T>(
    operation: string,
    key: string,
    options: CallOptions,
    fn: (signal?: AbortSignal) => Promise<T>,
  ) {
    const { signal, retries } = options;
    throwIfAborted(signal);
    const retry = { ...this.retry, signal, ...(retries !== undefined ? { retries } : {}) };
    return withRetries(operation, key, (s) => fn(s), retry, this.classify(key));
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    checkKey(key);
    return this.run('get', key, options, async (abortSignal) => {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
        sig(abortSignal),
      );
      return this.readObject(out, key);
    });
  }

  /**
   * The body of a GET, within `maxBlobBytes`: refused by its declared size before a byte is
   * read, or as it streams when no size was declared.
   */
  private readObject(out: GetObjectCommandOutput, key: string): Promise<Uint8Array> {
    if (!out.Body) throw notFound(key);
    const body = out.Body as typeof out.Body & AsyncIterable<Uint8Array> & { destroy?(): void };
    const where = `the blob at "s3://${this.bucket}/${this.objectKey(key)}"`;
    const size = out.ContentLength;
    if (size === undefined) return readUnsized(body, this.maxBlobBytes, where);
    try {
      checkBlobSize(size, where, this.maxBlobBytes);
    } catch (e) {
      body.destroy?.();
      throw e;
    }
    return readBody(body, size);
  }

  async getIfChanged(
    key: string,
    etag: string | undefined,
    options: CallOptions = {},
  ): Promise<TaggedBlob | undefined> {
    checkKey(key);
    return this.run('get', key, options, async (abortSignal) => {
      let out: GetObjectCommandOutput;
      try {
        out = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            ...(etag !== undefined ? { IfNoneMatch: etag } : {}),
          }),
          sig(abortSignal),
        );
      } catch (e) {
        // The SDK throws on a 304 (`NotModified`): here it is the answer, not a failure.
        if (status(e) === 304) return undefined;
        throw e;
      }
      // Bounded as get() is: an announcement is small, but what sits at its key may not be.
      return { bytes: await this.readObject(out, key), etag: out.ETag ?? '' };
    });
  }

  async head(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    checkKey(key);
    return this.run('head', key, options, async (abortSignal) => {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
        sig(abortSignal),
      );
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? '' };
    });
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<BlobInfo> {
    checkKey(key);
    const conditional = options.ifMatch !== undefined || options.ifNoneMatch === true;
    return this.run('put', key, options, async (abortSignal) => {
      const params = {
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: bytes,
        ContentType: 'application/octet-stream',
        ...(options.ifMatch !== undefined ? { IfMatch: options.ifMatch } : {}),
        ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
      };
      if (!conditional && bytes.byteLength >= this.multipartThreshold) {
        const upload = new Upload({
          client: this.client,
          params,
          partSize: this.partSize,
          queueSize: 4,
          leavePartsOnError: false,
        });
        if (abortSignal) abortSignal.addEventListener('abort', () => void upload.abort(), { once: true });
        const out = await upload.done();
        return { key, size: bytes.byteLength, etag: (out as { ETag?: string }).ETag ?? '' };
      }
      const out = await this.client.send(new PutObjectCommand(params), sig(abortSignal));
      return { key, size: bytes.byteLength, etag: out.ETag ?? '' };
    });
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    checkKey(key);
    await this.run('delete', key, options, async (abortSignal) => {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
        sig(abortSignal),
      );
    });
  }

  async list(prefix: string, options: CallOptions = {}): Promise<string[]> {
    checkPrefix(prefix);
    const out: string[] = [];
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      const page = await this.run('list', prefix, options, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.objectKey(prefix),
            ...(token ? { ContinuationToken: token } : {}),
          }),
          sig(abortSignal),
        ),
      );
      for (const o of page.Contents ?? []) if (o.Key) out.push(o.Key.slice(strip));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  /** Closes the client if the store made it. */
  close(): void {
    if (this.ownsClient) this.client.destroy();
  }
}
