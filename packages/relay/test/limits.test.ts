import { describe, expect, it } from 'vitest';
import { encodeControl, groupPolicy, openPolicy, resolveRelayLimits } from '../src/index.js';
import { allOf, fakePacket, Local, lastOf, seqOf } from './local.js';

describe('limits', () => {
  it('message size: a channel datagram or control message above maxMessageSize is refused', () => {
    const L = new Local({ policy: openPolicy(), limits: { maxMessageSize: 1200 } });
    const A = L.add('a');
    const B = L.add('b');
    const { chA } = L.circuit('a', 'b');
    L.send('a', 'b', fakePacket(1, 1196));
    L.send('a', 'b', fakePacket(2, 1197));
    expect(B.inbox.map(seqOf)).toEqual([1]);
    expect(L.service.stats().dropped.too_large).toBe(1);
    expect(chA).toBeGreaterThan(0);
    A.client.connect(L.now, B.key, { firstPacket: fakePacket(3, 1300, 0x81) });
    L.pump();
    expect(lastOf(A.events, 'rejected')?.reason).toBe('resource_limit');
    expect(L.service.stats().dropped.control_too_large).toBe(1);
  });

  it('duration: the circuit ends with `duration_limit` at both ends', () => {
    const L = new Local({ policy: openPolicy({ limits: { durationMs: 2_000 } }) });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    expect(lastOf(A.events, 'bound')?.limits.durationMs).toBe(2_000);
    L.advance(1_999);
    L.send('a', 'b', fakePacket(1));
    expect(B.inbox).toHaveLength(1);
    L.advance(1);
    expect(lastOf(A.events, 'closed')?.reason).toBe('duration_limit');
    expect(lastOf(B.events, 'closed')?.reason).toBe('duration_limit');
    expect(L.service.stats().closed.duration_limit).toBe(1);
  });

  it('bytes: the packet that would pass the limit ends the circuit with `data_limit`', () => {
    const L = new Local({ policy: openPolicy(), limits: { circuit: { durationMs: 0, bytes: 1_000 } } });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    for (let i = 0; i < 12; i++) {
      if (A.client.channelOf(B.key) < 0) break;
      L.send('a', 'b', fakePacket(i, 100));
    }
    expect(B.inbox).toHaveLength(10);
    expect(lastOf(A.events, 'closed')?.reason).toBe('data_limit');
    expect(lastOf(B.events, 'closed')?.reason).toBe('data_limit');
    expect(L.service.stats().dropped.circuit_limit).toBe(1);
    expect(allOf(L.relayEvents, 'circuit_closed')[0]).toMatchObject({
      reason: 'data_limit',
      bytes: 1_000,
      packets: 10,
    });
  });

  it('the requester, the policy and the target can each only tighten the limits', () => {
    const L = new Local({
      policy: openPolicy({ limits: { bytes: 50_000 } }),
      limits: { circuit: { durationMs: 60_000, bytes: 0 } },
    });
    const A = L.add('a');
    const B = L.add('b');
    A.client.connect(L.now, B.key, { limits: { durationMs: 90_000, bytes: 80_000 } });
    L.pump();
    expect(lastOf(B.events, 'incoming')?.limits).toEqual({ durationMs: 60_000, bytes: 50_000 });
    B.client.accept(L.now, lastOf(B.events, 'incoming')!.incomingId, { limits: { bytes: 20_000 } });
    L.pump();
    expect(lastOf(A.events, 'bound')?.limits).toEqual({ durationMs: 60_000, bytes: 20_000 });
  });

  it('send queue: a slow carrier keeps the newest 256 packets (drop-oldest), handshakes in their own queue', () => {
    const L = new Local({ policy: openPolicy(), limits: { rateBytesPerSec: 0 } });
    L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    L.service.setHopWritable(B.hop, false);
    for (let i = 0; i < 300; i++) {
      L.send('a', 'b', fakePacket(i));
      if (i % 50 === 0) L.send('a', 'b', fakePacket(10_000 + i, 100, 0x81)); // a handshake packet
    }
    expect(B.inbox).toHaveLength(0);
    L.service.setHopWritable(B.hop, true);
    L.pump();
    const seqs = B.inbox.map(seqOf);
    // handshake packets first (their own queue survived the overflow), then the 256 newest data packets
    expect(seqs.slice(0, 6)).toEqual([10_000, 10_050, 10_100, 10_150, 10_200, 10_250]);
    expect(seqs.slice(6)).toEqual(Array.from({ length: 256 }, (_, i) => 44 + i));
    expect(L.service.stats().dropped.queue_full).toBe(44);
  });

  it('send queue: bounded in bytes too, the handshake queue drops its oldest, and old packets go stale', () => {
    const L = new Local({
      policy: openPolicy(),
      limits: { rateBytesPerSec: 0, sendQueueBytes: 10 * 1004, handshakeQueuePackets: 4 },
    });
    L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    L.service.setHopWritable(B.hop, false);
    for (let i = 0; i < 20; i++) L.send('a', 'b', fakePacket(i, 1000));
    for (let i = 0; i < 6; i++) L.send('a', 'b', fakePacket(100 + i, 100, 0x82));
    L.service.setHopWritable(B.hop, true);
    L.pump();
    expect(B.inbox.map(seqOf)).toEqual([102, 103, 104, 105, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(L.service.stats().dropped.handshake_queue_full).toBe(2);
    B.inbox.length = 0;
    L.service.setHopWritable(B.hop, false);
    for (let i = 0; i < 5; i++) L.send('a', 'b', fakePacket(i));
    L.advance(2_001);
    L.service.setHopWritable(B.hop, true);
    L.pump();
    expect(B.inbox).toHaveLength(0);
    expect(L.service.stats().dropped.stale).toBe(5);
  });

  it('a datagram queued for a circuit that closed before it was sent is dropped, not sent', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const { chA } = L.circuit('a', 'b');
    L.service.setHopWritable(B.hop, false);
    for (let i = 0; i < 3; i++) L.send('a', 'b', fakePacket(i));
    A.client.close(L.now, chA);
    L.pump();
    // a new circuit may even get the same channel number on b's hop: the old packets still must not go out
    L.circuit('a', 'b');
    L.service.setHopWritable(B.hop, true);
    L.pump();
    expect(B.inbox).toHaveLength(0);
    expect(L.service.stats().dropped.circuit_closed).toBe(3);
  });

  it('bindings: refreshed while the channel carries traffic, expire when idle', () => {
    const L = new Local({ policy: openPolicy(), limits: { bindingLifetimeMs: 3_000 } });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    for (let t = 0; t < 10_000; t += 100) {
      L.send('a', 'b', fakePacket(t));
      B.client.unwrap(L.now, B.inbox.at(-1)!); // B's host reads it: B's binding is in use too
      L.advance(100);
    }
    expect(A.client.channels()).toHaveLength(1);
    expect(L.service.stats().circuits).toBe(1);
    expect(B.inbox).toHaveLength(100);
    L.advance(3_000);
    expect(L.service.stats().circuits).toBe(0);
    expect(lastOf(A.events, 'closed')?.reason).toBe('expired');
    expect(lastOf(B.events, 'closed')?.reason).toBe('expired');
    expect(L.service.stats().closed.expired).toBe(1);
  });

  it('an explicit refresh keeps an idle binding', () => {
    const L = new Local({ policy: openPolicy(), limits: { bindingLifetimeMs: 3_000 } });
    const A = L.add('a');
    const B = L.add('b');
    const { chA, chB } = L.circuit('a', 'b');
    for (let i = 0; i < 5; i++) {
      L.advance(2_000);
      A.client.refresh(L.now, chA);
      B.client.refresh(L.now, chB);
      L.pump();
    }
    expect(L.service.stats().circuits).toBe(1);
    expect(A.client.channels()[0]!.expiresAt).toBe(L.now + 3_000);
  });

  it('a gate lifts the rate for its group; per-client overrides reach the client in the greeting', () => {
    const members: Uint8Array[] = [];
    const L = new Local({
      policy: groupPolicy({
        members: (k) => members.some((m) => m.every((b, i) => b === k[i])),
        client: { rateBytesPerSec: 0, maxCircuits: 2 },
      }),
    });
    const probe = new Local({ policy: openPolicy() });
    const idA = probe.add('a').identity;
    const idB = probe.add('b').identity;
    members.push(idA.publicKey, idB.publicKey);
    const A = L.add('a', { identity: idA });
    L.add('b', { identity: idB });
    expect(lastOf(A.events, 'ready')?.limits).toMatchObject({ rateBytesPerSec: 0, maxCircuits: 2 });
    L.circuit('a', 'b');
    for (let i = 0; i < 400; i++) L.send('a', 'b', fakePacket(i, 4000)); // 1.6 MB at one instant
    expect(L.service.stats().dropped.rate_limited).toBe(0);
    expect(L.get('b').inbox).toHaveLength(400);
  });

  it('readDelay: a stream carrier learns how long to pause reading instead of having packets dropped', () => {
    const L = new Local({ policy: openPolicy(), limits: { rateBytesPerSec: 100_000, burstBytes: 10_000 } });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    expect(L.service.readDelay(L.now, A.hop)).toBe(0);
    let n = 0;
    while (L.service.readDelay(L.now, A.hop) === 0 && n < 100) L.send('a', 'b', fakePacket(n++, 996));
    expect(n).toBe(10); // 10 × 1,000 bytes spend the 10,000-byte burst
    const wait = L.service.readDelay(L.now, A.hop);
    expect(wait).toBe(1); // balance exactly 0: the next token comes within 1 ms (100 bytes/ms)
    L.advance(wait);
    expect(L.service.readDelay(L.now, A.hop)).toBe(0);
    L.send('a', 'b', fakePacket(n++, 996));
    expect(B.inbox).toHaveLength(11);
    expect(L.service.stats().dropped.rate_limited).toBe(0); // a reader that waits loses nothing
    expect(L.service.readDelay(L.now, A.hop)).toBe(10); // 900 bytes of debt at 100 bytes/ms
    L.send('a', 'b', fakePacket(n++, 996)); // a reader that does not wait is dropped
    expect(L.service.stats().dropped.rate_limited).toBe(1);
  });

  it('validates its configuration with exact messages', () => {
    expect(() => resolveRelayLimits({ maxClients: 0 })).toThrow(
      '"limits.maxClients" expected positive integer, got 0',
    );
    expect(() => resolveRelayLimits({ rateBytesPerSec: -1 })).toThrow(
      '"limits.rateBytesPerSec" expected non-negative integer, got -1',
    );
    expect(() => resolveRelayLimits({ maxMessageSize: 70_000 })).toThrow('"limits.maxMessageSize"');
    expect(() => resolveRelayLimits({ circuit: { durationMs: 1.5, bytes: 0 } })).toThrow(
      '"limits.circuit.durationMs"',
    );
  });

  it('a control message too large for the relay is answered by request id', () => {
    const L = new Local({ policy: openPolicy(), limits: { maxMessageSize: 100 } });
    const A = L.add('a');
    const B = L.add('b');
    L.raw(
      'a',
      encodeControl({
        type: 'connect',
        requestId: 9,
        target: B.key,
        limits: { durationMs: 0, bytes: 0 },
        voucher: null,
        firstPacket: fakePacket(1, 200, 0x81),
      }),
    );
    expect(A.controlIn.at(-1)![1]).toBe(0x04);
  });
});
