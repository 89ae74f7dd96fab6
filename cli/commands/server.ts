/** `cairn server`: one storage server, on a port, behind the relay, or both. */
import fs from 'node:fs/promises';
import { certificateFromText, type SignedCertificate } from '../../core/protocol/grid-manager.ts';
import path from 'node:path';
import { MAX_NICKNAME_CHARS } from '../../core/protocol/limits.ts';
import { DEFAULT_PACE } from '../../server/crawler.ts';
import { type ExpiryConfig, type ExpiryMode, parseDuration, parseExpiryMode } from '../../server/expiry.ts';
import { intOption, parse } from '../args.ts';
import { s3Options } from '../s3-options.ts';
import { type Command, UsageError } from '../command.ts';
import { lineLog } from '../line-log.ts';

const usage = `usage: cairn server --dir DIR [--port P] [--host H] [--relay URL] [--peer URL]... [--nickname NAME] [--reserved-space SIZE]
                    [--grid-manager-cert FILE]...
                    [--public-url URL] [--expire-leases MODE [--expire-dry-run]] [--crawl-rate N] [--crawl-delay DURATION]
                    [--keep-unfinished SIZE] [--s3 URL --bucket NAME [--prefix P] [--s3-credentials FILE] [--quota SIZE]]

Runs a storage server that keeps its key and shares in DIR (kept across restarts).
  --dir DIR              the server's folder (created if missing); a Tahoe-LAFS node's
                         storage folder (NODEDIR/storage) or node folder serves the shares
                         Tahoe wrote there, in place (stop the Tahoe node first)
  --port P               listen for clients on this port (0 picks a free one); without it the
                         server listens nowhere and is reached through the relay only
  --host H               interface to listen on (default 127.0.0.1)
  --public-url URL       the ws:// or wss:// URL to announce, if clients reach it by another name
  --relay URL            announce to this relay (http://HOST:PORT) and take relayed clients
  --peer URL             join the grid through this storage server (http://HOST:PORT, or its
                         ws:// storage URL); repeat for several. Every server serves the signed
                         announcements it knows (GET /v1/servers) and passes new ones on, so
                         clients and servers find each other with the relay down or absent
  --nickname NAME        a name for people, shown in server lists
  --grid-manager-cert FILE
                         a certificate for this server from a grid manager (\`cairn grid-manager
                         add-storage\`), carried in its announcements: clients of a managed grid
                         store shares only on servers holding one; repeat for several grids
  --reserved-space SIZE  free space to leave alone, e.g. 500M, 1G, 2GiB (default 0)
  --expire-leases MODE   delete shares none of whose leases is still live, as Tahoe's expirer
                         does (off by default: shares are kept). Leases last 31 days from
                         their grant or renewal; MODE says when one counts as expired:
                           age                   when it runs out (31 days after renewal)
                           age:DURATION          when renewed longer ago than DURATION
                                                 (e.g. 60days, 2mo, 1year; a month is 31 days)
                           cutoff-date:YYYY-MM-DD when last renewed before that day (UTC)
                         A share is never deleted while it is being uploaded.
  --expire-dry-run       with --expire-leases: count what would be deleted, delete nothing
  --crawl-rate N         the crawler that counts shares and expires leases looks at most at
                         N storage indexes a second, and works at most 10% of the time
                         (default 100); a cycle over all shares starts at most hourly
  --crawl-delay DURATION wait this long after start before crawling (default 300s)
  --keep-unfinished SIZE disk space for unfinished uploads kept (24 hours, across restarts) so
                         their clients can resume them (default 16G; 0 keeps none). They give
                         way to new uploads that need the space.
  --s3 URL               keep the shares in an S3-compatible object store at URL (e.g. Ceph
                         radosgw, http://HOST:7480) instead of DIR/storage; DIR keeps the key
  --bucket NAME          the bucket (created if missing)
  --prefix P             keys under P/ (several servers can share a bucket, each its prefix)
  --s3-credentials FILE  an AWS credentials file (aws_access_key_id = ..., aws_secret_access_key
                         = ...); default: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
  --quota SIZE           with --s3: store at most SIZE under the prefix (e.g. 100G); the server
                         reports the rest as its free space. --reserved-space is kept back from it.
                         Without a quota the store is taken as unbounded.
                         On S3, unfinished uploads are kept while the server runs, not across a restart.
Space used and reclaimed, and the crawler's progress: GET /v1/status, DIR/storage/status.json.
Prints "Storage server <id> ready at <url>" (or "ready (relay only)") once it serves.`;

