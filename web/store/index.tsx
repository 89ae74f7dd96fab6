/**
 * The app's store, assembled from slices (solid-realworld style): one Provider, read by
 * pages through useStore(). Pages reach the grid only through the client facade.
 */
import { createContext, type ParentProps, useContext } from 'solid-js';
import { createGridSlice, type GridSlice } from './grid.ts';
import { createHistorySlice, type HistorySlice } from './history.ts';
import { createRouter, type Router } from './router.ts';
import { createSettingsSlice, type SettingsSlice } from './settings.ts';
import { createThemeSlice, type ThemeSlice } from './theme.ts';
import { createUploadsSlice, type UploadsSlice } from './uploads.ts';

export interface Store {
  router: Router;
  settings: SettingsSlice;
  theme: ThemeSlice;
  history: HistorySlice;
  uploads: UploadsSlice;
  grid: GridSlice;
}

const StoreContext = createContext<Store>();

export function StoreProvider(props: ParentProps) {
  const settings = createSettingsSlice();
  const history = createHistorySlice();
  const store: Store = {
    router: createRouter(),
    settings,
    theme: createThemeSlice(),
    history,
    uploads: createUploadsSlice(settings, history),
    grid: createGridSlice(settings),
  };
  void history.load();
  // Uploads an earlier visit left unfinished come back as cards to resume.
  void store.uploads.restore();
  return <StoreContext.Provider value={store}>{props.children}</StoreContext.Provider>;
}

export function useStore(): Store {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useStore outside StoreProvider');
  return store;
}
