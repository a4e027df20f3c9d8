// Hostile peers at a live endpoint, on a virtual clock (issue 11; issue 21 item 2): replayed
// initiations, CLOSE after an idle period, cookie mode by load, half-open budgets, CLOSE first,
// and a deny-list in the accept policy met with the other form of a peer id.
import { peerIdentityHex, samePeer } from '@srmudp/crypto';
import { Network } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { countingBackend, Flooder, sources } from './attacker.js';
import { ADDR_A, ADDR_B, identity, SimEndpoint, simPair } from './helpers.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('the other form of a peer id', () => {
  it('accept.policy: a deny-list keyed by peerIdentityHex refuses a peer presenting its id with the sign bit flipped; a byte-for-byte one does not', () => {
    const real = identity('b');
    const other = real.publicKey.slice();
    other[31] = (other[31] as number) ^ 0x80;
    for (const [keyOf, refused] of [
      [peerIdentityHex, true],
      [(k: Uint8Array) => Buffer.from(k).toString('hex'), false],
    ] as const) {
      const denied = new Set([keyOf(real.publicKey)]);
      const { net, a, b } = simPair(`other-form-${refused}`, {
        a: { accept: { policy: (k) => !denied.has(keyOf(k)) } },
        b: { identity: { ...real, publicKey: other }, handshakeTimeoutMs: 3000 },
      });
      b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
      net.drive({
        until: () => a.count('connected') > 0 || b.count('connect_failed') > 0,
        maxTimeMs: 10_000,
      });
      if (refused) {
        expect(a.count('connected')).toBe(0);
        expect(b.count('connect_failed')).toBe(1);
      } else {
        const presented = a.connected()[0]!.remoteKey;
        expect(presented).toEqual(other);
        expect(samePeer(presented, real.publicKey)).toBe(true);
      }
    }
  });
});

describe('replayed handshake initiations', () => {
  it('an IK initiation replayed after the peer left creates no connection (timestamp + key confirmation)', () => {
    const { net, a, b } = simPair('replay', { a: { idleTimeoutMs: 2000 }, b: { idleTimeoutMs: 2000 } });
    b.recordSent = true;
    const conn = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    const init = b.sent.find((t) => t.data[0] === 0x81)?.data as Uint8Array;
    expect(init).toBeDefined();
    conn.close(net.now);
    net.drive({ until: () => a.count('closed') > 0, maxTimeMs: 5000 });
    // B is gone; 12 s later an attacker replays B's recorded initiation from B's old address
    net.removeHost('b');
    const replayer = new Flooder({
      from: [ADDR_B],
      to: ADDR_A,
      rate: 1000,
      startAt: net.now + 12_000,
      durationMs: 3,
      kind: 'replay',
      datagram: init,
    });
    net.addHost('replayer', replayer, [{ ...ADDR_B }]);
    net.runFor(12_000 + 40_000);
    expect(replayer.sent).toBe(3);
    expect(a.count('connected')).toBe(1); // the genuine one only
    expect(a.ep.stats().connections).toBe(0);
    expect(a.ep.stats().handshaking).toBe(0);
    expect(a.ep.stats().drops.replayed_init).toBeGreaterThan(0);
  });

  it('an unconfirmed responder session is no connection and expires with the handshake timeout', () => {
    // the initiator's first data packet never arrives: the responder never reports a connection
    const { net, a, b } = simPair('unconfirmed', { b: { handshakeTimeoutMs: 3000 } });
    net.setLink('a', 'b', { latencyMs: 10 });
    let dropData = true;
    net.setSendFilter('a', (t) => dropData && (t.data[0]! & 0xfe) === 0x90);
    a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    net.runFor(1000);
    expect(b.count('connected')).toBe(0);
    expect(b.ep.stats().handshaking).toBe(0);
    net.runFor(4000);
    expect(b.count('connected')).toBe(0);
    dropData = false;
    void b;
  });
});

describe('close() after an idle period', () => {
  it('sends CLOSE: the peer reports a remote close within ~1 RTT (no cached clock)', () => {
    const { net, a, b } = simPair('idle-close');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => conn.state === 'established' && b.count('connected') > 0, maxTimeMs: 5000 });
    const sid = conn.openStream();
    conn.write(sid, text('last words'));
    conn.finish(sid);
    net.drive({ until: () => b.count('stream_finished') > 0, maxTimeMs: 5000 });
    net.runFor(1000); // idle: nothing happens on A for a second
    const t0 = net.now;
    conn.close(net.now, 0, 'done');
    // what the façade's driver does next: timers first if due, then transmit
    const due = a.ep.pollTimeout();
    if (due !== null && due <= net.now) a.ep.handleTimeout(net.now);
    net.drive({ until: () => b.count('closed') > 0, maxTimeMs: 5000 });
    expect(b.find('closed')[0]).toMatchObject({ remote: true, code: 0, reason: 'done' });
    expect(net.now - t0).toBeLessThanOrEqual(3 * 20); // one-way 10 ms; generous
  });
});

