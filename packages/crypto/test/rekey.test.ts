import { describe, expect, it } from 'vitest';
import type { SecureChannel } from '../src/secure-channel.js';
import { collect, confirm, deliver, establishedPair, run, type Side, seededRandom, side } from './helpers.js';

const timing = {
  rekeyAfterMs: 10_000,
  gracePeriodMs: 2_000,
  rejectAfterMs: 30_000,
  handshakeTimeoutMs: 5_000,
};

/** A dials B (IK) at 0: initiation and response delivered, B's keys not yet confirmed. */
function ikHandshake() {
  const a = side(1, '10.0.0.1');
  const b = side(2, '10.0.0.2');
  const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
  const init = collect(0, [a]);
  for (const w of init) deliver(0, [a, b], w);
  for (const w of collect(0, [b])) deliver(0, [a, b], w);
  return { a, b, ca, init };
}

function pair(): { a: Side; b: Side; ca: SecureChannel; cb: SecureChannel } {
  return establishedPair({ timing }, 0);
}

describe('rekey', () => {
  it('by time: new keys and key phase, old keys accepted during the grace period only, then erased', () => {
    const { a, b, ca, cb } = pair();
    expect(ca.keyPhase).toBe(0);
    const oldA = ca.current as NonNullable<typeof ca.current>;
    const old1 = ca.seal(1, Uint8Array.of(1));
    const old2 = ca.seal(2, Uint8Array.of(2));
    const oldFromB = cb.seal(1, Uint8Array.of(3));
    // The initiator's timer fires at rekeyAfterMs and runs a new handshake.
    expect(a.ep.pollTimeout()).toBe(10_000);
    a.ep.handleTimeout(10_000);
    const init = collect(10_000, [a]);
    expect(init).toHaveLength(1);
    for (const w of init) deliver(10_000, [a, b], w);
    for (const w of collect(10_000, [b])) deliver(10_000, [a, b], w);
    expect(ca.keyPhase).toBe(1);
    expect(ca.current).not.toBe(oldA);
    collect(10_000, [a, b]);
    expect(a.events.map((e) => e.type)).toEqual(['established', 'rekeyed']);
    // B switches when A's first packet under the new keys arrives (key confirmation).
    expect(cb.keyPhase).toBe(0);
    const fresh = ca.seal(3, Uint8Array.of(4));
    expect(fresh[0]).toBe(0x91);
    // the first packet opened under the new session says so (core checks its number goes on)
    expect(b.ep.handle(10_001, a.addr, fresh)).toMatchObject({
      type: 'data',
      packetNumber: 3,
      firstOfSession: true,
    });
    expect(cb.keyPhase).toBe(1);
    // B answers under the new keys (its upper layer acknowledges)
    expect(a.ep.handle(10_001, b.addr, cb.seal(2, Uint8Array.of(9)))).toMatchObject({
      type: 'data',
      firstOfSession: true,
    });
    collect(10_001, [a, b]);
    expect(b.events.map((e) => e.type)).toEqual(['established', 'rekeyed']);
    // Grace period: packets under the old keys still open, both directions.
    expect(b.ep.handle(10_002, a.addr, old1)).toMatchObject({
      type: 'data',
      packetNumber: 1,
      firstOfSession: false,
    });
    expect(a.ep.handle(10_002, b.addr, oldFromB)).toMatchObject({ type: 'data', packetNumber: 1 });
    // After the grace period the old keys are gone.
    run([a, b], 10_002, { until: 13_000 });
    expect(b.ep.handle(13_000, a.addr, old2)).toEqual({ type: 'dropped', reason: 'unknown_index' });
    expect(oldA.alive).toBe(false);
    // New keys keep working.
    expect(b.ep.handle(13_000, a.addr, ca.seal(4, Uint8Array.of(5)))).toMatchObject({
      type: 'data',
      firstOfSession: false,
    });
    expect(a.ep.handle(13_000, b.addr, cb.seal(3, Uint8Array.of(6)))).toMatchObject({ type: 'data' });
  });

  it('by volume: sealing rekeyAfterPackets packets starts a handshake', () => {
    const a = side(1, '10.0.0.1', { timing: { rekeyAfterPackets: 5 } });
    const b = side(2, '10.0.0.2');
    const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b], 0);
    for (let pn = 0; pn < 4; pn++) ca.seal(pn, new Uint8Array(10));
    expect(a.ep.pollTimeout()).toBeGreaterThan(1000);
    ca.seal(4, new Uint8Array(10));
    expect(a.ep.pollTimeout()).toBe(0);
    a.ep.handleTimeout(1);
    const out = collect(1, [a]);
    expect(out.map((w) => w.data[0])).toEqual([0x81]);
    for (const w of out) deliver(1, [a, b], w);
    for (const w of collect(1, [b])) deliver(1, [a, b], w);
    expect(ca.keyPhase).toBe(1);
    expect(a.ep.stats().rekeys).toBe(1);
  });

  it('keys that are never replaced expire (reject-after) and the channel reports it', () => {
    const { a, b, ca } = pair();
    // Cut the network: rekeys cannot complete.
    run([a, b], 0, { until: 40_000, filter: () => [] });
    expect(ca.isEstablished).toBe(false);
    expect(a.events.map((e) => (e.type === 'failed' ? e.code : e.type))).toContain('SESSION_EXPIRED');
  });

  it('a replayed old initiation never replaces a working session', () => {
    const { a, b, ca, init } = ikHandshake();
    confirm(1, a, b, ca, 0, 0);
    const cb = b.ep.channel(a.ep.identity.publicKey) as SecureChannel;
    const hash = cb.handshakeHash;
    // Much later, an attacker replays A's initiation (the duplicate cache has expired): its
    // timestamp is not newer than the last one accepted from A.
    run([a, b], 1, { until: 50_000 });
    for (const w of init)
      expect(b.ep.handle(50_000, { host: '6.6.6.6', port: 9 }, w.data)).toEqual({
        type: 'dropped',
        reason: 'replayed_init',
      });
    expect(cb.awaitingConfirmation).toBe(false);
    expect(cb.handshakeHash).toEqual(hash);
    expect(b.ep.handle(50_001, a.addr, ca.seal(1, Uint8Array.of(1)))).toMatchObject({ type: 'data' });
    expect(cb.handshakeHash).toEqual(hash);
  });
});

