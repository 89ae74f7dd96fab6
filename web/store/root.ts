/**
 * "My files": this browser's root directory. Its write cap lives in IndexedDB (never in
 * localStorage, never sent); the first visit to My files creates it. Settings can show it
 * (to move to another browser or device) and replace it with another root's write cap.
 */
import { createStore, del, get, set } from 'idb-keyval';
import { describeCap } from '../../core/client/cap-info.ts';
import { CairnError } from '../../core/errors.ts';
import { createDirectory } from './client.ts';
import type { Settings } from './settings.ts';

const db = () => createStore('cairn-root', 'root');
const KEY = 'root-dir-v1';

export async function readRootCap(): Promise<string | null> {
  return (await get<string>(KEY, db())) ?? null;
}

let creating: Promise<string> | null = null;

/** The root directory's write cap, made on first use (once, even if asked twice at once). */
export async function ensureRootCap(settings: Settings): Promise<string> {
  const known = await readRootCap();
  if (known) return known;
  creating ??= (async () => {
    const cap = await createDirectory(settings);
    await set(KEY, cap, db());
    return cap;
  })().finally(() => {
    creating = null;
  });
  return creating;
}

/** Makes `cap` this browser's root; it must be a writable directory cap. */
export async function importRootCap(text: string): Promise<string> {
  let info: ReturnType<typeof describeCap>;
  try {
    info = describeCap(text);
  } catch {
    throw new CairnError(
      'BAD_CAP',
      'That is not a folder link or cap. Paste the whole "My files" link or cap.',
    );
  }
  if (info.kind !== 'directory' || !info.writable) {
    throw new CairnError(
      'NOT_AUTHORIZED',
      'That is not the writable link of a folder: "My files" needs the private link shown in Settings of the other browser.',
    );
  }
  await set(KEY, info.cap, db());
  return info.cap;
}

export async function forgetRootCap(): Promise<void> {
  await del(KEY, db());
}
