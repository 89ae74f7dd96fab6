/** Runs `cairn` inside the test's own process (cli/main.ts), for quick argument and output tests. */
import { vi } from 'vitest';
import { main } from '../../cli/main.ts';

/** `cairn ARGS` run in this process (cli/main.ts): its exit code and what it logged. */
export async function runCairnInProcess(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const e = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(args);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
