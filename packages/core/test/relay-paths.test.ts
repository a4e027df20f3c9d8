import { connectViaPolicy, createVoucher, groupPolicy, openPolicy, relayService } from '@srmudp/relay';
import { Network } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import type { ConnectionApi, EndpointConfig } from '../src/api.js';
import { CloseCode, DEFAULTS } from '../src/defaults.js';
import { identity, randomBytes, SimEndpoint, sha256, Writer } from './helpers.js';

const MiB = 1024 * 1024;
let nonces = 0;
const rnd = (n: number) => randomBytes(`voucher-nonce-${nonces++}`, n);
const A = { host: '192.0.2.1', port: 4433 };
const B = { host: '198.51.100.2', port: 4433 };
const R = { host: '203.0.113.9', port: 4433 };
/** a gate's lifted rate (the sim links have no bandwidth limit; 1 MiB/s is the public-relay default) */
const LIFTED = { rateBytesPerSec: 64 * MiB, burstBytes: 4 * MiB };

/**
 * a and b cannot reach each other (every datagram between them is lost: symmetric NATs both);
 * r is reachable by both and serves as a relay. a and b have hop sessions with r.
 */
function trio(
  seed: string,
  rConfig: Partial<EndpointConfig>,
  latencyMs = 10,
  abConfig: Partial<EndpointConfig> = {},
) {
  const net = new Network({ seed, defaultLink: { latencyMs } });
  const a = new SimEndpoint('a', abConfig);
  const b = new SimEndpoint('b', abConfig);
  const r = new SimEndpoint('r', rConfig);
  r.recordSent = true;
  net.addHost('a', a, [A]);
  net.addHost('b', b, [B]);
  net.addHost('r', r, [R]);
  net.setPath('a', 'b', { latencyMs, loss: 1 });
  a.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
  b.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
  net.drive({
    until: () => a.count('connected') === 1 && b.count('connected') === 1 && r.count('connected') === 2,
    maxTimeMs: 5000,
  });
  expect(r.count('connected')).toBe(2);
  // the relay greets its clients (STATUS) in their hop sessions
  net.runFor(200);
  return { net, a, b, r };
}

/** trio() with a relayed e2e connection from a to b (`ca`), settled for a second. */
function relayedPair(seed: string) {
  const t = trio(seed, { relay: { serve: relayService({ policy: openPolicy(), limits: LIFTED }) } });
  const { net, a, b, r } = t;
  const ca = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
  net.drive({
    until: () => a.connected().length === 2 && b.connected().length === 2,
    maxTimeMs: 10_000,
  });
  net.runFor(1000);
  return { ...t, ca };
}

/** a's voucher for a circuit through `r` to `b`, valid 60 s. */
function voucherOfA(r: SimEndpoint, b: SimEndpoint, now: number): Uint8Array {
  return createVoucher(identity('a'), { relay: r.key, target: b.key, expiresAt: now + 60_000 }, rnd);
}

function connectionTo(ep: SimEndpoint, key: Uint8Array): ConnectionApi {
  const ev = ep.connected().find((e) => e.remoteKey.every((x, i) => x === key[i]));
  if (ev === undefined) throw new Error(`${ep.name} has no connection to that key`);
  return ep.ep.connection(ev.id) as ConnectionApi;
}

/** Sends `data` one way on a new stream; returns the receiver's sink reader. */
function send(from: SimEndpoint, conn: ConnectionApi, to: SimEndpoint, data: Uint8Array) {
  const sid = conn.openStream();
  const w = new Writer(conn, sid, data);
  const prev = from.onEvent;
  from.onEvent = (e, self) => {
    prev?.(e, self);
    if (e.type === 'writable' && e.id === conn.id) w.pump();
  };
  w.pump();
  const toId = () => to.connected().find((e) => e.remoteKey.every((x, i) => x === from.key[i]))?.id ?? -1;
  return { sid, w, done: () => to.sink(toId(), sid).finished, sink: () => to.sink(toId(), sid) };
}

