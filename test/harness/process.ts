/** Whether process `pid` exists (signal 0 asks without sending one). No vitest import: e2e uses it too. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
