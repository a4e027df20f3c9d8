import { Network } from '@srmudp/sim';
import { decodeStun, encodeStun, StunMethod } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { CoreEndpoint } from '../src/endpoint.js';
import { ADDR_A, ADDR_B, identity, randomBytes, SimEndpoint, sha256, simPair, Writer } from './helpers.js';

describe('handshakes', () => {
  it('XX connect (no key): the dialler learns the key, both sides connected once', () => {
    const { net, a, b } = simPair('xx');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B] });
    expect(conn.remoteKey).toBeNull();
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    expect(a.connected()[0]?.remoteKey).toEqual(b.key);
    expect(b.connected()[0]?.remoteKey).toEqual(a.key);
    expect(conn.remoteKey).toEqual(b.key);
    expect(a.connected()[0]?.outgoing).toBe(true);
    expect(b.connected()[0]?.outgoing).toBe(false);
    expect(conn.sendMessage(new TextEncoder().encode('hi'))).toBe(true);
    net.drive({ until: () => b.messages.length === 1, maxTimeMs: 5000 });
    expect(new TextDecoder().decode(b.messages[0]?.data)).toBe('hi');
  });

  it('RTT is seeded by the handshake: both sides report the path RTT right after connecting', () => {
    // 40 ms one way = 80 ms RTT, far from the 333 ms default of RFC 9002 §6.2.2
    const { net, a, b } = simPair('rtt', { link: { latencyMs: 40 } });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    // the initiator has no ACK yet: its figure is the handshake round trip
    expect(conn.stats().rttMs).toBeGreaterThanOrEqual(79);
    expect(conn.stats().rttMs).toBeLessThan(120);
    // the IK responder times its answer to the initiator's first data packet (the ping)
    net.drive({ until: () => b.count('connected') > 0 && b.ep.stats().handshaking === 0, maxTimeMs: 5000 });
    net.runFor(41);
    const inc = b.ep.connection(b.connected()[0]?.id as number);
    expect(inc?.stats().rttMs).toBeGreaterThanOrEqual(79);
    expect(inc?.stats().rttMs).toBeLessThan(120);
  });

  it('simultaneous open: no handshake seed (the winner resent its initiation), yet both sides measure the RTT within one round trip', () => {
    // 40 ms one way. The winner of the crossing resends its initiation, so its handshake timing
    // is ambiguous (Karn) and not used; the first ACK of a data packet gives the figure.
    const { net, a, b } = simPair('rtt-simul', { link: { latencyMs: 40 } });
    const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    const cb = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    const measured = () => ca.stats().rttMeasured && cb.stats().rttMeasured;
    if (!measured()) {
      // before a sample the figure is RFC 9002's default and says so
      expect([ca.stats(), cb.stats()].some((s) => !s.rttMeasured && s.rttMs === 333)).toBe(true);
    }
    const t0 = net.now;
    net.drive({ until: measured, maxTimeMs: 1000 });
    expect(net.now - t0).toBeLessThanOrEqual(90);
    for (const s of [ca.stats(), cb.stats()]) {
      expect(s.rttMs).toBeGreaterThanOrEqual(79);
      expect(s.rttMs).toBeLessThan(100);
    }
  });

  it('a lost first initiation (no seed, Karn): rttMeasured is false until the first ACK, which gives the path RTT', () => {
    const { net, a, b } = simPair('rtt-lost-init', { link: { latencyMs: 40 } });
    // drop a's very first datagram (its initiation); the retransmission makes the handshake
    // timing ambiguous, so the RTT comes from the ACK of the first data packet
    let sent = 0;
    net.setSendFilter('a', () => sent++ === 0);
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 10_000 });
    expect(net.stats('a').dropped.filter).toBe(1);
    expect(conn.stats().rttMeasured).toBe(false);
    expect(conn.stats().rttMs).toBe(333);
    net.drive({ until: () => conn.stats().rttMeasured, maxTimeMs: 1000 });
    expect(conn.stats().rttMs).toBeGreaterThanOrEqual(79);
    expect(conn.stats().rttMs).toBeLessThan(90);
  });

  it('connect() to a key with a connection returns the same connection', () => {
    const { net, a, b } = simPair('same');
    const c1 = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    const c2 = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    expect(c2).toBe(c1);
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    const c3 = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    expect(c3.id).toBe(c1.id);
    // the responder dialling back gets its incoming connection
    const back = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    expect(back.id).toBe(b.connected()[0]?.id);
    net.runFor(3000);
    expect(a.count('connected')).toBe(1);
    expect(b.count('connected')).toBe(1);
  });

  it('simultaneous open: one connection per side, both outgoing, streams both ways', () => {
    const { net, a, b } = simPair('simul', { link: { latencyMs: 30 } });
    const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    const cb = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    net.runFor(3000);
    expect(a.count('connected')).toBe(1);
    expect(b.count('connected')).toBe(1);
    expect(a.connected()[0]).toMatchObject({ id: ca.id, outgoing: true });
    expect(b.connected()[0]).toMatchObject({ id: cb.id, outgoing: true });
    const sa = ca.openStream();
    const sb = cb.openStream();
    expect(sa % 2).not.toBe(sb % 2); // stream-id parity decided by keys, not by who dialled
    const da = randomBytes('da', 100_000);
    const db = randomBytes('db', 100_000);
    const wa = new Writer(ca, sa, da);
    const wb = new Writer(cb, sb, db);
    a.onEvent = (e) => e.type === 'writable' && wa.pump();
    b.onEvent = (e) => e.type === 'writable' && wb.pump();
    wa.pump();
    wb.pump();
    net.drive({
      until: () => b.sink(cb.id, sa).finished && a.sink(ca.id, sb).finished,
      maxTimeMs: 20_000,
    });
    expect(sha256(b.sink(cb.id, sa).chunks)).toBe(sha256(da));
    expect(sha256(a.sink(ca.id, sb).chunks)).toBe(sha256(db));
  });

  it('wrong key: connect_failed with a HANDSHAKE_* code, responder counts bad_mac1', () => {
    const { net, a, b } = simPair('wrong', { a: { handshakeTimeoutMs: 2000 } });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: identity('nobody').publicKey });
    net.drive({ until: () => a.count('connect_failed') > 0, maxTimeMs: 10_000 });
    const [f] = a.find('connect_failed');
    expect(f?.id).toBe(conn.id);
    expect(f?.error.code).toMatch(/^HANDSHAKE_/);
    expect(conn.state).toBe('closed');
    expect(a.count('closed')).toBe(0);
    expect(b.count('connected')).toBe(0);
    expect(b.ep.stats().drops.bad_mac1).toBeGreaterThan(0);
    expect(a.ep.stats().handshaking).toBe(0);
  });

  it('tries every candidate address in parallel; the answering one becomes the path', () => {
    const { net, a, b } = simPair('cands');
    const dead1 = { host: '10.9.9.9', port: 1 };
    const dead2 = { host: '10.0.0.2', port: 9999 };
    a.recordSent = true;
    const conn = a.ep.connect(net.now, { addresses: [dead1, ADDR_B, dead2], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    expect(conn.path).toEqual({ kind: 'direct', address: ADDR_B });
    const firstInits = a.sent.filter((t) => t.data[0] === 0x81);
    expect(new Set(firstInits.map((t) => `${t.to.host}:${t.to.port}`))).toEqual(
      new Set(['10.9.9.9:1', '10.0.0.2:4433', '10.0.0.2:9999']),
    );
  });

  it('send errors on every candidate fail the handshake fast with UNREACHABLE', () => {
    const ep = new CoreEndpoint({ identity: identity('x'), random: (n) => randomBytes(`r${n}`, n) }, 0);
    const target = { host: '10.1.1.1', port: 7 };
    const conn = ep.connect(0, { addresses: [target], remoteKey: identity('y').publicKey });
    expect(ep.pollTransmit(0)?.to).toEqual(target);
    ep.reportSendError(1, target, 'ECONNREFUSED');
    ep.reportSendError(2, target, 'ECONNREFUSED');
    const ev = ep.pollEvent();
    expect(ev).toMatchObject({ type: 'connect_failed', id: conn.id });
    expect(ev?.type === 'connect_failed' && ev.error.code).toBe('UNREACHABLE');
    expect(ep.stats().handshaking).toBe(0);
  });

  it('four endpoints in a full mesh (everyone dials everyone): 3 connections each, all messages', () => {
    const net = new Network({ seed: 'mesh', defaultLink: { latencyMs: 5, jitterMs: 2 } });
    const names = ['n0', 'n1', 'n2', 'n3'];
    const nodes = names.map((n) => new SimEndpoint(n));
    const addr = (i: number) => ({ host: `10.0.1.${i + 1}`, port: 4000 + i });
    nodes.forEach((n, i) => {
      net.addHost(n.name, n, [addr(i)]);
    });
    const conns = nodes.map((n, i) =>
      nodes.map((m, j) =>
        i === j ? null : n.ep.connect(net.now, { addresses: [addr(j)], remoteKey: m.key }),
      ),
    );
    net.drive({ until: () => nodes.every((n) => n.count('connected') === 3), maxTimeMs: 10_000 });
    net.runFor(2000);
    for (const n of nodes) {
      expect(n.count('connected')).toBe(3);
      expect(n.ep.stats().connections).toBe(3);
    }
    nodes.forEach((_, i) => {
      nodes.forEach((_, j) => {
        if (i !== j) expect(conns[i]![j]!.sendMessage(new TextEncoder().encode(`${i}->${j}`))).toBe(true);
      });
    });
    net.drive({ until: () => nodes.every((n) => n.messages.length === 3), maxTimeMs: 10_000 });
    nodes.forEach((n, j) => {
      const got = n.messages.map((m) => new TextDecoder().decode(m.data)).sort();
      expect(got).toEqual(names.map((_, i) => `${i}->${j}`).filter((s) => !s.startsWith(`${j}-`)));
    });
  });
});