// the sim runs every packet through three endpoints: generous timeouts for a loaded machine
describe('relayed paths (core, sim)', { timeout: 180_000 }, () => {
  it('two peers that cannot reach each other connect through a relay: 256 KiB each way, the relay cannot read', () => {
    const { net, a, b, r } = trio('relay-basic', {
      relay: { serve: relayService({ policy: openPolicy(), limits: LIFTED }) },
    });
    const ca = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({
      until: () => a.connected().length === 2 && b.connected().length === 2,
      maxTimeMs: 10_000,
    });
    const aev = a.connected().find((e) => e.id === ca.id);
    expect(aev?.path.kind).toBe('relayed');
    expect(aev?.path.kind === 'relayed' && Buffer.from(aev.path.via).equals(Buffer.from(r.key))).toBe(true);
    const cb = connectionTo(b, a.key);
    expect(cb.path?.kind).toBe('relayed');
    expect(cb.stats().pmtu).toBeLessThanOrEqual(1448);

    const up = randomBytes('relay-up', 256 * 1024);
    const down = randomBytes('relay-down', 256 * 1024);
    const s1 = send(a, ca, b, up);
    const s2 = send(b, cb, a, down);
    net.drive({ until: () => s1.done() && s2.done(), maxTimeMs: 120_000 });
    expect(sha256(s1.sink().chunks)).toBe(sha256(up));
    expect(sha256(s2.sink().chunks)).toBe(sha256(down));
    const rs = r.ep.relayStats();
    expect(rs?.circuits).toBe(1);
    expect(rs?.bytesForwarded).toBeGreaterThan(512 * 1024);
    // cannot read: no 32-byte window of either payload appears in anything the relay sent
    const probes = [up, down].flatMap((d) =>
      [0, 100_000, 200_000, 256 * 1024 - 64].map((o) => Buffer.from(d.subarray(o, o + 32))),
    );
    let scanned = 0;
    for (const t of r.sent) {
      const buf = Buffer.from(t.data);
      scanned += buf.length;
      for (const p of probes) expect(buf.indexOf(p)).toBe(-1);
    }
    expect(scanned).toBeGreaterThan(512 * 1024);
  });

  it('dialled twice through the same relay while handshaking: one circuit, not two', () => {
    const { net, a, b, r } = trio('relay-dial-twice', {
      relay: { serve: relayService({ policy: openPolicy(), limits: LIFTED }) },
    });
    const ca = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    // a second dial of the same peer through the same relay (srmudp's 'always' mode and its
    // dialer both ask): the pending circuit request serves both
    const again = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    expect(again.id).toBe(ca.id);
    net.drive({
      until: () => a.connected().length === 2 && b.connected().length === 2,
      maxTimeMs: 10_000,
    });
    net.runFor(2_000);
    expect(r.ep.relayStats()?.circuits).toBe(1);
    const s = send(a, ca, b, randomBytes('relay-twice', 64 * 1024));
    net.drive({ until: () => s.done(), maxTimeMs: 60_000 });
    expect(r.ep.relayStats()?.circuits).toBe(1);
  });

  it('a circuit that closes (our hop session with the relay went down) is a lost path at once, not after 3 PTOs', () => {
    const { net, a, b, r } = trio('relay-route-closed', {
      relay: { serve: relayService({ policy: openPolicy(), limits: LIFTED }) },
    });
    a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({
      until: () => a.connected().length === 2 && b.connected().length === 2,
      maxTimeMs: 10_000,
    });
    net.runFor(1000);
    expect(a.count('path_lost')).toBe(0);
    // the hop session with the relay ends (a WebSocket that dropped, a relay that restarted): the
    // idle e2e connection has nothing in flight, so no probe timeout would tell it for a long time
    connectionTo(a, r.key).close(net.now);
    net.drive({ until: () => a.count('path_lost') >= 1, maxTimeMs: 3000 });
    expect(a.count('path_lost')).toBe(1);
    expect(a.ep.stats().drops.relay_channel_closed).toBeGreaterThanOrEqual(1);
  });

  it('a peer whose endpoint closes (e2e session relayed, hop session with the relay): its CLOSE reaches the other end', () => {
    const { net, a, b, r, ca } = relayedPair('relay-close-then-leave');
    const closedBefore = a.count('closed');
    // b's endpoint closes (node.close()): its e2e CLOSE (a channel datagram) and its hop session's
    // CLOSE leave in one turn and reach the relay together. b must send the first while its hop
    // session is up (closing it ends b's relay client of it), and the relay must forward it before
    // the second ends the circuit (a datagram still queued for a closed circuit is dropped);
    // otherwise a only hears peer_gone and keeps the session until its idle timeout
    b.ep.close(net.now);
    net.drive({ until: () => a.count('closed') > closedBefore, maxTimeMs: 3000 });
    const ev = a.events.find((e) => e.type === 'closed' && e.id === ca.id);
    expect(ev?.type === 'closed' && ev.remote).toBe(true);
    expect(r.ep.relayStats()?.dropped.circuit_closed).toBe(0);
    expect(b.ep.stats().drops.relay_route_gone ?? 0).toBe(0);
  });

  it("the relay reads a leaving peer's CLOSE and its hop session's CLOSE in one batch: it forwards the first", () => {
    const { net, a, b, r, ca } = relayedPair('relay-close-one-batch');
    // b's last datagrams, handed to the relay back to back with no output polled in between (a
    // socket driver reads a batch before it polls)
    b.ep.close(net.now);
    const last: Uint8Array[] = [];
    for (let t = b.ep.pollTransmit(net.now); t !== null && last.length < 16; t = b.ep.pollTransmit(net.now))
      if (t.to.host === R.host) last.push(t.data.slice());
    expect(last.length).toBeGreaterThanOrEqual(2);
    for (const d of last) r.ep.handle(net.now, B, d);
    net.drive({ until: () => a.events.some((e) => e.type === 'closed' && e.id === ca.id), maxTimeMs: 3000 });
    const ev = a.events.find((e) => e.type === 'closed' && e.id === ca.id);
    expect(ev?.type === 'closed' && ev.remote).toBe(true);
    expect(r.ep.relayStats()?.dropped.circuit_closed).toBe(0);
  });

  it('the relay reports the peer gone and the relayed route was its only path: closed with PEER_GONE after the grace period', () => {
    const { net, a, b, r, ca } = relayedPair('relay-peer-gone');
    // b's hop session with the relay ends (its WebSocket dropped, its host left the network):
    // the relay closes the circuit with peer_gone; a has no other path to b
    connectionTo(b, r.key).close(net.now);
    net.drive({ until: () => a.count('path_lost') >= 1, maxTimeMs: 3000 });
    const lostAt = net.now;
    expect(a.count('closed')).toBe(0);
    // without the rule a would wait for its idle timeout (30 s)
    net.drive({
      until: () => a.events.some((e) => e.type === 'closed' && e.id === ca.id),
      maxTimeMs: 10_000,
    });
    const ev = a.events.find((e) => e.type === 'closed' && e.id === ca.id);
    expect(ev).toMatchObject({ code: CloseCode.PEER_GONE, remote: false });
    expect(ev?.type === 'closed' && ev.reason).toMatch(/peer gone/);
    expect(net.now - lostAt).toBeGreaterThanOrEqual(DEFAULTS.peerGoneGraceMs - 100);
    expect(net.now - lostAt).toBeLessThan(DEFAULTS.peerGoneGraceMs + 1000);
    expect(ca.state).toBe('closed');
  });

  it('the relay reports the peer gone, and it comes back with a new circuit within the grace period: the connection carries on', () => {
    const { net, a, b, r, ca } = relayedPair('relay-peer-back');
    const hop = connectionTo(b, r.key);
    hop.close(net.now);
    net.drive({ until: () => a.count('path_lost') >= 1, maxTimeMs: 3000 });
    const lostAt = net.now;
    // b opens a new hop session with the relay and asks it for a circuit to a again
    b.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
    net.drive({ until: () => b.ep.relays().length === 1, maxTimeMs: 3000 });
    const cb = connectionTo(b, a.key);
    b.ep.connect(net.now, { addresses: [], remoteKey: a.key, relays: [{ key: r.key }] });
    // the new circuit: b validates it and moves there, a follows (a migration to the new route)
    net.drive({ until: () => a.find('path_changed').some((e) => e.id === ca.id), maxTimeMs: 4000 });
    expect(net.now - lostAt).toBeLessThan(DEFAULTS.peerGoneGraceMs);
    expect(ca.path?.kind).toBe('relayed');
    net.runFor(DEFAULTS.peerGoneGraceMs + 1000);
    expect(a.events.some((e) => e.type === 'closed' && e.id === ca.id)).toBe(false);
    expect(ca.state).toBe('established');
    const before = a.messages.length;
    cb.sendMessage(new TextEncoder().encode('back'));
    net.drive({ until: () => a.messages.length > before, maxTimeMs: 3000 });
    expect(new TextDecoder().decode(a.messages[before]!.data)).toBe('back');
  });

  it('the relay cannot forge: a flipped byte in a forwarded datagram is dropped by the end', () => {
    const { net, a, b, r } = trio('relay-forge', {
      relay: { serve: relayService({ policy: openPolicy(), limits: LIFTED }) },
    });
    const ca = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({ until: () => b.connected().length === 2, maxTimeMs: 10_000 });
    net.runFor(500);
    // hold what the relay forwards to b, so the tampered copies arrive first
    net.setPath('r', 'b', { latencyMs: 10, loss: 1 });
    const mark = r.sent.length;
    const msg = randomBytes('forge-msg', 600);
    ca.sendMessage(msg);
    net.runFor(40);
    const fwd = r.sent.slice(mark).find((t) => t.to.host === B.host && t.data.length > 600);
    expect(fwd).toBeDefined();
    const before = b.ep.stats().drops;
    for (const at of [40, 300, fwd!.data.length - 1]) {
      const forged = fwd!.data.slice();
      forged[at]! ^= 0x01;
      b.ep.handle(net.now, R, forged);
      b.drain();
    }
    const after = b.ep.stats().drops;
    expect((after.decrypt_failed ?? 0) - (before.decrypt_failed ?? 0)).toBe(3);
    expect(b.messages).toHaveLength(0);
    // the genuine datagram still gets through afterwards (the forgeries did not poison the window)
    b.ep.handle(net.now, R, fwd!.data.slice());
    b.drain();
    expect(b.messages).toHaveLength(1);
    expect(Buffer.from(b.messages[0]!.data).equals(Buffer.from(msg))).toBe(true);
    expect(connectionTo(b, a.key).state).toBe('established');
  });

  it('connect-via: a circuit without a valid voucher is refused; with the requester’s voucher it binds', () => {
    const { net, a, b, r } = trio('relay-voucher', {
      relay: { serve: relayService({ policy: connectViaPolicy(), limits: LIFTED }) },
    });
    const c1 = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({ until: () => a.count('connect_failed') === 1, maxTimeMs: 20_000 });
    const failed = a.find('connect_failed')[0]!;
    expect(failed.id).toBe(c1.id);
    expect(failed.error.code).toBe('RELAY_REFUSED');
    expect(failed.error.message).toContain('voucher_invalid');
    // a voucher signed by someone else than the requester is refused as well
    const mallory = identity('mallory');
    const wrong = createVoucher(mallory, { relay: r.key, target: b.key, expiresAt: net.now + 60_000 }, rnd);
    a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key, voucher: wrong }] });
    net.drive({ until: () => a.count('connect_failed') === 2, maxTimeMs: 20_000 });
    expect(a.find('connect_failed')[1]!.error.message).toContain('voucher_invalid');
    // the requester's own voucher
    const voucher = voucherOfA(r, b, net.now);
    const c3 = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key, voucher }] });
    net.drive({ until: () => a.connected().some((e) => e.id === c3.id), maxTimeMs: 10_000 });
    expect(c3.path?.kind).toBe('relayed');
    expect(r.ep.relayStats()?.rejected.voucher_invalid).toBe(2);
  });

  it('connect-via between peers that all serve connect-via: channel data reaches the right side', () => {
    // every member of a gossip group may serve (any member can be an introducer): on the hop
    // a–r both ends are relays for each other, so r gets channel data from a both as a's relay
    // (a's circuit) and as a's client (none here); the channel numbers tell them apart
    const serve = { relay: { serve: relayService({ policy: connectViaPolicy(), limits: LIFTED }) } };
    const { net, a, b, r } = trio('relay-all-serve', serve, 10, serve);
    net.drive({
      until: () => a.ep.relays().length === 1 && r.ep.relays().length === 2,
      maxTimeMs: 5000,
    });
    expect(r.ep.relays().length).toBe(2); // a and b greeted r as relays too
    const voucher = voucherOfA(r, b, net.now);
    const c = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key, voucher }] });
    net.drive({ until: () => a.connected().some((e) => e.id === c.id), maxTimeMs: 10_000 });
    expect(c.path?.kind).toBe('relayed');
    const data = randomBytes('all-serve', 64 * 1024);
    const s = send(a, c, b, data);
    net.drive({ until: () => s.done(), maxTimeMs: 30_000 });
    expect(sha256(s.sink().chunks)).toBe(sha256(data));
    expect(r.ep.relayStats()?.packetsForwarded).toBeGreaterThan(40);
  });

  it('a gate admits its group only', () => {
    const group = new TextEncoder().encode('team');
    const { net, a, b, r } = trio('relay-gate', {
      relay: { serve: relayService({ policy: groupPolicy({ members: [identity('a').publicKey], group }) }) },
    });
    // b is not a member: a cannot reach it through the gate
    a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({ until: () => a.count('connect_failed') === 1, maxTimeMs: 20_000 });
    expect(a.find('connect_failed')[0]!.error.code).toBe('RELAY_REFUSED');
  });

  it('started relayed, moves to a validated direct path while data flows; streams carry on', () => {
    const { net, a, b, r } = trio(
      'relay-upgrade',
      { relay: { serve: relayService({ policy: openPolicy(), limits: LIFTED }) } },
      20,
    );
    const ca = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({ until: () => b.connected().length === 2, maxTimeMs: 10_000 });
    expect(ca.path?.kind).toBe('relayed');
    const cb = connectionTo(b, a.key);
    const up = randomBytes('relay-up2', 256 * 1024);
    const down = randomBytes('relay-down2', 256 * 1024);
    const s1 = send(a, ca, b, up);
    const s2 = send(b, cb, a, down);
    net.drive({ until: () => s1.sink().bytes > 32 * 1024, maxTimeMs: 60_000 });
    const relayedRtt = ca.stats().rttMs;
    // the NATs open (a punch through the relayed session would do this): b's address becomes a candidate
    net.setPath('a', 'b', { latencyMs: 5 });
    a.ep.connect(net.now, { addresses: [B], remoteKey: b.key });
    net.drive({ until: () => s1.done() && s2.done(), maxTimeMs: 120_000 });
    expect(sha256(s1.sink().chunks)).toBe(sha256(up));
    expect(sha256(s2.sink().chunks)).toBe(sha256(down));
    const changed = a.find('path_changed').filter((e) => e.id === ca.id);
    expect(changed[0]).toMatchObject({ reason: 'upgrade', path: { kind: 'direct', address: B } });
    expect(cb.path).toEqual({ kind: 'direct', address: A });
    expect(a.count('stream_reset') + b.count('stream_reset')).toBe(0);
    expect(ca.stats().rttMs).toBeLessThan(relayedRtt);
  });
});

describe('relay.serve', () => {
  it("takes @srmudp/relay's relayService(…) factory and builds the service with the endpoint's identity", () => {
    const built: Uint8Array[] = [];
    const factory = relayService({ policy: openPolicy() });
    const r = new SimEndpoint('r', {
      relay: {
        serve: (components) => {
          built.push(components.relayId);
          return factory(components);
        },
      },
    });
    expect(built).toEqual([r.key]);
    expect(r.ep.relayStats()).not.toBeNull();
    expect(new SimEndpoint('plain').ep.relayStats()).toBeNull();
  });

  it('anything but a factory (the policy object it took before) is a TypeError', () => {
    expect(() => new SimEndpoint('r', { relay: { serve: { policy: openPolicy() } as never } })).toThrow(
      new TypeError(
        '"relay.serve" expected a RelayServiceFactory (@srmudp/relay\'s relayService({ policy, limits? }))',
      ),
    );
  });
});
