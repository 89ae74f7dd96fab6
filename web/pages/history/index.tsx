/** History container: the remembered files, with pin, unpin and forget. */
import { createSignal } from 'solid-js';
import { CairnError } from '../../../core/errors.ts';
import { pinCopy } from '../../store/client.ts';
import { useStore } from '../../store/index.tsx';
import { HistoryView } from './HistoryView.tsx';

export default function HistoryPage() {
  const { history, uploads, settings } = useStore();
  const [message, setMessage] = createSignal('');
  const [status, setStatus] = createSignal('');
  const [busy, setBusy] = createSignal<string | null>(null);

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
    />
  );
}
