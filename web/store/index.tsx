/**
 * The app's store, assembled from slices (solid-realworld style): one Provider, read by
 * pages through useStore(). Pages reach the grid only through the client facade.
 */
import { createContext, type ParentProps, useContext } from 'solid-js';
import { createDeviceSlice, type DeviceSlice } from './device.ts';
import { createGridSlice, type GridSlice } from './grid.ts';
import { createHistorySlice, type HistorySlice } from './history.ts';
import { createRouter, type Router } from './router.ts';
import { createSettingsSlice, currentGrid, type SettingsSlice } from './settings.ts';
import { createThemeSlice, type ThemeSlice } from './theme.ts';
import { createUploadsSlice, type UploadsSlice } from './uploads.ts';

export interface Store {
  router: Router;
  settings: SettingsSlice;
  theme: ThemeSlice;
  history: HistorySlice;
  uploads: UploadsSlice;
  grid: GridSlice;
  device: DeviceSlice;
}

const StoreContext = createContext<Store>();

export function StoreProvider(props: ParentProps) {
  const settings = createSettingsSlice();
  const history = createHistorySlice();
  const device = createDeviceSlice();
  const store: Store = {
    router: createRouter(),
    settings,
    theme: createThemeSlice(),
    history,
    uploads: createUploadsSlice(settings, history),
    grid: createGridSlice(() => currentGrid(settings.settings())),
    device,
  };
  void history.load().then(() => {
    // Pinned copies are why storage should be persistent: ask again if it is not (yet).
    if (history.state.records.some((r) => r.pinned)) void device.askPersistence();
  });
  // Uploads an earlier visit left unfinished come back as cards to resume.
  void store.uploads.restore();
  return <StoreContext.Provider value={store}>{props.children}</StoreContext.Provider>;
}

export function useStore(): Store {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useStore outside StoreProvider');
  return store;
}
