// The short soak of issue 11 (test/soak/soak.ts runs the 10-minute one): 100 peers with churn on
// one hub while random and mutated datagrams hit it. Nothing leaks, nothing stays, no transfer is
// corrupted, nothing is thrown. SRMUDP_SOAK_MS changes the length (CI: 45 s).
import { describe, expect, it } from 'vitest';
import { runSoak } from './soak/soak.js';

const DURATION = Number(process.env.SRMUDP_SOAK_MS ?? 45_000);

describe('soak (short version of test/soak/soak.ts)', () => {
  it('100 peers churning under random and mutated datagrams: no leak, no stuck connection, intact data', async () => {
    const r = await runSoak({
      durationMs: DURATION,
      peers: 100,
      noiseRate: 2000,
      mutateRate: 50,
      crashEveryMs: Math.min(20_000, DURATION / 2),
      log: (l) => console.log(l),
    });
    const { idleStart, loadedStart, loadedEnd, idleEnd } = r.hub;
    console.log(
      `soak ${Math.round(r.durationMs / 1000)} s: transfers ${r.peers.transfers} (${r.peers.transferFailures} ` +
        `cut by churn), connects ${r.peers.connects}, closes ${r.peers.closes}, restarts ${r.peers.restarts}, ` +
        `crashes ${r.crashes}; noise ${r.noiseSent} + mutated ${r.peers.mutated}; hub heap loaded ` +
        `${(loadedEnd.heapUsed / loadedStart.heapUsed).toFixed(2)}x, idle ${(idleEnd.heapUsed / idleStart.heapUsed).toFixed(2)}x; ` +
        `handles ${idleStart.handles} -> ${idleEnd.handles}; settled in ${r.settleMs} ms`,
    );
    expect(r.unhandled).toBe(0);
    expect(r.peers.mismatches).toBe(0);
    expect(r.peers.transfers).toBeGreaterThan(100);
    expect(r.crashes).toBeGreaterThanOrEqual(1);
    expect(r.noiseSent + (r.peers.mutated ?? 0)).toBeGreaterThan((DURATION / 1000) * 1000);
    // nothing left in any state once the peers are gone (closed, crashed, forged)
    expect(idleEnd.endpoint).toMatchObject({ connections: 0, handshaking: 0, pendingHandshakes: 0 });
    expect(idleEnd.handles).toBeLessThanOrEqual(idleStart.handles);
    // heap after GC: flat under the same load; idle, only the bounded tables filled by the noise
    expect(loadedEnd.heapUsed / loadedStart.heapUsed).toBeLessThan(1.5);
    expect(idleEnd.heapUsed / idleStart.heapUsed).toBeLessThan(2);
    expect(idleEnd.endpoint.drops.internal_error ?? 0).toBe(0);
  }, 180_000);
});
