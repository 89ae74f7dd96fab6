/** A labelled progress bar with the figures spelled out beside it. */
import { formatBytes, percent } from '../store/format.ts';

export function Progress(props: { label: string; done: number; total: number }) {
  return (
    <div class="progress">
      <div class="progress-text">
        <span>{props.label}</span>
        <span>
          {formatBytes(props.done)} of {formatBytes(props.total)} ({percent(props.done, props.total)}%)
        </span>
      </div>
      <progress
        aria-label={props.label}
        max={Math.max(props.total, 1)}
        value={props.total === 0 ? 1 : props.done}
      />
    </div>
  );
}
