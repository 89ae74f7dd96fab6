/**
 * Shares in an S3-compatible object store (Tahoe ticket #999), on @aws-sdk/client-s3.
 * Keys, under the operator's prefix P (the share's kind is in its key, never sniffed):
 *   P/shares/immutable/<2 chars>/<base32 SI>/<shnum>   the container up to its leases: header and data, written once
 *   P/leases/immutable/<2 chars>/<base32 SI>/<shnum>   the header as it is now and the lease records
 *   P/shares/mutable/<2 chars>/<base32 SI>/<shnum>     a mutable container less its leases
 *   P/leases/mutable/<2 chars>/<base32 SI>/<shnum>     its four lease slots and extra-lease block
 *   P/journal/<base32 SI>                              a mutable change being applied
 *   P/advisories/<name>                                corruption advisories
 * An immutable share exists once its lease object does: that object is written after the
 * data, so a store that fails in between leaves no share that looks whole. Renewing or
 * expiring a lease rewrites the small lease object, never the data. The server still sees
 * one Tahoe container per share (StitchedImmutableFile stitches the two objects together);
 * leases change through the LeaseStore (`leases`).
 *
 * Mutable shares are small (at most a few MB) and changed through the server's journal:
 * both objects are read whole, joined into Tahoe's container, patched in memory, and cut
 * again by sync (mutable-split.ts), which puts back only the objects that changed, each
 * with If-Match on the ETag it was read with (If-None-Match: * when new), so a second
 * writer on the same keys is refused rather than overwritten. A lease renewed or expired
 * rewrites the lease object alone. A container stored whole (before leases were kept
 * apart) is read as it is and cut in two by its next change.
 *
 * Uploads in progress are spooled to local files (clients write buckets at any offset;
 * objects are written once). A large share's multipart parts go to the store as soon as
 * the spool holds each whole (s3-parts.ts), so commit only completes the object; a share
 * under a part is sent at commit, in one PUT. Unfinished uploads are
 * parked in the spool while the server runs, but not kept across a restart: recoverUploads
 * empties the spool, aborts the multipart uploads left in the store, and hands back none.
 *
 * Small reads of committed shares go through a cache of aligned 1 MiB blocks
 * (block-cache.ts): a download's reads of a segment's block each cost no GET of their own.
 * Reads of committed data are ranged GETs of our own (s3-range-get.ts), not the SDK's.
 *
 * Space: with a quota, free bytes are the quota less the bytes stored under P (summed at
 * start, then kept up to date); without one, the store is taken to be unbounded.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type {
  ListMultipartUploadsCommandOutput,
  ListObjectsV2CommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import { CairnError } from '../../core/errors.ts';
import { base32Decode, base32Encode } from '../../core/primitives/base32.ts';
import { equalBytes } from '../../core/primitives/bytes.ts';
import { StorageError } from '../../core/protocol/storage-api.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import {
  decodeImmutableLeases,
  encodeImmutableHeader,
  encodeImmutableLeases,
  encodeLeaseCount,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_COUNT_OFFSET,
  immutableLayout,
  type ShareKind,
} from '../containers.ts';
import type {
  JournalRecord,
  LeaseStore,
  PendingShare,
  RecoveredUpload,
  ShareBackend,
  ShareFile,
  ShareSeal,
} from './backend.ts';
import { BlockCache } from './block-cache.ts';
import { joinMutable, splitMutable } from './mutable-split.ts';
import { readFullyAt } from './read-fully.ts';
import { PartSlots, STREAM_PART_BYTES, StreamedUpload } from './s3-parts.ts';
import { RangeGetError, RangeGetter } from './s3-range-get.ts';
import { loadS3Sdk, type S3Sdk } from './s3-sdk.ts';
import { StitchedImmutableFile } from './stitched-immutable.ts';

/** Free bytes reported without a quota (a petabyte: an object store has no meaningful figure). */
export const UNBOUNDED_FREE_BYTES = 2 ** 50;
/** Multipart part size for committed shares; a share smaller than one part is one PUT. */
export const PART_BYTES = STREAM_PART_BYTES;
/** Blocks that small reads of committed shares go through (see block-cache.ts). */
export const READ_BLOCK_BYTES = 2 ** 20;
/**
 * Reads of at least this go straight to the store: at 512 KiB, reads through 1 and 4 MiB
 * blocks measured 0.37x and 0.51x the SDK's ranged GETs, straight ones 0.63-0.69x (bench:server,
 * both through the SDK then).
 */
