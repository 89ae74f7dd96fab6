/**
 * Run by young-garbage.test.ts in a child Node (a process of its own, so that only these
 * buffers count): passes `argv[2]` MiB of fresh 128 KiB buffers along, each dead at once,
 * with passedAlong per buffer when `argv[3]` is "nudge", and prints the most ArrayBuffer
 * memory the process held at any time, in bytes.
 */
import { passedAlong } from '../../web/sw/young-garbage.ts';

const CHUNK = 128 * 1024;
const total = Number(process.argv[2]) * 1024 * 1024;
const nudge = process.argv[3] === 'nudge';
let peak = 0;
let check = 0;
for (let done = 0; done < total; done += CHUNK) {
  const chunk = new Uint8Array(CHUNK);
  chunk[0] = done / CHUNK;
  check += chunk[0];
  if (nudge) passedAlong(chunk.length);
  peak = Math.max(peak, process.memoryUsage().arrayBuffers);
}
console.log(JSON.stringify({ peak, check }));