describe('STUN on the endpoint socket', () => {
  it('answers binding requests with the mapped address; other STUN becomes a stun event', () => {
    const ep = new CoreEndpoint({ identity: identity('s'), random: (n) => randomBytes(`s${n}`, n) }, 0);
    const from = { host: '192.0.2.7', port: 5555 };
    const tid = randomBytes('tid', 12);
    const req = encodeStun(
      { class: 'request', method: StunMethod.Binding, transactionId: tid },
      { fingerprint: true },
    );
    ep.handle(0, from, req);
    const t = ep.pollTransmit(0);
    expect(t?.to).toEqual(from);
    const res = decodeStun(t!.data);
    expect(res.class).toBe('success');
    expect(res.transactionId).toEqual(tid);
    expect(res.xorMappedAddress).toMatchObject({ port: 5555 });
    expect(t!.data.length).toBeLessThanOrEqual(3 * req.length);
    const resp = encodeStun({ class: 'success', method: StunMethod.Binding, transactionId: tid });
    ep.handle(1, from, resp);
    expect(ep.pollEvent()).toMatchObject({ type: 'stun', from, data: resp });
  });

  it('stunResponder: false surfaces requests as events instead', () => {
    const ep = new CoreEndpoint(
      { identity: identity('s'), random: (n) => randomBytes(`s${n}`, n), stunResponder: false },
      0,
    );
    const req = encodeStun({
      class: 'request',
      method: StunMethod.Binding,
      transactionId: randomBytes('t', 12),
    });
    ep.handle(0, ADDR_A, req);
    expect(ep.pollTransmit(0)).toBeNull();
    expect(ep.pollEvent()?.type).toBe('stun');
  });
});

