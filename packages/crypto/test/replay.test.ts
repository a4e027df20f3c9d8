// Replayed initiations (issue 11): TAI64N timestamps in IK message 1 and key confirmation.
import { describe, expect, it } from 'vitest';
import { compareTimestamps, encodeTimestamp, TIMESTAMP_LENGTH, TimestampClock } from '../src/timestamp.js';
import { collect, confirm, deliver, run, seededRandom, side, type Wire } from './helpers.js';

describe('initiation timestamps (TAI64N)', () => {
  it('encode seconds since 1970 + 2^62 and nanoseconds, big-endian: byte order is time order', () => {
    const t = encodeTimestamp(1_700_000_000, 123_456_789);
    expect(t.length).toBe(TIMESTAMP_LENGTH);
    expect([...t.subarray(0, 8)]).toEqual([0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00]);
    expect(new DataView(t.buffer).getUint32(8)).toBe(123_456_789);
    expect(compareTimestamps(encodeTimestamp(5, 0), encodeTimestamp(4, 999_999_999))).toBeGreaterThan(0);
    expect(compareTimestamps(encodeTimestamp(2 ** 33, 0), encodeTimestamp(2 ** 32, 5))).toBeGreaterThan(0);
    expect(compareTimestamps(t, t.slice())).toBe(0);
  });

  it('a clock issues strictly increasing values, also within one millisecond and when now stalls', () => {
    const c = new TimestampClock(1_700_000_000_000);
    let last = c.next(0);
    for (const now of [0, 0, 0.25, 1, 1, 999.9999, 1000, 500]) {
      const t = c.next(now);
      expect(compareTimestamps(t, last)).toBeGreaterThan(0);
      last = t;
    }
  });

  it('a restarted process (monotonic clock from 0, wall-clock offset later) issues greater values', () => {
    const before = new TimestampClock(1_700_000_000_000).next(3_600_000); // an hour into the old run
    const after = new TimestampClock(1_700_000_000_000 + 3_600_000 + 5000).next(0.3); // 5 s later
    expect(compareTimestamps(after, before)).toBeGreaterThan(0);
  });
});