describe('endpoint.close(): CLOSE first', () => {
  it('is sent ahead of queued data and the peer reports remote: true within ~1 RTT', () => {
    const { net, a, b } = simPair('close-first', { link: { latencyMs: 10, bandwidthBps: 8_000_000 } });
    b.autoRead = false;
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => conn.state === 'established' && b.count('connected') > 0, maxTimeMs: 5000 });
    const sid = conn.openStream();
    let queued = 0;
    for (let i = 0; i < 64; i++) queued += conn.write(sid, new Uint8Array(64 * 1024));
    expect(queued).toBeGreaterThan(1024 * 1024);
    net.runFor(50); // the transfer is under way, most of it still queued
    const t0 = net.now;
    a.ep.close(net.now, 0, 'node closed');
    net.drive({ until: () => b.count('closed') > 0, maxTimeMs: 20_000 });
    expect(b.find('closed')[0]).toMatchObject({ remote: true, reason: 'node closed' });
    expect(net.now - t0).toBeLessThan(200);
  });
});

describe('idle timeout', () => {
  it('is reported as local (remote: false, code 0x12)', () => {
    const { net, a, b } = simPair('idle-local', { a: { idleTimeoutMs: 2000 } });
    a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    net.removeHost('b'); // b vanishes without a word
    net.drive({ until: () => a.count('closed') > 0, maxTimeMs: 10_000 });
    expect(a.find('closed')[0]).toMatchObject({ remote: false, code: 0x12 });
    expect(a.find('closed')[0]?.reason).toMatch(/idle timeout/);
  });

  it('ends a connection that is draining towards a vanished peer', () => {
    const { net, a, b } = simPair('idle-drain', { a: { idleTimeoutMs: 1500 } });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => conn.state === 'established' && b.count('connected') > 0, maxTimeMs: 5000 });
    net.removeHost('b');
    const sid = conn.openStream();
    conn.write(sid, new Uint8Array(256 * 1024));
    conn.close(net.now); // graceful: waits for acknowledgements that never come
    expect(conn.state).toBe('closing');
    net.drive({ until: () => conn.state === 'closed', maxTimeMs: 20_000 });
    expect(net.now).toBeLessThan(1500 + 2000);
    expect(a.ep.stats().connections).toBe(0);
  });
});

describe('handshake floods (issue 11 targets, virtual clock)', () => {
  function server(seed: string, limits = {}) {
    const backend = countingBackend();
    const net = new Network({ seed, defaultLink: { latencyMs: 5 } });
    const s = new SimEndpoint('server', { cryptoBackend: backend, limits });
    net.addHost('server', s, [{ ...ADDR_B }]);
    const peer = new SimEndpoint('peer', { cryptoBackend: countingBackend() });
    net.addHost('peer', peer, [{ ...ADDR_A }]);
    return { net, s, peer, backend };
  }

  it('forged IK initiations with a valid mac1 switch cookies on by rate: no DH per forgery', () => {
    const { net, s, peer, backend } = server('flood-ik');
    const flood = new Flooder({
      from: sources(50, true),
      to: ADDR_B,
      rate: 20_000,
      startAt: 0,
      durationMs: 400,
      kind: 'ik',
      responderKey: s.key,
    });
    net.addHost('attacker', flood, sources(50, true));
    net.runFor(100);
    const c = peer.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: s.key });
    const t0 = net.now;
    net.drive({ until: () => c.state === 'established' && s.count('connected') > 0, maxTimeMs: 2000 });
    expect(c.state).toBe('established');
    expect(net.now - t0).toBeLessThan(2000);
    net.runFor(1000);
    expect(flood.sent).toBe(8000);
    // each forgery processed would cost a DH; under load they get a cookie reply (bounded per
    // source) instead, or are dropped over budget: a MAC or a counter lookup each
    const st = s.ep.stats();
    expect(backend.dh).toBeLessThan(300);
    expect(st.initiationsProcessed).toBeLessThan(100);
    expect((st.drops.under_load ?? 0) + (st.drops.rate_limited ?? 0)).toBeGreaterThan(7800);
    expect(st.cookieRepliesSent).toBeLessThan(1000);
  });

  it('cookie-answering half-open XX floods from 50 addresses do not lock a real peer out', () => {
    const { net, s, peer } = server('flood-xx', { maxPendingHandshakes: 64 });
    const from = sources(50, true);
    const flood = new Flooder({
      from,
      to: ADDR_B,
      rate: 400,
      startAt: 0,
      durationMs: 6000,
      kind: 'xx',
      answerCookies: true,
    });
    net.addHost('attacker', flood, from);
    net.runFor(3000); // the pending table is full of the attacker's half-open states
    const c = peer.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: s.key });
    const t0 = net.now;
    net.drive({ until: () => c.state === 'established' && s.count('connected') > 0, maxTimeMs: 2000 });
    expect(c.state).toBe('established');
    expect(net.now - t0).toBeLessThan(2000);
    expect(flood.replies.response).toBeGreaterThan(500); // the attacker did get half-open states
    net.runFor(4000);
    // after the flood a fresh peer connects at once
    const late = new SimEndpoint('late');
    net.addHost('late', late, [{ host: '10.0.0.9', port: 1 }]);
    const c2 = late.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: s.key });
    net.drive({ until: () => c2.state === 'established', maxTimeMs: 500 });
    expect(c2.state).toBe('established');
  });
});
