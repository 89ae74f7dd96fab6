/** Folder view: breadcrumbs, the children as a table, and (when writable) what changes them. Renders only. */
import { createSignal, For, Show } from 'solid-js';
import { CapField } from '../../components/CapField.tsx';
import { Progress } from '../../components/Progress.tsx';
import { formatBytes, formatDate } from '../../store/format.ts';
import type { DirectoryRow } from '../../workers/grid-worker.ts';

export interface DirViewModel {
  title: string;
  crumbs: { label: string; href: string }[];
  loading: boolean;
  error: string;
  status: string;
  writable: boolean;
  rows: (DirectoryRow & { href: string })[];
  /** Share links: read-only (always) and read-write (writable folders only). */
  readLink: string;
  writeLink: string;
  upload: { done: number; total: number; files: number } | null;
  /** Health of everything under the folder: the running count, then the result. */
  health: {
    busy: 'check' | 'verify' | 'repair' | 'keep' | null;
    objects: number;
    result: { headline: string; problems: string[] } | null;
    error: string;
  };
  /** When the listing shown is the copy kept for offline use: when it was kept (ms). */
  offlineSince: number | null;
  busy: boolean;
}

export interface DirViewProps {
  model: DirViewModel;
  onUpload(files: { path: string[]; file: File }[]): void;
  onCancelUpload(): void;
  onMkdir(name: string): void;
  onRename(from: string, to: string): void;
  onDelete(name: string): void;
  onZip(): void;
  onKeepOffline(): void;
  onHealth(action: 'check' | 'verify' | 'repair' | 'keep'): void;
}

const kindLabel = (r: DirectoryRow) =>
  r.kind === 'directory'
    ? 'Folder'
    : r.kind === 'unknown'
      ? 'Unknown'
      : r.mutable
        ? r.writable
          ? 'Editable file'
          : 'File (changes)'
        : 'File';

/** The files of a drop, folders walked (structure kept), through the entries API. */
async function dropped(items: DataTransferItemList): Promise<{ path: string[]; file: File }[]> {
  const out: { path: string[]; file: File }[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string[]): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject),
      );
      out.push({ path: [...prefix, entry.name], file });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
          reader.readEntries(resolve, reject),
        );
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, [...prefix, entry.name]);
      }
    }
  };
  const entries = Array.from(items)
    .map((i) => i.webkitGetAsEntry?.())
    .filter((e): e is FileSystemEntry => e !== null && e !== undefined);
  for (const e of entries) await walk(e, []);
  return out;
}

