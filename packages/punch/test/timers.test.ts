import { Rng } from '@srmudp/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Gatherer, Keepalive, type MappingBehavior, makeCandidate, Puncher } from '../src/index.js';
import { rngRandom } from './harness.js';

const RUNS = Number(process.env.PUNCH_FUZZ_RUNS ?? 300);
const mapping = fc.constantFrom<MappingBehavior>('open', 'consistent', 'random', 'unknown');
const filtering = fc.constantFrom(
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
  'unknown' as const,
);

/** Sans-IO invariant: after handleTimeout(now) and draining, the next timer is null or in the future. */
describe('timers always move forward (no busy driver loop)', () => {
  it('Puncher with any NAT combination, budget and success pattern', () => {
    fc.assert(
      fc.property(
        mapping,
        mapping,
        filtering,
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 40 }),
        fc.boolean(),
        (lm, rm, rf, pacingMs, maxProbes, successes, declineSome) => {
          let n = 0;
          const p = new Puncher({
            random: rngRandom(new Rng(pacingMs * 100 + maxProbes)),
            controlling: true,
            localCandidates: [makeCandidate('host', { host: '192.168.1.10', port: 5000 })],
            remoteCandidates: [
              makeCandidate('host', { host: '192.168.1.20', port: 5000 }),
              makeCandidate('srflx', { host: '198.51.100.20', port: 5000 }),
            ],
            localNat: { mapping: lm, filtering: 'address-and-port-dependent' },
            remoteNat: { mapping: rm, filtering: rf },
            pacingMs,
            settleMs: 300,
            timeoutMs: 2000,
            birthdayTimeoutMs: 3000,
            birthday: { maxProbes, sockets: 4, resendMs: 500 },
            probeFactory: () => (declineSome && n++ % 3 === 0 ? null : new Uint8Array(1)),
          });
          p.start(0);
          let now = 0;
          let k = 0;
          for (let step = 0; step < 5000; step++) {
            while (p.pollTransmit(now) !== null);
            while (p.pollEvent() !== null);
            const t = p.pollTimeout();
            if (t === null) break;
            expect(t).toBeGreaterThan(now);
            now = t;
            p.handleTimeout(now);
            const s = successes[k++ % Math.max(1, successes.length)];
            if (successes.length > 0 && step % 7 === 0 && s !== undefined && s > 0) {
              p.authenticated(now, { host: '198.51.100.20', port: 5000 + s }, 0);
            }
          }
          expect(p.pollTimeout()).toBeNull(); // always ends: completed or failed
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('Gatherer with reflectors that answer or not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.integer(), (reflectors, seed) => {
        const g = new Gatherer({
          random: rngRandom(new Rng(seed)),
          hostAddresses: [{ host: '192.168.1.10', port: 5000 }],
          reflectors: Array.from({ length: reflectors }, (_, i) => ({
            host: `203.0.113.${i + 1}`,
            port: 3478,
          })),
        });
        g.start(0);
        let now = 0;
        for (let step = 0; step < 1000; step++) {
          while (g.pollTransmit(now) !== null);
          while (g.pollEvent() !== null);
          const t = g.pollTimeout();
          if (t === null) break;
          expect(t).toBeGreaterThan(now);
          now = t;
          g.handleTimeout(now);
        }
        expect(g.pollTimeout()).toBeNull();
        expect(g.state).toBe(reflectors === 0 ? 'done' : 'failed');
      }),
      { numRuns: Math.min(RUNS, 100) },
    );
  });

  it('Keepalive with arbitrary traffic', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40_000 }), fc.boolean(), fc.boolean()), {
          maxLength: 30,
        }),
        (ops) => {
          const k = new Keepalive(0);
          let now = 0;
          for (const [dt, send, recv] of ops) {
            now += dt;
            if (send) k.onSend(now);
            if (recv) k.onReceive(now);
            k.handleTimeout(now);
            while (k.pollEvent() !== null);
            const t = k.pollTimeout();
            if (t !== null) expect(t).toBeGreaterThan(now);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
