import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { type CryptoBackend, nobleBackend } from '../src/backend.js';
import type { Identity } from '../src/identity.js';
import type { SecureChannel } from '../src/secure-channel.js';
import { SecureEndpoint } from '../src/secure-endpoint.js';
import { collect, deliver, identity, run, type Side, seededRandom, type Wire } from './helpers.js';

/**
 * Simultaneous initiation (both peers start IK at the same moment, as when both punch):
 * every interleaving of the messages in flight is explored exhaustively, with up to
 * MAX_FAULTS losses or duplications inserted at every possible point. Each schedule must end
 * with exactly one session on both sides (same handshake hash), one 'established' event per
 * side, no failure, and data flowing both ways.
 */
const MAX_FAULTS = Number(process.env.SRMUDP_INTERLEAVING_FAULTS ?? 1);
const timing = { handshakeRetransmitMs: 200, handshakeMaxRetransmitMs: 800, handshakeTimeoutMs: 10_000 };

/** Every replay of a schedule computes the same X25519 operations (seeded randomness), so the
 * noble results are memoised: the exploration then costs symmetric crypto only. */
function memoBackend(): CryptoBackend {
  const inner = nobleBackend();
  const dh = new Map<string, Uint8Array>();
  const pub = new Map<string, Uint8Array>();
  return {
    name: 'noble-memo',
    x25519(priv, p) {
      const k = bytesToHex(priv) + bytesToHex(p);
      let r = dh.get(k);
      if (!r) {
        r = inner.x25519(priv, p);
        dh.set(k, r);
      }
      return r.slice();
    },
    x25519Public(priv) {
      const k = bytesToHex(priv);
      let r = pub.get(k);
      if (!r) {
        r = inner.x25519Public(priv);
        pub.set(k, r);
      }
      return r.slice();
    },
    aeadSeal: inner.aeadSeal,
    aeadOpen: inner.aeadOpen,
  };
}
const backend = memoBackend();

type Action = 'deliver' | 'drop' | 'dup';
interface Choice {
  index: number;
  action: Action;
}

function sides(idA: Identity, idB: Identity): [Side, Side] {
  const mk = (id: Identity, host: string, seed: number): Side => ({
    ep: new SecureEndpoint({ identity: id, random: seededRandom(seed), timing, backend }),
    addr: { host, port: 5000 },
    events: [],
    received: [],
  });
  return [mk(idA, '10.0.0.1', 11), mk(idB, '10.0.0.2', 22)];
}

/** Replays a schedule from scratch; returns the state and the messages still in flight. */
function replay(idA: Identity, idB: Identity, schedule: Choice[]) {
  const [a, b] = sides(idA, idB);
  const ca = a.ep.connect(0, { address: b.addr, remoteKey: idB.publicKey });
  const cb = b.ep.connect(0, { address: a.addr, remoteKey: idA.publicKey });
  let inflight: Wire[] = collect(0, [a, b]);
  for (const c of schedule) {
    const w = inflight[c.index] as Wire;
    if (c.action !== 'dup') inflight.splice(c.index, 1);
    if (c.action !== 'drop') deliver(0, [a, b], w);
    inflight = inflight.concat(collect(0, [a, b]));
  }
  return { a, b, ca, cb, inflight };
}

