/**
 * The Join page (`#/join/<token>`, printed by `cairn invite`): shows what the invitation
 * names — the grid's URLs and the grid managers whose certified servers alone are to be
 * used — and, when asked, makes them this browser's grid settings. Nothing in the token
 * is secret.
 */
import { createMemo, createSignal, For, Show } from 'solid-js';
import { decodeInvitation, type Invitation } from '../../../core/client/invite.ts';
import { useStore } from '../../store/index.tsx';

export default function JoinPage(props: { token: string }) {
  const { settings } = useStore();
  const parsed = createMemo((): { inv: Invitation } | { error: string } => {
    try {
      return { inv: decodeInvitation(props.token) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  });
  const [status, setStatus] = createSignal('');
  const join = (inv: Invitation) => {
    const errors = settings.save({
      ...settings.settings(),
      gridUrl: inv.grid[0],
      gridManagers: inv.gridManagers,
    });
    setStatus(
      Object.keys(errors).length === 0
        ? 'Joined: uploads and downloads now use this grid.'
        : `Could not join: ${Object.values(errors).join(' ')}`,
    );
  };
  return (
    <section aria-labelledby="join-title">
      <h1 id="join-title">Join a grid</h1>
      <Show
        when={'inv' in parsed() ? (parsed() as { inv: Invitation }).inv : undefined}
        fallback={
          <p class="error" role="alert">
            {(parsed() as { error: string }).error}
          </p>
        }
      >
        {(inv) => (
          <>
            <p>This invitation sets this browser up for a grid. It reaches the grid through:</p>
            <ul>
              <For each={inv().grid}>
                {(url) => (
                  <li>
                    <code>{url}</code>
                  </li>
                )}
              </For>
            </ul>
            <Show
              when={inv().gridManagers.length > 0}
              fallback={<p>Every storage server the grid lists will be used.</p>}
            >
              <p>Only storage servers certified by this grid manager will be used:</p>
              <ul>
                <For each={inv().gridManagers}>
                  {(id) => (
                    <li>
                      <code>{id}</code>
                    </li>
                  )}
                </For>
              </ul>
            </Show>
            <div class="actions">
              <button type="button" class="primary" onClick={() => join(inv())}>
                Join this grid
              </button>
              <a href="#/">Not now</a>
            </div>
            <p role="status" aria-live="polite">
              {status()}
            </p>
          </>
        )}
      </Show>
    </section>
  );
}