const DIRECT_READ_BYTES = 256 * 2 ** 10;
/** Bytes of blocks kept for reads. */
const READ_CACHE_BYTES = 32 * 2 ** 20;
/** Tries of each store call (the SDK's and the ranged GETs'). */
const STORE_ATTEMPTS = 3;
/** The region signed for when none is given (radosgw and most stores accept any). */
const DEFAULT_REGION = 'us-east-1';
/** How long connecting to the store may take. */
const STORE_CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long a request to the store may go without a byte moving either way. The SDK arms its
 * idle timer ~3 s into a request, so a try of a store that hangs fails after ~12 s, and the
 * three tries after ~36 s (measured: 45 s with 12 s here).
 */
const STORE_IDLE_TIMEOUT_MS = 9_000;
/** Parts of uploads streamed to the store at once, over all uploads (each is in memory while it goes). */
const STREAMED_PARTS_IN_FLIGHT = 4;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3BackendOptions {
  /** The store's endpoint, e.g. http://127.0.0.1:7480 (path-style addressing is used). */
  endpoint: string;
  bucket: string;
  /** Key prefix for this server's objects ('' for the bucket's root). */
  prefix?: string;
  credentials: S3Credentials;
  region?: string;
  /** Bytes this server may store under its prefix; absent: no limit of its own. */
  quota?: number;
  /** A local folder for uploads in progress. */
  spoolDir: string;
  log?: (line: string) => void;
}

