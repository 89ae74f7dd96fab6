/** Upload page view: file input, drop zone, and one card per file. Renders only. */
import { createSignal, For, Match, Show, Switch } from 'solid-js';
import { CapField } from '../../components/CapField.tsx';
import { Progress } from '../../components/Progress.tsx';
import { formatBytes } from '../../store/format.ts';
import type { Settings } from '../../store/settings.ts';
import type { UploadJob } from '../../store/uploads.ts';

export interface UploadViewProps {
  jobs: UploadJob[];
  settings: Settings;
  /** New uploads become editable (mutable) files. */
  editable: boolean;
  onEditable(on: boolean): void;
  linkFor(cap: string): string;
  /** New files; `handles` (same order, where the browser gave them) let an interrupted upload read its file again. */
  onFiles(files: File[], handles?: Array<Promise<FileSystemFileHandle | null> | null>): void;
  onCancel(id: number): void;
  onDismiss(id: number): void;
  /** Runs a failed upload again (it continues what the servers hold). */
  onRetry(id: number): void;
  /** Resumes an interrupted upload with its file, chosen again. */
  onResumeWith(id: number, file: File): void;
  /** Resumes an interrupted upload by reading its file again through the handle kept for it. */
  onResumeFromHandle(id: number): void;
}

type HandleItem = DataTransferItem & { getAsFileSystemHandle?(): Promise<FileSystemHandle | null> };

/** Handles to the dropped files where the browser gives them (Chromium), in the order of `files`. */
function droppedHandles(dt: DataTransfer | null): Array<Promise<FileSystemFileHandle | null> | null> {
  // Items can only be read during the drop event itself: ask for every handle now.
  return Array.from(dt?.items ?? [])
    .filter((i) => i.kind === 'file')
    .map((i) => {
      const get = (i as HandleItem).getAsFileSystemHandle;
      if (!get) return null;
      return get
        .call(i)
        .then((h) => (h?.kind === 'file' ? (h as FileSystemFileHandle) : null))
        .catch(() => null);
    });
}

export function UploadView(props: UploadViewProps) {
  const [over, setOver] = createSignal(false);
  let input!: HTMLInputElement;

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const handles = droppedHandles(e.dataTransfer ?? null);
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length > 0) props.onFiles(files, handles.length === files.length ? handles : undefined);
  };

  return (
    <section class="upload">
      <h1>Cairn</h1>
      <p class="lede">
        Files are encrypted and erasure-coded in this tab before they leave it. You get a link; only people
        you give it to can read the file.
      </p>
      {/* The drop zone wraps the file input, so keyboard users reach the same control by Tab. */}
      <section
        class="drop-zone"
        classList={{ over: over() }}
        aria-label="Drop files here to upload them"
        onDragEnter={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
        }}
        onDragLeave={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
        }}
        onDrop={onDrop}
      >
        <p>Drop files here, or</p>
        <label class="button primary file-button">
          Choose files to upload
          <input
            ref={input}
            type="file"
            multiple
            class="visually-hidden-input"
            onChange={() => {
              const files = Array.from(input.files ?? []);
              input.value = '';
              if (files.length > 0) props.onFiles(files);
            }}
          />
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={props.editable}
            onChange={(e) => props.onEditable(e.currentTarget.checked)}
          />{' '}
          Editable: I can replace or edit the file later through a private edit link
        </label>
        <p class="muted small">
          {props.settings.k} of {props.settings.n} shares needed to read; at least {props.settings.happy}{' '}
          servers must take them. Convergent encryption {props.settings.convergence ? 'on' : 'off'}.{' '}
          <a href="#/settings">Change</a>
        </p>
      </section>

      <Show when={props.jobs.length > 0}>
        <h2>Uploads</h2>
        <ul class="jobs">
          <For each={props.jobs}>{(job) => <JobCard job={job} {...props} />}</For>
        </ul>
      </Show>
    </section>
  );
}

