import { describe, expect, it } from 'vitest';
import { ADDR_B, randomBytes, sha256, simPair, Writer } from './helpers.js';

describe('Endpoint over @srmudp/sim', () => {
  it('IK connect: one connected event per side, outgoing flags, path', () => {
    const { net, a, b } = simPair('ik-connect');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    expect(conn.state).toBe('handshaking');
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    const [ca] = a.connected();
    const [cb] = b.connected();
    expect(ca?.outgoing).toBe(true);
    expect(cb?.outgoing).toBe(false);
    expect(ca?.remoteKey).toEqual(b.key);
    expect(cb?.remoteKey).toEqual(a.key);
    expect(ca?.path).toEqual({ kind: 'direct', address: ADDR_B });
    expect(conn.state).toBe('established');
    expect(a.ep.stats().connections).toBe(1);
  });

  it('streams and messages arrive intact', () => {
    const { net, a, b } = simPair('ik-stream');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    const data = randomBytes('payload', 256 * 1024);
    const sid = conn.openStream();
    const w = new Writer(conn, sid, data);
    a.onEvent = (e) => {
      if (e.type === 'writable') w.pump();
    };
    w.pump();
    for (let i = 0; i < 20; i++) expect(conn.sendMessage(randomBytes(`m${i}`, 10 + i * 500))).toBe(true);
    net.drive({
      until: () => b.messages.length === 20 && [...b.sinks.values()].some((s) => s.finished),
      maxTimeMs: 30_000,
    });
    const sink = [...b.sinks.values()][0]!;
    expect(sink.bytes).toBe(data.length);
    expect(sha256(sink.chunks)).toBe(sha256(data));
    expect(b.messages.map((m) => sha256(m.data))).toEqual(
      Array.from({ length: 20 }, (_, i) => sha256(randomBytes(`m${i}`, 10 + i * 500))),
    );
  });

  it('stream_finished fires once FIN and every byte before it arrived, before the app reads; once', () => {
    const { net, a, b } = simPair('fin-contract', {
      link: { latencyMs: 5, reorder: 0.1, reorderDelayMs: 4 },
    });
    b.autoRead = false;
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    const data = randomBytes('fin', 100_000);
    const sid = conn.openStream();
    expect(conn.write(sid, data)).toBe(data.length);
    conn.finish(sid);
    net.drive({ until: () => b.count('stream_finished') > 0, maxTimeMs: 10_000 });
    const bc = b.ep.connection(b.connected()[0]!.id)!;
    const chunks: Uint8Array[] = [];
    for (let d = bc.read(net.now, sid, 4096); d !== null; d = bc.read(net.now, sid, 4096)) chunks.push(d);
    expect(chunks.every((c) => c.length <= 4096)).toBe(true);
    expect(sha256(chunks)).toBe(sha256(data));
    net.runFor(1000);
    b.drain();
    expect(b.count('stream_finished')).toBe(1);
  });
});
