/** The app shell: header with navigation and theme choice, and the page for the route. */
import { lazy, Match, Suspense, Switch } from 'solid-js';
import { Nav } from '../components/Nav.tsx';
import { HomePage } from '../pages/home/index.tsx';
import { StoreProvider, useStore } from '../store/index.tsx';

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
              return r.name === 'file' ? r.cap : undefined;
            })()}
            keyed
          >
            {/* keyed: another cap is another file, so its page starts afresh */}
            {(cap) => <FilePage cap={cap} />}
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
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        This link does not lead to a page of Cairn. <a href="#/">Upload a file</a> instead.
      </p>
    </section>
  );
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
    </StoreProvider>
  );
}
