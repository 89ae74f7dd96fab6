/**
 * File page container: parses the cap from the fragment (it stays in memory), with what the
 * link says besides (name, type, grid), looks up what history knows, remembers the visit,
 * and runs downloads, previews and pinning.
 */
import { createEffect, createMemo, createResource, createSignal, on, onCleanup } from 'solid-js';
import { describeCap } from '../../../core/client/cap-info.ts';
import { usePageTitle } from '../../components/title.ts';
import {
  checkFile,
  fileSize,
  pinCopy,
  readSmallFile,
  replaceContents,
  sendToPort,
} from '../../store/client.ts';
import { mediaUrl, saveFile } from '../../store/deliver.ts';
import { explain, GridFailure } from '../../store/errors.ts';
import { downloadName, mediaType, previewKind } from '../../store/format.ts';
import { type HealthText, healthText } from '../../store/health.ts';
import { type HistoryRecord, readHistoryRecord } from '../../store/history.ts';
import { useStore } from '../../store/index.tsx';
import { pinUrl } from '../../store/pins.ts';
import { capLink, type LinkHint } from '../../store/router.ts';
import { currentGrid, linkGrid, wsEndpoint } from '../../store/settings.ts';
import { FileView, type FileViewModel } from './FileView.tsx';

/** Editable files up to this size open in the text editor; text files up to it preview as text. */
const MAX_TEXT_BYTES = 1024 * 1024;
/** Images and PDFs up to this size show at once; larger ones wait for a press of Preview. */
const AUTO_PREVIEW_BYTES = 64 * 1024 * 1024;