function JobCard(props: UploadViewProps & { job: UploadJob }) {
  const job = () => props.job;
  return (
    <li class="card job" aria-label={`Upload of ${job().name}`}>
      <div class="job-head">
        <strong class="file-name">{job().name}</strong>
        <span class="muted">{formatBytes(job().size)}</span>
      </div>
      <Switch>
        <Match when={job().status === 'interrupted'}>
          <p class="muted">
            Interrupted — choose the same file to resume. Only what the servers do not hold yet is sent.
          </p>
          <Show when={job().note}>
            <p class="small">{job().note}</p>
          </Show>
          <div class="job-actions">
            <Show when={job().hasHandle}>
              <button type="button" class="primary" onClick={() => props.onResumeFromHandle(job().id)}>
                Resume upload of {job().name}
              </button>
            </Show>
            <ResumeChooser job={job()} onFile={(file) => props.onResumeWith(job().id, file)} />
            <button type="button" onClick={() => props.onDismiss(job().id)}>
              Dismiss
            </button>
          </div>
        </Match>
        <Match when={job().status === 'working'}>
          <Show when={job().note}>
            <p class="small">{job().note}</p>
          </Show>
          <Progress label={`Encrypted and encoded: ${job().name}`} done={job().encoded} total={job().size} />
          <Progress label={`Stored on servers: ${job().name}`} done={job().acked} total={job().size} />
          <button type="button" onClick={() => props.onCancel(job().id)}>
            Cancel upload of {job().name}
          </button>
        </Match>
        <Match when={job().status === 'done' && job().result}>
          {(result) => (
            <div class="result">
              <Show when={job().note}>
                <p class="small">{job().note}</p>
              </Show>
              <p>
                <span class="ok">Stored.</span>{' '}
                {result().writeCap ? 'Share this read-only link:' : 'Link to this file:'}{' '}
                <a
                  class="cap-link"
                  href={props.linkFor(result().readCap)}
                  aria-label={`${result().writeCap ? 'Read-only link' : 'Link'} to ${job().name}`}
                >
                  {props.linkFor(result().readCap)}
                </a>
              </p>
              <CapField
                label={result().writeCap ? 'Read-only link' : 'Link'}
                value={props.linkFor(result().readCap)}
                copyLabel={`Copy link to ${job().name}`}
              />
              <Show when={result().writeCap}>
                {(writeCap) => (
                  <>
                    <p class="small">
                      Edit link — keep it private: anyone holding it can change the file.{' '}
                      <a href={props.linkFor(writeCap())} aria-label={`Edit ${job().name}`}>
                        Open to edit
                      </a>
                    </p>
                    <CapField
                      label="Edit link"
                      value={props.linkFor(writeCap())}
                      copyLabel={`Copy edit link to ${job().name}`}
                    />
                  </>
                )}
              </Show>
              <details>
                <summary>Capabilities</summary>
                <Show when={result().writeCap}>{(w) => <CapField label="Write cap" value={w()} />}</Show>
                <CapField label="Read cap" value={result().readCap} />
                <Show
                  when={result().verifyCap}
                  fallback={
                    <p class="muted small">
                      This file is so small that it lives entirely inside its link: nothing was stored on the
                      grid, so there is no verify cap.
                    </p>
                  }
                >
                  <CapField label="Verify cap" value={result().verifyCap} />
                  <p class="muted small">
                    The read cap lets anyone holding it read the file. The verify cap lets a checker confirm
                    the shares are intact without being able to read them.
                  </p>
                </Show>
              </details>
              <button type="button" onClick={() => props.onDismiss(job().id)}>
                Dismiss
              </button>
            </div>
          )}
        </Match>
        <Match when={job().status === 'failed'}>
          <p role="alert" class="error">
            {job().error?.message}
          </p>
          <Show when={job().resumable}>
            <p class="small muted">
              The servers keep what they received for a day: trying again sends only the rest.
            </p>
            <button type="button" class="primary" onClick={() => props.onRetry(job().id)}>
              Try the upload of {job().name} again
            </button>
          </Show>
          <button type="button" onClick={() => props.onDismiss(job().id)}>
            Dismiss
          </button>
        </Match>
        <Match when={job().status === 'cancelled'}>
          <p class="muted">Cancelled.</p>
          <button type="button" onClick={() => props.onDismiss(job().id)}>
            Dismiss
          </button>
        </Match>
      </Switch>
    </li>
  );
}

/** The file chooser of an interrupted upload's card. */
function ResumeChooser(props: { job: UploadJob; onFile(file: File): void }) {
  let input!: HTMLInputElement;
  return (
    <label class="button file-button">
      Choose {props.job.name} again
      <input
        ref={input}
        type="file"
        class="visually-hidden-input"
        aria-label={`Choose the same file to resume the upload of ${props.job.name}`}
        onChange={() => {
          const file = input.files?.[0];
          input.value = '';
          if (file) props.onFile(file);
        }}
      />
    </label>
  );
}
