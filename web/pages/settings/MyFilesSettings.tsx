/**
 * "My files" in Settings: the private link of this browser's root folder (to open it on
 * another browser or device), and taking over a root from another browser by its link.
 */
import { createResource, createSignal, Show } from 'solid-js';
import { CapField } from '../../components/CapField.tsx';
import { importRootCap, readRootCap } from '../../store/root.ts';
import { dirLink } from '../../store/router.ts';

export function MyFilesSettings() {
  const [root, { refetch }] = createResource(readRootCap);
  const [text, setText] = createSignal('');
  const [status, setStatus] = createSignal('');
  const [error, setError] = createSignal('');
  return (
    <section class="my-files-settings" aria-labelledby="my-files-heading">
      <h2 id="my-files-heading">My files</h2>
      <Show
        when={root()}
        fallback={<p class="muted">This browser has no “My files” folder yet: opening My files makes one.</p>}
      >
        {(cap) => (
          <>
            <p class="muted small">
              This private link opens your “My files” folder with full control. Keep it secret; use it to open
              your files in another browser or on another device.
            </p>
            <CapField
              label="My files link"
              value={dirLink(location.origin, location.pathname, cap())}
              copyLabel="Copy My files link"
            />
            <CapField label="My files cap" value={cap()} />
          </>
        )}
      </Show>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setError('');
          setStatus('');
          try {
            // A whole link works as well as a bare cap.
            const t = text().trim();
            const cap = t.includes('#/dir/') ? decodeURIComponent(t.split('#/dir/')[1].split('/')[0]) : t;
            await importRootCap(cap);
            setText('');
            setStatus('This browser now uses that folder as My files.');
            await refetch();
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          }
        }}
      >
        <label for="import-root">Use another browser's My files</label>
        <input
          id="import-root"
          type="text"
          spellcheck={false}
          value={text()}
          aria-invalid={error() ? 'true' : undefined}
          onInput={(e) => setText(e.currentTarget.value)}
        />
        <button type="submit" disabled={text().trim() === ''}>
          Use this folder
        </button>
      </form>
      <p role="status" class="muted small">
        {status()}
      </p>
      <Show when={error()}>
        <p role="alert" class="error">
          {error()}
        </p>
      </Show>
    </section>
  );
}