function check(idA: Identity, idB: Identity, schedule: Choice[]): void {
  const { a, b, ca, cb, inflight } = replay(idA, idB, schedule);
  expect(inflight).toEqual([]);
  const label = JSON.stringify(schedule);
  const pns = new Map<SecureChannel, number>();
  const pn = (ch: SecureChannel) => {
    const n = pns.get(ch) ?? 0;
    pns.set(ch, n + 1);
    return n;
  };
  // The upper layer (core) sends a packet as soon as a channel can seal under new keys: it
  // confirms them to the peer (an IK responder's key confirmation, the early session of a
  // simultaneous open).
  const upper = (): Wire[] => {
    const out: Wire[] = [];
    for (const [from, to, ch] of [
      [a, b, ca],
      [b, a, cb],
    ] as const) {
      if (ch.isEstablished && ch.current?.sealedCount === 0)
        out.push({ from: from.addr, to: to.addr, data: ch.seal(pn(ch), new Uint8Array(0)) });
    }
    return out;
  };
  // Let retransmissions repair losses until neither side has an initiation out and both hold
  // keys (or one awaits key confirmation of a rekey), the upper layer sending at once.
  const settled = () =>
    ca.pending === null &&
    cb.pending === null &&
    (ca.isEstablished || ca.awaitingConfirmation) &&
    (cb.isEstablished || cb.awaitingConfirmation);
  let t = run([a, b], 0, { until: 30_000, stopWhen: settled, filter: (w) => [w, ...upper()] });
  expect(settled(), label).toBe(true);
  for (const [from, to, ch] of [
    [a, b, ca],
    [b, a, cb],
  ] as const) {
    if (ch.isEstablished && !ch.awaitingConfirmation) {
      const r = to.ep.handle(t, from.addr, ch.seal(pn(ch), new Uint8Array(0)));
      expect(r.type, label).toBe('data');
      // and the responder answers under the keys it now uses (its upper layer acknowledges)
      if (r.type === 'data') {
        const back = r.channel.seal(pn(r.channel), new Uint8Array(0));
        expect(from.ep.handle(t, to.addr, back).type, label).toBe('data');
      }
    }
  }
  const end = run([a, b], t, { until: 30_000 });
  expect(ca.isEstablished, label).toBe(true);
  expect(cb.isEstablished, label).toBe(true);
  expect(ca.handshakeHash, label).toEqual(cb.handshakeHash);
  // one connection per side: 'established' once; a 'rekeyed' (same connection, new keys) when
  // one side completed its own initiation before the other's reached it, so it answered that one
  // as a rekey
  for (const side of [a, b]) {
    expect(['established', 'established,rekeyed'], label).toContain(side.events.map((e) => e.type).join());
  }
  for (const ch of [ca, cb] as SecureChannel[]) {
    expect(ch.pending, label).toBeNull();
    expect(ch.next, label).toBeNull();
  }
  expect(a.ep.channels()).toHaveLength(1);
  expect(b.ep.channels()).toHaveLength(1);
  t = end + 1;
  expect(b.ep.handle(t, a.addr, ca.seal(pn(ca), Uint8Array.of(1))), label).toMatchObject({ type: 'data' });
  expect(a.ep.handle(t, b.addr, cb.seal(pn(cb), Uint8Array.of(2))), label).toMatchObject({ type: 'data' });
}

function explore(
  idA: Identity,
  idB: Identity,
  schedule: Choice[],
  faults: number,
  counter: { leaves: number },
): void {
  const { inflight } = replay(idA, idB, schedule);
  if (inflight.length === 0) {
    counter.leaves++;
    check(idA, idB, schedule);
    return;
  }
  for (let i = 0; i < inflight.length; i++) {
    explore(idA, idB, [...schedule, { index: i, action: 'deliver' }], faults, counter);
    if (faults < MAX_FAULTS && schedule.length < 8) {
      explore(idA, idB, [...schedule, { index: i, action: 'drop' }], faults + 1, counter);
      explore(idA, idB, [...schedule, { index: i, action: 'dup' }], faults + 1, counter);
    }
  }
}

describe('simultaneous IK initiation', () => {
  const id1 = identity(101);
  const id2 = identity(202);
  for (const [name, x, y] of [
    ['A has the smaller key', id1, id2],
    ['A has the larger key', id2, id1],
  ] as const) {
    it(`every interleaving (with up to ${MAX_FAULTS} loss/duplication) ends in one session: ${name}`, () => {
      const counter = { leaves: 0 };
      explore(x, y, [], 0, counter);
      expect(counter.leaves).toBeGreaterThanOrEqual(MAX_FAULTS === 0 ? 10 : 100);
    }, 120_000);
  }
});