/** A startup or store failure an operator must act on: credentials, bucket, endpoint. */
export class S3BackendError extends CairnError {
  constructor(
    code: 'S3_AUTH' | 'S3_BUCKET' | 'S3_UNREACHABLE' | 'S3_FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

const SI_NAME = /^[a-z2-7]{26}$/;
const SH_NAME = /^(0|[1-9]\d{0,2})$/;
const ADVISORY_NAME = /^[A-Za-z0-9._-]{1,200}$/;
const DATA_END = 'data-end';
/** Metadata of a mutable share object whose leases are in their own object. */
const LAYOUT = 'layout';
const LEASES_APART = 'leases-apart';

function statusOf(err: unknown): number | undefined {
  if (err instanceof RangeGetError) return err.status;
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404 || (err as Error)?.name === 'NoSuchKey' || (err as Error)?.name === 'NotFound';
}

export class S3Backend implements ShareBackend {
  readonly client: S3Client;
  /** Ranged reads of objects, outside the SDK (see s3-range-get.ts). */
  private readonly ranges: RangeGetter;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly quota: number | undefined;
  private readonly spoolDir: string;
  private readonly log: (line: string) => void;
  /**
   * In each share's lease object (its header as it is now, then the records), put back
   * with If-Match on the ETag it was read with: the data object is never rewritten.
   */
  readonly leases: LeaseStore = {
    get: async (si, sh) => {
      const o = await this.leaseObject(si, sh);
      if (!o) return null;
      const tail = o.bytes.subarray(IMMUTABLE_HEADER_BYTES);
      return {
        version: immutableLayout(o.bytes, o.dataEnd + tail.length).version,
        leases: decodeImmutableLeases(tail),
      };
    },
    set: async (si, sh, leases) => {
      const o = await this.leaseObject(si, sh);
      if (!o) return;
      const records = encodeImmutableLeases(leases);
      const next = new Uint8Array(IMMUTABLE_HEADER_BYTES + records.length);
      next.set(o.bytes.subarray(0, IMMUTABLE_HEADER_BYTES));
      next.set(encodeLeaseCount(leases.length), IMMUTABLE_LEASE_COUNT_OFFSET);
      next.set(records, IMMUTABLE_HEADER_BYTES);
      await this.putObject(this.leaseKey(si, sh), next, {
        ifMatch: o.etag,
        meta: { [DATA_END]: String(o.dataEnd) },
      });
      this.account(next.length - o.bytes.length);
    },
  };
  /** Bytes stored under the prefix, as far as this server knows. */
  private used = 0;
  private readonly blocks = new BlockCache(READ_CACHE_BYTES);
  /** Open immutable shares so far: each one's blocks are cached under its number. */
  private opened = 0;
  private readonly partSlots = new PartSlots(STREAMED_PARTS_IN_FLIGHT);

  /** A backend on the store `opts` names (the SDK loaded first, once per process). */
  static async create(opts: S3BackendOptions): Promise<S3Backend> {
    return new S3Backend(opts, await loadS3Sdk());
  }

  private constructor(
    private readonly opts: S3BackendOptions,
    private readonly sdk: S3Sdk,
  ) {
    this.client = new sdk.S3Client({
      endpoint: opts.endpoint,
      region: opts.region ?? DEFAULT_REGION,
      forcePathStyle: true,
      credentials: opts.credentials,
      // The SDK's default checksums send aws-chunked bodies that self-hosted stores
      // (radosgw among them) refuse or store framed: ecosystem.md §3.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: STORE_ATTEMPTS,
      // A store that stops answering (radosgw with a full OSD holds writes instead of refusing
      // them) fails the call once its socket has been idle this long, so that the client hears
      // "not answering" well within its own 60 s, after the SDK's three tries.
      requestHandler: { connectionTimeout: STORE_CONNECT_TIMEOUT_MS, socketTimeout: STORE_IDLE_TIMEOUT_MS },
    });
    // An immutable share's data is sent with UNSIGNED-PAYLOAD instead of its SHA-256 in the
    // signature (~1.35 CPU-s per GB written, in the profile of a server on radosgw): every
    // reader checks those bytes against the share's own hash trees, so the signature's hash
    // adds no protection there. Lease objects and mutable shares stay signed whole.
    this.client.middlewareStack.add(
      (next) => async (args) => {
        const key = (args.input as { Key?: unknown }).Key;
        const req = args.request as { headers?: Record<string, string> };
        if (typeof key === 'string' && key.startsWith(`${this.prefix}shares/immutable/`) && req.headers) {
          req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        }
        return next(args);
      },
      { step: 'build', name: 'cairnUnsignedShareData' },
    );
    this.ranges = new RangeGetter({
      endpoint: opts.endpoint,
      bucket: opts.bucket,
      region: opts.region ?? DEFAULT_REGION,
      credentials: opts.credentials,
      connectTimeoutMs: STORE_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: STORE_IDLE_TIMEOUT_MS,
      attempts: STORE_ATTEMPTS,
    });
    this.bucket = opts.bucket;
    const p = opts.prefix ?? '';
    this.prefix = p === '' || p.endsWith('/') ? p : `${p}/`;
    this.quota = opts.quota;
    this.spoolDir = opts.spoolDir;
    this.log = opts.log ?? (() => {});
  }

  /** Where the server's objects are, for people (no credentials in it). */
  describe(): string {
    return `${this.opts.endpoint} bucket ${this.bucket}${this.prefix ? ` prefix ${this.prefix}` : ''}`;
  }

  /** Runs a store call; its failures become errors a client or an operator can act on. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.storeError(what, err);
    }
  }

  private storeError(what: string, err: unknown): Error {
    if (err instanceof StorageError || err instanceof S3BackendError) return err;
    const status = statusOf(err);
    const name = (err as Error)?.name ?? 'Error';
    if (status === 403) {
      return new StorageError(
        'UNAVAILABLE',
        `the server's object store refused it (${what}: ${name}); the operator should check its credentials`,
      );
    }
    if (name === 'TimeoutError') {
      return new StorageError(
        'UNAVAILABLE',
        `the server's object store is not answering (${what} timed out); the operator should check that it is up and not full`,
      );
    }
    if (status === undefined || status >= 500) {
      return new StorageError(
        'UNAVAILABLE',
        `the server's object store is unreachable or failing (${what}: ${name}); try again later`,
      );
    }
    return new StorageError(
      'UNAVAILABLE',
      `the server's object store refused ${what} (${name}, HTTP ${status})`,
    );
  }

  async init(): Promise<void> {
    await fs.mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) {
        await this.createBucket();
      } else if (status === 403 || status === 400) {
        throw new S3BackendError(
          'S3_AUTH',
          `the object store at ${this.opts.endpoint} refused these credentials for bucket ${this.bucket} ` +
            `(HTTP ${status}): check the access key and secret key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY ` +
            'or --s3-credentials) and that the key may use the bucket',
          { cause: err },
        );
      } else {
        throw new S3BackendError(
          'S3_UNREACHABLE',
          `cannot reach the object store at ${this.opts.endpoint} (${(err as Error).name}: ${(err as Error).message}); ` +
            'check --s3 URL and that the store is running',
          { cause: err },
        );
      }
    }
    this.used = 0;
    for await (const o of this.objects(this.prefix)) this.used += o.size;
  }

  private async createBucket(): Promise<void> {
    try {
      await this.client.send(new this.sdk.CreateBucketCommand({ Bucket: this.bucket }));
      this.log(`created bucket ${this.bucket}`);
    } catch (err) {
      throw new S3BackendError(
        'S3_BUCKET',
        `bucket ${this.bucket} does not exist and could not be created (${(err as Error).name}); ` +
          'create it, or give a bucket these credentials may use',
        { cause: err },
      );
    }
  }

  async recoverUploads(): Promise<RecoveredUpload[]> {
    // Unfinished uploads are not kept across restarts on this backend (see the top): their
    // spool files go, and so do the multipart uploads they had begun in the store.
    for (const name of await fs.readdir(this.spoolDir).catch(() => [] as string[])) {
      await fs.rm(path.join(this.spoolDir, name), { force: true, recursive: true });
    }
    await this.abortUnfinishedObjects();
    return [];
  }

  /** Aborts the multipart uploads of share data left by an earlier run (they hold space, unseen). */
  private async abortUnfinishedObjects(): Promise<void> {
    const prefix = `${this.prefix}shares/immutable/`;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    let aborted = 0;
    do {
      const res: ListMultipartUploadsCommandOutput = await this.call('a listing', () =>
        this.client.send(
          new this.sdk.ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        ),
      );
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        await this.call('a delete', () =>
          this.client.send(
            new this.sdk.AbortMultipartUploadCommand({
              Bucket: this.bucket,
              Key: u.Key,
              UploadId: u.UploadId,
            }),
          ),
        );
        aborted++;
      }
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      uploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
    if (aborted) this.log(`aborted ${aborted} unfinished multipart upload(s) left by an earlier run`);
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.ranges.close();
  }

  async freeBytes(): Promise<number> {
    return this.quota === undefined ? UNBOUNDED_FREE_BYTES : Math.max(0, this.quota - this.used);
  }

  // ---- keys ---------------------------------------------------------------------------

  private shareKey(kind: ShareKind, si: StorageIndex, sh: ShareNum): string {
    const b = base32Encode(si);
    return `${this.prefix}shares/${kind}/${b.slice(0, 2)}/${b}/${sh}`;
  }

  private leaseKey(si: StorageIndex, sh: ShareNum, kind: ShareKind = 'immutable'): string {
    const b = base32Encode(si);
    return `${this.prefix}leases/${kind}/${b.slice(0, 2)}/${b}/${sh}`;
  }

  /** Where a kind's shares are listed from: immutable ones by their lease objects (which make them whole). */
  private listRoot(kind: ShareKind): string {
    return kind === 'immutable' ? `${this.prefix}leases/immutable/` : `${this.prefix}shares/mutable/`;
  }

  private async *objects(prefix: string): AsyncIterable<{ key: string; size: number }> {
    let token: string | undefined;
    do {
      const res: ListObjectsV2CommandOutput = await this.call('a listing', () =>
        this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of res.Contents ?? []) if (o.Key) yield { key: o.Key, size: o.Size ?? 0 };
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  private async folders(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res: ListObjectsV2CommandOutput = await this.call('a listing', () =>
        this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: '/',
            ContinuationToken: token,
          }),
        ),
      );
      for (const p of res.CommonPrefixes ?? []) {
        if (p.Prefix) out.push(p.Prefix.slice(prefix.length).replace(/\/$/, ''));
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async *listStorageIndexes(): AsyncIterable<StorageIndex> {
    const seen = new Set<string>();
    for (const kind of ['immutable', 'mutable'] as const) {
      const root = this.listRoot(kind);
      for await (const o of this.objects(root)) {
        const name = o.key.slice(root.length).split('/')[1];
        if (!name || !SI_NAME.test(name) || seen.has(name)) continue;
        seen.add(name);
        yield asStorageIndex(base32Decode(name));
      }
    }
  }

  async storageIndexesIn(prefix: string): Promise<StorageIndex[]> {
    if (!/^[a-z2-7]{2}$/.test(prefix)) throw new Error(`not a storage index prefix: '${prefix}'`);
    const names = new Set<string>();
    for (const kind of ['immutable', 'mutable'] as const) {
      for (const n of await this.folders(`${this.listRoot(kind)}${prefix}/`)) {
        if (SI_NAME.test(n) && n.startsWith(prefix)) names.add(n);
      }
    }
    return [...names].sort().map((n) => asStorageIndex(base32Decode(n)));
  }

  async listShares(kind: ShareKind, si: StorageIndex): Promise<ShareNum[]> {
    const b = base32Encode(si);
    const root = `${this.listRoot(kind)}${b.slice(0, 2)}/${b}/`;
    const out: ShareNum[] = [];
    for await (const o of this.objects(root)) {
      const n = o.key.slice(root.length);
      if (SH_NAME.test(n) && Number(n) <= 255) out.push(asShareNum(Number(n)));
    }
    return out.sort((a, b2) => a - b2);
  }

  // ---- objects ------------------------------------------------------------------------

  /** An object's bytes, metadata and ETag, or null when there is none. */
  private async getObject(
    key: string,
  ): Promise<{ bytes: Uint8Array; etag: string | undefined; meta: Record<string, string> } | null> {
    try {
      const res = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = res.Body ? await res.Body.transformToByteArray() : new Uint8Array(0);
      return { bytes, etag: res.ETag, meta: res.Metadata ?? {} };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.storeError('a read', err);
    }
  }

  /** Reads `target.length` bytes of an object at `position` straight into `target`; returns how many. */
  async readRange(key: string, position: number, target: Uint8Array): Promise<number> {
    if (target.length === 0) return 0;
    return this.call('a read', () => this.ranges.read(key, position, target));
  }

  async putObject(
    key: string,
    body: Uint8Array,
    cond: { ifMatch?: string; ifNoneMatch?: '*'; meta?: Record<string, string> } = {},
  ): Promise<string | undefined> {
    try {
      const res = await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          // radosgw 16 compares If-Match with its stored ETag as raw text, which has no quotes.
          IfMatch: cond.ifMatch?.replace(/^"(.*)"$/, '$1'),
          IfNoneMatch: cond.ifNoneMatch,
          Metadata: cond.meta,
        }),
      );
      return res.ETag;
    } catch (err) {
      if (statusOf(err) === 412) {
        throw new StorageError(
          'CONFLICT',
          'a share changed in the object store under this server (is a second server using the same bucket and prefix?); try again',
        );
      }
      throw this.storeError('a write', err);
    }
  }

