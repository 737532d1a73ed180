import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';

/** The AWS SDK's client, as ObjectBucket.open loads it. */
type Sdk = typeof import('@aws-sdk/client-s3');

/** Where a hospital's object storage is (any S3-compatible service: Ceph's RADOS gateway, MinIO, AWS). */
export interface ObjectStorageSettings {
  endpoint: string;
  region: string;
  bucket: string;
  /** The access key id and secret, each alone in a file (trailing newline ignored). */
  accessKeyFile: string;
  secretKeyFile: string;
}

/**
 * Whether the bucket can be used with these settings: undefined when it can, else what the service (or the network)
 * answered, for an administrator. Reads the key files; never shows the secret.
 */
export async function objectStorageProblem(s: ObjectStorageSettings): Promise<string | undefined> {
  let bucket: ObjectBucket | undefined;
  try {
    bucket = await ObjectBucket.open(s);
    return await bucket.problem();
  } catch (err) {
    // The key files could not be read.
    return `${(err as Error).name}: ${(err as Error).message}`;
  } finally {
    bucket?.close();
  }
}

/** A multipart upload's part; a blob up to this size goes in one request. */
const PART_BYTES = 8 * 1024 * 1024;

/** The bucket's objects as the blob store uses them: whole or by ranges, streamed both ways, under one prefix. */
export class ObjectBucket {
  readonly #sdk: Sdk;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  /**
   * The SDK loads here, when a node first uses object storage: it is a fifth of what a node loads at start (0.1 s of
   * every start and every command), and a node on the embedded default never needs it.
   */
  static async open(s: ObjectStorageSettings, prefix = 'blobs/'): Promise<ObjectBucket> {
    return new ObjectBucket(await import('@aws-sdk/client-s3'), s, prefix);
  }

  private constructor(sdk: Sdk, s: ObjectStorageSettings, prefix: string) {
    const read = (path: string): string => readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    this.#sdk = sdk;
    this.#client = new sdk.S3Client({
      endpoint: s.endpoint,
      region: s.region,
      // Path-style addressing: an on-premises gateway has no wildcard DNS name per bucket.
      forcePathStyle: true,
      credentials: { accessKeyId: read(s.accessKeyFile), secretAccessKey: read(s.secretKeyFile) },
      // Checksums only where S3 requires them: gateways such as Ceph's refuse the streamed trailing checksum the SDK
      // would add to every upload (411), and the blobs carry their own authentication (AES-GCM per segment).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.#bucket = s.bucket;
    this.#prefix = prefix;
  }

  /** Undefined when the bucket can be reached with these credentials, else the service's (or network's) answer. */
  async problem(): Promise<string | undefined> {
    try {
      await this.#client.send(new this.#sdk.HeadBucketCommand({ Bucket: this.#bucket }));
      return undefined;
    } catch (err) {
      return `${(err as Error).name}: ${(err as Error).message}`;
    }
  }

  /**
   * Streams `body` (`size` bytes) into the object; the object appears whole or not at all. Up to one part's size it is
   * one request that streams the body as it is read, its payload not hashed for the signature (UNSIGNED-PAYLOAD): the
   * blob authenticates itself (AES-GCM per segment), and hashing and gathering it cost more CPU than the request
   * (bench:ingest --scale-out). Larger blobs go in parts (the SDK's multipart upload, loaded with the first of them).
   */
  async put(name: string, body: NodeJS.ReadableStream, size: number): Promise<void> {
    const params = { Bucket: this.#bucket, Key: this.#prefix + name, Body: body as Readable };
    if (size <= PART_BYTES) {
      await this.#client.send(new this.#sdk.PutObjectCommand({ ...params, ContentLength: size }));
      return;
    }
    const { Upload } = await import('@aws-sdk/lib-storage');
    await new Upload({ client: this.#client, params, partSize: PART_BYTES, queueSize: 2 }).done();
  }

  /** The object's bytes as they stream in, or undefined when there is no such object. */
  async get(name: string): Promise<NodeJS.ReadableStream | undefined> {
    try {
      const r = await this.#client.send(
        new this.#sdk.GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + name }),
      );
      return r.Body as Readable;
    } catch (err) {
      if (err instanceof this.#sdk.NoSuchKey) return undefined;
      throw err;
    }
  }

  /**
   * Bytes `start` to `end` (exclusive) of the object as they stream in, with the object's whole size; undefined when
   * there is no such object.
   */
  async getRange(
    name: string,
    range: { start: number; end: number },
  ): Promise<{ body: NodeJS.ReadableStream; size: number } | undefined> {
    try {
      const r = await this.#client.send(
        new this.#sdk.GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + name,
          Range: `bytes=${range.start}-${range.end - 1}`,
        }),
      );
      // "bytes 0-67/123456": the whole size after the slash.
      const size = Number(/\/(\d+)$/.exec(r.ContentRange ?? '')?.[1] ?? Number.NaN);
      if (!Number.isSafeInteger(size))
        throw new Error(`the object storage answered a range without its size (${r.ContentRange})`);
      return { body: r.Body as Readable, size };
    } catch (err) {
      if (err instanceof this.#sdk.NoSuchKey) return undefined;
      throw err;
    }
  }

  /** Idempotent: deleting an object that is not there succeeds. */
  async delete(name: string): Promise<void> {
    await this.#client.send(new this.#sdk.DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + name }));
  }

  async *list(): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new this.#sdk.ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) yield o.Key.slice(this.#prefix.length);
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  close(): void {
    this.#client.destroy();
  }
}
