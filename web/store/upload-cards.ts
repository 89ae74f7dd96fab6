/**
 * Upload cards across a reload of the tab. A reload ends every upload running in it (the
 * File handles and workers are gone), so what comes back is honest, not a resumption: each
 * card the tab showed, running ones marked interrupted (an immutable one is resumed from
 * there, through the record pending-uploads.ts keeps). The list lives in sessionStorage
 * (this tab only, gone with it) and holds names, sizes, states and error texts — never a
 * cap: a finished card finds its link in History (IndexedDB), where caps are kept.
 */

export type CardStatus = 'working' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface CardSummary {
  id: number;
  name: string;
  size: number;
  type: string;
  editable: boolean;
  status: CardStatus;
  /** The error shown on a failed card. */
  error?: string;
  /** When it was stored (the date of its History record), for finding its link again. */
  storedAt?: number;
  /** The id of its resumable record in IndexedDB (pending-uploads.ts), not a cap. */
  pending?: string;
}

const KEY = 'cairn.upload-cards';
/** More cards than this are not worth keeping across a reload. */
const MAX_CARDS = 200;

/** Pure: the cards a reloaded tab shows, from what was saved before the reload. */
export function restoreCards(saved: unknown): CardSummary[] {
  if (!Array.isArray(saved)) return [];
  const out: CardSummary[] = [];
  for (const c of saved.slice(0, MAX_CARDS)) {
    if (typeof c !== 'object' || c === null) continue;
    const r = c as Record<string, unknown>;
    if (typeof r.id !== 'number' || typeof r.name !== 'string' || typeof r.size !== 'number') continue;
    const status = r.status;
    if (!['working', 'done', 'failed', 'cancelled', 'interrupted'].includes(String(status))) continue;
    out.push({
      id: r.id,
      name: r.name,
      size: r.size,
      type: typeof r.type === 'string' ? r.type : '',
      editable: r.editable === true,
      // Nothing survives a reload half done.
      status: status === 'working' ? 'interrupted' : (status as CardStatus),
      error: typeof r.error === 'string' ? r.error : undefined,
      storedAt: typeof r.storedAt === 'number' ? r.storedAt : undefined,
      pending: typeof r.pending === 'string' ? r.pending : undefined,
    });
  }
  return out;
}

export function loadCards(): CardSummary[] {
  try {
    return restoreCards(JSON.parse(sessionStorage.getItem(KEY) ?? '[]'));
  } catch {
    return [];
  }
}

export function saveCards(cards: readonly CardSummary[]): void {
  try {
    if (cards.length === 0) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, JSON.stringify(cards.slice(0, MAX_CARDS)));
  } catch {
    // Storage refused (private mode, full): the cards just do not survive a reload.
  }
}
