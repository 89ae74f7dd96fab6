/**
 * A mutable file (SDMF or MDMF) as a node: reads find the newest recoverable version on the
 * grid; writes publish a new version over every share the grid holds, tested against what
 * was seen, so a concurrent writer is detected rather than overwritten. `modify` re-reads and
 * re-applies on such a conflict (directories rely on it).
 */
import {
  formatCapability,
  type MutableCap,
  type MutableFormat,
  type MutableReadCap,
  readOnlyOf,
  storageIndexOf,
  verifierOf,
} from '../caps/index.ts';
import { InputError } from '../errors.ts';
import { NotEnoughSharesError } from '../immutable/errors.ts';
import { encodeMutableStream } from '../mutable/encode.ts';
import { type Fingerprint, readKeyOf, type ReadKey, type WriteKey } from '../mutable/keys.ts';
import { bytesAt, encPrivKeyRange } from '../mutable/layout.ts';
import { planMutable } from '../mutable/prefix.ts';
import { placeShares, publishWrites, type ShareWrites } from '../mutable/publish.ts';
import { retrieveVersion } from '../mutable/retrieve.ts';
import { mapServers, type MutableVersion, ServerMap, type VerifiedSighting } from '../mutable/servermap.ts';
import { encodeUpdate, planUpdate } from '../mutable/update.ts';
import { checkEncPrivKey, checkShareHashes } from '../mutable/verify.ts';
import { readVerificationMaterial, type SharePiece, verificationRanges } from '../mutable/layout.ts';
import { UncoordinatedWriteError, UnrecoverableFileError } from '../mutable/write-errors.ts';
import type { PlaintextSource } from '../immutable/source.ts';
import { type Pkcs8Der, type RsaKeyPair, rsaSigner, type SpkiDer } from '../primitives/rsa.ts';
import type { ServerId, ShareNum, StorageIndex } from '../types.ts';
import { equalBytes } from '../primitives/bytes.ts';
import { CapAuthorityError } from './errors.ts';
import type { MutableContext } from './context.ts';
import { checkMutable } from '../check/check-mutable.ts';
import type { CheckResult } from '../check/results.ts';
import { renewLeases } from './leases.ts';
import type { CheckOptions, MutableFileNode, ReadOptions, WriteOptions } from './node.ts';

/** Reads of a version that a concurrent writer replaced: mapped again this many times in all. */
const READ_ATTEMPTS = 6;
/** How many times modify() re-reads and re-applies after a conflicting write. */
const MODIFY_ATTEMPTS = 6;

/** A version we published that collided yet came out as the one readers get. */
interface OurVersion {
  data: Uint8Array;
  seqnum: number;
  rootHash: Uint8Array;
}

interface Signing {
  privateKey: Pkcs8Der;
  publicKey: SpkiDer;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export class MutableNode implements MutableFileNode {
  readonly kind = 'mutable';
  readonly format: MutableFormat;
  readonly cap: string;
  readonly writeCap: string | null;
  readonly readCap: string | null;
  readonly verifyCap: string;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly storageIndex: StorageIndex;
  readonly #fingerprint: Fingerprint;
  readonly #readKey: ReadKey | null;
  readonly #writeKey: WriteKey | null;
  #signing: Promise<Signing> | null = null;

  constructor(
    parsed: MutableCap,
    private readonly ctx: MutableContext,
    keys?: RsaKeyPair,
  ) {
    this.format = parsed.format;
    this.cap = formatCapability(parsed);
    const ro = readOnlyOf(parsed) as MutableReadCap | null;
    this.readCap = ro ? formatCapability(ro) : null;
    this.verifyCap = formatCapability(verifierOf(parsed));
    this.writeCap = parsed.kind === 'ssk-write' ? this.cap : null;
    this.readable = ro !== null;
    this.writable = parsed.kind === 'ssk-write';
    this.storageIndex = storageIndexOf(parsed);
    this.#fingerprint = parsed.fingerprint;
    this.#writeKey = parsed.kind === 'ssk-write' ? parsed.writeKey : null;
    this.#readKey =
      parsed.kind === 'ssk-write'
        ? readKeyOf(parsed.writeKey)
        : parsed.kind === 'ssk-read'
          ? parsed.readKey
          : null;
    if (keys) this.#signing = signingOf(keys);
  }

  /** Who holds which version, fresh from every connected server. */
  async servermap(): Promise<ServerMap> {
    return mapServers(this.storageIndex, await this.ctx.servers(), this.#fingerprint);
  }

  #newest(map: ServerMap): MutableVersion {
    const v = map.newestRecoverable();
    if (v) return v;
    const seen = map.allSightings().length;
    throw new UnrecoverableFileError(
      seen === 0
        ? `no share of this file was found on the ${map.answered.length} server(s) that answered`
        : `the file cannot be read: ${seen} share(s) found, not enough of one version`,
    );
  }

  async size(): Promise<number> {
    return this.#newest(await this.servermap()).prefix.dataLength;
  }

  async check(opts: CheckOptions = {}): Promise<CheckResult> {
    const [servers, tools] = await Promise.all([this.ctx.servers(), this.ctx.tools()]);
    const result = await checkMutable(this.storageIndex, this.#fingerprint, servers, {
      verify: opts.verify,
      backend: tools.backend,
      onShareVerified: opts.onProgress,
    });
    if (opts.addLease) {
      const holders = servers.filter((s) => result.holdings.some((h) => h.server === s.serverId));
      result.leasesRenewed = await renewLeases(this.storageIndex, holders, (await this.ctx.secrets()).lease);
    }
    if (opts.repair && !result.healthy) result.repair = await this.#repair();
    return result;
  }

