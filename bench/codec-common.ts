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
}

/** python3-zfec's MB/s for every case, timed inside Python on the same segment size. */
export async function measureZfec(): Promise<Figure[]> {
  const zfec = Zfec.start();
  try {
    const seg = new Uint8Array(SEGMENT);
    for (let i = 0; i < seg.length; i++) seg[i] = (i * 7919) >>> 3;
    const out: Figure[] = [];
    for (const [k, n] of CASES) {
      const r = await zfec.bench(k, n, seg, (MIN_MS * REPS) / 1000);
      out.push({ k, n, impl: 'zfec (C)', ...r });
    }
    return out;
  } finally {
    zfec.close();
  }
}

export function printTable(title: string, figures: Figure[], zfec: Figure[]): void {
  console.log(`\n${title}`);
  console.log(
    `${'(k,N)'.padEnd(9)}${'impl'.padEnd(22)}${'encode MB/s'.padStart(12)}${'x zfec'.padStart(8)}` +
      `${'decode MB/s'.padStart(13)}${'x zfec'.padStart(8)}`,
  );
  const ratio = (a: number, b?: number) => (b ? `${(a / b).toFixed(1)}x` : '-');
  for (const f of [...figures, ...zfec].sort((a, b) => a.k - b.k || a.n - b.n)) {
    const z = zfec.find((x) => x.k === f.k && x.n === f.n);
    const dec = Number.isFinite(f.decode) ? f.decode.toFixed(0) : '-';
    console.log(
      `${`(${f.k},${f.n})`.padEnd(9)}${f.impl.padEnd(22)}${f.encode.toFixed(0).padStart(12)}` +
        `${ratio(f.encode, z?.encode).padStart(8)}${dec.padStart(13)}` +
        `${(Number.isFinite(f.decode) ? ratio(f.decode, z?.decode) : '-').padStart(8)}`,
    );
  }
}
