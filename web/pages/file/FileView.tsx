/** File page view: what the cap says about the file, Download, preview, pin. */
import { createSignal, For, Match, Show, Switch } from 'solid-js';
import { CapField } from '../../components/CapField.tsx';
import { Progress } from '../../components/Progress.tsx';
import { formatBytes, type PreviewKind } from '../../store/format.ts';
import type { HealthText } from '../../store/health.ts';
import type { FileMeta } from '../../sw/messages.ts';

export interface FileViewModel {
  capError: string;
  /** The shareable link, the read cap and (CHK only) the verify cap; empty when the cap is bad. */
  link: string;
  readCap: string;
  verifyCap: string;
  /** Editable files opened through their edit link: the write cap and that link; else empty. */
  writeCap: string;
  editLink: string;
  /** False while a mutable file's size is still being asked of the grid (or could not be). */
  sizeKnown: boolean;
  health: {
    busy: 'check' | 'verify' | 'repair' | null;
    text: HealthText | null;
    error: string;
  };
  write: {
    state: 'idle' | 'saving' | 'saved';
    /** Bytes of the new version stored so far. */
    done: number;
    /** The file as UTF-8 text (editable files up to 1 MiB), null when it is not text or too large. */
    text: string | null;
    textLoading: boolean;
  };
  /** False for a verify cap: it can check a file but not read it. */
  readable: boolean;
  meta: FileMeta;
  /** The grid the link names, when it is not this browser's (shown so it is no surprise); else ''. */
  otherGrid: string;
  online: boolean;
  pinned: boolean;
  canPin: boolean;
  pinBusy: boolean;
  phase: 'idle' | 'working' | 'started' | 'finished';
  done: number;
  error: string;
  previewKind: PreviewKind;
  previewUrl: string | null;
  /** A text preview's text (UTF-8, at most 1 MiB). */
  previewText: string | null;
  /** Why there is no preview, when one was tried. */
  previewNote: string;
}

