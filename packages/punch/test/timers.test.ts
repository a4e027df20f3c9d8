import { Rng } from '@srmudp/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildBindingResponse, Gatherer, NatSession, tryDecodeBinding } from '../src/index.js';
import { rngRandom } from './harness.js';

const RUNS = Number(process.env.PUNCH_FUZZ_RUNS ?? 300);
/** Sans-IO invariant: after handleTimeout(now) and draining, the next timer is null or in the future. */
describe('timers always move forward (no busy driver loop)', () => {
  it('NatSession with any dial outcome, NAT knowledge, pool answer and probe hits', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'two' | 'one' | 'none'>('two', 'one', 'none'),
        fc.constantFrom('random', 'one', 'lan'),
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 12_000 }),
            fc.constantFrom('nothing', 'fail', 'connect', 'hit', 'cancel', 'lost', 'iface'),
          ),
          { maxLength: 25 },
        ),
        fc.integer({ min: 0, max: 4 }),
        (servers, remote, ops, grant) => {
          const rng = new Rng(ops.length * 31 + grant);
          const s = new NatSession(
            {
              random: rngRandom(rng),
              stunServers:
                servers === 'none'
                  ? []
                  : servers === 'one'
                    ? [{ host: '198.51.100.1', port: 3478 }]
                    : [
                        { host: '198.51.100.1', port: 3478 },
                        { host: '198.51.100.2', port: 3478 },
                      ],
              hostAddresses: [{ host: '192.168.1.10', port: 5000 }],
              birthday: { sockets: 4, maxProbes: 40, resendMs: 700 },
            },
            0,
          );
          const cands =
            remote === 'random'
              ? [
                  { host: '203.0.113.9', port: 7000 },
                  { host: '203.0.113.9', port: 7001 },
                ]
              : remote === 'one'
                ? [{ host: '203.0.113.9', port: 7000 }]
                : [{ host: '192.168.1.20', port: 5000 }];
          let now = 0;
          let id = 1;
          const probes: { to: { host: string; port: number }; tid: Uint8Array }[] = [];
          const drain = () => {
            for (let t = s.pollTransmit(now); t !== null; t = s.pollTransmit(now)) {
              const m = tryDecodeBinding(t.data);
              // the reflectors answer gathering requests (mapped: our NAT's address)
              if (t.to.host.startsWith('198.51.100.') && m !== null) {
                const res = buildBindingResponse({
                  transactionId: m.transactionId,
                  mapped: { host: '198.51.100.77', port: 5000 },
                });
                if (res !== null) s.handle(now, 0, t.to, res);
              } else if (m !== null && t.socket === 0) probes.push({ to: t.to, tid: m.transactionId });
            }
            for (let e = s.pollEvent(); e !== null; e = s.pollEvent()) {
              if (e.type === 'open_sockets') {
                const n = Math.min(grant, e.count);
                const ids = Array.from({ length: n }, () => id++);
                s.socketsOpened(
                  now,
                  e.request,
                  ids,
                  ids.map((i) => 40000 + i),
                );
              }
            }
          };
          s.dial(now, 'p', cands);
          drain();
          for (const [dt, op] of ops) {
            now += dt;
            if (op === 'fail') {
              const next = s.dialEnded(now, 'p', { connected: false, code: 'HANDSHAKE_TIMEOUT' });
              if (next.kind !== 'retry') s.dial(now, 'p', cands);
            } else if (op === 'connect') {
              s.dialEnded(now, 'p', { connected: true, remote: cands[0]! });
              s.dial(now, 'p', cands);
            } else if (op === 'hit' && probes.length > 0) {
              const p = probes[probes.length - 1]!;
              const res = buildBindingResponse({
                transactionId: p.tid,
                mapped: { host: '198.51.100.77', port: 5000 },
              });
              if (res !== null) s.handle(now, 0, p.to, res);
            } else if (op === 'cancel') {
              s.cancelDial(now, 'p');
              s.dial(now, 'p', cands);
            } else if (op === 'lost') {
              s.regather(now, 'path_lost');
            } else if (op === 'iface') {
              s.setHostAddresses(now, [{ host: `192.168.1.${10 + (dt % 3)}`, port: 5000 }]);
            }
            drain();
            // run every timer up to now, in order
            for (let k = 0; k < 10_000; k++) {
              const t = s.pollTimeout();
              if (t === null || t > now) break;
              s.handleTimeout(t);
              drain();
              const next = s.pollTimeout();
              if (next !== null) expect(next).toBeGreaterThan(t);
            }
            s.handleTimeout(now);
            drain();
            const t = s.pollTimeout();
            if (t !== null) expect(t).toBeGreaterThan(now);
          }
          s.close(now);
          expect(s.pollTimeout()).toBeNull();
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
});