export function DirView(props: DirViewProps) {
  const m = () => props.model;
  const [renaming, setRenaming] = createSignal<string | null>(null);
  const [confirming, setConfirming] = createSignal<string | null>(null);
  const [newName, setNewName] = createSignal('');
  const [over, setOver] = createSignal(false);
  let filesInput!: HTMLInputElement;
  let folderInput!: HTMLInputElement;

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a drop target only; keyboard and touch use the upload buttons.
    <section
      class="dir"
      classList={{ over: over() }}
      onDragOver={(e) => {
        if (!m().writable) return;
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
      }}
      onDrop={(e) => {
        if (!m().writable) return;
        e.preventDefault();
        setOver(false);
        if (e.dataTransfer) void dropped(e.dataTransfer.items).then((f) => f.length && props.onUpload(f));
      }}
    >
      <nav aria-label="Breadcrumbs" class="crumbs">
        <ol>
          <For each={m().crumbs}>
            {(c, i) => (
              <li>
                <a href={c.href} aria-current={i() === m().crumbs.length - 1 ? 'page' : undefined}>
                  {c.label}
                </a>
              </li>
            )}
          </For>
        </ol>
      </nav>
      <h1>{m().title}</h1>
      <Show when={!m().writable && !m().loading && !m().error}>
        <p class="muted">Read-only: you can open and download what is here, not change it.</p>
      </Show>
      <Show when={m().offlineSince}>
        {(at) => (
          <p class="notice">
            The grid cannot be reached: this is the copy of the folder kept on {formatDate(at())}. Pinned
            files open; changes wait until you are back online.
          </p>
        )}
      </Show>
      <p role="status" class="muted small">
        {m().status}
      </p>
      <Show when={m().error}>
        <p role="alert" class="error">
          {m().error}
        </p>
      </Show>

      <div class="actions">
        <Show when={m().writable}>
          <label class="button primary file-button">
            Upload files
            <input
              ref={filesInput}
              type="file"
              multiple
              class="visually-hidden-input"
              onChange={() => {
                const files = Array.from(filesInput.files ?? []).map((file) => ({ path: [file.name], file }));
                filesInput.value = '';
                if (files.length) props.onUpload(files);
              }}
            />
          </label>
          <label class="button file-button">
            Upload a folder
            <input
              ref={folderInput}
              type="file"
              multiple
              // @ts-expect-error: webkitdirectory is a non-standard attribute every major browser supports.
              webkitdirectory
              class="visually-hidden-input"
              onChange={() => {
                const files = Array.from(folderInput.files ?? []).map((file) => ({
                  path: (file.webkitRelativePath || file.name).split('/'),
                  file,
                }));
                folderInput.value = '';
                if (files.length) props.onUpload(files);
              }}
            />
          </label>
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              const name = newName().trim();
              if (name) props.onMkdir(name);
              setNewName('');
            }}
          >
            <label for="new-folder">New folder</label>
            <input
              id="new-folder"
              type="text"
              value={newName()}
              onInput={(e) => setNewName(e.currentTarget.value)}
            />
            <button type="submit" disabled={m().busy || newName().trim() === ''}>
              Create folder
            </button>
          </form>
        </Show>
        <Show when={m().rows.length > 0}>
          <button type="button" disabled={m().busy} onClick={() => props.onZip()}>
            Download as .zip
          </button>
          <button
            type="button"
            disabled={m().busy || m().offlineSince !== null}
            onClick={() => props.onKeepOffline()}
          >
            Keep this folder offline
          </button>
        </Show>
      </div>

      <Show when={m().upload}>
        {(u) => (
          <div class="upload-batch">
            <Progress label={`Uploading ${u().files} file(s)`} done={u().done} total={u().total} />
            <button type="button" onClick={() => props.onCancelUpload()}>
              Cancel upload
            </button>
          </div>
        )}
      </Show>

      <Show when={m().loading}>
        <p class="muted">Loading…</p>
      </Show>
      <Show when={!m().loading && m().rows.length === 0 && !m().error}>
        <p class="muted">{m().writable ? 'Empty. Upload files or drop them here.' : 'Empty.'}</p>
      </Show>
      <Show when={m().rows.length > 0}>
        <table class="listing">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Size</th>
              <th scope="col">Modified</th>
              <th scope="col">Kind</th>
              <Show when={m().writable}>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </Show>
            </tr>
          </thead>
          <tbody>
            <For each={m().rows}>
              {(r) => (
                <tr>
                  <th scope="row">
                    <Show
                      when={renaming() === r.name}
                      fallback={
                        <a href={r.href} class={r.kind === 'directory' ? 'folder-link' : 'file-link'}>
                          {r.name}
                        </a>
                      }
                    >
                      <form
                        class="inline-form"
                        onSubmit={(e) => {
                          e.preventDefault();
                          const to = (new FormData(e.currentTarget).get('to') as string).trim();
                          setRenaming(null);
                          if (to && to !== r.name) props.onRename(r.name, to);
                        }}
                      >
                        <label>
                          <span class="visually-hidden">New name for {r.name}</span>
                          <input name="to" type="text" value={r.name} />
                        </label>
                        <button type="submit">Save name</button>
                        <button type="button" onClick={() => setRenaming(null)}>
                          Keep name
                        </button>
                      </form>
                    </Show>
                  </th>
                  <td>{r.kind === 'directory' || r.size === null ? '—' : formatBytes(r.size)}</td>
                  <td>{r.modified ? formatDate(r.modified * 1000) : '—'}</td>
                  <td>{kindLabel(r)}</td>
                  <Show when={m().writable}>
                    <td class="row-actions">
                      <Show
                        when={confirming() === r.name}
                        fallback={
                          <>
                            <button type="button" disabled={m().busy} onClick={() => setRenaming(r.name)}>
                              Rename {r.name}
                            </button>
                            <button type="button" disabled={m().busy} onClick={() => setConfirming(r.name)}>
                              Delete {r.name}
                            </button>
                          </>
                        }
                      >
                        <span>Delete {r.name}?</span>
                        <button
                          type="button"
                          class="danger"
                          onClick={() => {
                            setConfirming(null);
                            props.onDelete(r.name);
                          }}
                        >
                          Yes, delete {r.name}
                        </button>
                        <button type="button" onClick={() => setConfirming(null)}>
                          Keep {r.name}
                        </button>
                      </Show>
                    </td>
                  </Show>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </Show>

      <Show when={!m().loading && !m().error}>
        <section class="health" aria-labelledby="folder-health-heading">
          <h2 id="folder-health-heading">Health</h2>
          <div class="actions">
            <button type="button" disabled={m().health.busy !== null} onClick={() => props.onHealth('check')}>
              Check everything
            </button>
            <button
              type="button"
              disabled={m().health.busy !== null}
              onClick={() => props.onHealth('verify')}
            >
              Verify everything
            </button>
            <button
              type="button"
              disabled={m().health.busy !== null}
              onClick={() => props.onHealth('repair')}
            >
              Repair everything
            </button>
            <button type="button" disabled={m().health.busy !== null} onClick={() => props.onHealth('keep')}>
              Keep alive
            </button>
          </div>
          <Show when={m().health.busy}>
            <p role="status" class="muted small">
              {m().health.busy === 'keep' ? 'Renewing' : 'Checking'}: {m().health.objects} done…
            </p>
          </Show>
          <Show when={m().health.result}>
            {(r) => (
              <div role="status" class="health-result">
                <p>{r().headline}</p>
                <For each={r().problems}>{(p) => <p class="small">{p}</p>}</For>
              </div>
            )}
          </Show>
          <Show when={m().health.error}>
            <p role="alert" class="error">
              {m().health.error}
            </p>
          </Show>
        </section>
      </Show>

      <details class="share">
        <summary>Share this folder</summary>
        <CapField
          label="Read-only link"
          value={m().readLink}
          copyLabel="Copy read-only link to this folder"
        />
        <p class="muted small">
          Whoever has the read-only link can open everything inside, but change nothing.
        </p>
        <Show when={m().writeLink}>
          <CapField
            label="Read-write link"
            value={m().writeLink}
            copyLabel="Copy read-write link to this folder"
          />
          <p class="muted small">
            Whoever has the read-write link can change this folder and everything you can change inside it.
          </p>
        </Show>
      </details>
    </section>
  );
}
