/**
 * A large immutable upload sent to the object store while its client is still writing it:
 * each S3 multipart part goes as soon as the spool holds it whole, so writing a share no
 * longer costs the client's transfer and then the store's, one after the other. Nothing of it is visible before CompleteMultipartUpload, and no share before its
 * lease object (written after); an upload discarded or cut short is aborted, or left as an
 * unfinished multipart upload that the next start aborts (S3Backend.recoverUploads).
 */
import fs from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { equalBytes } from '../../core/primitives/bytes.ts';
import type { S3Sdk } from './s3-sdk.ts';
import { StorageError } from '../../core/protocol/storage-api.ts';
import { addRange, type Range } from '../ranges.ts';
import { readFullyAt } from './read-fully.ts';

/** Part 1: the container's head, header included (S3's least size for a part that is not the last). */
export const HEAD_PART_BYTES = 5 * 2 ** 20;
/** The parts after the head; a share smaller than one is sent whole at commit, in one PUT. */
export const STREAM_PART_BYTES = 8 * 2 ** 20;

/** Part `n`'s bytes of a container that ends at `end`, [start, end) (empty past the end). */
function partRange(n: number, end: number): Range {
  const start = n === 1 ? 0 : HEAD_PART_BYTES + (n - 2) * STREAM_PART_BYTES;
  const stop = n === 1 ? HEAD_PART_BYTES : start + STREAM_PART_BYTES;
  return [Math.min(start, end), Math.min(stop, end)];
}

/** The number of the part holding container byte `position`. */
function partOf(position: number): number {
  return position < HEAD_PART_BYTES ? 1 : 2 + Math.floor((position - HEAD_PART_BYTES) / STREAM_PART_BYTES);
}

/** How long part buffers are kept with no part going before they are let go. */
const IDLE_BUFFERS_MS = 10_000;

/**
 * Parts in flight, shared by a backend's uploads: each is held in memory while it goes,
 * in one of `count` buffers used again part after part. A fresh 8 MiB buffer per part
 * made V8 run a full collection for nearly every part (its external-memory trigger):
 * ~10-25 ms each. Kept while parts go, let go after IDLE_BUFFERS_MS without one.
 */
export class PartSlots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  private readonly buffers: Uint8Array[] = [];
  private idle: NodeJS.Timeout | null = null;

  constructor(private readonly count: number) {
    this.free = count;
  }

  /** Runs `fn` in a slot with a part buffer of STREAM_PART_BYTES that is its own until it settles. */
  async run<T>(fn: (buffer: Uint8Array) => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const buffer = this.buffers.pop() ?? new Uint8Array(STREAM_PART_BYTES);
    let done = false;
    try {
      const out = await fn(buffer);
      done = true;
      return out;
    } finally {
      // After a failure the HTTP layer may still hold the bytes: that buffer is not used again.
      if (done) this.buffers.push(buffer);
      const next = this.waiting.shift();
      if (next) next();
      else if (++this.free === this.count && this.buffers.length > 0) {
        this.idle = setTimeout(() => {
          this.buffers.length = 0;
          this.idle = null;
        }, IDLE_BUFFERS_MS);
        this.idle.unref();
      }
    }
  }
}

export interface PartTarget {
  client: S3Client;
  sdk: S3Sdk;
  bucket: string;
  key: string;
  slots: PartSlots;
}

interface SentPart {
  start: number;
  end: number;
  /** Its ETag, or undefined when sending failed (it goes again at commit). */
  etag: Promise<string | undefined>;
}

/**
 * The parts are laid out for the size the share was allocated (clients write every byte
 * they allocate), so each goes once whole, the head with the header that size will have
 * and the tail as soon as it is written: commit then only completes the object. A share
 * closed at another length, or with another header, has the parts that differ sent again.
 */
export class StreamedUpload {
  /** Where the container's data ends when the client writes what it allocated. */
  private readonly plannedEnd: number;
  /** Container bytes in the spool, as far as this upload was told (the header is not among them). */
  private readonly written: Range[] = [];
  private uploadId: Promise<string> | null = null;
  private readonly sent = new Map<number, SentPart>();
  private ended = false;

  /**
   * `size`: the share's allocated data bytes, undefined when not known (nothing is sent
   * before commit then); `header`: the container header a share of that size gets.
   */
  constructor(
    private readonly t: PartTarget,
    private readonly spoolPath: string,
    size: number | undefined,
    private readonly header: Uint8Array,
  ) {
    this.plannedEnd = size === undefined ? 0 : header.length + size;
  }

