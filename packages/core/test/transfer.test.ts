import { describe, expect, it } from 'vitest';
import { ADDR_A, ADDR_B, randomBytes, sha256, simPair, Writer } from './helpers.js';

const MiB = 1024 * 1024;
const LOSSY = { latencyMs: 15, jitterMs: 3, loss: 0.05, reorder: 0.05, reorderDelayMs: 8, duplicate: 0.03 };

describe('data over lossy links', () => {
  it('1 MiB stream, SHA-256 equal, under 5% loss + reordering + duplication', () => {
    const { net, a, b } = simPair('lossy-stream', { link: LOSSY });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 10_000 });
    const data = randomBytes('mib', MiB);
    const sid = conn.openStream();
    const w = new Writer(conn, sid, data);
    a.onEvent = (e) => e.type === 'writable' && w.pump();
    w.pump();
    const bid = () => b.connected()[0]?.id ?? -1;
    net.drive({ until: () => b.sink(bid(), sid).finished, maxTimeMs: 120_000 });
    const sink = b.sink(bid(), sid);
    expect(sink.bytes).toBe(MiB);
    expect(sha256(sink.chunks)).toBe(sha256(data));
    expect(b.count('stream_opened')).toBe(1);
    expect(b.count('stream_finished')).toBe(1);
    const st = conn.stats();
    expect(st.packetsLost).toBeGreaterThan(0);
    expect(st.state).toBe('established');
    expect(st.path).toEqual({ kind: 'direct', address: ADDR_B });
  });

  it('messages arrive whole and in order; unordered ones whole; datagrams unreliably', () => {
    const { net, a, b } = simPair('lossy-msg', { link: LOSSY });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 10_000 });
    const sizes = [1, 0, 1200, 5000, 64 * 1024, 300_000, 7, 2500];
    const msgs = sizes.map((n, i) => randomBytes(`msg${i}`, n));
    for (const m of msgs) expect(conn.sendMessage(m)).toBe(true);
    expect(conn.sendMessage(randomBytes('u', 40_000), { unordered: true })).toBe(true);
    let dgSent = 0;
    for (let i = 0; i < 50; i++) if (conn.sendDatagram(randomBytes(`dg${i}`, 100))) dgSent++;
    expect(dgSent).toBe(50);
    expect(conn.sendDatagram(new Uint8Array(5000))).toBe(false); // bigger than a packet
    net.drive({ until: () => b.messages.length === msgs.length + 1, maxTimeMs: 60_000 });
    const ordered = b.find('message').filter((m) => !m.unordered);
    expect(ordered.map((m) => sha256(m.data))).toEqual(msgs.map((m) => sha256(m)));
    const un = b.find('message').filter((m) => m.unordered);
    expect(un).toHaveLength(1);
    expect(sha256(un[0]!.data)).toBe(sha256(randomBytes('u', 40_000)));
    // datagrams: unreliable, but each one that arrived is intact
    expect(b.datagrams.length).toBeGreaterThan(25);
    const valid = new Set(Array.from({ length: 50 }, (_, i) => sha256(randomBytes(`dg${i}`, 100))));
    for (const d of b.datagrams) expect(valid.has(sha256(d.data))).toBe(true);
    expect(() => conn.sendMessage(new Uint8Array(9 * MiB))).toThrow(RangeError);
  });

  it('message backpressure: sendMessage returns false when full, message_writable follows', () => {
    const { net, a, b } = simPair('msg-bp', {
      a: { limits: { maxBufferedBytesPerConnection: 2 * MiB } },
      link: { latencyMs: 20, bandwidthBps: 50e6 },
    });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 10_000 });
    const chunk = randomBytes('chunk', 200_000);
    let sent = 0;
    while (conn.sendMessage(chunk)) sent++;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(10);
    const total = 20;
    a.onEvent = (e) => {
      if (e.type === 'message_writable') while (sent < total && conn.sendMessage(chunk)) sent++;
    };
    net.drive({ until: () => b.messages.length === total, maxTimeMs: 60_000 });
    expect(a.count('message_writable')).toBeGreaterThan(0);
    expect(b.messages.every((m) => m.data.length === chunk.length)).toBe(true);
  });
});

