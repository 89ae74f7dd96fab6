/** What bench/codec.ts and bench/codec-browser.ts share: the cases, figures and the table. */
import { Zfec } from './codec-zfec.ts';

export const CASES: Array<[number, number]> = [
  [3, 10],
  [10, 14],
  [71, 255],
];
export const SEGMENT = 128 * 1024;
export const MIN_MS = 150;
export const REPS = 5;

export interface Figure {
  k: number;
  n: number;
  impl: string;
  encode: number;
  decode: number;
  /** min–max of the timed runs, when known */
  encodeSpread?: [number, number];
  decodeSpread?: [number, number];
}

/** python3-zfec's MB/s for every case, timed inside Python on the same segment size. */
export async function measureZfec(cases = CASES): Promise<Figure[]> {
  const zfec = Zfec.start();
  try {
    const seg = new Uint8Array(SEGMENT);
    for (let i = 0; i < seg.length; i++) seg[i] = (i * 7919) >>> 3;
    const out: Figure[] = [];
    for (const [k, n] of cases) {
      const r = await zfec.bench(k, n, seg, MIN_MS, REPS);
      out.push({
        k,
        n,
        impl: 'zfec (C)',
        encode: r.encode[0],
        decode: r.decode[0],
        encodeSpread: [r.encode[1], r.encode[2]],
        decodeSpread: [r.decode[1], r.decode[2]],
      });
    }
    return out;
  } finally {
    zfec.close();
  }
}

const spread = (r?: [number, number]) => (r ? `${r[0].toFixed(0)}–${r[1].toFixed(0)}` : '');

export function printTable(title: string, figures: Figure[], zfec: Figure[]): void {
  console.log(`\n${title}`);
  console.log(
    `${'(k,N)'.padEnd(9)}${'impl'.padEnd(22)}${'encode MB/s'.padStart(12)}${'(min–max)'.padStart(13)}` +
      `${'x zfec'.padStart(8)}${'decode MB/s'.padStart(13)}${'(min–max)'.padStart(13)}${'x zfec'.padStart(8)}`,
  );
  const ratio = (a: number, b?: number) => (Number.isFinite(a) && b ? `${(a / b).toFixed(1)}x` : '-');
  const num = (a: number) => (Number.isFinite(a) ? a.toFixed(0) : '-');
  for (const f of [...figures, ...zfec].sort((a, b) => a.k - b.k || a.n - b.n)) {
    const z = zfec.find((x) => x.k === f.k && x.n === f.n);
    console.log(
      `${`(${f.k},${f.n})`.padEnd(9)}${f.impl.padEnd(22)}${num(f.encode).padStart(12)}` +
        `${spread(f.encodeSpread).padStart(13)}${ratio(f.encode, z?.encode).padStart(8)}` +
        `${num(f.decode).padStart(13)}${spread(f.decodeSpread).padStart(13)}` +
        `${ratio(f.decode, z?.decode).padStart(8)}`,
    );
  }
}
