/** History container: the remembered files, with search, sort, pin, unpin and forget (asked first, undoable). */
import { createSignal, onCleanup } from 'solid-js';
import { usePageTitle } from '../../components/title.ts';
import { checkFile, pinCopy } from '../../store/client.ts';
import { explain } from '../../store/errors.ts';
import { healthText } from '../../store/health.ts';
import { type HistoryRecord, type HistorySort, viewHistory } from '../../store/history.ts';
import { useStore } from '../../store/index.tsx';
import { currentGrid } from '../../store/settings.ts';
import { HistoryView } from './HistoryView.tsx';

type Forgotten = { record: HistoryRecord; undo(): Promise<void>; finish(): Promise<void> };

export default function HistoryPage() {
  const { history, uploads, settings, device } = useStore();
  usePageTitle(() => 'History');
  const [message, setMessage] = createSignal('');
  const [status, setStatus] = createSignal('');
  const [busy, setBusy] = createSignal<string | null>(null);
  const [keepAlive, setKeepAlive] = createSignal<{ done: number; total: number } | null>(null);
  const [query, setQuery] = createSignal('');
  const [sort, setSort] = createSignal<HistorySort>('newest');
  const [confirming, setConfirming] = createSignal<string | null>(null);
  const [forgotten, setForgotten] = createSignal<Forgotten | null>(null);

  /** The grid a remembered file lives on: where it was uploaded or its link's, else this browser's. */
  const gridOf = (cap: string) => history.find(cap)?.grid ?? currentGrid(settings.settings());
  const nameOf = (cap: string) => history.find(cap)?.name ?? 'Unnamed file';

  // Renews this browser's lease on every file it keeps, one at a time (a few requests each).
  async function keepAllAlive() {
    const caps = history.state.records.map((r) => r.cap);
    setMessage('');
    setStatus('');
    setKeepAlive({ done: 0, total: caps.length });
    let kept = 0;
    const trouble: string[] = [];
    for (const cap of caps) {
      const name = nameOf(cap);
      try {
        const r = await checkFile(cap, gridOf(cap), { addLease: true });
        if (r.kind === 'literal' || (r.leasesRenewed ?? 0) > 0) kept++;
        if (!r.healthy) trouble.push(`${name} (${healthText(r).headline})`);
        else if (r.kind !== 'literal' && (r.leasesRenewed ?? 0) === 0)
          trouble.push(`${name} (no server took the renewal)`);
      } catch (err) {
        trouble.push(`${name} (${explain('keep-alive', err).replace(/^It could not be kept alive: /, '')})`);
      }
      setKeepAlive({ done: caps.indexOf(cap) + 1, total: caps.length });
    }
    setKeepAlive(null);
    setStatus(`Kept alive: ${kept} of ${caps.length} files.`);
    if (trouble.length) setMessage(`Needs attention: ${trouble.join('; ')}. Open a file and use Repair.`);
  }

  // The list changes at once (optimistic); the status line says when the change is stored.
  const act = async (doing: 'pin' | 'unpin', cap: string, fn: () => Promise<void>, done: string) => {
    setBusy(cap);
    setMessage('');
    setStatus('');
    const name = nameOf(cap);
    try {
      await fn();
      setStatus(`${done}: ${name}.`);
    } catch (err) {
      setMessage(
        doing === 'pin'
          ? explain('pin', err)
          : `Could not unpin ${name}: this browser's storage refused the change. Reload the page and try again.`,
      );
    } finally {
      setBusy(null);
    }
  };

  /** The undo window of the last forget closes: its offline copy (if any) is deleted now. */
  const closeUndo = () => {
    const f = forgotten();
    setForgotten(null);
    if (f) void f.finish();
  };
  onCleanup(closeUndo);

  async function forget(cap: string) {
    setConfirming(null);
    closeUndo();
    setMessage('');
    const name = nameOf(cap);
    try {
      const f = await history.forget(cap);
      if (!f) return;
      setForgotten(f);
      setStatus(`Forgotten: ${name}.`);
    } catch {
      setMessage(
        `Could not forget ${name}: this browser's storage refused the change. Reload the page and try again.`,
      );
    }
  }

  async function undo() {
    const f = forgotten();
    if (!f) return;
    setForgotten(null);
    try {
      await f.undo();
      setStatus(`Brought back: ${f.record.name ?? 'Unnamed file'}.`);
    } catch {
      setMessage(
        "Could not bring it back: this browser's storage refused the change. Reload the page and try again.",
      );
    }
  }

  return (
    <HistoryView
      total={history.state.records.length}
      records={viewHistory(history.state.records, query(), sort())}
      loaded={history.state.loaded}
      error={history.state.error ?? message()}
      status={status()}
      busyCap={busy()}
      query={query()}
      sort={sort()}
      onQuery={setQuery}
      onSort={setSort}
      persisted={device.persisted()}
      onPin={(cap) => {
        void device.askPersistence();
        void act(
          'pin',
          cap,
          () =>
            history.pin(cap, pinCopy(cap, history.find(cap)?.size ?? 0, gridOf(cap), uploads.fileFor(cap))),
          'Pinned for offline use',
        );
      }}
      onUnpin={(cap) => void act('unpin', cap, () => history.unpin(cap), 'Unpinned')}
      confirming={confirming()}
      onForget={(cap) => {
        setStatus('');
        setConfirming(cap);
      }}
      onConfirmForget={(cap) => void forget(cap)}
      onCancelForget={() => setConfirming(null)}
      undo={forgotten() ? { name: forgotten()?.record.name ?? 'Unnamed file' } : null}
      onUndo={() => void undo()}
      keepAlive={keepAlive()}
      onKeepAlive={() => void keepAllAlive()}
    />
  );
}
