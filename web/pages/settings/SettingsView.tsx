/** Settings form view: encoding parameters and the grid address. */
import { For, type JSX, Show } from 'solid-js';
import type { Settings, SettingsErrors } from '../../store/settings.ts';

export interface SettingsViewProps {
  draft: Settings;
  errors: SettingsErrors;
  /** The errors of the last Save, shown in a summary above the form (empty when it saved). */
  summary: SettingsErrors;
  status: string;
  /** The grid used when the address is left empty: the deployment's, or this page's own server. */
  defaultGrid: string;
  onChange(patch: Partial<Settings>): void;
  onSave(): void;
  onReset(): void;
}

function NumberField(props: {
  id: keyof Settings;
  label: string;
  hint: string;
  value: number;
  error?: string;
  onInput(v: number): void;
}) {
  const describedBy = () => `${props.id}-hint${props.error ? ` ${props.id}-error` : ''}`;
  return (
    <div class="field">
      <label for={`setting-${props.id}`}>{props.label}</label>
      <input
        id={`setting-${props.id}`}
        type="number"
        inputmode="numeric"
        min="1"
        max="256"
        step="1"
        value={Number.isNaN(props.value) ? '' : props.value}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy()}
        onInput={(e) => props.onInput(e.currentTarget.valueAsNumber)}
      />
      <p id={`${props.id}-hint`} class="muted small">
        {props.hint}
      </p>
      <Show when={props.error}>
        <p id={`${props.id}-error`} class="error small">
          {props.error}
        </p>
      </Show>
    </div>
  );
}

/** The fields in the order the form shows them, with the words the summary uses for each. */
const FIELD_ORDER: [keyof Settings, string][] = [
  ['k', 'Shares needed (k)'],
  ['happy', 'Servers required (happy)'],
  ['n', 'Total shares (N)'],
  ['gridUrl', 'Grid address'],
];

export function SettingsView(props: SettingsViewProps) {
  let summaryBox: HTMLDivElement | undefined;
  const submit: JSX.EventHandler<HTMLFormElement, SubmitEvent> = (e) => {
    e.preventDefault();
    props.onSave();
    // A failed save takes the focus to the summary, which lists what to fix first.
    queueMicrotask(() => summaryBox?.focus());
  };
  const summaryItems = () => FIELD_ORDER.filter(([f]) => props.summary[f]);
  return (
    <section>
      <h1>Settings</h1>
      <Show when={summaryItems().length > 0}>
        <div
          class="error-summary"
          role="alert"
          tabindex="-1"
          ref={summaryBox}
          aria-labelledby="summary-heading"
        >
          <h2 id="summary-heading">
            Settings not saved: fix {summaryItems().length === 1 ? 'this' : 'these'} first
          </h2>
          <ul>
            <For each={summaryItems()}>
              {([field, label]) => (
                <li>
                  <button
                    type="button"
                    class="link"
                    onClick={() => document.getElementById(`setting-${field}`)?.focus()}
                  >
                    <span class="field-name">{label}</span>: {props.summary[field]}
                  </button>
                </li>
              )}
            </For>
          </ul>
        </div>
      </Show>
      <form class="card settings" onSubmit={submit} novalidate>
        <fieldset>
          <legend>Encoding of new uploads</legend>
          <NumberField
            id="k"
            label="Shares needed (k)"
            hint="Any k shares rebuild the file."
            value={props.draft.k}
            error={props.errors.k}
            onInput={(k) => props.onChange({ k })}
          />
          <NumberField
            id="happy"
            label="Servers required (happy)"
            hint="An upload fails unless shares reach at least this many distinct servers."
            value={props.draft.happy}
            error={props.errors.happy}
            onInput={(happy) => props.onChange({ happy })}
          />
          <NumberField
            id="n"
            label="Total shares (N)"
            hint="Shares written in all; up to N − k servers can be lost. 1 ≤ k ≤ happy ≤ N ≤ 256."
            value={props.draft.n}
            error={props.errors.n}
            onInput={(n) => props.onChange({ n })}
          />
          <div class="field check">
            <input
              id="setting-convergence"
              type="checkbox"
              checked={props.draft.convergence}
              aria-describedby="convergence-hint"
              onChange={(e) => props.onChange({ convergence: e.currentTarget.checked })}
            />
            <label for="setting-convergence">Convergent encryption</label>
            <p id="convergence-hint" class="muted small">
              On: the same file always gets the same link and is stored once. Off: every upload gets a fresh
              random key, so nobody can tell two uploads of one file apart.
            </p>
          </div>
        </fieldset>
        <fieldset>
          <legend>Grid</legend>
          <div class="field">
            <label for="setting-gridUrl">Grid address</label>
            <input
              id="setting-gridUrl"
              type="url"
              placeholder={props.defaultGrid}
              value={props.draft.gridUrl}
              aria-invalid={props.errors.gridUrl ? 'true' : undefined}
              aria-describedby={`gridUrl-hint${props.errors.gridUrl ? ' gridUrl-error' : ''}`}
              onInput={(e) => props.onChange({ gridUrl: e.currentTarget.value })}
            />
            <p id="gridUrl-hint" class="muted small">
              Leave empty to use {props.defaultGrid}.
            </p>
            <Show when={props.errors.gridUrl}>
              <p id="gridUrl-error" class="error small">
                {props.errors.gridUrl}
              </p>
            </Show>
          </div>
          <Show when={props.draft.gridManagers.length > 0}>
            <div class="field">
              <p class="small">
                Only storage servers certified by grid manager{' '}
                <code>{props.draft.gridManagers.join(', ')}</code> are used (set when you joined this grid).
              </p>
              <button type="button" onClick={() => props.onChange({ gridManagers: [] })}>
                Use every server the grid lists
              </button>
            </div>
          </Show>
        </fieldset>
        <div class="actions">
          <button type="submit" class="primary">
            Save settings
          </button>
          <button type="button" onClick={() => props.onReset()}>
            Restore defaults
          </button>
        </div>
        <p role="status" class="status">
          {props.status}
        </p>
      </form>
    </section>
  );
}