describe('close', () => {
  it('graceful close delivers all data first; the peer reads it after closed', () => {
    const { net, a, b } = simPair('graceful', { link: { latencyMs: 20, loss: 0.03 } });
    b.autoRead = false;
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 10_000 });
    const data = randomBytes('g', 200_000); // fits the receiver's stream window: b does not read until the end
    const sid = conn.openStream();
    const w = new Writer(conn, sid, data);
    w.pump();
    expect(w.done).toBe(true);
    conn.sendMessage(new TextEncoder().encode('last words'));
    conn.close(net.now, 0x100, 'bye');
    expect(conn.state).toBe('closing');
    expect(conn.write(sid, new Uint8Array(1))).toBe(0);
    net.drive({ until: () => b.count('closed') > 0, maxTimeMs: 20_000 });
    const [closed] = b.find('closed');
    expect(closed).toMatchObject({ code: 0x100, reason: 'bye', remote: true });
    expect(b.messages.map((m) => new TextDecoder().decode(m.data))).toEqual(['last words']);
    const bid = b.connected()[0]!.id;
    const bc = b.ep.connection(bid) ?? null;
    // buffered bytes stay readable after 'closed' through the connection object
    const holder = bc ?? (b as unknown as { lastConn: never }).lastConn;
    expect(holder).toBeTruthy();
    const chunks: Uint8Array[] = [];
    for (let d = holder.read(net.now, sid); d !== null; d = holder.read(net.now, sid)) chunks.push(d);
    expect(sha256(chunks)).toBe(sha256(data));
    net.drive({ until: () => a.count('closed') > 0, maxTimeMs: 20_000 });
    expect(a.find('closed')[0]).toMatchObject({ code: 0x100, remote: false });
    net.runFor(10_000);
    expect(a.ep.pollTimeout()).toBeNull();
    expect(b.ep.pollTimeout()).toBeNull();
    expect(conn.state).toBe('closed');
  });

  it('idle timeout: a vanished peer is reported closed by our own timer (remote: false)', () => {
    const { net, a, b } = simPair('idle', { a: { idleTimeoutMs: 3000, keepaliveMs: 1000 } });
    a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 10_000 });
    // keepalives keep it open while the peer is there
    net.runFor(10_000);
    expect(a.count('closed')).toBe(0);
    const t0 = net.now;
    net.removeHost('b');
    net.drive({ until: () => a.count('closed') > 0, maxTimeMs: 20_000 });
    const [c] = a.find('closed');
    expect(c).toMatchObject({ remote: false, code: 0x12 });
    expect(c?.reason).toBe('idle timeout: nothing received from the peer for 3 s');
    expect(net.now - t0).toBeLessThan(5000);
    expect(a.ep.stats().connections).toBe(0);
  });

  it('Endpoint.close closes every connection; both sides see closed once', () => {
    const { net, a, b } = simPair('ep-close');
    a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 10_000 });
    b.ep.close(net.now, 7, 'shutdown');
    net.drive({ until: () => a.count('closed') > 0 && b.count('closed') > 0, maxTimeMs: 20_000 });
    net.runFor(15_000);
    expect(a.count('closed')).toBe(1);
    expect(b.count('closed')).toBe(1);
    expect(a.find('closed')[0]).toMatchObject({ code: 7, reason: 'shutdown', remote: true });
    expect(b.ep.pollTimeout()).toBeNull();
    expect(() => b.ep.connect(net.now, { addresses: [ADDR_A] })).toThrow(
      expect.objectContaining({ code: 'ENDPOINT_CLOSED' }),
    );
  });
});
