/**
 * Every failure a person can meet in the app, in plain words: what happened and what they
 * can do. Errors come from the grid worker as a code, the core's message (written for
 * programmers and the CLI: shares, UEB, --happy) and, where it helps, counts; this module
 * is the one place that turns them into sentences, so no page shows the core's wording.
 * The table in web/README.md lists each text and the test that shows it.
 */
import { CairnError } from '../../core/errors.ts';

/** Counts the grid worker adds to a failure, so the words can tell one cause from another. */
export interface FailureDetail {
  /** A read: pieces (shares) needed, and good ones found. */
  needed?: number;
  found?: number;
  /** Codes of what went wrong with the pieces that were found (e.g. SHARE_CORRUPT). */
  causes?: string[];
  /** An upload: servers the grid listed, servers that took part, servers required. */
  serversFound?: number;
  serversWithShares?: number;
  happy?: number;
  /** A read: servers the grid lists now, and how many of them could be reached. */
  listed?: number;
  reachable?: number;
  /** The host of the grid's relay, for messages that name it. */
  gridHost?: string;
}

/** A failure that crossed the worker boundary: code, the core's message, and counts. */
export class GridFailure extends CairnError {
  readonly detail: FailureDetail;
  constructor(code: string, message: string, detail: FailureDetail = {}) {
    super(code, message);
    this.detail = detail;
  }
}

/** What the person was doing when it failed: the same fault reads differently in each. */
export type Doing =
  | 'download'
  | 'preview'
  | 'open'
  | 'upload'
  | 'pin'
  | 'check'
  | 'save'
  | 'keep-alive'
  | 'grid';

const LEAD: Record<Doing, string> = {
  download: 'The download failed',
  preview: 'The preview could not be shown',
  open: 'This file could not be opened',
  upload: 'The upload failed',
  pin: 'The offline copy could not be saved',
  check: 'The check could not be made',
  save: 'The change was not saved',
  'keep-alive': 'It could not be kept alive',
  grid: 'The grid could not be reached',
};

const READS: ReadonlySet<Doing> = new Set(['download', 'preview', 'open', 'pin', 'check', 'keep-alive']);

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const CORRUPT = new Set(['SHARE_CORRUPT', 'CHK_INTEGRITY', 'BAD_UEB', 'UNSUPPORTED_SHARE', 'BAD_HASH']);

/** The core's code and detail of any thrown value. */
function parts(err: unknown): { code: string; message: string; detail: FailureDetail } {
  if (err instanceof GridFailure) return { code: err.code, message: err.message, detail: err.detail };
  if (err instanceof CairnError) return { code: err.code, message: err.message, detail: {} };
  if (err instanceof DOMException && err.name === 'AbortError')
    return { code: 'CANCELLED', message: '', detail: {} };
  if (err instanceof DOMException && err.name === 'QuotaExceededError')
    return { code: 'QUOTA', message: '', detail: {} };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), detail: {} };
}

/**
 * The sentence for a failure: "<what failed>: <why, plainly>. <What to do>." Never carries
 * the core's message for codes it knows; for an unknown one, says so without jargon.
 */