describe('replayed IK initiations', () => {
  function handshake() {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const init = collect(0, [a])[0] as Wire;
    deliver(0, [a, b], init);
    for (const w of collect(0, [b])) deliver(0, [a, b], w);
    expect(ca.isEstablished).toBe(true);
    return { a, b, ca, init };
  }

  it('after the peer left, a recorded initiation creates no state, no answer, no event', () => {
    const { a, b, ca, init } = handshake();
    confirm(1, a, b, ca, 0);
    b.ep.channel(a.ep.identity.publicKey)?.close(); // the connection ended
    a.ep.close(); // and A is gone
    b.events.length = 0;
    for (const at of [20_000, 20_001, 60_000]) {
      expect(b.ep.handle(at, a.addr, init.data)).toEqual({ type: 'dropped', reason: 'replayed_init' });
      expect(collect(at, [b])).toEqual([]);
    }
    expect(b.ep.channels()).toEqual([]);
    expect(b.events).toEqual([]);
    expect(b.ep.pendingHandshakes()).toBe(0);
  });

  it('an older initiation is refused after a newer one was accepted; a newer one still works', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const first = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const old = collect(0, [a])[0] as Wire; // captured, never delivered (an attacker held it back)
    first.close();
    const second = a.ep.connect(5, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b], 5, { stopWhen: () => second.isEstablished });
    confirm(6, a, b, second, 0);
    expect(b.ep.handle(7, a.addr, old.data)).toEqual({ type: 'dropped', reason: 'replayed_init' });
    expect(b.ep.channel(a.ep.identity.publicKey)?.awaitingConfirmation).toBe(false);
  });

  it('a held-back initiation delivered late makes no connection: it waits for key confirmation and expires', () => {
    const a = side(1, '10.0.0.1', { timing: { handshakeTimeoutMs: 3000 } });
    const b = side(2, '10.0.0.2', { timing: { handshakeTimeoutMs: 3000 } });
    a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const init = collect(0, [a])[0] as Wire;
    a.ep.close(); // the initiator is gone; nobody will ever use the keys
    expect(b.ep.handle(10, a.addr, init.data)).toEqual({ type: 'handshake' });
    expect(collect(10, [b])).toHaveLength(1); // the response (to nobody)
    const cb = b.ep.channel(a.ep.identity.publicKey);
    expect(cb?.isEstablished).toBe(false);
    expect(cb?.awaitingConfirmation).toBe(true);
    expect(b.ep.pendingHandshakes()).toBe(1);
    run([b], 10, { until: 10_000 });
    expect(b.events).toEqual([]); // never 'established', and no 'failed' for a channel nobody saw
    expect(b.ep.channels()).toEqual([]);
    expect(b.ep.pendingHandshakes()).toBe(0);
  });

  it('a dialled channel whose unconfirmed responder session expires reports HANDSHAKE_TIMEOUT', () => {
    // simultaneous start where the winner vanishes after answering: the loser answered the
    // winner's initiation (an early session, usable at once) and kept its own out; nothing ever
    // comes under either, so it must not wait forever
    const a = side(1, '10.0.0.1', { timing: { handshakeTimeoutMs: 3000 } });
    const b = side(2, '10.0.0.2', { timing: { handshakeTimeoutMs: 3000 } });
    const aSmaller = a.ep.identity.publicKey[0]! < b.ep.identity.publicKey[0]!;
    const [win, lose] = aSmaller ? [a, b] : [b, a];
    const cl = lose.ep.connect(0, { address: win.addr, remoteKey: win.ep.identity.publicKey });
    win.ep.connect(0, { address: lose.addr, remoteKey: lose.ep.identity.publicKey });
    const winInit = collect(0, [win])[0] as Wire;
    collect(0, [lose]);
    deliver(0, [a, b], winInit); // the loser answers the winner's initiation, keeps its own
    expect(cl.pendingIndex).not.toBeNull();
    expect(cl.isEstablished).toBe(true);
    expect(cl.isConfirmed).toBe(false);
    win.ep.close();
    run([lose], 0, { until: 10_000 });
    expect(lose.events.map((e) => (e.type === 'failed' ? e.code : e.type))).toEqual([
      'established',
      'HANDSHAKE_TIMEOUT',
    ]);
    expect(cl.isEstablished).toBe(false);
  });

  it('a restarted initiator (fresh state, same identity, later clock) is accepted', () => {
    const { a, b, ca } = handshake();
    confirm(1, a, b, ca, 0);
    const a2 = side(1, '10.0.0.1', { random: seededRandom(77), wallClockOffsetMs: 60_000 });
    const c2 = a2.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a2, b], 0, { stopWhen: () => c2.isEstablished });
    expect(c2.isEstablished).toBe(true);
  });

  it('a restarted initiator whose clock went back is refused until it passes the old value (as WireGuard)', () => {
    const a = side(1, '10.0.0.1', { wallClockOffsetMs: 100_000 });
    const b = side(2, '10.0.0.2');
    const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b], 0, { stopWhen: () => ca.isEstablished });
    const a2 = side(1, '10.0.0.1', { random: seededRandom(78), timing: { handshakeTimeoutMs: 2000 } });
    a2.ep.connect(1000, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a2, b], 1000, { until: 5000 });
    expect(b.ep.stats().dropped.replayed_init).toBeGreaterThan(0);
    expect(a2.events.map((e) => (e.type === 'failed' ? e.code : e.type))).toEqual(['HANDSHAKE_TIMEOUT']);
  });

  it('an IK initiation without a timestamp is refused (bad_payload)', async () => {
    const { encodePacketBytes, HandshakePattern, MAC_LENGTH, WIRE_VERSION } = await import('@srmudp/wire');
    const { HandshakeState } = await import('../src/noise/handshake-state.js');
    const { IK } = await import('../src/noise/patterns.js');
    const { prologue } = await import('../src/prologue.js');
    const { encodePayload } = await import('../src/options.js');
    const { mac1Key, writeMac1 } = await import('../src/macs.js');
    const { nobleBackend } = await import('../src/backend.js');
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const hs = new HandshakeState({
      pattern: IK,
      initiator: true,
      hash: 'BLAKE2s',
      backend: nobleBackend(),
      prologue: prologue(),
      s: { privateKey: a.ep.identity.x25519Private, publicKey: a.ep.identity.x25519Public },
      rs: b.ep.identity.x25519Public,
      random: seededRandom(5),
    });
    // an initiation as a release before this one built it: identity, index, phase, no timestamp
    const noise = hs.writeMessage(
      encodePayload({ senderIndex: 7, identityKey: a.ep.identity.publicKey, keyPhase: 0 }),
    );
    const d = encodePacketBytes({
      type: 'handshake_init',
      version: WIRE_VERSION,
      pattern: HandshakePattern.IK,
      senderIndex: 7,
      receiverIndex: 0,
      noise,
      mac1: new Uint8Array(MAC_LENGTH),
      mac2: new Uint8Array(MAC_LENGTH),
    });
    writeMac1(d, mac1Key(b.ep.identity.x25519Public));
    expect(b.ep.handle(0, a.addr, d)).toEqual({ type: 'dropped', reason: 'bad_payload' });
  });
});
