import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SecureChannel } from '../src/secure-channel.js';
import { collect, confirm, deliver, type Side, side, type Wire } from './helpers.js';

const RUNS = Number(process.env.SRMUDP_PROPERTY_RUNS ?? 150);

/** Captures one of every packet kind from a real exchange (IK, XX, cookie reply, data). */
function corpus(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const a = side(1, '10.0.0.1');
  const b = side(2, '10.0.0.2');
  const pump = (now: number, underLoad = false) => {
    for (let i = 0; i < 6; i++) {
      const ws = collect(now, [a, b]);
      if (ws.length === 0) break;
      for (const w of ws) {
        out.push(w.data);
        deliver(now, [a, b], w, { underLoad });
      }
    }
  };
  const ch = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
  pump(0, true);
  const c = side(3, '10.0.0.3');
  c.ep.connect(0, { address: b.addr });
  for (let i = 0; i < 4; i++)
    for (const w of collect(0, [c, b]) as Wire[]) {
      out.push(w.data);
      deliver(0, [c, b], w);
    }
  out.push(ch.seal(1, new Uint8Array(40)));
  return out;
}

function established(): { a: Side; b: Side; ca: SecureChannel; cb: SecureChannel } {
  const a = side(1, '10.0.0.1');
  const b = side(2, '10.0.0.2');
  const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
  for (let i = 0; i < 4; i++) for (const w of collect(0, [a, b])) deliver(0, [a, b], w);
  confirm(0, a, b, ca, 0); // the IK responder uses the session once the initiator does
  return { a, b, ca, cb: b.ep.channel(a.ep.identity.publicKey) as SecureChannel };
}

describe('the state machine never throws on network input', () => {
  const seeds = corpus();
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
        fc.nat(400),
      )
      .map(([base, muts, cut]) => {
        const b = base.slice(0, Math.max(1, Math.min(base.length, cut + 1)));
        for (const [pos, v] of muts) b[pos % b.length] = v;
        return b;
      }),
    fc.constantFrom(...seeds),
  );

  it('random and mutated datagrams: dropped or handled, never thrown; the live session is unchanged', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(datagram, fc.boolean(), fc.nat(5000)), { minLength: 1, maxLength: 30 }),
        (inputs) => {
          const { a, b, ca, cb } = established();
          const hash = ca.handshakeHash;
          // A third party with a pending handshake also receives the junk.
          const c = side(3, '10.0.0.3');
          c.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
          collect(0, [c]);
          let now = 1;
          for (const [d, underLoad, dt] of inputs) {
            now += dt;
            for (const s of [a, b, c]) {
              const r = s.ep.handle(now, { host: '6.6.6.6', port: 6 }, d, { underLoad });
              expect(['data', 'handshake', 'dropped']).toContain(r.type);
              collect(now, [s]);
            }
          }
          for (const s of [a, b, c]) expect(s.ep.stats().dropped.internal_error).toBe(0);
          expect(ca.handshakeHash).toEqual(hash);
          expect(cb.handshakeHash).toEqual(hash);
          const pn = 1_000_000;
          expect(b.ep.handle(now, a.addr, ca.seal(pn, Uint8Array.of(7)))).toMatchObject({
            type: 'data',
            plaintext: Uint8Array.of(7),
          });
          expect(a.ep.handle(now, b.addr, cb.seal(pn, Uint8Array.of(8)))).toMatchObject({
            type: 'data',
            plaintext: Uint8Array.of(8),
          });
        },
      ),
      { numRuns: RUNS },
    );
  });
});
