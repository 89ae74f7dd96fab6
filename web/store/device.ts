/**
 * What the device says about itself: whether it is online, and whether this origin's storage
 * is persistent (the browser promises not to clear it when space runs short, which keeps
 * pinned copies; it is asked for when the first file is pinned).
 */
import { createSignal } from 'solid-js';

export function createDeviceSlice() {
  const [online, setOnline] = createSignal(navigator.onLine !== false);
  const on = () => setOnline(true);
  const off = () => setOnline(false);
  window.addEventListener('online', on);
  window.addEventListener('offline', off);

  /** null: not known (yet, or the browser cannot say). */
  const [persisted, setPersisted] = createSignal<boolean | null>(null);
  void navigator.storage
    ?.persisted?.()
    .then(setPersisted)
    .catch(() => {});

  /** Asks for persistent storage unless it is already granted; resolves with the answer. */
  async function askPersistence(): Promise<boolean> {
    const storage = navigator.storage;
    if (!storage?.persist) return false;
    try {
      if (await storage.persisted()) {
        setPersisted(true);
        return true;
      }
      const granted = await storage.persist();
      setPersisted(granted);
      return granted;
    } catch {
      return false;
    }
  }

  return { online, persisted, askPersistence };
}
export type DeviceSlice = ReturnType<typeof createDeviceSlice>;
