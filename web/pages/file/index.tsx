/**
 * File page container: parses the cap from the fragment (it stays in memory), looks up
 * what history knows, remembers the visit, and runs downloads, previews and pinning.
 */
import { createResource, createSignal, onCleanup } from 'solid-js';
import { describeCap } from '../../../core/client/cap-info.ts';
import { CairnError } from '../../../core/errors.ts';
import {
  checkFile,
  fileSize,
  pinCopy,
  readSmallFile,
  replaceContents,
  sendToPort,
} from '../../store/client.ts';
import { type HealthText, healthText } from '../../store/health.ts';
import { mediaUrl, saveFile } from '../../store/deliver.ts';
import { mediaType, previewKind } from '../../store/format.ts';
import { type HistoryRecord, readHistoryRecord } from '../../store/history.ts';
import { useStore } from '../../store/index.tsx';
import { pinUrl } from '../../store/pins.ts';
import { capLink } from '../../store/router.ts';
import { FileView, type FileViewModel } from './FileView.tsx';

/** Editable files up to this size open in the text editor. */
const MAX_EDIT_BYTES = 1024 * 1024;

const message = (err: unknown) =>
  err instanceof CairnError || err instanceof Error ? err.message : String(err);

export default function FilePage(props: { cap: string }) {
  const { history, settings, uploads } = useStore();
  const [done, setDone] = createSignal(0);
  const [phase, setPhase] = createSignal<FileViewModel['phase']>('idle');
  const [error, setError] = createSignal('');
  const [preview, setPreview] = createSignal<{ url: string; close?: () => void } | null>(null);
  const [pinBusy, setPinBusy] = createSignal(false);
  const [healthBusy, setHealthBusy] = createSignal<'check' | 'verify' | 'repair' | null>(null);
  const [health, setHealth] = createSignal<HealthText | null>(null);
  const [healthError, setHealthError] = createSignal('');
  const [writeState, setWriteState] = createSignal<FileViewModel['write']['state']>('idle');
  const [writeDone, setWriteDone] = createSignal(0);

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

  // The size: the cap says for immutable files; a mutable file's current version is asked for.
  const [size, { refetch: refetchSize }] = createResource(
    () => props.cap,
    async (cap): Promise<number | null> => {
      const p = parsed().cap;
      if (!p) return null;
      if (p.size !== null) return p.size;
      if (!p.readable) return null;
      try {
        return await fileSize(cap, settings.settings());
      } catch (err) {
        setError(`Could not find this file on the grid: ${message(err)}`);
        return null;
      }
    },
  );

  /** Text editor for an editable file: its text when it is UTF-8 of at most 1 MiB. */
  const [text, { refetch: refetchText }] = createResource(
    () => (parsed().cap?.writable && size() !== undefined && size() !== null ? props.cap : null),
    async (cap): Promise<string | null> => {
      if (cap === null || (size() ?? 0) > MAX_EDIT_BYTES) return null;
      const bytes = await readSmallFile(cap, settings.settings(), MAX_EDIT_BYTES).catch(() => null);
      if (bytes === null) return null;
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        return null; // not text: Replace contents only
      }
    },
  );

  const meta = () => {
    const rec = live();
    const name = rec?.name ?? null;
    return { name, size: size() ?? 0, type: mediaType(name, rec?.type) };
  };

  async function runHealth(action: 'check' | 'verify' | 'repair') {
    setHealthBusy(action);
    setHealthError('');
    setHealth(null); // an old result next to "working…" would read as the new one
    try {
      const result = await checkFile(props.cap, settings.settings(), {
        verify: action !== 'check',
        repair: action === 'repair',
      });
      setHealth(healthText(result));
    } catch (err) {
      setHealth(null);
      setHealthError(`The check could not be made: ${message(err)}`);
    } finally {
      setHealthBusy(null);
    }
  }

  async function write(data: Blob, what: string) {
    setError('');
    setWriteDone(0);
    setWriteState('saving');
    try {
      await replaceContents(props.cap, data, settings.settings(), (done, total) =>
        setWriteDone(total === 0 ? data.size : Math.floor((done / total) * data.size)),
      );
      setWriteState('saved');
      await refetchSize();
      await refetchText();
    } catch (err) {
      setWriteState('idle');
      setError(`${what} failed: ${message(err)}`);
    }
  }

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
        link: parsed().cap
          ? capLink(location.origin, location.pathname, parsed().cap?.readCap ?? props.cap)
          : '',
        readCap: parsed().cap?.readCap ?? '',
        writeCap: parsed().cap?.writeCap ?? '',
        editLink: parsed().cap?.writeCap ? capLink(location.origin, location.pathname, props.cap) : '',
        sizeKnown: size() !== null && size() !== undefined,
        health: { busy: healthBusy(), text: health(), error: healthError() },
        write: {
          state: writeState(),
          done: writeDone(),
          text: text() ?? null,
          textLoading: text.loading,
        },
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
      onReplace={(file) => void write(file, 'Replacing the contents')}
      onSaveText={(t) => void write(new Blob([new TextEncoder().encode(t)]), 'Saving')}
      onHealth={(action) => void runHealth(action)}
      onPreview={showPreview}
      onTogglePin={togglePin}
    />
  );
}
