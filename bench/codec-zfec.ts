/**
 * Debian's python3-zfec (the C library Tahoe uses) as an oracle and a baseline, in one
 * long-lived /usr/bin/python3 process. Requests and replies are frames on stdin/stdout:
 * u32 length + JSON header, then u32 length + payload (blocks concatenated).
 * Used by test/unit/codec*.test.ts (byte equality) and bench/codec.ts (timing measured
 * inside Python, so IPC costs do not count against zfec).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { concatBytes } from '../core/primitives/bytes.ts';

export const PYTHON = process.env.CAIRN_PYTHON ?? '/usr/bin/python3';

const SCRIPT = `
import json, struct, sys, time, zfec
inp, out = sys.stdin.buffer, sys.stdout.buffer

def read_exact(n):
    buf = inp.read(n)
    if buf is None or len(buf) < n:
        sys.exit(0)
    return buf

def frame():
    (n,) = struct.unpack('<I', read_exact(4))
    return read_exact(n)

def reply(header, payload=b''):
    h = json.dumps(header).encode()
    out.write(struct.pack('<I', len(h)) + h + struct.pack('<I', len(payload)) + payload)
    out.flush()

def split(payload, count):
    size = len(payload) // count if count else 0
    return [payload[i * size:(i + 1) * size] for i in range(count)]

def rate(fn, nbytes, min_seconds, reps):
    # Same method as core/codec/throughput.ts: warm up, then runs of >= min_seconds each.
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.25:
        fn()
    rates = []
    for _ in range(reps):
        calls, start = 0, time.perf_counter()
        while True:
            fn(); calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(calls * nbytes / elapsed / 1e6)
    rates.sort()
    return [rates[len(rates) // 2], rates[0], rates[-1]]

while True:
    req = json.loads(frame())
    payload = frame()
    op, k, n = req['op'], req['k'], req['n']
    if op == 'encode':
        blocks = zfec.Encoder(k, n).encode(split(payload, k))
        reply({'count': len(blocks)}, b''.join(blocks))
    elif op == 'decode':
        shares = list(req['shares'])
        blocks = zfec.Decoder(k, n).decode(split(payload, k), shares)
        reply({'count': len(blocks)}, b''.join(blocks))
    elif op == 'bench':
        seg = payload
        size = -(-len(seg) // k)
        seg = seg + bytes(size * k - len(seg))
        data = split(seg, k)
        enc = zfec.Encoder(k, n)
        shares = enc.encode(data)
        worst = list(range(n - k, n))
        dec = zfec.Decoder(k, n)
        # Decoder.decode reorders its arguments in place: fresh lists every call.
        e = rate(lambda: enc.encode(data), len(seg), req['minMs'] / 1000, req['reps'])
        d = rate(lambda: dec.decode([shares[s] for s in worst], list(worst)), len(seg), req['minMs'] / 1000, req['reps'])
        reply({'encode': e, 'decode': d})  # each [median, min, max] MB/s
    else:
        reply({'error': 'unknown op'})
`;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

export class Zfec {
  readonly #proc: ChildProcessWithoutNullStreams;
  #buf = new Uint8Array(0);
  #waiters: Array<() => void> = [];
  #queue: Promise<unknown> = Promise.resolve();
  #exited = false;

  private constructor(proc: ChildProcessWithoutNullStreams) {
    this.#proc = proc;
    proc.stdout.on('data', (chunk: Uint8Array) => {
      const next = new Uint8Array(this.#buf.length + chunk.length);
      next.set(this.#buf);
      next.set(chunk, this.#buf.length);
      this.#buf = next;
      for (const w of this.#waiters.splice(0)) w();
    });
    proc.on('exit', () => {
      this.#exited = true;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static start(): Zfec {
    return new Zfec(spawn(PYTHON, ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  async #read(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (this.#exited) throw new Error('python3-zfec oracle exited');
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    const head = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return head;
  }

  #call(
    header: object,
    payload: Uint8Array,
  ): Promise<{ header: Record<string, number>; payload: Uint8Array }> {
    const run = async () => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      this.#proc.stdin.write(u32(h.length));
      this.#proc.stdin.write(h);
      this.#proc.stdin.write(u32(payload.length));
      this.#proc.stdin.write(payload);
      const hl = new DataView((await this.#read(4)).buffer).getUint32(0, true);
      const reply = JSON.parse(new TextDecoder().decode(await this.#read(hl)));
      const pl = new DataView((await this.#read(4)).buffer).getUint32(0, true);
      return { header: reply, payload: await this.#read(pl) };
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async encode(k: number, n: number, blocks: Uint8Array[]): Promise<Uint8Array[]> {
    const { payload } = await this.#call({ op: 'encode', k, n }, concatBytes(...blocks));
    return splitInto(payload, n);
  }

  async decode(k: number, n: number, blocks: Uint8Array[], shares: number[]): Promise<Uint8Array[]> {
    const { payload } = await this.#call({ op: 'decode', k, n, shares }, concatBytes(...blocks));
    return splitInto(payload, k);
  }

  /**
   * zfec's own MB/s on one segment, [median, min, max] of repeated runs: encode all N, and
   * decode from shares N-k..N-1 (the worst case).
   */
  async bench(k: number, n: number, segment: Uint8Array, minMs: number, reps: number) {
    const { header } = await this.#call({ op: 'bench', k, n, minMs, reps }, segment);
    return header as unknown as { encode: [number, number, number]; decode: [number, number, number] };
  }

  close(): void {
    this.#proc.stdin.end();
  }
}

function splitInto(payload: Uint8Array, count: number): Uint8Array[] {
  const size = payload.length / count;
  return Array.from({ length: count }, (_, i) => payload.slice(i * size, (i + 1) * size));
}