export default function FilePage(props: { cap: string; hint: LinkHint }) {
  const { history, settings, uploads, device } = useStore();
  const [done, setDone] = createSignal(0);
  const [phase, setPhase] = createSignal<FileViewModel['phase']>('idle');
  const [error, setError] = createSignal('');
  const [preview, setPreview] = createSignal<{ url: string; close?: () => void } | null>(null);
  const [previewText, setPreviewText] = createSignal<string | null>(null);
  const [previewNote, setPreviewNote] = createSignal('');
  const [pinBusy, setPinBusy] = createSignal(false);
  const [healthBusy, setHealthBusy] = createSignal<'check' | 'verify' | 'repair' | null>(null);
  const [health, setHealth] = createSignal<HealthText | null>(null);
  const [healthError, setHealthError] = createSignal('');
  const [writeState, setWriteState] = createSignal<FileViewModel['write']['state']>('idle');
  const [writeDone, setWriteDone] = createSignal(0);

  const parsed = createMemo(() => {
    try {
      return { cap: describeCap(props.cap), error: '' };
    } catch {
      return { cap: null, error: 'bad' };
    }
  });

  // What history knew before this visit, then the visit itself is remembered (with what the
  // link says: a name and type it carries are better than none; a known name is kept).
  const [record] = createResource(
    () => props.cap,
    async (cap): Promise<HistoryRecord | undefined> => {
      const p = parsed().cap;
      if (!p?.readable) return undefined;
      const old = await readHistoryRecord(cap).catch(() => undefined);
      const size = p.size ?? old?.size ?? 0;
      return history
        .remember({
          cap,
          name: old?.name ?? props.hint.name ?? null,
          size,
          date: Date.now(),
          via: 'open',
          pinned: false,
          type: old?.type ?? props.hint.type,
          grid: props.hint.grid ? wsEndpoint(props.hint.grid) : old?.grid,
        })
        .catch(() => old);
    },
  );
  const live = () => history.find(props.cap) ?? record();

  /**
   * The grid holding this file: the one the link names, else the one history knows it from,
   * else this browser's. Undefined until history has answered (so nothing asks the wrong grid).
   */
  const grid = createMemo(() => {
    if (props.hint.grid) return wsEndpoint(props.hint.grid);
    if (record.loading) return undefined;
    return live()?.grid ?? currentGrid(settings.settings());
  });

  // The size: the cap says for immutable files; a mutable file's current version is asked for.
  const [size, { refetch: refetchSize }] = createResource(
    () => (grid() ? ([props.cap, grid()] as const) : null),
    async ([cap, g]): Promise<number | null> => {
      const p = parsed().cap;
      if (!p) return null;
      if (p.size !== null) return p.size;
      if (!p.readable || !g) return null;
      try {
        return await fileSize(cap, g);
      } catch (err) {
        setError(explain('open', err));
        return null;
      }
    },
  );

  /** Text editor for an editable file: its text when it is UTF-8 of at most 1 MiB. */
  const [text, { refetch: refetchText }] = createResource(
    () => (parsed().cap?.writable && size() !== undefined && size() !== null && grid() ? props.cap : null),
    async (cap): Promise<string | null> => {
      const g = grid();
      if (cap === null || !g || (size() ?? 0) > MAX_TEXT_BYTES) return null;
      const bytes = await readSmallFile(cap, g, MAX_TEXT_BYTES).catch(() => null);
      return bytes === null ? null : utf8(bytes);
    },
  );

  const meta = () => {
    const rec = live();
    const name = props.hint.name ?? rec?.name ?? null;
    return { name, size: size() ?? 0, type: mediaType(name, props.hint.type ?? rec?.type) };
  };
  usePageTitle(() => (parsed().cap ? (meta().name ?? 'Shared file') : 'Not a file link'));

  const kind = () => previewKind(meta().type);
  /** Shown without a press: media (streamed as played), text up to 1 MiB, images and PDFs up to 64 MiB. */
  const autoPreview = () => {
    const k = kind();
    const n = meta().size;
    if (!k || n === 0 || !parsed().cap?.readable) return false;
    if (k === 'text') return n <= MAX_TEXT_BYTES && !parsed().cap?.writable;
    if (k === 'audio' || k === 'video') return true;
    return n <= AUTO_PREVIEW_BYTES;
  };

  async function runHealth(action: 'check' | 'verify' | 'repair') {
    const g = grid();
    if (!g) return;
    setHealthBusy(action);
    setHealthError('');
    setHealth(null); // an old result next to "working…" would read as the new one
    try {
      const result = await checkFile(props.cap, g, {
        verify: action !== 'check',
        repair: action === 'repair',
      });
      setHealth(healthText(result));
    } catch (err) {
      setHealth(null);
      setHealthError(explain('check', err));
    } finally {
      setHealthBusy(null);
    }
  }

  async function write(data: Blob) {
    const g = grid();
    if (!g) return;
    setError('');
    setWriteDone(0);
    setWriteState('saving');
    try {
      await replaceContents(props.cap, data, g, (done, total) =>
        setWriteDone(total === 0 ? data.size : Math.floor((done / total) * data.size)),
      );
      setWriteState('saved');
      await refetchSize();
      await refetchText();
    } catch (err) {
      setWriteState('idle');
      setError(explain('save', err));
    }
  }

  const offline = () => new GridFailure('OFFLINE', 'offline');

  /** What the saved file is called: its name, else "download" with the extension of its type. */
  const saved = () => ({ ...meta(), name: downloadName(meta().name, meta().type) });

  async function download() {
    setError('');
    setDone(0);
    setPhase('working');
    try {
      const rec = live();
      if (rec?.pinned && rec.pinId) {
        await saveFile({ pinId: rec.pinId }, saved());
        setDone(meta().size);
      } else {
        const g = grid();
        if (!device.online()) throw offline();
        if (!g) throw new GridFailure('INTERNAL', 'no grid yet');
        const size = meta().size;
        await saveFile(
          {
            toPort: (port) =>
              sendToPort(props.cap, 0, size - 1, g, port, (bytes, state, why, code) => {
                setDone(bytes);
                if (state === 'done') setPhase('finished');
                if (state === 'failed') {
                  setPhase('idle');
                  setError(explain('download', new GridFailure(code ?? 'INTERNAL', why ?? '')));
                }
              }),
          },
          saved(),
        );
        if (phase() === 'working') setPhase('started');
        return;
      }
      setPhase('finished');
    } catch (err) {
      setPhase('idle');
      setError(explain('download', err));
    }
  }

  async function showPreview() {
    setPreviewNote('');
    try {
      const rec = live();
      const pinned = rec?.pinned && rec.pinId ? rec.pinId : null;
      if (kind() === 'text') {
        const g = grid();
        let bytes: Uint8Array | null;
        if (pinned) bytes = new Uint8Array(await (await fetch(pinUrl(pinned))).arrayBuffer());
        else {
          if (!device.online()) throw offline();
          if (!g) return;
          bytes = await readSmallFile(props.cap, g, MAX_TEXT_BYTES);
        }
        const t = bytes === null ? null : utf8(bytes);
        if (t === null)
          setPreviewNote('No preview: this file is not plain text (UTF-8), or it is over 1 MiB.');
        setPreviewText(t);
        return;
      }
      if (pinned) {
        setPreview({ url: pinUrl(pinned) });
        return;
      }
      const g = grid();
      if (!g) return;
      if (!device.online()) throw offline();
      const m = await mediaUrl(meta(), (start, end, port) =>
        sendToPort(props.cap, start, end, g, port, () => {}),
      );
      if (!m) throw new GridFailure('NO_PREVIEWER', 'no service worker');
      setPreview(m);
    } catch (err) {
      setPreviewNote(explain('preview', err));
    }
  }
  onCleanup(() => preview()?.close?.());
  // Previews that show by themselves start once the size and the grid are known.
  createEffect(
    on(
      () => [autoPreview(), grid(), live()?.pinned] as const,
      ([auto, g]) => {
        if (auto && g && !preview() && previewText() === null && !previewNote()) void showPreview();
      },
    ),
  );

  async function togglePin() {
    const rec = live();
    const g = grid();
    if (!rec || !g) return;
    setPinBusy(true);
    setError('');
    try {
      if (rec.pinned) await history.unpin(props.cap);
      else {
        void device.askPersistence();
        await history.pin(props.cap, pinCopy(props.cap, meta().size, g, uploads.fileFor(props.cap)));
      }
    } catch (err) {
      setError(
        rec.pinned
          ? "Could not unpin the file: this browser's storage refused the change. Reload the page and try again."
          : explain('pin', err),
      );
    } finally {
      setPinBusy(false);
    }
  }

  /** This page's link with what a recipient needs: name, type, and the grid when not this page's. */
  const linkTo = (cap: string) =>
    capLink(location.origin, location.pathname, cap, {
      name: meta().name ?? undefined,
      type: meta().type,
      grid: grid() ? linkGrid(grid() as string, location.href) : undefined,
    });

  // Getters, not an object built in the JSX: a prop written as an object literal is
  // rebuilt on every read, so each binding in the view read (and re-ran on) every signal
  // here, the download's progress ten times a second included. bench:web, 256 MiB download:
  // the page's thread 0.12-0.13 CPU s with getters against 0.29-0.30.
  const model: FileViewModel = {
    get capError() {
      return parsed().error;
    },
    get link() {
      return parsed().cap ? linkTo(parsed().cap?.readCap ?? props.cap) : '';
    },
    get readCap() {
      return parsed().cap?.readCap ?? '';
    },
    get writeCap() {
      return parsed().cap?.writeCap ?? '';
    },
    get editLink() {
      return parsed().cap?.writeCap ? linkTo(props.cap) : '';
    },
    get sizeKnown() {
      return size() !== null && size() !== undefined;
    },
    health: {
      get busy() {
        return healthBusy();
      },
      get text() {
        return health();
      },
      get error() {
        return healthError();
      },
    },
    write: {
      get state() {
        return writeState();
      },
      get done() {
        return writeDone();
      },
      get text() {
        return text() ?? null;
      },
      get textLoading() {
        return text.loading;
      },
    },
    get verifyCap() {
      return parsed().cap?.verifyCap ?? '';
    },
    get readable() {
      return parsed().cap?.readable ?? false;
    },
    get meta() {
      return meta();
    },
    get otherGrid() {
      return props.hint.grid && wsEndpoint(grid() as string) !== wsEndpoint(currentGrid(settings.settings()))
        ? props.hint.grid
        : '';
    },
    get online() {
      return device.online();
    },
    get pinned() {
      return live()?.pinned ?? false;
    },
    get canPin() {
      return live() !== undefined;
    },
    get pinBusy() {
      return pinBusy();
    },
    get phase() {
      return phase();
    },
    get done() {
      return done();
    },
    get error() {
      return error();
    },
    get previewKind() {
      return kind();
    },
    get previewUrl() {
      return preview()?.url ?? null;
    },
    get previewText() {
      return previewText();
    },
    get previewNote() {
      return previewNote();
    },
  };

  return (
    <FileView
      model={model}
      onDownload={download}
      onReplace={(file) => void write(file)}
      onSaveText={(t) => void write(new Blob([new TextEncoder().encode(t)]))}
      onHealth={(action) => void runHealth(action)}
      onPreview={showPreview}
      onTogglePin={togglePin}
    />
  );
}

/** The bytes as UTF-8 text, or null when they are not UTF-8. */
function utf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