describe('peer restart', () => {
  it('a restarted peer (same identity, no state) reconnects; the old session is replaced once it proves the new keys', () => {
    const { b, cb } = establishedPair();
    const oldHash = cb.handshakeHash;
    // A restarts: a fresh endpoint with the same identity dials B again.
    const a2 = side(1, '10.0.0.1', { random: seededRandom(999) });
    const ca2 = a2.ep.connect(100, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a2, b], 100, { stopWhen: () => ca2.isEstablished });
    expect(ca2.isEstablished).toBe(true);
    expect(ca2.handshakeHash).not.toEqual(oldHash);
    expect(cb.handshakeHash).toEqual(oldHash); // not yet confirmed
    expect(b.ep.handle(101, a2.addr, ca2.seal(0, Uint8Array.of(1)))).toMatchObject({ type: 'data' });
    expect(cb.handshakeHash).toEqual(ca2.handshakeHash);
    collect(101, [b]);
    expect(b.events.map((e) => e.type)).toEqual(['established', 'rekeyed']);
    expect(a2.ep.handle(101, b.addr, cb.seal(0, Uint8Array.of(2)))).toMatchObject({ type: 'data' });
  });

  it('a duplicate initiation is not answered once the state it created is gone', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const init = collect(0, [a]);
    for (const w of init) deliver(0, [a, b], w);
    expect(collect(0, [b])).toHaveLength(1);
    for (const w of init) deliver(1, [a, b], w);
    expect(collect(1, [b])).toHaveLength(1); // answered from the cache
    b.ep.channel(a.ep.identity.publicKey)?.close();
    for (const w of init)
      expect(b.ep.handle(2, a.addr, w.data)).toEqual({ type: 'dropped', reason: 'duplicate_init' });
    expect(collect(2, [b])).toHaveLength(0);
  });

  it('the cached answer of an IK initiation is dropped at key confirmation: a late copy is a replay', () => {
    const { a, b, ca, init } = ikHandshake();
    expect(ca.isEstablished).toBe(true);
    // unconfirmed: a retransmitted initiation is answered from the cache
    for (const w of init) deliver(1, [a, b], w);
    expect(collect(1, [b])).toHaveLength(1);
    // A sends under the keys: B confirms them, and A holds the answer (it will not retransmit)
    expect(b.ep.handle(2, a.addr, ca.seal(0, Uint8Array.of(1)))).toMatchObject({ type: 'data' });
    for (const w of init)
      expect(b.ep.handle(3, a.addr, w.data)).toEqual({ type: 'dropped', reason: 'replayed_init' });
    expect(collect(3, [b])).toHaveLength(0);
    // the session is untouched
    expect(b.ep.handle(4, a.addr, ca.seal(1, Uint8Array.of(2)))).toMatchObject({ type: 'data' });
  });
});