export function FileView(props: {
  model: FileViewModel;
  onDownload(): void;
  onPreview(): void;
  onTogglePin(): void;
  onReplace(file: File): void;
  onSaveText(text: string): void;
  onHealth(action: 'check' | 'verify' | 'repair'): void;
}) {
  const m = () => props.model;
  let replaceInput!: HTMLInputElement;
  const [draft, setDraft] = createSignal<string | null>(null);
  const editorText = () => draft() ?? m().write.text ?? '';
  const title = () => m().meta.name ?? 'Shared file';
  return (
    <section class="file">
      <Switch>
        <Match when={m().capError}>
          <h1>Not a file link</h1>
          <p role="alert" class="error">
            This link does not lead to a file: part of it is missing or mistyped. Check that the whole link
            was copied, or ask whoever sent it for it again.
          </p>
        </Match>
        <Match when={!m().readable}>
          <h1>Verify capability</h1>
          <p>
            This is a verify cap for a file of {formatBytes(m().meta.size)}. It lets a checker confirm the
            file's shares are intact, but it cannot read the file.
          </p>
        </Match>
        <Match when={true}>
          <h1 class="file-name">{title()}</h1>
          <dl class="facts">
            <dt>Size</dt>
            <dd>
              <Show when={m().sizeKnown} fallback={<span class="muted">asking the grid…</span>}>
                {formatBytes(m().meta.size)} ({m().meta.size.toLocaleString()} bytes)
              </Show>
            </dd>
            <Show when={m().writeCap}>
              <dt>Access</dt>
              <dd>editable: this is the private edit link</dd>
            </Show>
            <Show when={m().meta.name === null}>
              <dt>Name</dt>
              <dd class="muted">not known: this link does not carry one</dd>
            </Show>
            <Show when={m().meta.type !== 'application/octet-stream'}>
              <dt>Type</dt>
              <dd>{m().meta.type}</dd>
            </Show>
            <Show when={m().otherGrid}>
              <dt>Stored on</dt>
              <dd>
                the grid at <code>{m().otherGrid}</code>, as the link says
              </dd>
            </Show>
            <dt>Offline</dt>
            <dd>{m().pinned ? 'pinned: readable without a network' : 'not pinned'}</dd>
          </dl>
          <div class="actions">
            <button
              type="button"
              class="primary"
              onClick={() => props.onDownload()}
              disabled={m().phase === 'working' || m().phase === 'started'}
            >
              Download
            </button>
            <Show
              when={
                m().previewKind &&
                !m().previewUrl &&
                m().previewText === null &&
                m().meta.size > 0 &&
                m().sizeKnown
              }
            >
              <button type="button" onClick={() => props.onPreview()}>
                Preview
              </button>
            </Show>
            <Show when={m().canPin}>
              <button
                type="button"
                aria-pressed={m().pinned ? 'true' : 'false'}
                disabled={m().pinBusy}
                aria-busy={m().pinBusy ? 'true' : undefined}
                onClick={() => props.onTogglePin()}
              >
                {m().pinned ? 'Pinned for offline use' : 'Pin for offline use'}
              </button>
            </Show>
          </div>
          <Show when={m().pinBusy}>
            <p role="status" class="muted small">
              {m().pinned ? 'Saving a copy in this browser…' : 'Removing the copy from this browser…'}
            </p>
          </Show>
          <Show when={m().phase !== 'idle'}>
            <Progress label="Downloaded and verified" done={m().done} total={m().meta.size} />
            <p role="status" class="muted small">
              {m().phase === 'finished' ? 'Download complete: every byte was verified.' : ''}
            </p>
          </Show>
          <Show when={m().error}>
            <p role="alert" class="error">
              {m().error}
            </p>
          </Show>
          <Show when={m().previewNote}>
            <p class="muted small preview-note">{m().previewNote}</p>
          </Show>
          <Show when={m().previewText !== null}>
            <figure class="preview text-preview" aria-label={`Preview of ${title()}`}>
              <pre tabindex="0">{m().previewText}</pre>
            </figure>
          </Show>
          <Show when={m().previewUrl}>
            {(url) => (
              <div class="preview">
                <Switch>
                  <Match when={m().previewKind === 'video'}>
                    {/* biome-ignore lint/a11y/useMediaCaption: user files carry no caption track */}
                    <video controls src={url()} aria-label={`Preview of ${title()}`} />
                  </Match>
                  <Match when={m().previewKind === 'audio'}>
                    {/* biome-ignore lint/a11y/useMediaCaption: user files carry no caption track */}
                    <audio controls src={url()} aria-label={`Preview of ${title()}`} />
                  </Match>
                  <Match when={m().previewKind === 'image'}>
                    <img src={url()} alt={`Preview of ${title()}`} />
                  </Match>
                  <Match when={m().previewKind === 'pdf'}>
                    <iframe src={url()} title={`Preview of ${title()}`} />
                  </Match>
                </Switch>
              </div>
            )}
          </Show>
          <Show when={m().writeCap}>
            <section class="edit" aria-labelledby="edit-heading">
              <h2 id="edit-heading">Change this file</h2>
              <p class="muted small">
                Anyone holding this page's link can change the file. To let others read it without changing
                it, share the read-only link:
              </p>
              <CapField
                label="Read-only link"
                value={m().link}
                copyLabel="Copy read-only link to this file"
              />
              <Show when={m().write.textLoading}>
                <p class="muted small" role="status">
                  Loading the text…
                </p>
              </Show>
              <Show when={m().write.text !== null}>
                <label for="file-editor">Text</label>
                <textarea
                  id="file-editor"
                  class="editor"
                  rows={12}
                  spellcheck={false}
                  value={editorText()}
                  onInput={(e) => setDraft(e.currentTarget.value)}
                />
                <button
                  type="button"
                  class="primary"
                  disabled={m().write.state === 'saving'}
                  onClick={() => props.onSaveText(editorText())}
                >
                  Save
                </button>
              </Show>
              <label class="button file-button">
                Replace contents…
                <input
                  ref={replaceInput}
                  type="file"
                  class="visually-hidden-input"
                  disabled={m().write.state === 'saving'}
                  onChange={() => {
                    const file = replaceInput.files?.[0];
                    replaceInput.value = '';
                    if (file) {
                      setDraft(null);
                      props.onReplace(file);
                    }
                  }}
                />
              </label>
              <Show when={m().write.state === 'saving'}>
                <p role="status" class="muted small">
                  Saving a new version… {formatBytes(m().write.done)} stored
                </p>
              </Show>
              <Show when={m().write.state === 'saved'}>
                <p role="status" class="ok">
                  Saved: everyone with a link now reads the new version.
                </p>
              </Show>
            </section>
          </Show>
          <section class="health" aria-labelledby="health-heading">
            <h2 id="health-heading">Health</h2>
            <div class="actions">
              <button
                type="button"
                disabled={m().health.busy !== null}
                onClick={() => props.onHealth('check')}
              >
                Check
              </button>
              <button
                type="button"
                disabled={m().health.busy !== null}
                onClick={() => props.onHealth('verify')}
              >
                Verify every byte
              </button>
              <button
                type="button"
                disabled={m().health.busy !== null}
                onClick={() => props.onHealth('repair')}
              >
                Repair
              </button>
            </div>
            <Show when={m().health.busy}>
              {(busy) => (
                <p role="status" class="muted small">
                  {busy() === 'check'
                    ? 'Asking the servers…'
                    : busy() === 'verify'
                      ? 'Reading every share…'
                      : 'Checking and repairing…'}
                </p>
              )}
            </Show>
            <Show when={m().health.text}>
              {(t) => (
                <div role="status" class={`health-result ${t().state}`}>
                  <p>{t().headline}</p>
                  <For each={t().details}>{(d) => <p class="small">{d}</p>}</For>
                </div>
              )}
            </Show>
            <Show when={m().health.error}>
              <p role="alert" class="error">
                {m().health.error}
              </p>
            </Show>
          </section>
          <details>
            <summary>Link and capabilities</summary>
            <CapField
              label="Link"
              value={m().link}
              copyLabel="Copy link to this file"
              share={{ title: title() }}
            />
            <Show when={m().writeCap}>
              <CapField label="Edit link (private)" value={m().editLink} />
              <CapField label="Write cap" value={m().writeCap} />
            </Show>
            <CapField label="Read cap" value={m().readCap} />
            <Show when={m().verifyCap}>
              <CapField label="Verify cap" value={m().verifyCap} />
            </Show>
          </details>
        </Match>
      </Switch>
    </section>
  );
}