  /** Container bytes [from, to) are in the spool: sends every part now whole. */
  wrote(from: number, to: number): void {
    // Smaller shares go in one PUT at commit: fewer requests than parts.
    if (this.ended || to <= from || this.plannedEnd <= STREAM_PART_BYTES) return;
    addRange(this.written, from, to);
    for (let n = partOf(from); n <= partOf(to - 1); n++) {
      const [start, end] = partRange(n, this.plannedEnd);
      const dataStart = Math.max(start, this.header.length);
      if (end <= start || this.sent.has(n) || !this.written.some(([s, e]) => s <= dataStart && e >= end))
        continue;
      this.uploadId ??= this.create();
      const id = this.uploadId;
      const etag = id
        .then((uploadId) =>
          this.t.slots.run((buffer) =>
            this.sendPart(buffer, uploadId, n, start, end, n === 1 ? this.header : undefined),
          ),
        )
        .catch(() => undefined);
      this.sent.set(n, { start, end, etag });
    }
  }

  /**
   * Sends what is left (parts not yet whole, failed, or laid out for another length or
   * header; the spool holds `header` now) and completes the object of `dataEnd` bytes.
   * False when nothing was sent: the caller sends the spool itself. On failure the caller aborts.
   */
  async complete(dataEnd: number, header: Uint8Array): Promise<boolean> {
    this.ended = true;
    if (!this.uploadId) return false;
    let uploadId: string;
    try {
      uploadId = await this.uploadId;
    } catch {
      // Not even begun: every part goes now, under a new upload.
      this.sent.clear();
      this.uploadId = this.create();
      uploadId = await this.uploadId;
    }
    const plan: Array<{ n: number; start: number; end: number }> = [];
    for (let n = 1; partRange(n, dataEnd)[1] > partRange(n, dataEnd)[0]; n++) {
      const [start, end] = partRange(n, dataEnd);
      plan.push({ n, start, end });
    }
    const sameHeader = equalBytes(header, this.header);
    const etags = await Promise.all(
      plan.map(async ({ n, start, end }) => {
        const sent = this.sent.get(n);
        const usable = sent && sent.start === start && sent.end === end && (n !== 1 || sameHeader);
        // Settled first even when unusable: a send of part n still in flight could land after
        // ours and replace it, and the store would then refuse our ETag (InvalidPart).
        const settled = sent ? await sent.etag : undefined;
        const etag = usable ? settled : undefined;
        return etag ?? this.t.slots.run((buffer) => this.sendPart(buffer, uploadId, n, start, end));
      }),
    );
    await this.t.client.send(
      new this.t.sdk.CompleteMultipartUploadCommand({
        Bucket: this.t.bucket,
        Key: this.t.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: plan.map(({ n }, i) => ({ PartNumber: n, ETag: etags[i] })) },
      }),
    );
    return true;
  }

  /** Drops what was sent (best effort: an unfinished upload left behind is aborted at the next start). */
  async abort(): Promise<void> {
    this.ended = true;
    if (!this.uploadId) return;
    await Promise.all([...this.sent.values()].map((p) => p.etag));
    const uploadId = await this.uploadId.catch(() => null);
    this.uploadId = null;
    if (uploadId === null) return;
    await this.t.client
      .send(
        new this.t.sdk.AbortMultipartUploadCommand({
          Bucket: this.t.bucket,
          Key: this.t.key,
          UploadId: uploadId,
        }),
      )
      .catch(() => {});
  }

  private async create(): Promise<string> {
    const res = await this.t.client.send(
      new this.t.sdk.CreateMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key }),
    );
    if (!res.UploadId)
      throw new StorageError('UNAVAILABLE', 'the object store began a multipart upload without an id');
    return res.UploadId;
  }

  /**
   * Sends container bytes [start, end) from the spool as part `n`, with `header` at its head
   * when given, read into `buffer` (a part slot's).
   */
  private async sendPart(
    buffer: Uint8Array,
    uploadId: string,
    n: number,
    start: number,
    end: number,
    header?: Uint8Array,
  ): Promise<string> {
    // A handle of its own: the spool's may be closed meanwhile (an upload parked).
    const h = await fs.open(this.spoolPath, 'r');
    const body = buffer.subarray(0, end - start);
    try {
      if ((await readFullyAt(h, body, start)) !== body.length)
        throw new StorageError('UNAVAILABLE', "an upload's spool file is shorter than was written");
    } finally {
      await h.close();
    }
    if (header) body.set(header);
    const res = await this.t.client.send(
      new this.t.sdk.UploadPartCommand({
        Bucket: this.t.bucket,
        Key: this.t.key,
        UploadId: uploadId,
        PartNumber: n,
        Body: body,
        ContentLength: body.length,
      }),
    );
    if (!res.ETag) throw new StorageError('UNAVAILABLE', 'the object store took a part without an ETag');
    return res.ETag;
  }
}
