/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */

export interface Progress {
  update(done: number): void;
  finish(): void;
}

const WIDTH = 30;

export function progressBar(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };
  const started = Date.now();
  let lastDraw = 0;
  let last = 0;
  const draw = (done: number) => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(frac * WIDTH);
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    const mbs = done / 1e6 / secs;
    stream.write(
      `\r${label} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
        `${(done / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB ${mbs.toFixed(1)} MB/s `,
    );
  };
  return {
    update(done) {
      last = done;
      const now = Date.now();
      if (now - lastDraw < 100) return; // ten redraws a second are plenty
      lastDraw = now;
      draw(done);
    },
    finish() {
      draw(Math.max(last, total));
      stream.write('\n');
    },
  };
}
