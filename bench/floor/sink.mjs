// A transport-floor storage "server" (bench/floor.ts): TCP on 127.0.0.1, no protocol. A
// connection's first line is `put NAME` (bytes follow until the client half-closes: written
// to DIR/NAME, fsynced, then "ok") or `get NAME` (the file is sent back, then closed).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const dir = process.argv[2];
const server = net.createServer({ allowHalfOpen: true }, (sock) => {
  let head = Buffer.alloc(0);
  const onData = (d) => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    sock.off('data', onData);
    const [verb, name] = head.subarray(0, nl).toString().split(' ');
    const rest = head.subarray(nl + 1);
    const file = path.join(dir, path.basename(name));
    if (verb === 'put') {
      // As the storage server writes: positioned writes through a FileHandle, one at a time.
      const handle = fs.promises.open(file, 'w');
      let pos = 0;
      let queue = Promise.resolve();
      const write = (buf) => {
        const at = pos;
        pos += buf.length;
        queue = queue.then(async () => {
          await (await handle).write(buf, 0, buf.length, at);
        });
      };
      if (rest.length) write(rest);
      sock.on('data', write);
      sock.on('end', async () => {
        await queue;
        const h = await handle;
        await h.sync();
        await h.close();
        sock.end('ok');
      });
    } else {
      sock.pause();
      fs.createReadStream(file, { highWaterMark: 512 * 1024 }).pipe(sock);
    }
  };
  sock.on('data', onData);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
