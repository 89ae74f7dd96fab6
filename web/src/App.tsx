/** The app shell: header with navigation and theme choice, and the page for the route. */
import { createEffect, createSignal, lazy, Match, onCleanup, Show, Suspense, Switch } from 'solid-js';
import { droppedHandles } from '../components/dropped-handles.ts';
import { Nav } from '../components/Nav.tsx';
import { usePageTitle } from '../components/title.ts';
import { HomePage } from '../pages/home/index.tsx';
import { StoreProvider, useStore } from '../store/index.tsx';
import { routeTitle } from '../store/router.ts';

const FilePage = lazy(() => import('../pages/file/index.tsx'));
const SettingsPage = lazy(() => import('../pages/settings/index.tsx'));
const HistoryPage = lazy(() => import('../pages/history/index.tsx'));
const GridPage = lazy(() => import('../pages/grid/index.tsx'));
const DirPage = lazy(() => import('../pages/dir/index.tsx'));
const JoinPage = lazy(() => import('../pages/join/index.tsx'));

function Routes() {
  const { router } = useStore();
  const route = router.route;
  return (
    <main id="main" tabindex="-1">
      <Suspense fallback={<p class="muted">Loading…</p>}>
        <Switch fallback={<NotFound />}>
          <Match when={route().name === 'home'}>
            <HomePage />
          </Match>
          <Match
            when={(() => {
              const r = route();
              return r.name === 'file' ? r : undefined;
            })()}
            keyed
          >
            {/* keyed: another cap (or another name for it) is another page, which starts afresh */}
            {(r) => <FilePage cap={r.cap} hint={r.hint} />}
          </Match>
          <Match
            when={(() => {
              const r = route();
              return r.name === 'dir'
                ? r
                : r.name === 'files'
                  ? { cap: null, path: [] as string[] }
                  : undefined;
            })()}
            keyed
          >
            {(r) => <DirPage cap={r.cap} path={r.path ?? []} />}
          </Match>
          <Match when={route().name === 'settings'}>
            <SettingsPage />
          </Match>
          <Match when={route().name === 'history'}>
            <HistoryPage />
          </Match>
          <Match when={route().name === 'grid'}>
            <GridPage />
          </Match>
          <Match
            when={(() => {
              const r = route();
              return r.name === 'join' ? r.token : undefined;
            })()}
            keyed
          >
            {(token) => <JoinPage token={token} />}
          </Match>
        </Switch>
      </Suspense>
    </main>
  );
}

function NotFound() {
  usePageTitle(() => routeTitle({ name: 'not-found' }));
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        This link does not lead to a page of Cairn. <a href="#/">Upload a file</a> instead.
      </p>
    </section>
  );
}

/** A drag that carries files (not text or a link from the page itself). */
const carriesFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');

/**
 * Files dropped anywhere in the window are the app's: the browser would otherwise open the
 * file in the tab and leave the app (losing running uploads). A drop uploads them and shows
 * the Upload page, unless the device is offline; while files are dragged over the window,
 * the Upload page's drop zone lights up, and other pages show where they will go.
 */
function WindowDrop() {
  const { uploads, router, device } = useStore();
  const [dragging, setDragging] = createSignal(false);
  let depth = 0;
  const enter = (e: DragEvent) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth++;
    setDragging(true);
  };
  const over = (e: DragEvent) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = device.online() ? 'copy' : 'none';
  };
  const leave = (e: DragEvent) => {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    // Leaving the window (no element entered next) ends the drag here.
    if (depth === 0 || e.relatedTarget === null) {
      depth = 0;
      setDragging(false);
    }
  };
  const drop = (e: DragEvent) => {
    if (!carriesFiles(e)) return;
    depth = 0;
    setDragging(false);
    // A folder page's own drop zone took these files into the folder.
    if (e.defaultPrevented) return;
    e.preventDefault();
    const handles = droppedHandles(e.dataTransfer ?? null);
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length === 0 || !device.online()) return;
    uploads.add(files, {
      editable: uploads.editable(),
      handles: handles.length === files.length ? handles : undefined,
    });
    if (router.route().name !== 'home') router.navigate({ name: 'home' });
  };
  window.addEventListener('dragenter', enter);
  window.addEventListener('dragover', over);
  window.addEventListener('dragleave', leave);
  window.addEventListener('drop', drop);
  onCleanup(() => {
    window.removeEventListener('dragenter', enter);
    window.removeEventListener('dragover', over);
    window.removeEventListener('dragleave', leave);
    window.removeEventListener('drop', drop);
  });
  const onHome = () => router.route().name === 'home';
  // The drop zone reads this class to light up wherever in the window the files are.
  createEffect(() => document.documentElement.classList.toggle('dragging-files', dragging()));
  return (
    <Show when={dragging() && !onHome()}>
      <div class="drop-overlay" aria-hidden="true">
        <p>{device.online() ? 'Drop the files to upload them' : 'Offline: files cannot be uploaded now'}</p>
      </div>
    </Show>
  );
}

/** Asks before the tab is closed or reloaded while uploads run (they would be lost). */
function LeaveGuard() {
  const { uploads } = useStore();
  const guard = (e: BeforeUnloadEvent) => {
    if (uploads.active() === 0) return;
    e.preventDefault();
    // Older browsers show the dialog only when returnValue is set.
    e.returnValue = '';
  };
  window.addEventListener('beforeunload', guard);
  onCleanup(() => window.removeEventListener('beforeunload', guard));
  return null;
}

export function App() {
  return (
    <StoreProvider>
      {/* A button, not a #main link: the fragment is the router's (and holds caps). */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <Nav />
      <Routes />
      <WindowDrop />
      <LeaveGuard />
    </StoreProvider>
  );
}
