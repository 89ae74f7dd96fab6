/** History view: one row per file; renders only. */
import { For, Show } from 'solid-js';
import { formatBytes, formatDate } from '../../store/format.ts';
import type { HistoryRecord } from '../../store/history.ts';
import { routeHash } from '../../store/router.ts';

export interface HistoryViewProps {
  records: HistoryRecord[];
  loaded: boolean;
  error: string;
  /** What was last stored (announced to screen readers). */
  status: string;
  busyCap: string | null;
  onPin(cap: string): void;
  onUnpin(cap: string): void;
  onForget(cap: string): void;
  /** "Keep alive": renew this browser's leases on every file it keeps; null when idle. */
  keepAlive: { done: number; total: number } | null;
  onKeepAlive(): void;
}

export function HistoryView(props: HistoryViewProps) {
  return (
    <section>
      <h1>History</h1>
      <p class="muted">
        Files you uploaded or opened in this browser. The list, with each file's link, is kept only in this
        browser's own storage. Pinned files stay readable offline.
      </p>
      <Show when={props.records.length > 0}>
        <div class="actions">
          <button type="button" disabled={props.keepAlive !== null} onClick={() => props.onKeepAlive()}>
            Keep alive
          </button>
          <span class="muted small">
            Storage servers may delete files nobody renews. This renews every file listed here.
          </span>
        </div>
      </Show>
      <Show when={props.keepAlive}>
        {(k) => (
          <progress aria-label="Keeping files alive" max={k().total} value={k().done}>
            {k().done} of {k().total}
          </progress>
        )}
      </Show>
      <p role="status" class="muted small">
        {props.status}
      </p>
      <Show when={props.error}>
        <p role="alert" class="error">
          {props.error}
        </p>
      </Show>
      <Show when={props.loaded} fallback={<p class="muted">Loading…</p>}>
        <Show
          when={props.records.length > 0}
          fallback={<p>Nothing yet. Upload or open a file and it appears here.</p>}
        >
          <ul class="history">
            <For each={props.records}>
              {(rec) => {
                const label = () => rec.name ?? 'Unnamed file';
                return (
                  <li class="card history-item" aria-busy={props.busyCap === rec.cap ? 'true' : undefined}>
                    <div class="job-head">
                      <a class="file-name" href={routeHash({ name: 'file', cap: rec.cap })}>
                        {label()}
                      </a>
                      <Show when={rec.pinned}>
                        <span class="badge">Pinned</span>
                      </Show>
                    </div>
                    <p class="muted small">
                      {formatBytes(rec.size)} · {rec.via === 'upload' ? 'uploaded' : 'opened'}{' '}
                      {formatDate(rec.date)}
                    </p>
                    <div class="actions">
                      <button
                        type="button"
                        aria-pressed={rec.pinned ? 'true' : 'false'}
                        disabled={props.busyCap === rec.cap}
                        onClick={() => (rec.pinned ? props.onUnpin(rec.cap) : props.onPin(rec.cap))}
                        aria-label={`Keep ${label()} offline`}
                      >
                        {rec.pinned ? 'Pinned for offline use' : 'Pin for offline use'}
                      </button>
                      <button
                        type="button"
                        disabled={props.busyCap === rec.cap}
                        onClick={() => props.onForget(rec.cap)}
                        aria-label={`Forget ${label()}`}
                      >
                        Forget
                      </button>
                    </div>
                  </li>
                );
              }}
            </For>
          </ul>
        </Show>
      </Show>
    </section>
  );
}
