/** History view: one row per file, with search and sort; renders only. */
import { createEffect, For, Show } from 'solid-js';
import { formatBytes, formatDate } from '../../store/format.ts';
import type { HistoryRecord, HistorySort } from '../../store/history.ts';
import { routeHash } from '../../store/router.ts';

export interface HistoryViewProps {
  /** Every record (for counts) and the ones the search and sort select, in order. */
  total: number;
  records: HistoryRecord[];
  loaded: boolean;
  error: string;
  /** What was last stored (announced to screen readers). */
  status: string;
  busyCap: string | null;
  query: string;
  sort: HistorySort;
  onQuery(q: string): void;
  onSort(s: HistorySort): void;
  onPin(cap: string): void;
  onUnpin(cap: string): void;
  /** Forget asks first: the file whose confirmation is showing, if any. */
  confirming: string | null;
  onForget(cap: string): void;
  onConfirmForget(cap: string): void;
  onCancelForget(): void;
  /** The last file forgotten, while it can still be brought back. */
  undo: { name: string } | null;
  onUndo(): void;
  /** "Keep alive": renew this browser's leases on every file it keeps; null when idle. */
  keepAlive: { done: number; total: number } | null;
  onKeepAlive(): void;
  /** Whether the browser keeps this site's storage (pinned copies) even when space runs short. */
  persisted: boolean | null;
}

const labelOf = (rec: HistoryRecord) => rec.name ?? 'Unnamed file';

export function HistoryView(props: HistoryViewProps) {
  return (
    <section>
      <h1>History</h1>
      <p class="muted">
        Files you uploaded or opened in this browser. The list, with each file's link, is kept only in this
        browser's own storage. Pinned files stay readable offline.
      </p>
      <Show when={props.records.some((r) => r.pinned) || props.persisted}>
        <p class="muted small">
          {props.persisted
            ? 'This browser keeps pinned copies even when it runs short of space.'
            : 'This browser may clear pinned copies if it runs short of space; installing Cairn as an app makes it keep them.'}
        </p>
      </Show>
      <Show when={props.total > 0}>
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
      <div class="status-row">
        <p role="status" class="muted small">
          {props.status}
        </p>
        <Show when={props.undo}>
          {(u) => (
            <button type="button" onClick={() => props.onUndo()} aria-label={`Undo: bring back ${u().name}`}>
              Undo
            </button>
          )}
        </Show>
      </div>
      <Show when={props.error}>
        <p role="alert" class="error">
          {props.error}
        </p>
      </Show>
      <Show when={props.loaded} fallback={<p class="muted">Loading…</p>}>
        <Show
          when={props.total > 0}
          fallback={<p>Nothing yet. Upload or open a file and it appears here.</p>}
        >
          <div class="history-tools">
            <div class="field">
              <label for="history-search">Search by name</label>
              <input
                id="history-search"
                type="search"
                value={props.query}
                autocomplete="off"
                onInput={(e) => props.onQuery(e.currentTarget.value)}
              />
            </div>
            <div class="field">
              <label for="history-sort">Sort</label>
              <select
                id="history-sort"
                value={props.sort}
                onChange={(e) => props.onSort(e.currentTarget.value as HistorySort)}
              >
                <option value="newest">Newest first</option>
                <option value="oldest">Oldest first</option>
                <option value="name">By name</option>
                <option value="largest">Largest first</option>
              </select>
            </div>
          </div>
          <Show when={props.records.length > 0} fallback={<p>No file's name matches “{props.query}”.</p>}>
            <p class="muted small">
              {props.records.length === props.total
                ? `${props.total} ${props.total === 1 ? 'file' : 'files'}`
                : `${props.records.length} of ${props.total} files`}
            </p>
            <ul class="history">
              <For each={props.records}>{(rec) => <Row rec={rec} {...props} />}</For>
            </ul>
          </Show>
        </Show>
      </Show>
    </section>
  );
}

function Row(props: HistoryViewProps & { rec: HistoryRecord }) {
  const rec = () => props.rec;
  const label = () => labelOf(rec());
  const busy = () => props.busyCap === rec().cap;
  const pinText = () => (rec().pinned ? 'Pinned for offline use' : 'Pin for offline use');
  let question: HTMLParagraphElement | undefined;
  createEffect(() => {
    if (props.confirming === rec().cap) question?.focus();
  });
  return (
    <li class="card history-item" aria-busy={busy() ? 'true' : undefined}>
      <div class="job-head">
        <a class="file-name" href={routeHash({ name: 'file', cap: rec().cap, hint: {} })}>
          {label()}
        </a>
        <Show when={rec().pinned}>
          <span class="badge">Pinned</span>
        </Show>
      </div>
      <p class="muted small">
        {formatBytes(rec().size)} · {rec().via === 'upload' ? 'uploaded' : 'opened'} {formatDate(rec().date)}
      </p>
      <Show
        when={props.confirming === rec().cap}
        fallback={
          <div class="actions">
            <button
              type="button"
              aria-pressed={rec().pinned ? 'true' : 'false'}
              disabled={busy()}
              onClick={() => (rec().pinned ? props.onUnpin(rec().cap) : props.onPin(rec().cap))}
              aria-label={`${pinText()}: ${label()}`}
            >
              {pinText()}
            </button>
            <button
              type="button"
              disabled={busy()}
              onClick={() => props.onForget(rec().cap)}
              aria-label={`Forget ${label()}`}
            >
              Forget
            </button>
          </div>
        }
      >
        <div class="confirm">
          <p tabindex="-1" ref={question}>
            Forget {label()}? Its link is kept nowhere else in this browser
            {rec().pinned ? ', and its offline copy goes too' : ''}. The file itself stays on the grid for
            anyone who has the link.
          </p>
          <div class="actions">
            <button type="button" class="danger" onClick={() => props.onConfirmForget(rec().cap)}>
              Forget it
            </button>
            <button type="button" onClick={() => props.onCancelForget()}>
              Keep it
            </button>
          </div>
        </div>
      </Show>
    </li>
  );
}
