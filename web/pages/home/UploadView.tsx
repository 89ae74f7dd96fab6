/** Upload page view: file input, drop zone, and one card per file. Renders only. */
import { For, Match, Show, Switch } from 'solid-js';
import { CapField } from '../../components/CapField.tsx';
import { Progress } from '../../components/Progress.tsx';
import { formatBytes, formatRate, formatTimeLeft } from '../../store/format.ts';
import type { Settings } from '../../store/settings.ts';
import type { UploadOutcome } from '../../store/client.ts';
import type { UploadJob } from '../../store/uploads.ts';

export interface UploadViewProps {
  jobs: UploadJob[];
  settings: Settings;
  /** New uploads become editable (mutable) files. */
  editable: boolean;
  onEditable(on: boolean): void;
  /** The device is online (uploads are offered only then). */
  online: boolean;
  /** A touch screen without a fine pointer: nothing there is dragged and dropped. */
  touch: boolean;
  /** Why an upload cannot succeed now (too few servers, grid unreachable); empty when it can. */
  gridWarning: string;
  /** The link to share for a finished card, and the link that edits it (editable files). */
  linkFor(job: UploadJob, result: UploadOutcome, cap: string): string;
  resultFor(job: UploadJob): UploadOutcome | undefined;
  /** New files; `handles` (same order, where the browser gave them) let an interrupted upload read its file again. */
  onFiles(files: File[], handles?: Array<Promise<FileSystemFileHandle | null> | null>): void;
  onCancel(id: number): void;
  onDismiss(id: number): void;
  onDismissFinished(): void;
  /** Runs a failed upload again (it continues what the servers hold). */
  onRetry(id: number): void;
  /** Resumes an interrupted upload with its file, chosen again. */
  onResumeWith(id: number, file: File): void;
  /** Resumes an interrupted upload by reading its file again through the handle kept for it. */
  onResumeFromHandle(id: number): void;
}

export function UploadView(props: UploadViewProps) {
  let input!: HTMLInputElement;
  const finished = () =>
    props.jobs.filter((j) => j.status !== 'working' && j.status !== 'interrupted').length;
  return (
    <section class="upload">
      <h1>Cairn</h1>
      <p class="lede">
        Files are encrypted and erasure-coded in this tab before they leave it. You get a link; only people
        you give it to can read the file.
      </p>
      <Show when={props.online && props.gridWarning}>
        <p class="warning" role="status">
          {props.gridWarning}
        </p>
      </Show>
      {/* The drop zone wraps the file input, so keyboard users reach the same control by Tab. */}
      <section
        class="drop-zone"
        classList={{ offline: !props.online }}
        aria-label={props.touch ? 'Upload files' : 'Drop files here to upload them'}
      >
        <Show
          when={props.online}
          fallback={
            <p>
              <strong>This device is offline.</strong> Files can be uploaded once it is back online.
            </p>
          }
        >
          <Show when={!props.touch}>
            <p class="drop-hint">Drop files here, or</p>
          </Show>
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
        </Show>
        <p class="muted small">
          {props.settings.k} of {props.settings.n} shares needed to read; at least {props.settings.happy}{' '}
          servers must take them. Convergent encryption {props.settings.convergence ? 'on' : 'off'}.{' '}
          <a href="#/settings">Change</a>
        </p>
      </section>

      <Show when={props.jobs.length > 0}>
        <div class="jobs-head">
          <h2>Uploads</h2>
          <Show when={finished() > 0}>
            <button type="button" onClick={() => props.onDismissFinished()}>
              Dismiss finished
            </button>
          </Show>
        </div>
        <ul class="jobs">
          <For each={props.jobs}>{(job) => <JobCard job={job} {...props} />}</For>
        </ul>
      </Show>
    </section>
  );
}

/** What a running upload is doing, in words. */
function phaseText(job: UploadJob): string {
  switch (job.phase) {
    case 'waiting':
      return 'Waiting for the uploads before it';
    case 'connecting':
      return 'Reaching the storage servers';
    case 'reading':
      return 'Reading the file';
    case 'storing':
      return 'Encrypting and storing';
    case 'finishing':
      return 'Finishing';
  }
}

