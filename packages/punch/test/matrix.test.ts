import { natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { dialBoth, gatherBoth, twoHosts } from './topology.js';

type Preset = keyof typeof natPresets;
const PRESETS: Preset[] = ['fullCone', 'restrictedCone', 'portRestrictedCone', 'symmetric'];

/**
 * The expected matrix (punch README "Expected NAT matrix"; the NAT lab asserts the same one through
 * real Linux NATs): the verdict each side reaches and how the pair ends.
 */
function expected(
  a: Preset,
  b: Preset,
): { result: 'connected' | 'PUNCH_IMPOSSIBLE'; roles: [string, string] } {
  if (a === 'symmetric' && b === 'symmetric')
    return { result: 'PUNCH_IMPOSSIBLE', roles: ['impossible', 'impossible'] };
  const apdf = (p: Preset) => p === 'portRestrictedCone';
  // APDF x symmetric: the birthday; EIF/ADF x symmetric: plain punching, found peer-reflexively
  // the symmetric side cannot know the other's filtering (records carry candidates only): its
  // sockets role is a fallback after 1.5 s without success, which a working plain punch makes
  // unnecessary; the consistent side knows its own APDF filtering and starts probing at once
  if (apdf(a) && b === 'symmetric') return { result: 'connected', roles: ['prober', 'sockets?'] };
  if (a === 'symmetric' && apdf(b)) return { result: 'connected', roles: ['sockets?', 'prober'] };
  if (a === 'symmetric') return { result: 'connected', roles: ['sockets?', 'direct'] };
  if (b === 'symmetric') return { result: 'connected', roles: ['direct', 'sockets?'] };
  // APDF facing a peer with one srflx candidate (its mapping unknown to us): probing is the last
  // resort once a plain dial failed; an EIF/ADF side never needs it
  const side = (p: Preset) => (apdf(p) ? 'prober!' : 'direct');
  return { result: 'connected', roles: [side(a), side(b)] };
}

function roleOf(v: ReturnType<import('../src/index.js').NatSession['judge']>): string {
  const p = v.plan;
  if (p.kind !== 'birthday') return p.kind;
  const r = [p.sockets ? 'sockets' : '', p.prober ? 'prober' : ''].filter((x) => x !== '').join('+');
  return p.start === 'now' ? r : p.start === 'fallback' ? `${r}?` : `${r}!`;
}

describe('NAT matrix in sim: every ordered pair of presets, two STUN servers (one RFC 5780)', () => {
  for (const pa of PRESETS) {
    for (const pb of PRESETS) {
      const exp = expected(pa, pb);
      it(`${pa} x ${pb}: ${exp.result} (${exp.roles.join(' / ')})`, () => {
        const t = twoHosts(`${pa}-${pb}`, { nat: natPresets[pa] }, { nat: natPresets[pb] });
        gatherBoth(t);
        // the filtering tests run after 'gathered' (up to 7 s): verdicts use the final classification
        t.net.runFor(8000);
        const { a, b, net } = t;
        expect(roleOf(a.session.judge(b.card()))).toBe(exp.roles[0]);
        expect(roleOf(b.session.judge(a.card()))).toBe(exp.roles[1]);
        const t0 = net.now;
        dialBoth(t);
        for (const [h, p] of [
          [a, 'b'],
          [b, 'a'],
        ] as const) {
          const d = h.dials.get(p)!;
          if (exp.result === 'connected') {
            expect(d.state, `${h.name}: ${d.code}`).toBe('connected');
            expect(d.endedAt! - t0).toBeLessThanOrEqual(30_000);
          } else {
            expect(d).toMatchObject({ state: 'failed', code: 'PUNCH_IMPOSSIBLE' });
            // the other home's LAN address (192.168.1.20: both homes use one subnet) gets the grace
            expect(d.endedAt! - t0).toBe(2500);
          }
        }
        if (exp.roles.includes('prober')) {
          const random = pa === 'symmetric' ? a : b;
          expect(random.socketsAsked).toBe(256);
          // the connection runs over one pool socket; the other 255 were given back
          expect(random.pool.size).toBe(1);
        }
      });
    }
  }
});
