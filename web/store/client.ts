/**
 * The one gateway from the page to the grid: every upload and download runs in a web
 * worker (which opens its own WebSocket connections), so file bytes never pass through
 * the main thread and pages never touch a transport.
 */
import { parseCap } from '../../core/caps/immutable.ts';
import { CairnError } from '../../core/errors.ts';
import type { Settings } from './settings.ts';

export interface UploadParams {
  k: number;
  happy: number;
  n: number;
  convergence: boolean;
  /** WebSocket URL of the grid (relay). */
  grid: string;
}

export interface UploadProgress {
  /** Plaintext bytes encrypted and erasure-coded so far. */
  encoded: number;
  /** Plaintext bytes whose shares every placed server has acknowledged. */
  acked: number;
}

export interface UploadOutcome {
  readCap: string;
  verifyCap: string;
}

/** Thrown when a part of the upload/download engine is missing from this build. */
export class NotBuiltError extends CairnError {
  constructor(what: string) {
    super('NOT_BUILT', `${what} is not available in this build of Cairn yet.`);
  }
}

export class CancelledError extends CairnError {
  constructor() {
    super('CANCELLED', 'Cancelled.');
  }
}

export async function uploadFile(
  _file: File,
  _params: UploadParams,
  _onProgress: (p: UploadProgress) => void,
  signal: AbortSignal,
): Promise<UploadOutcome> {
  if (signal.aborted) throw new CancelledError();
  throw new NotBuiltError('Uploading (CHK encoder and grid uploader)');
}

/** Reads byte ranges of one file (end inclusive), each as a stream of verified plaintext. */
export interface FileReader {
  size: number;
  read(start: number, end: number, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

function bytesStream(data: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (data.length > 0) controller.enqueue(data.slice());
      controller.close();
    },
  });
}

/** Opens a read cap for reading. LIT caps carry their bytes; CHK caps read from the grid. */
export async function openReader(cap: string, _settings: Settings): Promise<FileReader> {
  const parsed = parseCap(cap);
  if (parsed.kind === 'lit') {
    const data = parsed.data;
    return { size: data.length, read: async (start, end) => bytesStream(data.subarray(start, end + 1)) };
  }
  if (parsed.kind === 'chk-verifier') {
    throw new CairnError(
      'VERIFY_CAP',
      'This is a verify cap: it can check the file is intact but cannot read it.',
    );
  }
  throw new NotBuiltError('Downloading from the grid (grid downloader)');
}

/** The whole file as one stream. */
export async function downloadStream(
  cap: string,
  settings: Settings,
): Promise<{ size: number; stream: ReadableStream<Uint8Array> }> {
  const reader = await openReader(cap, settings);
  return { size: reader.size, stream: await reader.read(0, reader.size - 1) };
}
