/**
 * Folder page container: walks from the folder's cap along the path in the fragment, lists
 * it, and runs uploads (files and whole folders), new folders, renames, deletes and the
 * .zip download through the grid worker. "My files" is the same page on this browser's root.
 */
import { createMemo, createResource, createSignal, onCleanup } from 'solid-js';
import { CairnError } from '../../../core/errors.ts';
import { usePageTitle } from '../../components/title.ts';
import {
  changeDirectory,
  checkDirectoryTree,
  downloadZip,
  fileSize,
  listDirectory,
  pinCopy,
  uploadIntoDirectory,
} from '../../store/client.ts';
import { cachedListing, cacheListing } from '../../store/dir-cache.ts';
import { useStore } from '../../store/index.tsx';
import { ensureRootCap } from '../../store/root.ts';
import { currentGrid } from '../../store/settings.ts';
import { dirLink, routeHash } from '../../store/router.ts';
import type { DirectoryListing } from '../../workers/grid-worker.ts';
import { DirView, type DirViewModel } from './DirView.tsx';

const message = (err: unknown) =>
  err instanceof CairnError || err instanceof Error ? err.message : String(err);

/** `cap` is the folder's own cap, or null for "My files" (this browser's root). */
export default function DirPage(props: { cap: string | null; path: string[] }) {
  const { settings, history } = useStore();
  const [status, setStatus] = createSignal('');
  const [error, setError] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [upload, setUpload] = createSignal<{ done: number; total: number; files: number } | null>(null);
  let cancel: AbortController | null = null;
  onCleanup(() => cancel?.abort());

  const root = async (): Promise<string> => props.cap ?? ensureRootCap(settings.settings());
  const [offline, setOffline] = createSignal<number | null>(null);
  const [health, setHealth] = createSignal<DirViewModel['health']>({
    busy: null,
    objects: 0,
    result: null,
    error: '',
  });

  const runHealth = async (action: 'check' | 'verify' | 'repair' | 'keep') => {
    const cap = here()?.cap;
    if (!cap) return;
    setHealth({ busy: action, objects: 0, result: null, error: '' });
    try {
      const { summary, problems } = await checkDirectoryTree(
        cap,
        settings.settings(),
        {
          verify: action === 'verify' || action === 'repair',
          repair: action === 'repair',
          addLease: action === 'keep',
        },
        (s) => setHealth((h) => ({ ...h, objects: s.objects })),
      );
      const parts = [`${summary.healthy} healthy`];
      if (summary.unhealthy) parts.push(`${summary.unhealthy} need repair`);
      if (summary.unrecoverable) parts.push(`${summary.unrecoverable} cannot be read`);
      if (summary.repaired) parts.push(`${summary.repaired} repaired`);
      if (summary.errors) parts.push(`${summary.errors} could not be checked`);
      const headline =
        action === 'keep'
          ? `Kept alive: ${summary.objects} files and folders (${parts.join(', ')}).`
          : `${summary.objects} files and folders: ${parts.join(', ')}.`;
      setHealth({
        busy: null,
        objects: summary.objects,
        result: {
          headline,
          problems: problems.map((p) => `${p.path.join('/') || 'this folder'}: ${p.text}`),
        },
        error: '',
      });
    } catch (err) {
      setHealth({
        busy: null,
        objects: 0,
        result: null,
        error: `The check could not be made: ${message(err)}`,
      });
    }
  };

  /** A live listing (kept for offline use), else the last one kept, marked as such. */
  const list = async (cap: string): Promise<DirectoryListing> => {
    try {
      const live = await listDirectory(cap, settings.settings());
      void cacheListing(live);
      return live;
    } catch (err) {
      const kept = await cachedListing(cap);
      if (!kept) throw err;
      setOffline(kept.at);
      return kept.listing;
    }
  };

  /** The listing of the folder shown, reached from the root cap by the names in the path. */
  const [listing, { refetch }] = createResource(
    () => ({ cap: props.cap, path: props.path }),
    async ({ path }): Promise<{ rootCap: string; listing: DirectoryListing } | null> => {
      setError('');
      try {
        const rootCap = await root();
        setOffline(null);
        let listing = await list(rootCap);
        for (const name of path) {
          const next = listing.entries.find((e) => e.name === name && e.kind === 'directory');
          if (!next)
            throw new CairnError('NO_SUCH_CHILD', `This folder has no folder named “${name}” any more.`);
          listing = await list(next.cap);
        }
        return { rootCap, listing };
      } catch (err) {
        setError(`Could not open the folder: ${message(err)}`);
        return null;
      }
    },
  );

  const here = () => listing()?.listing;
  const base = (path: string[]) =>
    props.cap === null && path.length === 0
      ? '#/files'
      : routeHash({ name: 'dir', cap: listing()?.rootCap ?? props.cap ?? '', path });
  const title = () =>
    props.path.length ? props.path[props.path.length - 1] : props.cap === null ? 'My files' : 'Shared folder';
  usePageTitle(title);

  /** Pins every file under `cap` (via History) and keeps every folder's listing; returns the files. */
  const keepOffline = async (cap: string): Promise<number> => {
    let count = 0;
    const walk = async (folder: string, depth: number): Promise<void> => {
      if (depth > 64) return;
      const l = await list(folder);
      for (const e of l.entries) {
        if (e.kind === 'directory') await walk(e.cap, depth + 1);
        else if (e.kind !== 'unknown') {
          const size = e.size ?? (await fileSize(e.cap, currentGrid(settings.settings())));
          await history.remember({
            cap: e.cap,
            name: e.name,
            size,
            date: Date.now(),
            via: 'open',
            pinned: false,
          });
          await history.pin(e.cap, pinCopy(e.cap, size, currentGrid(settings.settings())));
          count++;
        }
      }
    };
    await walk(cap, 0);
    return count;
  };

  const act = async (what: string, fn: (cap: string) => Promise<void>, done: string) => {
    const cap = here()?.cap;
    if (!cap) return;
    setBusy(true);
    setError('');
    setStatus('');
    try {
      await fn(cap);
      if (done) setStatus(done);
      await refetch();
    } catch (err) {
      setError(`${what} failed: ${message(err)}`);
    } finally {
      setBusy(false);
    }
  };

  // Made once per listing, and the model once per change: every row reads the model again
  // (writable, busy), and a getter rebuilding it per read made each read O(rows) and gave
  // <For> a new array, rebuilding every row (1,000 rows took ~200 ms more).
  const rows = createMemo(() =>
    (here()?.entries ?? []).map((r) => ({
      ...r,
      href:
        r.kind === 'directory'
          ? base([...props.path, r.name])
          : routeHash({ name: 'file', cap: r.cap, hint: { name: r.name } }),
    })),
  );

  const model = createMemo(
    (): DirViewModel => ({
      title: title(),
      crumbs: [
        { label: props.cap === null ? 'My files' : 'Shared folder', href: base([]) },
        ...props.path.map((name, i) => ({ label: name, href: base(props.path.slice(0, i + 1)) })),
      ],
      loading: listing.loading,
      error: error(),
      status: status(),
      writable: here()?.writeCap != null,
      rows: rows(),
      readLink: here()?.readCap ? dirLink(location.origin, location.pathname, here()!.readCap!) : '',
      writeLink: here()?.writeCap ? dirLink(location.origin, location.pathname, here()!.writeCap!) : '',
      upload: upload(),
      offlineSince: offline(),
      health: health(),
      busy: busy(),
    }),
  );

  return (
    <DirView
      model={model()}
      onUpload={(files) =>
        void act(
          'The upload',
          async (cap) => {
            cancel = new AbortController();
            const total = files.reduce((a, f) => a + f.file.size, 0);
            setUpload({ done: 0, total, files: files.length });
            try {
              await uploadIntoDirectory(
                cap,
                files,
                settings.settings(),
                (done, t) => setUpload({ done, total: t, files: files.length }),
                cancel.signal,
              );
            } finally {
              setUpload(null);
              cancel = null;
            }
          },
          `Uploaded ${files.length} file(s).`,
        )
      }
      onCancelUpload={() => cancel?.abort()}
      onMkdir={(name) =>
        void act(
          'Creating the folder',
          (cap) => changeDirectory(cap, settings.settings(), { op: 'mkdir', name }),
          `Folder “${name}” created.`,
        )
      }
      onRename={(from, to) =>
        void act(
          'Renaming',
          (cap) => changeDirectory(cap, settings.settings(), { op: 'rename', from, to }),
          `Renamed “${from}” to “${to}”.`,
        )
      }
      onDelete={(name) =>
        void act(
          'Deleting',
          (cap) => changeDirectory(cap, settings.settings(), { op: 'delete', name }),
          `Deleted “${name}”.`,
        )
      }
      onHealth={(action) => void runHealth(action)}
      onKeepOffline={() =>
        void act(
          'Keeping the folder offline',
          async (cap) => {
            const n = await keepOffline(cap);
            setStatus(`Kept offline: ${n} file(s), readable with no network.`);
          },
          '',
        )
      }
      onZip={() =>
        void act(
          'The download',
          (cap) => downloadZip(cap, title(), settings.settings()),
          'The .zip download has started.',
        )
      }
    />
  );
}