/**
 * A late crossing (seen in the NAT lab: a symmetric NAT's side dialled for ~10 s through
 * addresses that never reached the peer, then the peer's initiation arrived through a birthday
 * hit): our initiation times out a moment after we answered the peer's. The session we answered
 * is the connection; it gets its own handshake timeout to be confirmed, not our initiation's.
 */
describe('a simultaneous open whose own initiation times out just after the crossing', () => {
  const nowhere = { host: '10.0.0.9', port: 4000 };
  function crossing() {
    const [a, b] = sides(identity(101), identity(202));
    // A dials an address nobody answers at (the NAT drops it): its initiation never arrives
    const ca = a.ep.connect(0, { address: nowhere, remoteKey: identity(202).publicKey });
    run([a, b], 0, { until: 9_900 });
    expect(ca.pending).not.toBeNull();
    const cb = b.ep.connect(9_900, { address: a.addr, remoteKey: identity(101).publicKey });
    // B's initiation reaches A at 9,950: A answers it (the early session of a simultaneous open)
    for (const w of collect(9_900, [a, b])) if (w.to.host === a.addr.host) deliver(9_950, [a, b], w);
    const toB = collect(9_950, [a, b]).filter((w) => w.to.host === b.addr.host);
    expect(a.events.map((e) => e.type)).toEqual(['established']);
    expect(toB.length).toBeGreaterThan(0);
    return { a, b, ca, cb, toB };
  }
  const failures = (s: Side) => s.events.filter((e) => e.type === 'failed');

  it('our initiation timing out at 10,000 leaves the session we answered at 9,950; the peer confirms it', () => {
    const { a, b, ca, cb, toB } = crossing();
    a.ep.handleTimeout(10_000); // A's own initiation: a handshake timeout old
    collect(10_000, [a, b]);
    expect(failures(a)).toEqual([]);
    expect(ca.pending).toBeNull();
    expect(ca.isEstablished).toBe(true);
    // A's response reaches B (late: a loaded path); B's first packet confirms the session at A
    for (const w of toB) deliver(10_050, [a, b], w);
    expect(cb.isEstablished).toBe(true);
    expect(a.ep.handle(10_060, b.addr, cb.seal(0, Uint8Array.of(7)))).toMatchObject({ type: 'data' });
    expect(ca.current?.confirmed).toBe(true);
    // A's upper layer answers at once (core does: an ACK), so B's keys count as answered
    expect(b.ep.handle(10_061, a.addr, ca.seal(0, Uint8Array.of(8)))).toMatchObject({ type: 'data' });
    const end = run([a, b], 10_061, { until: 60_000 });
    expect(failures(a)).toEqual([]);
    expect(failures(b)).toEqual([]);
    expect(ca.handshakeHash).toEqual(cb.handshakeHash);
    expect(a.events.map((e) => e.type)).toEqual(['established']);
    expect(b.events.map((e) => e.type)).toEqual(['established']);
    expect(b.ep.handle(end, a.addr, ca.seal(1, Uint8Array.of(1)))).toMatchObject({ type: 'data' });
    expect(a.ep.handle(end, b.addr, cb.seal(1, Uint8Array.of(2)))).toMatchObject({ type: 'data' });
  });

  it('a session we answered that the peer never confirms is given up one handshake timeout after it began', () => {
    const { a, ca } = crossing();
    // nothing from B reaches A any more (A never seals: no rekey for want of an answer)
    run([a], 9_950, { until: 19_949 });
    expect(failures(a)).toEqual([]);
    expect(ca.isEstablished).toBe(true);
    run([a], 19_949, { until: 19_950 });
    expect(failures(a).map((e) => (e as { code: string }).code)).toEqual(['HANDSHAKE_TIMEOUT']);
    expect(ca.isEstablished).toBe(false);
    expect(ca.state).toBe('failed');
  });
});
