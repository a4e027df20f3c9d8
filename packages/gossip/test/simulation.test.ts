// The churn experiment of the README at CI size: 20 and 100 members, 20 % replaced while 50
// messages are broadcast, 10–50 ms latency, 1 % loss. The 1,000-member run is
// `pnpm --filter @srmudp/gossip figures` (about a minute and a half; figures in the README).
import { describe, expect, it } from 'vitest';
import { seeded } from './helpers.js';
import { runScenario } from './sim/scenario.js';

describe.each([
  { members: 20, seed: 'sim-20' },
  { members: 100, seed: 'sim-100' },
])('$members members, 20 % churn', ({ members, seed }) => {
  it('delivers every message to every live member, with bounded redundancy and connections', {
    timeout: 120_000,
  }, () => {
    const r = runScenario({
      seed,
      members,
      churn: 0.2,
      messages: 50,
      net: { sharedVerifyCache: true, loss: 0.01 },
    });
    expect(r.replaced).toBe(members / 5);
    expect(r.missing, seeded(seed, 'undelivered (member, message)')).toEqual([]);
    expect(r.delivered).toBe(r.expected);
    expect(r.expected).toBeGreaterThan(50 * (members - 1) * 0.75);
    expect(r.duplicateDeliveries).toBe(0);
    expect(r.connMax, seeded(seed, 'connections per member')).toBeLessThanOrEqual(r.connLimit);
    expect(r.connLimit).toBe(5 + 2);
    // flooding over ~4.7 neighbours would be RMR ≈ 3.7
    expect(r.rmr, seeded(seed, 'RMR')).toBeLessThan(1);
    expect(r.components, seeded(seed, 'one overlay')).toBe(1);
    expect(r.penalties, seeded(seed, 'honest members never penalise each other')).toBe(0);
  });
});
