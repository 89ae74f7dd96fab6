/**
 * A real Ceph radosgw for the S3 backend's tests, started by test/harness/radosgw.sh from
 * Debian's packages (.ci/run installs them) on ephemeral ports, stopped by pid. Where the
 * packages are absent (a clone on a machine without them) `radosgwMissing` says why and
 * the S3 tests are skipped with that message.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.ts';
import { processAlive } from './process.ts';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'radosgw.sh');
const BINARIES = [
  'radosgw',
  'ceph-mon',
  'ceph-osd',
  'ceph',
  'ceph-authtool',
  'monmaptool',
  'radosgw-admin',
  'curl',
];

/** Why radosgw cannot run here, or null when it can. */
export function radosgwMissing(): string | null {
  const dirs = (process.env.PATH ?? '').split(':');
  const missing = BINARIES.filter((b) => !dirs.some((d) => existsSync(path.join(d, b))));
  if (missing.length === 0) return null;
  return (
    `S3 backend tests skipped: ${missing.join(', ')} not installed ` +
    '(apt-get install --no-install-recommends radosgw ceph-mon ceph-osd curl; .ci/run does this)'
  );
}

export interface Radosgw {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops the gateway alone (the cluster and its data stay): the store becomes unreachable. */
  stopGateway(): Promise<void>;
  /** Starts the gateway again after stopGateway. */
  startGateway(): Promise<void>;
  /**
   * Freezes the gateway (SIGSTOP): connections are still accepted by the kernel, but nothing
   * answers them, as with a store that hangs. `resumeGateway` (SIGCONT) undoes it.
   */
  pauseGateway(): void;
  resumeGateway(): void;
  /** The running cluster's processes (gateway, OSD, monitor), for benches that count their CPU. */
  pids(): number[];
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

function pidOf(dir: string, name: string): number | null {
  try {
    return Number(readFileSync(path.join(dir, 'run', `${name}.pid`), 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

async function kill(pid: number | null, what: string): Promise<void> {
  if (!pid || !processAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !processAlive(pid), { what: `${what} (pid ${pid}) to exit`, timeoutMs: 10_000 });
  } catch {
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/**
 * Starts a throwaway cluster in `dir` (which it owns). `storeBytes`: what the OSD holds, in
 * RAM (default 1 GiB; a full one makes radosgw hold writes rather than refuse them).
 */
export async function startRadosgw(dir: string, opts: { storeBytes?: number } = {}): Promise<Radosgw> {
  const [mon2, mon1, rgw] = [await freePort(), await freePort(), await freePort()];
  const accessKeyId = 'CAIRNTEST';
  const secretAccessKey = 'cairn-test-secret';
  const endpoint = `http://127.0.0.1:${rgw}`;
  const stopAll = async () => {
    await kill(pidOf(dir, 'client.rgw.a'), 'radosgw');
    await kill(pidOf(dir, 'osd.0'), 'ceph-osd');
    await kill(pidOf(dir, 'mon.a'), 'ceph-mon');
  };
  try {
    const args = [dir, String(mon2), String(mon1), String(rgw), accessKeyId, secretAccessKey];
    await run(SCRIPT, opts.storeBytes ? [...args, String(opts.storeBytes)] : args, 150_000);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const gatewayUp = () =>
    waitFor(
      () =>
        fetch(`${endpoint}/`).then(
          () => true,
          () => false,
        ),
      { what: 'radosgw to answer', timeoutMs: 60_000, intervalMs: 200 },
    );
  const signalGateway = (signal: NodeJS.Signals) => {
    const pid = pidOf(dir, 'client.rgw.a');
    if (pid && processAlive(pid)) process.kill(pid, signal);
  };
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    stopGateway: () => kill(pidOf(dir, 'client.rgw.a'), 'radosgw'),
    async startGateway() {
      await run('radosgw', ['-c', path.join(dir, 'ceph.conf'), '-n', 'client.rgw.a'], 30_000);
      await gatewayUp();
    },
    pauseGateway: () => signalGateway('SIGSTOP'),
    resumeGateway: () => signalGateway('SIGCONT'),
    pids: () =>
      ['client.rgw.a', 'osd.0', 'mon.a'].flatMap((name) => {
        const pid = pidOf(dir, name);
        return pid && processAlive(pid) ? [pid] : [];
      }),
    stop: async () => {
      signalGateway('SIGCONT'); // a frozen gateway cannot act on SIGTERM
      await stopAll();
    },
  };
}
