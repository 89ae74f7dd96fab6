/** A check's result in words for the Health panel (pure, so tests can read it). */
import type { CheckResult } from '../../core/check/results.ts';

export interface HealthText {
  /** One line: where things stand. */
  headline: string;
  /** healthy | degraded (readable, should be repaired) | lost (cannot be read). */
  state: 'healthy' | 'degraded' | 'lost';
  details: string[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function standing(r: CheckResult): { headline: string; state: HealthText['state'] } {
  if (r.kind === 'literal') {
    return {
      headline: 'This file lives entirely inside its link: there is nothing on the grid to lose.',
      state: 'healthy',
    };
  }
  const where = `${plural(r.distinctGoodShares, 'share')} of ${r.total} on ${plural(r.serversWithShares, 'server')}`;
  if (r.healthy) return { headline: `${where} — healthy`, state: 'healthy' };
  if (r.recoverable) return { headline: `${where} — readable, but it should be repaired`, state: 'degraded' };
  return {
    headline: `${where} — the file cannot be read: ${r.needed} are needed`,
    state: 'lost',
  };
}

export function healthText(r: CheckResult): HealthText {
  const now = r.repair?.after ?? r;
  const { headline, state } = standing(now);
  const details: string[] = [];
  if (r.verified) details.push('Every byte of every share was read and checked.');
  if (r.corrupt.length > 0) {
    details.push(
      `${plural(r.corrupt.length, 'damaged share')} found and reported to ${r.corrupt.length === 1 ? 'its server' : 'their servers'}.`,
    );
  }
  if (r.serversNotAnswering > 0) details.push(`${plural(r.serversNotAnswering, 'server')} did not answer.`);
  if (r.uncoordinated) details.push('Two edits were saved at the same moment; saving again settles it.');
  if (r.repair) {
    const written = r.repair.written.reduce((a, w) => a + w.shares.length, 0);
    if (!r.repair.attempted) details.push(`Not repaired: ${r.repair.error ?? 'repair was not possible'}.`);
    else if (r.repair.error) details.push(`The repair failed: ${r.repair.error}.`);
    else
      details.push(
        `Repaired: ${plural(written, 'new share')} stored on ${plural(r.repair.written.length, 'server')}.`,
      );
  }
  if (r.leasesRenewed !== undefined) details.push(`Kept alive on ${plural(r.leasesRenewed, 'server')}.`);
  return { headline, state, details };
}
