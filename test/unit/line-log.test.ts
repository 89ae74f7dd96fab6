import { describe, expect, it } from 'vitest';
import { lineLog } from '../../cli/line-log.ts';

describe('lineLog', () => {
  it('writes the lines of one turn together, in order, each stamped with its time', async () => {
    const writes: string[] = [];
    const log = lineLog((t) => writes.push(t));
    log('allocate si=aaaa');
    log('close si=aaaa');
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z allocate si=aaaa\n\S+Z close si=aaaa\n$/);
    log('third');
    log.flush(); // before a line printed another way
    expect(writes).toHaveLength(2);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(2);
  });
});
