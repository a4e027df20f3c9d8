/**
 * The host delivers control messages reliably and in order, but a retransmission across a
 * reconnect or a buggy host may deliver one twice: every message is idempotent.
 */
import { describe, expect, it } from 'vitest';
import { encodeControl, openPolicy } from '../src/index.js';
import { allOf, fakePacket, Local } from './local.js';

describe('duplicated control messages', () => {
  it('every message delivered twice in both directions gives the same result as once', () => {
    const once = new Local({ seed: 'dup', policy: openPolicy() });
    const twice = new Local({ seed: 'dup', policy: openPolicy(), duplicate: true });
    for (const L of [once, twice]) {
      const A = L.add('a');
      const B = L.add('b');
      L.add('c');
      const { chA } = L.circuit('a', 'b');
      A.client.connect(L.now, L.get('c').key);
      L.pump();
      const inc = allOf(L.get('c').events, 'incoming');
      expect(inc).toHaveLength(1);
      L.get('c').client.reject(L.now, inc[0]!.incomingId);
      L.pump();
      L.send('a', 'b', fakePacket(1));
      expect(B.inbox).toHaveLength(1);
      A.client.refresh(L.now, chA);
      L.pump();
      A.client.close(L.now, chA);
      L.pump();
    }
    const strip = (L: Local, n: string) => L.get(n).events.map((e) => JSON.stringify(e));
    for (const n of ['a', 'b', 'c']) expect(strip(twice, n)).toEqual(strip(once, n));
    const s1 = once.service.stats();
    const s2 = twice.service.stats();
    expect(s2.circuitsOpened).toBe(s1.circuitsOpened);
    expect(s2.rejected).toEqual(s1.rejected);
    expect(s2.closed).toEqual(s1.closed);
    expect(s2.dropped.control_duplicate).toBeGreaterThan(0);
    expect(
      twice.get('a').client.stats().dropped.control_duplicate +
        twice.get('a').client.stats().dropped.control_unexpected,
    ).toBeGreaterThan(0);
  });

  it('a request repeated with the same id gets the cached answer, not a second circuit', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    const connect = encodeControl({
      type: 'connect',
      requestId: 1, // the id RelayClient used for the circuit above
      target: B.key,
      limits: { durationMs: 0, bytes: 0 },
      voucher: null,
      firstPacket: null,
    });
    const before = A.controlIn.length;
    L.raw('a', connect);
    expect(A.controlIn.length).toBe(before + 1);
    expect(A.controlIn.at(-1)).toEqual(A.controlIn.find((m) => m[1] === 0x05)); // the same BOUND
    expect(L.service.stats().circuitsOpened).toBe(1);
    expect(allOf(B.events, 'incoming')).toHaveLength(1);
  });
});
