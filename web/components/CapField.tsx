/** A read-only field showing a cap or link, with a Copy button. */
import { createSignal } from 'solid-js';

let fieldCount = 0;

export function CapField(props: { label: string; value: string; copyLabel?: string }) {
  const id = `cap-field-${++fieldCount}`;
  const [copied, setCopied] = createSignal(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // Clipboard refused (permissions): select the text so the user can copy it by hand.
      (document.getElementById(id) as HTMLInputElement | null)?.select();
    }
  }
  return (
    <div class="cap-field">
      <label for={id}>{props.label}</label>
      <div class="cap-row">
        <input
          id={id}
          type="text"
          readonly
          value={props.value}
          spellcheck={false}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button
          type="button"
          onClick={copy}
          aria-label={props.copyLabel ?? `Copy ${props.label.toLowerCase()}`}
        >
          {copied() ? 'Copied' : 'Copy'}
        </button>
      </div>
    </div>
  );
}
