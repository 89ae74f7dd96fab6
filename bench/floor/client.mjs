// The transport-floor client (bench/floor.ts). put FILE K PORTS...: reads FILE once in 1 MiB
// chunks and sends each sink a different 1/K of every chunk (N sinks: N/K times the file, as
// an upload of N shares sends), with back-pressure; done when every sink has said "ok".
// get FILE OUT SIZE K PORTS...: the first K sinks send their parts back; written to OUT.
import fs from 'node:fs';
import net from 'node:net';

const [mode, file, ...rest] = process.argv.slice(2);
const connect = (port) =>
  new Promise((res, rej) => {
    const s = net.connect(port, '127.0.0.1', () => res(s));
    s.once('error', rej);
  });

if (mode === 'put') {
  const k = Number(rest[0]);
  const ports = rest.slice(1).map(Number);
  const socks = await Promise.all(ports.map(connect));
  const acks = socks.map((s) => new Promise((res) => s.on('data', res)));
  for (const [i, s] of socks.entries()) s.write(`put share-${i}\n`);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    const part = Math.ceil(chunk.length / k);
    const waits = [];
    socks.forEach((s, i) => {
      const j = i % k;
      if (!s.write(chunk.subarray(j * part, (j + 1) * part)))
        waits.push(new Promise((r) => s.once('drain', r)));
    });
    await Promise.all(waits);
  }
  for (const s of socks) s.end();
  await Promise.all(acks);
  for (const s of socks) s.destroy();
} else {
  const [out, sizeArg, kArg, ...portArgs] = rest;
  const k = Number(kArg);
  const fd = fs.openSync(out, 'w');
  let total = 0;
  // Parts arrive in parallel; each is written at its own place in OUT (as a get writes segments).
  const part = Math.ceil(Number(sizeArg) / k);
  await Promise.all(
    portArgs.slice(0, k).map(async (p, i) => {
      const s = await connect(Number(p));
      s.write(`get share-${i}\n`);
      let at = i * part;
      for await (const d of s) {
        fs.writeSync(fd, d, 0, d.length, at);
        at += d.length;
        total += d.length;
      }
    }),
  );
  fs.closeSync(fd);
  if (total !== Number(sizeArg)) throw new Error(`got ${total} bytes, expected ${sizeArg}`);
}
