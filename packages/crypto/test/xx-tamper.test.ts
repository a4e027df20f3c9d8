import { MAC_LENGTH } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { mac1Key, writeMac1 } from '../src/macs.js';
import { collect, deliver, run, side, type Wire } from './helpers.js';

function only(ws: Wire[]): Wire {
  expect(ws).toHaveLength(1);
  return ws[0] as Wire;
}
function flip(data: Uint8Array, pos: number): Uint8Array {
  const b = data.slice();
  b[pos] = (b[pos] as number) ^ 0x04;
  return b;
}

describe('Noise XX: tampering with any byte of any of the three messages', () => {
  it('message 1 (clear): flips are dropped by mac1; with mac1 recomputed, the handshake never completes', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    a.ep.connect(0, { address: b.addr });
    const m1 = only(collect(0, [a]));
    for (let pos = 0; pos < m1.data.length; pos++) {
      expect(b.ep.handle(0, a.addr, flip(m1.data, pos)).type, `pos ${pos}`).toBe('dropped');
      collect(0, [b]);
    }
    expect(b.ep.channels()).toEqual([]);
    // An attacker recomputes mac1 (its key is public for XX). Message 1 is not authenticated in
    // Noise XX, so the responder answers; the tampering then breaks message 2 at the initiator.
    const zeroKey = mac1Key(null);
    for (let pos = 0; pos < m1.data.length - 2 * MAC_LENGTH; pos++) {
      const a2 = side(1, '10.0.0.1');
      const b2 = side(2, '10.0.0.2');
      const ch = a2.ep.connect(0, { address: b2.addr });
      const orig = only(collect(0, [a2]));
      const bad = flip(orig.data, pos);
      writeMac1(bad, zeroKey);
      deliver(0, [a2, b2], { ...orig, data: bad });
      for (const w of collect(0, [b2])) deliver(0, [a2, b2], w);
      expect(ch.isEstablished, `pos ${pos}`).toBe(false);
      expect(b2.ep.channels()).toEqual([]);
    }
  });

  it('message 2 and message 3: every flip is dropped and the handshake still completes afterwards', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const ch = a.ep.connect(0, { address: b.addr });
    deliver(0, [a, b], only(collect(0, [a])));
    const m2 = only(collect(0, [b]));
    for (let pos = 0; pos < m2.data.length; pos++) {
      for (const remac of [false, true]) {
        const bad = flip(m2.data, pos);
        if (remac && pos < bad.length - 2 * MAC_LENGTH) writeMac1(bad, mac1Key(null));
        expect(a.ep.handle(0, b.addr, bad).type, `m2 pos ${pos}`).toBe('dropped');
        expect(ch.isEstablished).toBe(false);
      }
    }
    deliver(0, [a, b], m2);
    expect(ch.isEstablished).toBe(true);
    const m3 = only(collect(0, [a]));
    const bKey = mac1Key(b.ep.identity.x25519Public);
    for (let pos = 0; pos < m3.data.length; pos++) {
      for (const remac of [false, true]) {
        const bad = flip(m3.data, pos);
        if (remac && pos < bad.length - 2 * MAC_LENGTH) writeMac1(bad, bKey);
        expect(b.ep.handle(0, a.addr, bad).type, `m3 pos ${pos}`).toBe('dropped');
      }
    }
    expect(b.ep.channels()).toEqual([]);
    expect(b.ep.handle(0, a.addr, m3.data)).toEqual({ type: 'handshake' });
    collect(0, [b]);
    expect(b.events.map((e) => e.type)).toEqual(['established']);
    const r = b.ep.handle(0, a.addr, ch.seal(0, Uint8Array.of(42)));
    expect(r).toMatchObject({ type: 'data', plaintext: Uint8Array.of(42) });
  });

  it('message 3 is retransmitted until the responder proves it has the keys', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const ch = a.ep.connect(0, { address: b.addr });
    deliver(0, [a, b], only(collect(0, [a])));
    deliver(0, [a, b], only(collect(0, [b])));
    only(collect(0, [a])); // message 3 lost
    expect(ch.isEstablished).toBe(true);
    const t = a.ep.pollTimeout() as number;
    a.ep.handleTimeout(t);
    const again = only(collect(t, [a]));
    expect(again.data[0]).toBe(0x83);
    deliver(t, [a, b], again);
    const bch = b.ep.channel(a.ep.identity.publicKey);
    expect(bch?.isEstablished).toBe(true);
    // B's first packet confirms: A stops retransmitting.
    deliver(t, [a, b], { from: b.addr, to: a.addr, data: bch?.seal(0, new Uint8Array(1)) as Uint8Array });
    run([a, b], t, { until: t + 20_000 });
    expect(b.ep.stats().dropped.unexpected).toBe(0);
  });
});