export function explain(doing: Doing, err: unknown): string {
  const { code, detail } = parts(err);
  const lead = LEAD[doing];
  const grid = detail.gridHost ? `the grid at ${detail.gridHost}` : 'the grid';
  const reading = READS.has(doing);
  switch (code) {
    case 'CANCELLED':
      return 'Cancelled.';
    case 'OFFLINE':
      return `${lead}: this device is offline. Connect to the internet and try again.`;
    case 'RELAY_UNAVAILABLE':
      return `${lead}: ${grid} cannot be reached, and this browser has no list of its servers from before. Check your connection and the grid address in Settings, then try again.`;
    case 'NO_SERVERS':
      if (detail.listed === 0)
        return `${lead}: ${grid} has no storage servers running. Try again when its servers are back.`;
      return reading
        ? `${lead}: none of the grid's storage servers could be reached, so the file cannot be read now. Check your connection, or try again later: the servers may be down.`
        : `${lead}: none of the grid's storage servers could be reached, so nothing was stored. Check your connection, or try again when the servers are back.`;
    case 'UNHAPPY': {
      const took = detail.serversWithShares ?? detail.serversFound;
      const need = detail.happy;
      const counts =
        took !== undefined && need !== undefined
          ? `only ${plural(took, 'storage server')} could take the file, and your settings require at least ${need}`
          : 'too few storage servers could take the file';
      return `${lead}: ${counts}. Nothing usable was stored. Try again when more servers are running, or lower “Servers required” in Settings.`;
    }
    case 'NOT_ENOUGH_SHARES': {
      const { needed, found, listed, reachable } = detail;
      const someDown = listed !== undefined && reachable !== undefined && reachable < listed;
      if ((detail.causes ?? []).some((c) => CORRUPT.has(c))) return damaged(lead);
      if (found === 0 && !someDown)
        return `${lead}: no storage server of ${grid} holds this file. The link may be mistyped or cut short, or the file may be on another grid or may have expired. Check the link with whoever sent it.`;
      if (someDown)
        return `${lead}: only ${reachable} of the grid's ${plural(listed ?? 0, 'storage server')} could be reached, and they hold too little of this file to rebuild it${needed !== undefined && found !== undefined ? ` (${found} of the ${needed} pieces needed)` : ''}. Try again when more servers are back.`;
      return `${lead}: too little of this file is left on the grid to rebuild it${needed !== undefined && found !== undefined ? ` (${found} of the ${needed} pieces needed)` : ''}. If you have the file, upload it again to store it afresh.`;
    }
    case 'CHK_INTEGRITY':
    case 'BAD_UEB':
    case 'SHARE_CORRUPT':
    case 'UNSUPPORTED_SHARE':
      return damaged(lead);
    case 'BAD_CAP':
      return `${lead}: this is not a complete Cairn link; part of it is missing or mistyped. Copy the whole link again.`;
    case 'NOT_AUTHORIZED':
      return `${lead}: this link does not allow it (a check-only link cannot read a file, a read-only link cannot change it). Ask for the right link.`;
    case 'SOURCE_CHANGED':
      return `${lead}: the file changed while it was being read. Choose it again to upload it as it is now.`;
    case 'NO_SPACE':
      return `${lead}: the storage servers are full. Try again later, or ask the grid's operator for more space.`;
    case 'TOO_LARGE': {
      const m = parts(err).message;
      return m.startsWith('Editable files')
        ? `${lead}: ${m}`
        : `${lead}: the file is too large for the storage servers of this grid.`;
    }
    case 'TIMEOUT':
    case 'CONNECTION_FAILED':
    case 'UNAVAILABLE':
      return `${lead}: the connection to the storage servers was lost or too slow. Check your connection and try again.`;
    case 'PUBLISH_FAILED':
      return `${lead}: too few storage servers took the new version. Try again when more servers are running.`;
    case 'UNCOORDINATED_WRITE':
      return `${lead}: someone else saved this file at the same moment. Reload the page to see their version, then make your change again.`;
    case 'QUOTA':
      return `${lead}: this browser has no room left to keep it. Free some space (unpin files you no longer need offline) and try again.`;
    case 'NO_PREVIEWER':
      return `${lead}: this tab cannot show previews until the page is reloaded once. Reload it and try again, or download the file.`;
    case 'PIN_GONE':
      return `${lead}: the copy kept in this browser is gone (the browser may have cleared it). Unpin and pin the file again while online.`;
    default:
      return `${lead}: something unexpected went wrong. Try again; if it keeps happening, reload the page.`;
  }
}

function damaged(lead: string): string {
  return `${lead}: what the grid holds does not match this link, so the link was changed or damaged on the way (or the stored file was). Ask whoever sent it for the link again.`;
}

/** Words no error a person meets may use: internal terms and command-line flags. */
export const JARGON =
  /\b(UEB|URI extension|shares?|happy|happiness|k=|N=|servers-of-happiness|cap)\b|--[a-z]/i;
