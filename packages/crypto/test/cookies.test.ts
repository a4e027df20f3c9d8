import { describe, expect, it } from 'vitest';
import { collect, confirm, deliver, run, side, type Wire } from './helpers.js';

function only(ws: Wire[]): Wire {
  expect(ws).toHaveLength(1);
  return ws[0] as Wire;
}

describe('cookies under load (WireGuard mac2)', () => {
  for (const pattern of ['IK', 'XX'] as const) {
    it(`${pattern}: a loaded responder answers with a cookie, the initiator retries with mac2`, () => {
      const a = side(1, '10.0.0.1');
      const b = side(2, '10.0.0.2');
      const ch = a.ep.connect(
        0,
        pattern === 'IK' ? { address: b.addr, remoteKey: b.ep.identity.publicKey } : { address: b.addr },
      );
      const init = only(collect(0, [a]));
      expect(b.ep.handle(0, a.addr, init.data, { underLoad: true })).toEqual({
        type: 'dropped',
        reason: 'under_load',
      });
      const reply = only(collect(0, [b]));
      expect(reply.data[0]).toBe(0x84);
      expect(reply.data.length).toBe(61);
      expect(b.ep.channels()).toEqual([]);
      // The initiator takes the cookie and immediately retries with mac2.
      expect(a.ep.handle(1, b.addr, reply.data)).toEqual({ type: 'handshake' });
      const retry = only(collect(1, [a]));
      // A replayed cookie reply is not taken twice.
      expect(a.ep.handle(1, b.addr, reply.data)).toEqual({ type: 'dropped', reason: 'bad_cookie_reply' });
      // Spoofed source: the cookie is bound to A's address.
      expect(b.ep.handle(2, { host: '6.6.6.6', port: 1 }, retry.data, { underLoad: true })).toEqual({
        type: 'dropped',
        reason: 'bad_mac2',
      });
      collect(2, [b]);
      expect(b.ep.handle(2, a.addr, retry.data, { underLoad: true })).toEqual({ type: 'handshake' });
      run([a, b], 2, {
        underLoad: () => true,
        stopWhen: () => ch.isEstablished && (pattern === 'IK' || b.events.length > 0),
      });
      expect(ch.isEstablished).toBe(true);
      if (pattern === 'IK') confirm(3, a, b, ch);
      expect(b.ep.channel(a.ep.identity.publicKey)?.isEstablished).toBe(true);
      expect(a.ep.stats().cookieRepliesAccepted).toBe(1);
      expect(b.ep.stats().cookieRepliesSent).toBe(2);
    });
  }

  it('every byte of a cookie reply flipped is rejected; the genuine one still works', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const init = only(collect(0, [a]));
    b.ep.handle(0, a.addr, init.data, { underLoad: true });
    const reply = only(collect(0, [b]));
    for (let pos = 0; pos < reply.data.length; pos++) {
      const bad = reply.data.slice();
      bad[pos] = (bad[pos] as number) ^ 0x10;
      expect(a.ep.handle(0, b.addr, bad).type, `pos ${pos}`).toBe('dropped');
    }
    expect(collect(0, [a])).toEqual([]);
    expect(a.ep.handle(0, b.addr, reply.data)).toEqual({ type: 'handshake' });
  });

  it('a cookie reply from someone who did not see the initiation is rejected', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const a2 = side(3, '10.0.0.1');
    a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    a2.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const i1 = only(collect(0, [a]));
    only(collect(0, [a2]));
    b.ep.handle(0, a.addr, i1.data, { underLoad: true });
    const reply = only(collect(0, [b]));
    // Same receiver index would be needed; rewrite it to a2's pending index: AD (mac1) differs.
    const pendingIndex = (a2.ep.channels()[0] as { pending: { localIndex: number } | null }).pending
      ?.localIndex as number;
    const forged = reply.data.slice();
    new DataView(forged.buffer).setUint32(1, pendingIndex);
    expect(a2.ep.handle(0, b.addr, forged)).toEqual({ type: 'dropped', reason: 'bad_cookie_reply' });
    void deliver;
  });
});
