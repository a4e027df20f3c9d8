import { describe, expect, it } from 'vitest';
import { ADDR_A, ADDR_B, randomBytes, sha256, simPair, Writer } from './helpers.js';

const MiB = 1024 * 1024;

describe('connection migration', () => {
  it('client rebinds to a new port mid-transfer (NAT rebinding): transfers complete, path_changed', () => {
    const { net, a, b } = simPair('rebind', { link: { latencyMs: 10, loss: 0.01 } });
    const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    const bid = b.connected()[0]!.id;
    const cb = b.ep.connection(bid)!;
    // both directions at once
    const up = randomBytes('up', MiB);
    const down = randomBytes('down', MiB);
    const su = ca.openStream();
    const sd = cb.openStream();
    const wu = new Writer(ca, su, up);
    const wd = new Writer(cb, sd, down);
    a.onEvent = (e) => e.type === 'writable' && wu.pump();
    b.onEvent = (e) => e.type === 'writable' && wd.pump();
    wu.pump();
    wd.pump();
    net.drive({
      until: () => b.sink(bid, su).bytes > MiB / 4 && a.sink(ca.id, sd).bytes > MiB / 4,
      maxTimeMs: 30_000,
    });
    expect(b.sink(bid, su).finished).toBe(false);
    const rebound = { host: ADDR_A.host, port: 50_001 };
    net.moveHost('a', [rebound]);
    net.drive({
      until: () => b.sink(bid, su).finished && a.sink(ca.id, sd).finished,
      maxTimeMs: 60_000,
    });
    expect(sha256(b.sink(bid, su).chunks)).toBe(sha256(up));
    expect(sha256(a.sink(ca.id, sd).chunks)).toBe(sha256(down));
    const changed = b.find('path_changed');
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({ id: bid, path: { kind: 'direct', address: rebound } });
    expect(cb.path).toEqual({ kind: 'direct', address: rebound });
    expect(cb.stats().path).toEqual({ kind: 'direct', address: rebound });
    // the client's view did not change
    expect(a.count('path_changed')).toBe(0);
    expect(a.count('closed') + b.count('closed')).toBe(0);
  });

  it('a network change to a new IP while idle: the next packets migrate the connection', () => {
    const { net, a, b } = simPair('move-ip', { a: { keepaliveMs: 1000 } });
    const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
    const moved = { host: '10.7.7.7', port: 4433 };
    net.moveHost('a', [moved]);
    net.drive({ until: () => b.count('path_changed') > 0, maxTimeMs: 5000 });
    expect(b.find('path_changed')[0]?.path).toEqual({ kind: 'direct', address: moved });
    ca.sendMessage(new TextEncoder().encode('from the new network'));
    net.drive({ until: () => b.messages.length > 0, maxTimeMs: 5000 });
    const cb = b.ep.connection(b.connected()[0]!.id)!;
    cb.sendMessage(new TextEncoder().encode('reply'));
    net.drive({ until: () => a.messages.length > 0, maxTimeMs: 5000 });
    expect(new TextDecoder().decode(a.messages[0]!.data)).toBe('reply');
  });
});
