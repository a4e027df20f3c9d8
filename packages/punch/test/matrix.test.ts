import { natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { gatherBoth, punchBoth } from './harness.js';
import { twoPeers } from './topology.js';

type Preset = keyof typeof natPresets;
const PRESETS: Preset[] = ['fullCone', 'restrictedCone', 'portRestrictedCone', 'symmetric'];

/** The expected matrix (the NAT lab asserts the same one through real NATs). */
function expected(a: Preset, b: Preset): { result: 'direct' | 'PUNCH_IMPOSSIBLE'; strategy: string } {
  if (a === 'symmetric' && b === 'symmetric') return { result: 'PUNCH_IMPOSSIBLE', strategy: 'impossible' };
  const hard = (x: Preset, y: Preset) => x === 'portRestrictedCone' && y === 'symmetric';
  // APDF x symmetric needs the birthday strategy; EIF/ADF x symmetric works peer-reflexively
  if (hard(a, b) || hard(b, a)) return { result: 'direct', strategy: 'birthday' };
  return { result: 'direct', strategy: 'direct' };
}

for (const shareNat of [true, false]) {
  const how = shareNat ? 'NAT types exchanged' : 'candidates only (remote NAT type inferred)';
  describe(`NAT matrix in sim, every ordered pair of presets, ${how}`, () => {
    for (const pa of PRESETS) {
      for (const pb of PRESETS) {
        const exp = expected(pa, pb);
        it(`${pa} x ${pb}: ${exp.result} (${exp.strategy})`, () => {
          const { net, a, b } = twoPeers(
            `${pa}-${pb}-${shareNat}`,
            { nat: natPresets[pa], sockets: pa === 'symmetric' ? 256 : 0 },
            { nat: natPresets[pb], sockets: pb === 'symmetric' ? 256 : 0 },
          );
          gatherBoth(net, a, b);
          const t0 = net.now;
          punchBoth(net, a, b, 35_000, shareNat);
          // the side that knows it is consistent with APDF filtering decides on birthday by itself
          const decider = pa === 'symmetric' ? b : a;
          expect(decider.puncher!.strategy.kind).toBe(exp.strategy);
          for (const p of [a, b]) {
            if (exp.result === 'direct') {
              expect(p.puncher!.state).toBe('completed');
              expect(p.punchEvent('nominated')!.at - t0).toBeLessThanOrEqual(30_000);
            } else {
              expect(p.punchEvent('failed')).toMatchObject({ code: exp.result });
              expect(p.punchEvent('failed')!.at - t0).toBeLessThanOrEqual(1500);
            }
          }
        });
      }
    }
  });
}
