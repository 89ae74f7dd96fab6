/**
 * A read-only field showing a cap or link, with Copy; for links, also the platform's share
 * sheet (where the browser has one) and a QR code to open it on another device.
 */
import { createSignal, Show } from 'solid-js';
import { QrCode } from './QrCode.tsx';

let fieldCount = 0;

/** The browser's share sheet (navigator.share), where there is one. */
const canShare = () => typeof navigator.share === 'function';

export function CapField(props: {
  label: string;
  value: string;
  copyLabel?: string;
  /** A link to share: adds Share… (platform sheet) and QR code. `shareTitle` names what it opens. */
  share?: { title: string };
}) {
  const id = `cap-field-${++fieldCount}`;
  const [copied, setCopied] = createSignal(false);
  const [qr, setQr] = createSignal(false);
  const [note, setNote] = createSignal('');
  async function copy() {
    setNote('');
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // Clipboard refused (permissions): select the text so the user can copy it by hand.
      (document.getElementById(id) as HTMLInputElement | null)?.select();
      setNote('Copying was not allowed here: the link is selected, copy it with your keyboard or menu.');
    }
  }
  async function share() {
    setNote('');
    try {
      await navigator.share({ title: props.share?.title, url: props.value });
    } catch (err) {
      // Closing the sheet is not a failure.
      if (err instanceof DOMException && err.name === 'AbortError') return;
      setNote('This browser could not open its share sheet: use Copy instead.');
    }
  }
  const what = () => props.label.toLowerCase();
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
        <button type="button" onClick={copy} aria-label={props.copyLabel ?? `Copy ${what()}`}>
          Copy
        </button>
        <Show when={props.share && canShare()}>
          <button type="button" onClick={share} aria-label={`Share… ${props.share?.title ?? ''}`.trim()}>
            Share…
          </button>
        </Show>
        <Show when={props.share}>
          <button
            type="button"
            aria-expanded={qr() ? 'true' : 'false'}
            aria-controls={`${id}-qr`}
            aria-label={`QR code of the ${what()} to ${props.share?.title ?? 'this file'}`}
            onClick={() => setQr(!qr())}
          >
            QR code
          </button>
        </Show>
      </div>
      <p class="muted small field-note" aria-live="polite">
        {copied() ? 'Copied.' : note()}
      </p>
      <Show when={props.share && qr()}>
        <figure class="qr-box" id={`${id}-qr`}>
          <QrCode
            value={props.value}
            label={`QR code of the ${what()} to ${props.share?.title ?? 'this file'}`}
          />
          <figcaption class="muted small">
            Scan it to open the link on another device. Whoever scans it can read the file.
          </figcaption>
        </figure>
      </Show>
    </div>
  );
}
