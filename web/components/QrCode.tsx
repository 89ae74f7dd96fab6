/**
 * A QR code of a link, drawn in this tab (a link holds a cap: it is never sent to a QR
 * service). @paulmillr/qr computes the modules; they are drawn here as one SVG path, dark
 * on a light square with the quiet zone scanners need, in either theme.
 */
import encodeQR from '@paulmillr/qr';
import { createMemo } from 'solid-js';

/** Pure: an SVG path drawing the dark modules of `matrix`, offset by `quiet` modules. */
export function qrPath(matrix: boolean[][], quiet: number): string {
  let d = '';
  for (let y = 0; y < matrix.length; y++) {
    const row = matrix[y];
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      // Runs of dark modules in a row become one rectangle.
      let run = 1;
      while (x + run < row.length && row[x + run]) run++;
      d += `M${x + quiet} ${y + quiet}h${run}v1h-${run}z`;
      x += run - 1;
    }
  }
  return d;
}

const QUIET = 4;

export function QrCode(props: { value: string; label: string }) {
  const drawn = createMemo(() => {
    const matrix = encodeQR(props.value, 'raw', { ecc: 'medium', border: 0 });
    return { size: matrix.length + 2 * QUIET, path: qrPath(matrix, QUIET) };
  });
  return (
    <svg
      class="qr"
      role="img"
      aria-label={props.label}
      viewBox={`0 0 ${drawn().size} ${drawn().size}`}
      shape-rendering="crispEdges"
    >
      <rect width={drawn().size} height={drawn().size} fill="#fff" />
      <path d={drawn().path} fill="#000" />
    </svg>
  );
}
