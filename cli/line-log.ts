/**
 * Log lines stamped with their time, written together once per turn of the event loop: a
 * storage server logs two lines for every share it takes (allocate, close), and one
 * console.log each (a synchronous write to the pipe `cairn grid` reads) was a tenth of a
 * server's time for small files. Lines keep their order; what is pending is written
 * before the process exits.
 */
export interface LineLog {
  (line: string): void;
  /** Writes what is pending now (before a line printed another way, or exiting). */
  flush(): void;
}

export function lineLog(write: (text: string) => void = (t) => process.stdout.write(t)): LineLog {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    write(text);
  };
  const log = ((line: string) => {
    pending.push(`${new Date().toISOString()} ${line}\n`);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  }) as LineLog;
  log.flush = flush;
  atExit.add(flush);
  return log;
}

/** Every log's flush, run once as the process exits (one listener however many logs). */
const atExit = new Set<() => void>();
process.once('exit', () => {
  for (const flush of atExit) flush();
});