  private async deleteObject(key: string): Promise<void> {
    await this.call('a delete', () =>
      this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
  }

  /** Adjusts the bytes counted against the quota. */
  account(delta: number): void {
    this.used = Math.max(0, this.used + delta);
  }

  // ---- shares -------------------------------------------------------------------------

  async openShare(
    kind: ShareKind,
    si: StorageIndex,
    sh: ShareNum,
    writable: boolean,
  ): Promise<ShareFile | null> {
    if (kind === 'mutable') {
      const stored = await this.mutableObjects(si, sh);
      return stored.share.bytes ? new S3MutableFile(this, stored, writable) : null;
    }
    const o = await this.leaseObject(si, sh);
    if (!o) return null;
    const dataKey = this.shareKey('immutable', si, sh);
    const file = `${++this.opened}/`;
    return new StitchedImmutableFile(
      (position, target) => this.readData(dataKey, file, o.dataEnd, position, target),
      o.bytes,
      o.dataEnd,
      decodeImmutableLeases(o.bytes.subarray(IMMUTABLE_HEADER_BYTES)),
      () => this.blocks.drop(file),
    );
  }

  /**
   * Reads a committed share's data object (container bytes up to `dataEnd`) into `target`:
   * small reads through the blocks of open file `file`, larger ones straight.
   */
  private async readData(
    key: string,
    file: string,
    dataEnd: number,
    position: number,
    target: Uint8Array,
  ): Promise<number> {
    if (target.length >= DIRECT_READ_BYTES) return this.readRange(key, position, target);
    const end = Math.min(position + target.length, dataEnd);
    if (end <= position) return 0;
    const first = Math.floor(position / READ_BLOCK_BYTES);
    const blocks: Promise<Uint8Array>[] = [];
    for (let i = first; i * READ_BLOCK_BYTES < end; i++) {
      blocks.push(this.blocks.get(`${file}${i}`, () => this.readBlock(key, i, dataEnd)));
    }
    let at = position;
    for (const [j, pending] of blocks.entries()) {
      const block = await pending;
      const base = (first + j) * READ_BLOCK_BYTES;
      const stop = Math.min(end, base + block.length);
      if (stop <= at) break;
      target.set(block.subarray(at - base, stop - base), at - position);
      at = stop;
      if (stop < Math.min(end, base + READ_BLOCK_BYTES)) break; // the object is shorter
    }
    return at - position;
  }

  private async readBlock(key: string, index: number, dataEnd: number): Promise<Uint8Array> {
    const start = index * READ_BLOCK_BYTES;
    const block = new Uint8Array(Math.min(READ_BLOCK_BYTES, dataEnd - start));
    const got = await this.readRange(key, start, block);
    return got === block.length ? block : block.subarray(0, got);
  }

  /** An immutable share's lease object, checked, with where its data ends; null when there is no share. */
  private async leaseObject(
    si: StorageIndex,
    sh: ShareNum,
  ): Promise<{ bytes: Uint8Array; etag: string | undefined; dataEnd: number } | null> {
    const meta = await this.getObject(this.leaseKey(si, sh));
    if (!meta) return null;
    const dataEnd = Number(meta.meta[DATA_END]);
    if (
      !Number.isSafeInteger(dataEnd) ||
      dataEnd < IMMUTABLE_HEADER_BYTES ||
      meta.bytes.length < IMMUTABLE_HEADER_BYTES
    ) {
      throw new StorageError('UNAVAILABLE', `the lease object of immutable share ${sh} is damaged`);
    }
    return { bytes: meta.bytes, etag: meta.etag, dataEnd };
  }

  async openOrCreateMutable(si: StorageIndex, sh: ShareNum): Promise<ShareFile> {
    // A new one is named by its first sync (If-None-Match: *): the journal covers a crash before it.
    return new S3MutableFile(this, await this.mutableObjects(si, sh), true);
  }

  /** A mutable share's two objects as stored (both read at once). */
  private async mutableObjects(si: StorageIndex, sh: ShareNum): Promise<StoredMutable> {
    const shareKey = this.shareKey('mutable', si, sh);
    const leaseKey = this.leaseKey(si, sh, 'mutable');
    const [share, leases] = await Promise.all([this.getObject(shareKey), this.getObject(leaseKey)]);
    return {
      share: {
        key: shareKey,
        bytes: share?.bytes ?? null,
        etag: share?.etag,
        apart: share?.meta[LAYOUT] === LEASES_APART,
      },
      leases: { key: leaseKey, bytes: leases?.bytes ?? null, etag: leases?.etag },
      sh,
    };
  }

  createPending(si: StorageIndex, sh: ShareNum, size?: number): PendingShare {
    const spool = path.join(this.spoolDir, `${base32Encode(si)}.${sh}.${randomBytes(8).toString('hex')}`);
    const file = new SpoolFile(spool);
    const streamed = new StreamedUpload(
      {
        client: this.client,
        sdk: this.sdk,
        bucket: this.bucket,
        key: this.shareKey('immutable', si, sh),
        slots: this.partSlots,
      },
      spool,
      size,
      // The header a share of that size closes with (one lease: its uploader's).
      encodeImmutableHeader(size ?? 0, 1),
    );
    let done = false;
    return {
      file: {
        read: (position, length) => file.read(position, length),
        write: async (position, data) => {
          await file.write(position, data);
          streamed.wrote(position, position + data.length);
        },
      },
      commit: async (seal) => {
        if (done) throw new Error('share already committed or discarded');
        done = true;
        try {
          await this.commitSpool(si, sh, file, streamed, seal);
        } catch (err) {
          await streamed.abort();
          throw err;
        } finally {
          await file.close();
          await fs.rm(spool, { force: true });
        }
      },
      discard: async () => {
        if (done) return;
        done = true;
        await streamed.abort();
        await file.close();
        await fs.rm(spool, { force: true });
      },
      // Parked uploads are kept in the spool for this run only (see the top): nothing to record.
      checkpoint: () => file.sync(),
      release: () => file.close(),
    };
  }

  /** Streams a finished upload's data to its object, then writes the lease object that makes it whole. */
  private async commitSpool(
    si: StorageIndex,
    sh: ShareNum,
    file: SpoolFile,
    streamed: StreamedUpload,
    seal: ShareSeal,
  ): Promise<void> {
    // The data object is the container up to its leases; the header goes at its head.
    const header = encodeImmutableHeader(seal.dataLength, seal.leases.length);
    if (seal.data) await file.write(IMMUTABLE_HEADER_BYTES, seal.data);
    await file.write(0, header);
    const dataEnd = IMMUTABLE_HEADER_BYTES + seal.dataLength;
    const leases = encodeImmutableLeases(seal.leases);
    const dataKey = this.shareKey('immutable', si, sh);
    // What a share there now occupies (none, unless an earlier commit failed half-way), asked beside the upload.
    const replaced = this.immutableBytes(si, sh);
    replaced.catch(() => {});
    try {
      // Most of a large share went while it was written; what is left goes now.
      if (await streamed.complete(dataEnd, header)) {
        return await this.sealShare(si, sh, header, leases, dataEnd, await replaced);
      }
    } catch (err) {
      throw this.storeError('storing a share', err);
    }
    try {
      const upload = new this.sdk.Upload({
        client: this.client,
        params: {
          Bucket: this.bucket,
          Key: dataKey,
          Body: createReadStream(file.path, { start: 0, end: dataEnd - 1, highWaterMark: 1 << 20 }),
          ContentLength: dataEnd,
        },
        partSize: PART_BYTES,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      throw this.storeError('storing a share', err);
    }
    await this.sealShare(si, sh, header, leases, dataEnd, await replaced);
  }

  /** Writes the lease object that makes a share whose data object is stored whole. */
  private async sealShare(
    si: StorageIndex,
    sh: ShareNum,
    header: Uint8Array,
    leases: Uint8Array,
    dataEnd: number,
    replaced: number,
  ): Promise<void> {
    const dataKey = this.shareKey('immutable', si, sh);
    const meta = new Uint8Array(IMMUTABLE_HEADER_BYTES + leases.length);
    meta.set(header);
    meta.set(leases, IMMUTABLE_HEADER_BYTES);
    try {
      await this.putObject(this.leaseKey(si, sh), meta, { meta: { [DATA_END]: String(dataEnd) } });
    } catch (err) {
      // No lease object: the data alone is no share. Tidy it if the store lets us.
      await this.deleteObject(dataKey).catch(() => {});
      throw err;
    }
    this.account(dataEnd + leases.length - replaced);
  }

  /** Bytes an immutable share occupies now (0 when there is none). */
  private async immutableBytes(si: StorageIndex, sh: ShareNum): Promise<number> {
    const meta = await this.getObject(this.leaseKey(si, sh));
    if (!meta) return 0;
    return (Number(meta.meta[DATA_END]) || 0) + meta.bytes.length - IMMUTABLE_HEADER_BYTES;
  }

  async deleteShare(kind: ShareKind, si: StorageIndex, sh: ShareNum): Promise<void> {
    if (kind === 'immutable') {
      const bytes = await this.immutableBytes(si, sh);
      // The lease object first: without it what is left is no share.
      await this.deleteObject(this.leaseKey(si, sh));
      await this.deleteObject(this.shareKey('immutable', si, sh));
      this.account(-bytes);
      return;
    }
    const m = await this.mutableObjects(si, sh);
    // The share first: a lease object left alone is no share, and a new one replaces it.
    if (m.share.bytes) await this.deleteObject(m.share.key);
    if (m.leases.bytes) await this.deleteObject(m.leases.key);
    this.account(-storedBytes(m));
  }

  // ---- journals and advisories --------------------------------------------------------

  private journalKey(si: StorageIndex): string {
    return `${this.prefix}journal/${base32Encode(si)}`;
  }

  async writeJournal(si: StorageIndex, bytes: Uint8Array): Promise<void> {
    await this.putObject(this.journalKey(si), bytes);
  }

  async removeJournal(si: StorageIndex): Promise<void> {
    await this.deleteObject(this.journalKey(si));
  }

  async *journals(): AsyncIterable<JournalRecord> {
    const root = `${this.prefix}journal/`;
    const keys: string[] = [];
    for await (const o of this.objects(root)) keys.push(o.key);
    for (const key of keys) {
      const name = key.slice(root.length);
      if (!SI_NAME.test(name)) continue;
      const got = await this.getObject(key);
      if (got) yield { si: asStorageIndex(base32Decode(name)), bytes: got.bytes };
    }
  }

  async recordAdvisory(name: string, text: string): Promise<void> {
    if (!ADVISORY_NAME.test(name)) throw new Error(`not an advisory name: '${name}'`);
    await this.putObject(`${this.prefix}advisories/${name}`, new TextEncoder().encode(text));
  }

  async advisoryNames(): Promise<string[]> {
    const root = `${this.prefix}advisories/`;
    const out: string[] = [];
    for await (const o of this.objects(root)) out.push(o.key.slice(root.length));
    return out;
  }
}

/** One object of a mutable share as read: its bytes (null: none) and the ETag to put it back with. */
interface StoredObject {
  readonly key: string;
  bytes: Uint8Array | null;
  etag: string | undefined;
}

/** A mutable share's objects as read (and, after each sync, as written). */
interface StoredMutable {
  /** The container less its leases; or, when not `apart`, a container stored whole. */
  share: StoredObject & { apart: boolean };
  /** The lease slots and extra-lease block (read only when the share is `apart`). */
  leases: StoredObject;
  sh: ShareNum;
}

/** Bytes a mutable share's objects occupy in the store. */
function storedBytes(m: StoredMutable): number {
  return (m.share.bytes?.length ?? 0) + (m.leases.bytes?.length ?? 0);
}

/** The container a mutable share's objects make (empty when there is none). */
function joinedContainer(m: StoredMutable): Uint8Array {
  if (!m.share.bytes) return new Uint8Array(0);
  if (!m.share.apart) return m.share.bytes;
  const joined = joinMutable(m.share.bytes, m.leases.bytes);
  if (!joined) throw new StorageError('UNAVAILABLE', `the object of mutable share ${m.sh} is damaged`);
  return joined;
}

/**
 * A mutable share read whole, patched in memory, and put back conditionally by sync: cut
 * in two, each object put only when it changed.
 */
class S3MutableFile implements ShareFile {
  private dirty = false;
  private bytes: Uint8Array;

  constructor(
    private readonly store: S3Backend,
    private readonly stored: StoredMutable,
    private readonly writable: boolean,
  ) {
    this.bytes = joinedContainer(stored);
  }

  async size(): Promise<number> {
    return this.bytes.length;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    return this.bytes.slice(
      Math.min(position, this.bytes.length),
      Math.min(position + length, this.bytes.length),
    );
  }

  async readInto(position: number, target: Uint8Array): Promise<number> {
    const got = await this.read(position, target.length);
    target.set(got);
    return got.length;
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    if (!this.writable) throw new Error('share opened read-only');
    if (position + data.length > this.bytes.length) {
      const next = new Uint8Array(position + data.length);
      next.set(this.bytes);
      this.bytes = next;
    }
    this.bytes.set(data, position);
    this.dirty = true;
  }

  async truncate(length: number): Promise<void> {
    if (!this.writable) throw new Error('share opened read-only');
    const next = new Uint8Array(length);
    next.set(this.bytes.subarray(0, Math.min(length, this.bytes.length)));
    this.bytes = next;
    this.dirty = true;
  }

  async sync(): Promise<void> {
    const s = this.stored;
    if (!this.dirty && s.share.bytes) return;
    const before = storedBytes(s);
    const parts = splitMutable(this.bytes);
    const puts: Promise<void>[] = [];
    const setApart = (apart: boolean) => () => {
      s.share.apart = apart;
    };
    if (!parts) {
      // No whole container (yet): kept whole, as it is; a lease object there is not read.
      puts.push(this.put(s.share, this.bytes.slice()).then(setApart(false)));
    } else {
      // Compared with what the store holds: a lease change leaves the share object alone.
      const sameShare = s.share.apart && s.share.bytes && equalBytes(s.share.bytes, parts.share);
      const sameLeases = s.share.apart && s.leases.bytes && equalBytes(s.leases.bytes, parts.leases);
      if (!sameShare) {
        puts.push(this.put(s.share, parts.share, { [LAYOUT]: LEASES_APART }).then(setApart(true)));
      }
      if (!sameLeases) puts.push(this.put(s.leases, parts.leases));
    }
    // Both at once: a change that stops between them is the journal's to replay.
    const settled = await Promise.allSettled(puts);
    this.store.account(storedBytes(s) - before);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    this.dirty = false;
  }

  /** Puts one object conditionally on the ETag it was read with; records what it now holds. */
  private async put(o: StoredObject, bytes: Uint8Array, meta?: Record<string, string>): Promise<void> {
    o.etag = await this.store.putObject(o.key, bytes, {
      ...(o.etag === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: o.etag }),
      meta,
    });
    o.bytes = bytes;
  }

  close(): Promise<void> {
    return this.dirty ? this.sync() : Promise.resolve();
  }
}

/** A local file for an upload in progress: opened on first use, closed when parked. */
class SpoolFile implements ShareFile {
  private handle: fs.FileHandle | null = null;
  private opening: Promise<fs.FileHandle> | null = null;
  private created = false;

  constructor(readonly path: string) {}

  private open(): Promise<fs.FileHandle> {
    if (this.handle) return Promise.resolve(this.handle);
    if (!this.opening) {
      this.opening = fs.open(this.path, this.created ? 'r+' : 'w+', 0o600).then((h) => {
        this.created = true;
        this.handle = h;
        this.opening = null;
        return h;
      });
    }
    return this.opening;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    const got = await this.readInto(position, buf);
    return got === length ? buf : buf.subarray(0, got);
  }

  async readInto(position: number, target: Uint8Array): Promise<number> {
    return readFullyAt(await this.open(), target, position);
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    const h = await this.open();
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await h.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  async size(): Promise<number> {
    if (!this.created) return 0;
    return (await (await this.open()).stat()).size;
  }

  async truncate(length: number): Promise<void> {
    await (await this.open()).truncate(length);
  }

  async sync(): Promise<void> {
    if (this.created) await (await this.open()).sync();
  }

  async close(): Promise<void> {
    const h = this.handle ?? (this.opening ? await this.opening : null);
    this.handle = null;
    await h?.close();
  }
}