/** How long a stopping server may take to close before the process exits regardless. */
const STOP_GRACE_MS = 10_000;

/**
 * --expire-leases MODE and --expire-dry-run. A cutoff date after today is refused: it would
 * expire leases renewed today, which no operator means.
 */
export function expiryOptions(mode: string | undefined, dryRun: boolean, now = Date.now()): ExpiryConfig {
  if (mode === undefined) {
    if (dryRun) throw new UsageError('--expire-dry-run needs --expire-leases MODE (what to count)');
    return { mode: null, dryRun: false };
  }
  let parsed: ExpiryMode;
  try {
    parsed = parseExpiryMode(mode);
  } catch (err) {
    throw new UsageError(`--expire-leases: ${(err as Error).message}`);
  }
  if (parsed.kind === 'cutoff-date' && parsed.cutoff * 1000 > now) {
    throw new UsageError(
      `--expire-leases: the cutoff date ${mode.slice(12)} is in the future; leases renewed today would expire`,
    );
  }
  return { mode: parsed, dryRun };
}

async function readCertificateFile(file: string): Promise<SignedCertificate> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--grid-manager-cert: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    return certificateFromText(text);
  } catch (err) {
    throw new UsageError(`--grid-manager-cert ${file}: ${(err as Error).message}`);
  }
}

/** A size such as 1G (10^9), 1GiB (2^30), 500M, 123 (bytes). */
export function sizeOption(value: string | undefined, name: string): number {
  if (value === undefined) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?$/i.exec(value.trim());
  if (!m) throw new UsageError(`--${name} must be a size like 500M, 1G or 2GiB, not '${value}'`);
  const power = ' kmgt'.indexOf(m[2].toLowerCase() || ' ');
  const base = m[3] ? 1024 : 1000;
  return Math.floor(Number(m[1]) * base ** power);
}

