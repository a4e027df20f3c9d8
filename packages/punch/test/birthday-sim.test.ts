import { natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { birthdayHitProbability } from '../src/index.js';
import { gatherBoth, punchBoth } from './harness.js';
import { twoPeers } from './topology.js';

const SEEDS = Number(process.env.PUNCH_BIRTHDAY_SEEDS ?? 20);

describe('birthday strategy in sim: EIM/APDF x symmetric', () => {
  it(`connects in >= 95% of ${SEEDS} seeded runs within 30 s of simulated time, bounded in packets`, () => {
    let ok = 0;
    const times: number[] = [];
    const failures: string[] = [];
    for (let seed = 100; seed < 100 + SEEDS; seed++) {
      const { net, a, b } = twoPeers(
        seed,
        { nat: natPresets.portRestrictedCone },
        { nat: natPresets.symmetric, sockets: 256 },
      );
      gatherBoth(net, a, b);
      expect(a.info().nat).toMatchObject({ mapping: 'consistent', filtering: 'address-and-port-dependent' });
      expect(b.info().nat.mapping).toBe('random');
      const t0 = net.now;
      punchBoth(net, a, b, 35_000);
      expect(a.puncher!.strategy).toMatchObject({ kind: 'birthday', localRole: 'prober', certain: true });
      expect(b.puncher!.strategy).toMatchObject({ kind: 'birthday', localRole: 'sockets' });
      expect(b.openSockets).toBe(256);
      // bounded: never more than maxProbes random-port probes, one send per socket per round
      expect(a.puncher!.stats().birthdayProbesSent).toBeLessThanOrEqual(2500);
      expect(b.puncher!.stats().birthdaySocketSends).toBeLessThanOrEqual(256 * 4);
      const na = a.punchEvent('nominated');
      const nb = b.punchEvent('nominated');
      if (a.puncher!.state === 'completed' && b.puncher!.state === 'completed' && na && nb) {
        ok++;
        times.push(Math.max(na.at, nb.at) - t0);
        // the random side answers from one of its birthday sockets and keeps only that one
        const sock = b.selected!.local.socket;
        expect(b.releasedTo).toEqual(sock === 0 ? [0] : [0, sock]);
        expect(a.selected!.remote.type).toBe('prflx');
      } else {
        failures.push(`seed ${seed}: a=${a.puncher!.state} b=${b.puncher!.state}`);
      }
    }
    expect(ok, failures.join('; ')).toBeGreaterThanOrEqual(Math.ceil(SEEDS * 0.95));
    for (const t of times) expect(t).toBeLessThanOrEqual(30_000);
  });

  it('the documented probabilities hold', () => {
    expect(birthdayHitProbability(256, 1000)).toBeCloseTo(0.981, 2);
    expect(birthdayHitProbability(256, 2000)).toBeGreaterThan(0.9995);
    expect(birthdayHitProbability(256, 2500)).toBeGreaterThan(0.99995);
  });
});