  /**
   * Republishes the newest recoverable version over every share (Tahoe's mutable repairer):
   * missing shares are placed anew, stale and corrupt ones overwritten. Needs the write cap,
   * since new shares must be signed.
   */
  async #repair(): Promise<NonNullable<CheckResult['repair']>> {
    if (!this.#writeKey) {
      return {
        attempted: false,
        succeeded: false,
        written: [],
        error: 'repairing a mutable file needs its write cap (new shares must be signed)',
      };
    }
    try {
      const readKey = this.#requireReadKey();
      const map = await this.servermap();
      const data = await this.#readVersion(this.#newest(map), readKey);
      const placed = await this.publish(data, map);
      const [servers, tools] = await Promise.all([this.ctx.servers(), this.ctx.tools()]);
      const after = await checkMutable(this.storageIndex, this.#fingerprint, servers, {
        backend: tools.backend,
      });
      return {
        attempted: true,
        succeeded: after.healthy,
        written: [...placed].map(([server, shares]) => ({ server, shares })),
        after,
      };
    } catch (err) {
      return { attempted: true, succeeded: false, written: [], error: (err as Error).message };
    }
  }

  async *read(opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    const readKey = this.#requireReadKey();
    const tools = await this.ctx.tools();
    // A writer may replace the version we mapped while we read it: then its blocks fail our
    // hashes everywhere. As Tahoe does, map again and retry, if nothing was returned yet.
    for (let attempt = 1; ; attempt++) {
      const map = await this.servermap();
      let yielded = false;
      try {
        for await (const chunk of retrieveVersion(this.storageIndex, this.#newest(map), {
          readKey,
          tools,
          offset: opts.offset,
          length: opts.length,
          signal: opts.signal,
          onShareError: opts.onShareError,
        })) {
          yielded = true;
          yield chunk;
        }
        return;
      } catch (err) {
        if (yielded || attempt >= READ_ATTEMPTS || !(err instanceof NotEnoughSharesError)) throw err;
        // A writer busy with several versions in a row: let one land before looking again.
        await new Promise((r) => setTimeout(r, Math.random() * 40 * attempt));
      }
    }
  }

  async overwrite(source: PlaintextSource | Uint8Array, opts: WriteOptions = {}): Promise<void> {
    this.#requireWriteKey();
    const data = source instanceof Uint8Array ? source : await source.read(0, source.size);
    await this.publish(data, await this.servermap(), opts);
  }

  async update(offset: number, bytes: Uint8Array, opts: WriteOptions = {}): Promise<void> {
    const writeKey = this.#requireWriteKey();
    const readKey = this.#requireReadKey();
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new InputError(`offset must be a non-negative integer, not ${offset}`);
    const map = await this.servermap();
    const version = this.#newest(map);
    const { prefix } = version;
    const shnums = new Set(version.shares.map((s) => s.shnum));
    // In place needs MDMF and every share's block hash tree; otherwise write the whole file.
    if (
      prefix.format !== 'mdmf' ||
      shnums.size < prefix.n ||
      (bytes.length === 0 && offset <= prefix.dataLength)
    ) {
      if (bytes.length === 0 && offset <= prefix.dataLength) return;
      const current = await this.#readVersion(version, readKey);
      const size = Math.max(current.length, offset + bytes.length);
      const next = new Uint8Array(size);
      next.set(current);
      next.set(bytes, offset);
      await this.publish(next, map, opts);
      return;
    }
    const tools = await this.ctx.tools();
    const plan = planUpdate(prefix, offset, bytes.length);
    const trees = await this.#blockHashTrees(version);
    const oldSegments = new Map<number, Uint8Array>();
    for (const s of plan.needed) {
      const start = s * prefix.segmentSize;
      oldSegments.set(
        s,
        await collect(
          retrieveVersion(this.storageIndex, version, {
            readKey,
            tools,
            offset: start,
            length: Math.min(prefix.segmentSize, prefix.dataLength - start),
          }),
        ),
      );
    }
    const signing = await this.#signingKeys(map);
    const upd = await encodeUpdate(
      {
        current: version.header,
        blockHashTrees: trees,
        oldSegments,
        offset,
        data: bytes,
        seqnum: map.highestSeqnum() + 1,
        readKey,
        signer: signing,
        random: this.ctx.random,
      },
      tools,
    );
    const shares = new Map<number, ShareWrites>(
      upd.writes.map((writes, sh) => [sh, { writes, newLength: null }]),
    );
    const targets = version.shares.map((s) => ({ server: s.server, shnum: s.shnum, expect: s.checkstring }));
    await publishWrites(targets, shares, upd.checkstring, await this.#publishContext(writeKey, opts), false);
  }

  async modify(
    fn: (current: Uint8Array) => Uint8Array | null | Promise<Uint8Array | null>,
    opts: WriteOptions = {},
  ): Promise<void> {
    this.#requireWriteKey();
    const readKey = this.#requireReadKey();
    // Set when our last attempt collided but came out as the version readers get: its bytes
    // are published again as a whole new version instead of applying `fn` a second time.
    let ours = null as OurVersion | null;
    for (let attempt = 1; ; attempt++) {
      const map = await this.servermap();
      const version = this.#newest(map);
      // Only while readers still get our version: once another writer has published over it
      // (it may have judged its own colliding version the winner, then lost to ours, and
      // gone on), republishing our bytes would drop its change; `fn` goes onto theirs instead.
      if (
        ours &&
        !(version.prefix.seqnum === ours.seqnum && equalBytes(version.prefix.rootHash, ours.rootHash))
      ) {
        ours = null;
      }
      let next: Uint8Array | null = ours === null ? null : ours.data;
      if (next === null) {
        const current = await this.#readVersion(version, readKey);
        next = await fn(current);
        if (next === null) {
          // Nothing to change, but after a collision the version readers get may stand on
          // only some servers, beside the loser's shares: publish it again, whole.
          const whole = ServerMap.distinctShares(version) >= version.prefix.n && !map.uncoordinated();
          if (attempt === 1 || whole) return;
          next = current;
        }
      }
      try {
        await this.publish(next, map, opts);
        return;
      } catch (err) {
        if (!(err instanceof UncoordinatedWriteError) || attempt >= MODIFY_ATTEMPTS) throw err;
        // Some of our shares may have landed: if readers now get our version, our change is
        // in; make it whole rather than apply it twice. Otherwise apply it to theirs.
        const after = (await this.servermap()).newestRecoverable();
        const tried = err.attempted;
        const won =
          after !== undefined &&
          tried !== undefined &&
          after.prefix.seqnum === tried.seqnum &&
          equalBytes(after.prefix.rootHash, tried.rootHash);
        ours = won && tried ? { data: next, ...tried } : null;
        // Both writers retrying at once would collide again: wait a random, growing while.
        await new Promise((r) => setTimeout(r, Math.random() * 50 * 2 ** attempt));
      }
    }
  }

  /**
   * Publishes `data` as the next version over what `map` saw (seqnum one past the highest;
   * k and N of the current version, else the client's defaults).
   */
  async publish(
    data: Uint8Array,
    map: ServerMap,
    opts: WriteOptions & { k?: number; n?: number } = {},
  ): Promise<Map<ServerId, ShareNum[]>> {
    const writeKey = this.#requireWriteKey();
    const current = map.newestRecoverable();
    const k = opts.k ?? current?.prefix.k ?? this.ctx.defaults.k;
    const n = opts.n ?? current?.prefix.n ?? this.ctx.defaults.n;
    planMutable(this.format, data.length, k, n); // validates k and N before any work
    const [signing, tools] = await Promise.all([this.#signingKeys(map), this.ctx.tools()]);
    // Signed first; each share's bytes are then made call by call as they are written.
    const encoded = await encodeMutableStream(
      {
        data,
        format: this.format,
        k,
        n,
        seqnum: map.highestSeqnum() + 1,
        privateKey: signing.privateKey,
        publicKey: signing.publicKey,
        signer: signing,
        random: this.ctx.random,
      },
      tools,
    );
    const ctx = await this.#publishContext(writeKey, opts);
    try {
      const { placed } = await publishWrites(
        placeShares(this.storageIndex, n, map, ctx.servers),
        encoded,
        encoded.checkstring,
        ctx,
        true,
      );
      return placed;
    } catch (err) {
      // modify() needs to know what we tried, to tell whether our version won anyway.
      if (err instanceof UncoordinatedWriteError) {
        err.attempted = { seqnum: encoded.prefix.seqnum, rootHash: encoded.rootHash };
      }
      throw err;
    }
  }

  async #publishContext(writeKey: WriteKey, opts: WriteOptions) {
    const [servers, secrets] = await Promise.all([this.ctx.servers(), this.ctx.secrets()]);
    return {
      si: this.storageIndex,
      writeKey,
      clientSecret: secrets.lease,
      servers,
      signal: opts.signal,
      onProgress: opts.onProgress,
    };
  }

  async #readVersion(version: MutableVersion, readKey: ReadKey): Promise<Uint8Array> {
    return collect(retrieveVersion(this.storageIndex, version, { readKey, tools: await this.ctx.tools() }));
  }

  /** Every share's verified block hash tree (an in-place update patches all of them). */
  async #blockHashTrees(version: MutableVersion): Promise<Uint8Array[]> {
    const trees: Uint8Array[] = new Array(version.prefix.n);
    const byShnum = new Map<number, VerifiedSighting[]>();
    for (const s of version.shares) byShnum.set(s.shnum, [...(byShnum.get(s.shnum) ?? []), s]);
    await Promise.all(
      [...byShnum].map(async ([sh, holders]) => {
        let last: unknown;
        for (const s of holders) {
          try {
            const pieces: SharePiece[] = [{ offset: 0, bytes: s.head }];
            for (const r of verificationRanges(s.header.layout)) {
              if (r.offset + r.length > s.head.length) {
                pieces.push({
                  offset: r.offset,
                  bytes: await s.server.readMutableShare(this.storageIndex, s.shnum, r.offset, r.length),
                });
              }
            }
            const m = readVerificationMaterial(s.shnum, s.header, pieces);
            checkShareHashes(s.shnum, s.header, m.chain, m.blockHashTree);
            trees[sh] = m.blockHashTree;
            return;
          } catch (err) {
            last = err;
          }
        }
        throw last;
      }),
    );
    return trees;
  }

  /** The signing key: known since creation, or decrypted from a share with the write key. */
  #signingKeys(map: ServerMap): Promise<Signing> {
    if (this.#signing) return this.#signing;
    const writeKey = this.#requireWriteKey();
    const attempt = (async () => {
      const sightings = map.ordered().flatMap((v) => v.shares);
      let last: unknown = new UnrecoverableFileError(
        'no share of this file was found, so its signing key cannot be recovered',
      );
      for (const s of sightings) {
        try {
          const range = encPrivKeyRange(s.header.layout);
          const pieces: SharePiece[] = [{ offset: 0, bytes: s.head }];
          if (range.offset + range.length > s.head.length) {
            pieces.push({
              offset: range.offset,
              bytes: await s.server.readMutableShare(this.storageIndex, s.shnum, range.offset, range.length),
            });
          }
          const privateKey = checkEncPrivKey(
            s.shnum,
            bytesAt(s.shnum, pieces, range, 'encprivkey'),
            writeKey,
          );
          return await signingOf({ privateKey, publicKey: s.pubkey as SpkiDer });
        } catch (err) {
          last = err; // a corrupt or unreachable share: try the next holder
        }
      }
      throw last;
    })();
    this.#signing = attempt;
    attempt.catch(() => {
      if (this.#signing === attempt) this.#signing = null;
    });
    return attempt;
  }

  #requireWriteKey(): WriteKey {
    if (!this.#writeKey) {
      throw new CapAuthorityError(
        this.readable
          ? 'that is a read-only cap: it can read the file but not change it'
          : 'that is a verify cap: it can check a file but not change it',
      );
    }
    return this.#writeKey;
  }

  #requireReadKey(): ReadKey {
    if (!this.#readKey)
      throw new CapAuthorityError('that is a verify cap: it can check a file but not read it');
    return this.#readKey;
  }
}

async function signingOf(keys: RsaKeyPair): Promise<Signing> {
  const signer = await rsaSigner(keys.privateKey);
  return { privateKey: keys.privateKey, publicKey: keys.publicKey, sign: (m) => signer.sign(m) };
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const c of chunks) {
    parts.push(c.slice());
    size += c.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