export const serverCommand: Command = {
  name: 'server',
  summary: 'run a storage server',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        dir: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'public-url': { type: 'string' },
        relay: { type: 'string' },
        peer: { type: 'string', multiple: true },
        'grid-manager-cert': { type: 'string', multiple: true },
        nickname: { type: 'string' },
        'reserved-space': { type: 'string' },
        'expire-leases': { type: 'string' },
        'expire-dry-run': { type: 'boolean' },
        'crawl-rate': { type: 'string' },
        'crawl-delay': { type: 'string' },
        'keep-unfinished': { type: 'string' },
        s3: { type: 'string' },
        bucket: { type: 'string' },
        prefix: { type: 'string' },
        's3-credentials': { type: 'string' },
        quota: { type: 'string' },
      },
      0,
    );
    if (!values.dir) throw new UsageError('--dir is required');
    const port = values.port === undefined ? null : intOption(values.port, 'port', 0, 65535);
    if (port === null && !values.relay) throw new UsageError('give --port, --relay, or both');
    if (values.relay && !/^(https?|wss?):\/\//.test(values.relay)) {
      throw new UsageError('--relay must be the relay URL, http://HOST:PORT');
    }
    const peers = values.peer ?? [];
    for (const peer of peers) {
      if (!/^(https?|wss?):\/\/[^\s]+$/.test(peer)) {
        throw new UsageError(
          '--peer must be a storage server URL, http://HOST:PORT or ws://HOST:PORT/v1/storage',
        );
      }
    }
    if (values['public-url'] !== undefined && !/^wss?:\/\/[^\s]+$/.test(values['public-url'])) {
      throw new UsageError('--public-url must be a ws:// or wss:// URL, e.g. ws://NAME:PORT/v1/storage');
    }
    if ((values.nickname ?? '').length > MAX_NICKNAME_CHARS) {
      throw new UsageError(`--nickname must be at most ${MAX_NICKNAME_CHARS} characters`);
    }
    const certificates = await Promise.all((values['grid-manager-cert'] ?? []).map(readCertificateFile));
    const expiry = expiryOptions(values['expire-leases'], values['expire-dry-run'] ?? false);
    const perSecond = intOption(values['crawl-rate'], 'crawl-rate', 1, 1_000_000, DEFAULT_PACE.perSecond);
    let startDelayMs = DEFAULT_PACE.startDelayMs;
    if (values['crawl-delay'] !== undefined) {
      try {
        startDelayMs = parseDuration(values['crawl-delay']) * 1000;
      } catch (err) {
        throw new UsageError(`--crawl-delay: ${(err as Error).message}`);
      }
      // A timer cannot wait longer than 2^31 ms (Node would fire it at once instead).
      if (startDelayMs > 7 * 24 * 3600_000) throw new UsageError('--crawl-delay must be at most 7 days');
    }
    const s3 = await s3Options({
      s3: values.s3,
      bucket: values.bucket,
      prefix: values.prefix,
      credentialsFile: values['s3-credentials'],
      quota: values.quota === undefined ? undefined : sizeOption(values.quota, 'quota'),
    });
    if (!s3 && values.quota !== undefined) {
      throw new UsageError('--quota goes with --s3 (on disk, the disk is the limit: see --reserved-space)');
    }
    const log = lineLog();
    // The AWS SDK is loaded only when asked for (s3-sdk.ts).
    const backend = s3
      ? await (await import('../../server/backends/s3-backend.ts')).S3Backend.create({
          ...s3,
          spoolDir: path.join(path.resolve(values.dir), 'storage', 's3-spool'),
          log,
        })
      : undefined;
    if (backend) log(`shares kept in the object store at ${backend.describe()}`);
    // The server's code is loaded here, not at every `cairn` start (its own bundle chunk).
    const { startStorageNode } = await import('../../server/node.ts');
    const node = await startStorageNode({
      dir: values.dir,
      backend,
      port,
      host: values.host,
      publicUrl: values['public-url'],
      relayUrl: values.relay,
      peers,
      certificates,
      nickname: values.nickname,
      reservedSpace: sizeOption(values['reserved-space'], 'reserved-space'),
      expiry,
      crawlPace: { perSecond, startDelayMs },
      maxParkedBytes:
        values['keep-unfinished'] === undefined
          ? undefined
          : sizeOption(values['keep-unfinished'], 'keep-unfinished'),
      log,
    });
    log.flush();
    console.log(`Storage server ${node.serverId} ready${node.url ? ` at ${node.url}` : ' (relay only)'}`);
    // A parent (cairn grid) that dies without a word closes our stdin: follow it. A stdin being
    // read keeps Node running, so it is let go once the server stops (see stopWatchingStdin):
    // servers `cairn grid` started went on running for as long as the grid did after a SIGTERM.
    const watchingStdin = process.env.CAIRN_EXIT_WITH_STDIN === '1';
    const parentGone = () => process.kill(process.pid, 'SIGTERM');
    if (watchingStdin) process.stdin.on('end', parentGone).resume();
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    if (watchingStdin) {
      process.stdin.off('end', parentGone);
      process.stdin.destroy();
    }
    // Whatever else may still hold the event loop (a client's socket being torn down, a disk
    // call), the process leaves within a bounded time once it is told to stop.
    const deadline = setTimeout(() => {
      log(`still closing after ${STOP_GRACE_MS} ms; exiting anyway`);
      process.exit(0);
    }, STOP_GRACE_MS);
    deadline.unref();
    await node.close();
    return 0;
  },
};
