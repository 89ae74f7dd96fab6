/**
 * The worker thread of the disk backend's group commit (disk-committer.ts), as the source
 * text of plain JavaScript: the server runs from a one-file bundle, so the worker cannot be a
 * module file of its own and is started with `new Worker(source, { eval: true })`.
 *
 * One message per batch each way, one batch at a time: in, the jobs (their containers'
 * buffers transferred); out, one reply per job, in job order. Synchronous file calls, which
 * cost a few µs each where fs.promises costs the event loop ~40 µs a call plus a thread-pool
 * hand-off; only the fsyncs go through the thread pool, a few at once (see fsync below).
 *
 * A batch goes in three steps, so each changed folder is fsynced once however many of the
 * batch's shares changed it:
 *  1. each container is written under incoming/ and fsynced (its data durable before any
 *     name points at it);
 *  2. each share's storage-index folder is made and the file renamed into it; a folder that
 *     was there already is answered 'exists' (the backend places that share the careful way,
 *     since only a folder this commit made is known to hold no share of the other kind);
 *  3. every folder whose listing changed is fsynced: each share's folder (after its rename),
 *     and the parent of each folder made (so a new folder does not vanish with its share).
 * Only then does the reply go, so a commit resolves only once its share is durable in place;
 * a crash before leaves at most a whole file under incoming/ (deleted at start) or the whole
 * share. A share whose step fails is answered with its fs error (errno code, call, path), its
 * incoming file removed; the other shares of the batch go on.
 */

/** One share to write whole and place (the message's element). */
export interface WholeShareJob {
  /** Where the container is written first (must not exist). */
  tmp: string;
  /** The storage index's folder, made by this job or else left alone. */
  dir: string;
  /** The share's final path, in `dir`. */
  final: string;
  /** The whole container, in a buffer of its own: it is moved to the worker, not copied. */
  bytes: Uint8Array;
}

/** 'done': durable and visible; 'exists': `dir` was there already (the file is durable at `tmp`). */
export type WholeShareOutcome = 'done' | 'exists';

/** An fs error as it crosses to the main thread. */
export interface FsErrorReply {
  code: string;
  message: string;
  syscall?: string;
  path?: string;
}

/** The reply for one job. */
export type WholeShareReply = { ok: WholeShareOutcome } | FsErrorReply;

export const COMMIT_WORKER_SOURCE = `
// Not require: the worker inherits the process's flags, and under --input-type=module its
// source is a module, where require is not defined.
const { parentPort } = process.getBuiltinModule('node:worker_threads');
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

const failed = (e) => ({
  code: (e && e.code) || 'EIO',
  message: String((e && e.message) || e),
  syscall: e && e.syscall,
  path: e && e.path,
});

// The folders whose listing changed when mkdir made 'first' and the folders below it down to
// 'dir': the parent of each folder made.
const madeParents = (dir, first) => {
  const out = [];
  for (let d = dir; ; d = path.dirname(d)) {
    out.push(path.dirname(d));
    if (d === first || d === path.dirname(d)) return out;
  }
};

// fsync through the thread pool, which runs several at once: the file system commits them
// together, where one after another each waits for a journal commit of its own (a batch of
// files took about half the time, for no more CPU).
const fsync = (fd) => new Promise((resolve) => fs.fsync(fd, (e) => resolve(e ? failed(e) : null)));

// The thread pool's threads (libuv's default): more fsyncs at once would only queue there,
// ahead of the main thread's reads.
const LANES = 4;

// fn (which never throws) over every item, at most LANES at a time; the results in order.
const inLanes = async (items, fn) => {
  const out = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LANES, items.length) }, lane));
  return out;
};

// Step 1: null, or the error (the file removed, unless it was someone else's).
const writeDurably = async (j) => {
  let fd;
  try {
    fd = fs.openSync(j.tmp, 'wx', 0o600); // the mode the backend gives every share file
  } catch (e) {
    return failed(e); // its name was taken: not ours to remove
  }
  let err = null;
  try {
    for (let at = 0; at < j.bytes.length; ) at += fs.writeSync(fd, j.bytes, at, j.bytes.length - at);
  } catch (e) {
    err = failed(e);
  }
  if (!err) err = await fsync(fd);
  try {
    fs.closeSync(fd);
  } catch (e) {
    err = err || failed(e);
  }
  if (err) try { fs.unlinkSync(j.tmp); } catch {}
  return err;
};

// Step 2: 'exists', or 'done' once renamed (throws an fs error). The parents of folders
// made go into 'dirs' at once: another share of the batch may be placed under them.
const place = (j, dirs) => {
  const first = fs.mkdirSync(j.dir, { recursive: true });
  if (first === undefined) return 'exists';
  for (const d of madeParents(j.dir, first)) dirs.add(d);
  try {
    fs.renameSync(j.tmp, j.final);
  } catch (e) {
    // Emptied and removed meanwhile by a delete of the same storage index: once more.
    if (e.code !== 'ENOENT') throw e;
    const again = fs.mkdirSync(j.dir, { recursive: true });
    if (again !== undefined) for (const d of madeParents(j.dir, again)) dirs.add(d);
    fs.renameSync(j.tmp, j.final);
  }
  dirs.add(j.dir);
  return 'done';
};

// null, or the error.
const syncDir = async (dir) => {
  let fd;
  try {
    fd = fs.openSync(dir, 'r');
  } catch (e) {
    return failed(e);
  }
  const err = await fsync(fd);
  try {
    fs.closeSync(fd);
  } catch (e) {
    return err || failed(e);
  }
  return err;
};

// A failed folder fsync fails every placed share at or below it: its durability hung on it.
const dirFailure = (dir, dirErrors) => {
  for (let d = dir; ; d = path.dirname(d)) {
    const e = dirErrors.get(d);
    if (e || d === path.dirname(d)) return e;
  }
};

const runBatch = async (jobs) => {
  const replies = await inLanes(jobs, writeDurably);
  const dirs = new Set();
  for (let i = 0; i < jobs.length; i++) {
    if (replies[i]) continue;
    try {
      replies[i] = { ok: place(jobs[i], dirs) };
    } catch (e) {
      replies[i] = failed(e);
      try { fs.unlinkSync(jobs[i].tmp); } catch {}
    }
  }
  // In lanes too: no order among them matters, their shares' data being durable already.
  const order = [...dirs];
  const dirErrors = new Map();
  for (const [i, err] of (await inLanes(order, syncDir)).entries()) if (err) dirErrors.set(order[i], err);
  if (dirErrors.size > 0) {
    for (let i = 0; i < jobs.length; i++) {
      if (replies[i].ok === 'done') replies[i] = dirFailure(jobs[i].dir, dirErrors) || replies[i];
    }
  }
  return replies;
};

parentPort.on('message', async (jobs) => {
  let replies;
  try {
    replies = await runBatch(jobs);
  } catch (e) {
    // Not an fs error of one share (none is expected): the batch fails whole, the worker lives.
    replies = jobs.map(() => failed(e));
  }
  parentPort.postMessage(replies);
});
`;
