/**
 * File page container: parses the cap from the fragment (it stays in memory), looks up
 * what history knows, remembers the visit, and runs downloads, previews and pinning.
 */
import { createResource, createSignal, onCleanup } from 'solid-js';
import { describeCap } from '../../../core/client/cap-info.ts';
import { CairnError } from '../../../core/errors.ts';
import { pinCopy, sendToPort } from '../../store/client.ts';
import { mediaUrl, saveFile } from '../../store/deliver.ts';
import { mediaType, previewKind } from '../../store/format.ts';
import { type HistoryRecord, readHistoryRecord } from '../../store/history.ts';
import { useStore } from '../../store/index.tsx';
import { pinUrl } from '../../store/pins.ts';
import { capLink } from '../../store/router.ts';
import { FileView, type FileViewModel } from './FileView.tsx';

const message = (err: unknown) =>
  err instanceof CairnError || err instanceof Error ? err.message : String(err);

export default function FilePage(props: { cap: string }) {
  const { history, settings, uploads } = useStore();
  const [done, setDone] = createSignal(0);
  const [phase, setPhase] = createSignal<FileViewModel['phase']>('idle');
  const [error, setError] = createSignal('');
  const [preview, setPreview] = createSignal<{ url: string; close?: () => void } | null>(null);
  const [pinBusy, setPinBusy] = createSignal(false);

  const parsed = () => {
    try {
      return { cap: describeCap(props.cap), error: '' };
    } catch (err) {
      return { cap: null, error: message(err) };
    }
  };

  // What history knew before this visit, then the visit itself is remembered.
  const [record] = createResource(
    () => props.cap,
    async (cap): Promise<HistoryRecord | undefined> => {
      const p = parsed().cap;
      if (!p?.readable) return undefined;
      const old = await readHistoryRecord(cap).catch(() => undefined);
      const size = p.size ?? 0;
      return history
        .remember({ cap, name: old?.name ?? null, size, date: Date.now(), via: 'open', pinned: false })
        .catch(() => old);
    },
  );
  const live = () => history.find(props.cap) ?? record();

  const meta = () => {
    const p = parsed().cap;
    const rec = live();
    const size = p?.size ?? 0;
    const name = rec?.name ?? null;
    return { name, size, type: mediaType(name, rec?.type) };
  };

  async function download() {
    setError('');
    setDone(0);
    setPhase('working');
    try {
      const rec = live();
      if (rec?.pinned && rec.pinId) {
        await saveFile({ pinId: rec.pinId }, meta());
        setDone(meta().size);
      } else {
        const size = meta().size;
        await saveFile(
          {
            toPort: (port) =>
              sendToPort(props.cap, 0, size - 1, settings.settings(), port, (bytes, state, why) => {
                setDone(bytes);
                if (state === 'done') setPhase('finished');
                if (state === 'failed') {
                  setPhase('idle');
                  setError(`The download failed: ${why}`);
                }
              }),
          },
          meta(),
        );
        if (phase() === 'working') setPhase('started');
        return;
      }
      setPhase('finished');
    } catch (err) {
      setPhase('idle');
      setError(`The download failed: ${message(err)}`);
    }
  }

  async function showPreview() {
    setError('');
    try {
      const rec = live();
      if (rec?.pinned && rec.pinId) {
        setPreview({ url: pinUrl(rec.pinId) });
        return;
      }
      const m = await mediaUrl(meta(), (start, end, port) =>
        sendToPort(props.cap, start, end, settings.settings(), port, () => {}),
      );
      if (!m) throw new Error('previews need the service worker, which is not running in this tab');
      setPreview(m);
    } catch (err) {
      setError(`The preview failed: ${message(err)}`);
    }
  }
  onCleanup(() => preview()?.close?.());

  async function togglePin() {
    const rec = live();
    if (!rec) return;
    setPinBusy(true);
    setError('');
    try {
      if (rec.pinned) await history.unpin(props.cap);
      else
        await history.pin(
          props.cap,
          pinCopy(props.cap, meta().size, settings.settings(), uploads.fileFor(props.cap)),
        );
    } catch (err) {
      setError(`Could not ${rec.pinned ? 'unpin' : 'pin'} the file: ${message(err)}`);
    } finally {
      setPinBusy(false);
    }
  }

  return (
    <FileView
      model={{
        capError: parsed().error,
        link: parsed().cap ? capLink(location.origin, location.pathname, props.cap) : '',
        readCap: parsed().cap ? props.cap : '',
        verifyCap: parsed().cap?.verifyCap ?? '',
        readable: parsed().cap?.readable ?? false,
        meta: meta(),
        pinned: live()?.pinned ?? false,
        canPin: live() !== undefined,
        pinBusy: pinBusy(),
        phase: phase(),
        done: done(),
        error: error(),
        previewKind: previewKind(meta().type),
        previewUrl: preview()?.url ?? null,
      }}
      onDownload={download}
      onPreview={showPreview}
      onTogglePin={togglePin}
    />
  );
}