function JobCard(props: UploadViewProps & { job: UploadJob }) {
  const job = () => props.job;
  const done = () => (job().phase === 'reading' ? (job().hashed ?? 0) : job().acked);
  return (
    <li class="card job" aria-label={`Upload of ${job().name}`}>
      <div class="job-head">
        <strong class="file-name">{job().name}</strong>
        <span class="muted">{formatBytes(job().size)}</span>
      </div>
      <Switch>
        <Match when={job().status === 'interrupted' && job().resumable}>
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
          <Progress label={`${phaseText(job())}: ${job().name}`} done={done()} total={job().size} />
          <p class="muted small phase-line" aria-live="off">
            {phaseText(job())}
            <Show when={job().speed}>
              {(s) => (
                <>
                  {' '}
                  · {formatRate(s().bytesPerSecond)} · {formatTimeLeft(s().secondsLeft)}
                </>
              )}
            </Show>
            <Show when={job().phase === 'reading'}>
              <> (then encrypting and storing)</>
            </Show>
          </p>
          <button type="button" onClick={() => props.onCancel(job().id)}>
            Cancel upload of {job().name}
          </button>
        </Match>
        <Match when={job().status === 'done'}>
          <Show
            when={props.resultFor(job())}
            fallback={
              <div class="result">
                <p>
                  <span class="ok">Stored</span> before this page was reloaded. Its link is no longer in{' '}
                  <a href="#/history">History</a>, so it cannot be shown here.
                </p>
                <DismissButton {...props} />
              </div>
            }
          >
            {(result) => <StoredCard {...props} result={result()} />}
          </Show>
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
          <DismissButton {...props} />
        </Match>
        <Match when={job().status === 'interrupted'}>
          <p class="error">
            Interrupted: the page was reloaded or closed before this upload finished, so the file was not
            stored. Choose it again to upload it.
          </p>
          <DismissButton {...props} />
        </Match>
        <Match when={job().status === 'cancelled'}>
          <p class="muted">Cancelled.</p>
          <DismissButton {...props} />
        </Match>
      </Switch>
    </li>
  );
}

function DismissButton(props: UploadViewProps & { job: UploadJob }) {
  return (
    <button
      type="button"
      onClick={() => props.onDismiss(props.job.id)}
      aria-label={`Dismiss ${props.job.name}`}
    >
      Dismiss
    </button>
  );
}

function StoredCard(props: UploadViewProps & { job: UploadJob; result: UploadOutcome }) {
  const name = () => props.job.name;
  const link = () => props.linkFor(props.job, props.result, props.result.readCap);
  return (
    <div class="result">
      <Show when={props.job.note}>
        <p class="small">{props.job.note}</p>
      </Show>
      <p>
        <span class="ok">Stored.</span>{' '}
        {props.result.writeCap ? 'Share the read-only link below.' : 'Share the link below.'}{' '}
        <a class="open-link" href={link()} aria-label={`Open ${name()}`}>
          Open
        </a>
      </p>
      <CapField
        label={props.result.writeCap ? 'Read-only link' : 'Link'}
        value={link()}
        copyLabel={`Copy link to ${name()}`}
        share={{ title: name() }}
      />
      <Show when={props.result.writeCap}>
        {(writeCap) => (
          <>
            <p class="small">
              Edit link — keep it private: anyone holding it can change the file.{' '}
              <a
                href={props.linkFor(props.job, props.result, writeCap())}
                aria-label={`Open to edit ${name()}`}
              >
                Open to edit
              </a>
            </p>
            <CapField
              label="Edit link"
              value={props.linkFor(props.job, props.result, writeCap())}
              copyLabel={`Copy edit link to ${name()}`}
            />
          </>
        )}
      </Show>
      <details>
        <summary>Capabilities</summary>
        <Show when={props.result.writeCap}>{(w) => <CapField label="Write cap" value={w()} />}</Show>
        <CapField label="Read cap" value={props.result.readCap} />
        <Show
          when={props.result.verifyCap}
          fallback={
            <p class="muted small">
              This file is so small that it lives entirely inside its link: nothing was stored on the grid, so
              there is no verify cap.
            </p>
          }
        >
          <CapField label="Verify cap" value={props.result.verifyCap} />
          <p class="muted small">
            The read cap lets anyone holding it read the file. The verify cap lets a checker confirm the
            shares are intact without being able to read them.
          </p>
        </Show>
      </details>
      <DismissButton {...props} />
    </div>
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
