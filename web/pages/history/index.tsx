/** History container: the remembered files, with pin, unpin and forget. */
import { createSignal } from 'solid-js';
import { CairnError } from '../../../core/errors.ts';
import { pinCopy } from '../../store/client.ts';
import { useStore } from '../../store/index.tsx';
import { HistoryView } from './HistoryView.tsx';

export default function HistoryPage() {
  const { history, uploads, settings } = useStore();
  const [message, setMessage] = createSignal('');
  const [busy, setBusy] = createSignal<string | null>(null);

  const act = async (what: string, cap: string, fn: () => Promise<void>) => {
    setBusy(cap);
    setMessage('');
    try {
      await fn();
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
      busyCap={busy()}
      onPin={(cap) =>
        act('pin the file', cap, () =>
          history.pin(
            cap,
            pinCopy(cap, history.find(cap)?.size ?? 0, settings.settings(), uploads.fileFor(cap)),
          ),
        )
      }
      onUnpin={(cap) => act('unpin the file', cap, () => history.unpin(cap))}
      onForget={(cap) => act('forget the file', cap, () => history.forget(cap))}
    />
  );
}