describe('API misuse', () => {
  const mk = () => new CoreEndpoint({ identity: identity('m'), random: (n) => randomBytes(`m${n}`, n) }, 0);
  it('throws exact errors', () => {
    const ep = mk();
    expect(() => ep.connect(0, { addresses: [] })).toThrow(
      new RangeError('"target.addresses" must not be empty'),
    );
    expect(() => ep.connect(0, { addresses: [{ host: 'x', port: 70000 }] })).toThrow(RangeError);
    expect(() => ep.connect(0, { addresses: [ADDR_B], remoteKey: new Uint8Array(31) })).toThrow(
      new TypeError('"target.remoteKey" expected a 32-byte Uint8Array'),
    );
    expect(() => ep.connect(0, { addresses: [ADDR_B], remoteKey: identity('m').publicKey })).toThrow(
      new RangeError('cannot connect to our own key'),
    );
    expect(
      () =>
        new CoreEndpoint(
          { identity: identity('m'), random: (n) => new Uint8Array(n), limits: { maxConnections: 0 } },
          0,
        ),
    ).toThrow(new RangeError('"limits.maxConnections" expected a positive integer, got 0'));
    const conn = ep.connect(0, { addresses: [ADDR_B], remoteKey: identity('q').publicKey });
    expect(() => conn.openStream()).toThrow(expect.objectContaining({ code: 'NOT_CONNECTED' }));
    expect(conn.write(0, new Uint8Array(1))).toBe(0);
    expect(conn.read(0, 0)).toBeNull();
  });
});

describe('one connection per peer', () => {
  it('an XX dial to a peer we already have an IK connection to is merged into it', () => {
    const { net, a, b } = simPair('merge');
    const ik = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    const xx = a.ep.connect(net.now, { addresses: [ADDR_B] });
    expect(xx.id).not.toBe(ik.id);
    net.runFor(3000);
    // no second connection on either side; the XX dial fails with ALREADY_CONNECTED naming it
    expect(a.count('connected')).toBe(1);
    const [f] = a.find('connect_failed');
    expect(f?.id).toBe(xx.id);
    expect(f?.error.code).toBe('ALREADY_CONNECTED');
    expect((f!.error.cause as { connectionId: number }).connectionId).toBe(ik.id);
    expect(b.count('connected')).toBe(1);
    expect(a.ep.stats().connections).toBe(1);
    // and the merged connection still carries data both ways
    ik.sendMessage(new TextEncoder().encode('after merge'));
    const bc = b.ep.connection(b.connected()[0]!.id)!;
    bc.sendMessage(new TextEncoder().encode('back'));
    net.drive({ until: () => b.messages.length > 0 && a.messages.length > 0, maxTimeMs: 5000 });
    expect(new TextDecoder().decode(b.messages[0]!.data)).toBe('after merge');
    expect(new TextDecoder().decode(a.messages[0]!.data)).toBe('back');
  });
});
