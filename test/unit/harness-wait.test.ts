/** The shared wait helper (test/harness/wait.ts): returns what the condition found, or fails clearly in time. */
import { describe, expect, it } from 'vitest';
import { WaitTimeoutError, waitFor } from '../harness/wait.ts';

describe('waitFor', () => {
  it('returns the first truthy value, checking until it comes', async () => {
    let checks = 0;
    const got = await waitFor(() => (++checks === 3 ? { found: checks } : undefined), {
      what: 'the third check',
      intervalMs: 1,
    });
    expect(got).toEqual({ found: 3 });
    expect(checks).toBe(3);
  });

  it('fails after its timeout, naming what it waited for and the state it saw', async () => {
    const started = Date.now();
    const err = await waitFor(() => false, {
      what: 'a condition that never holds',
      timeoutMs: 100,
      intervalMs: 10,
      detail: () => 'the count was 7',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err.message).toBe(
      'timed out after 100 ms waiting for a condition that never holds (the count was 7)',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it("reports the last check's error, and forgets it once a check stops throwing", async () => {
    const thrown = await waitFor(
      () => {
        throw new Error('ENOENT: no such folder');
      },
      { what: 'a folder', timeoutMs: 50, intervalMs: 5 },
    ).catch((e) => e);
    expect(thrown.message).toMatch(/waiting for a folder \(the last check threw: ENOENT: no such folder\)$/);
    let checks = 0;
    const recovered = await waitFor(
      () => {
        if (++checks === 1) throw new Error('first only');
        return false;
      },
      { what: 'nothing', timeoutMs: 50, intervalMs: 5 },
    ).catch((e) => e);
    expect(recovered.message).toBe('timed out after 50 ms waiting for nothing');
  });

  it('is bounded even when a check never settles', async () => {
    const err = await waitFor(() => new Promise<boolean>(() => {}), {
      what: 'a check that hangs',
      timeoutMs: 100,
    }).catch((e) => e);
    expect(err.message).toBe(
      'timed out after 100 ms waiting for a check that hangs (the last check never finished)',
    );
  });
});
