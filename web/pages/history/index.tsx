/** History container: the remembered files, with pin, unpin and forget. */
import { createSignal } from 'solid-js';
import { CairnError } from '../../../core/errors.ts';
import { checkFile, pinCopy } from '../../store/client.ts';
import { healthText } from '../../store/health.ts';
import { useStore } from '../../store/index.tsx';
import { HistoryView } from './HistoryView.tsx';

export default function HistoryPage() {
  const { history, uploads, settings } = useStore();
  const [message, setMessage] = createSignal('');
  const [status, setStatus] = createSignal('');
  const [busy, setBusy] = createSignal<string | null>(null);
  const [keepAlive, setKeepAlive] = createSignal<{ done: number; total: number } | null>(null);

  // Renews this browser's lease on every file it keeps, one at a time (a few requests each).
  async function keepAllAlive() {
    const caps = history.state.records.map((r) => r.cap);
    setMessage('');
    setStatus('');
    setKeepAlive({ done: 0, total: caps.length });
    let kept = 0;
    const trouble: string[] = [];
    for (const cap of caps) {
      const name = history.find(cap)?.name ?? 'Unnamed file';
      try {
        const r = await checkFile(cap, settings.settings(), { addLease: true });
        if (r.kind === 'literal' || (r.leasesRenewed ?? 0) > 0) kept++;
        if (!r.healthy) trouble.push(`${name} (${healthText(r).headline})`);
        else if (r.kind !== 'literal' && (r.leasesRenewed ?? 0) === 0)
          trouble.push(`${name} (no server took the renewal)`);
      } catch (err) {
        trouble.push(`${name} (${err instanceof Error ? err.message : String(err)})`);
      }
      setKeepAlive({ done: caps.indexOf(cap) + 1, total: caps.length });
    }
    setKeepAlive(null);
    setStatus(`Kept alive: ${kept} of ${caps.length} files.`);
    if (trouble.length) setMessage(`Needs attention: ${trouble.join('; ')}. Open a file and use Repair.`);
  }

  // The list changes at once (optimistic); the status line says when the change is stored.
  const act = async (what: string, cap: string, fn: () => Promise<void>, done: string) => {
    setBusy(cap);
    setMessage('');
    setStatus('');
    const name = history.find(cap)?.name ?? 'Unnamed file';
    try {
      await fn();
      setStatus(`${done}: ${name}.`);
    } catch (err) {
      setMessage(
        `Could not ${what}: ${err instanceof CairnError || err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      setBusy(null);
    }
  };

  return (
    <HistoryView
      records={history.state.records}
      loaded={history.state.loaded}
      error={history.state.error ?? message()}
      status={status()}
      busyCap={busy()}
      onPin={(cap) =>
        act(
          'pin the file',
          cap,
          () =>
            history.pin(
              cap,
              pinCopy(cap, history.find(cap)?.size ?? 0, settings.settings(), uploads.fileFor(cap)),
            ),
          'Pinned for offline use',
        )
      }
      onUnpin={(cap) => act('unpin the file', cap, () => history.unpin(cap), 'Unpinned')}
      onForget={(cap) => act('forget the file', cap, () => history.forget(cap), 'Forgotten')}
      keepAlive={keepAlive()}
      onKeepAlive={() => void keepAllAlive()}
    />
  );
}
