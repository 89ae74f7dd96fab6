/**
 * What an upload will look like before any byte is read: sizes, share layout and the exact
 * size of every share (what a storage server must allocate).
 */
import {
  type ChkParams,
  checkParams,
  LIT_THRESHOLD,
  adjustedSegmentSize,
  segmentGeometry,
  type SegmentGeometry,
} from './params.ts';
import { type ShareLayout, shareLayout, shareSize } from './layout.ts';
import { uebLength } from './ueb.ts';

export interface LitPlan {
  readonly kind: 'lit';
  readonly size: number;
}

export interface ChkPlan extends SegmentGeometry {
  readonly kind: 'chk';
  readonly params: ChkParams;
  readonly layout: ShareLayout;
  readonly uebLength: number;
  /** Bytes in each share, header to end of UEB (all shares are the same size). */
  readonly shareSize: number;
}

export function planChk(size: number, params: ChkParams): ChkPlan | LitPlan {
  checkParams(params);
  if (size <= LIT_THRESHOLD) return { kind: 'lit', size };
  const g = segmentGeometry(
    size,
    params.k,
    params.n,
    adjustedSegmentSize(size, params.k, params.maxSegmentSize),
  );
  const layout = shareLayout(g);
  const u = uebLength(g);
  return { kind: 'chk', ...g, params, layout, uebLength: u, shareSize: shareSize(layout, u) };
}
