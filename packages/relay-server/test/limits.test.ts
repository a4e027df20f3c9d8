import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { encodeChannelData } from '@srmudp/relay';
import type { WsStateChange, WsTransport } from '@srmudp/transport-ws';
import { afterEach, describe, expect, it } from 'vitest';
import { bounded, type Carrier, RelayPeer } from '../src/testing/index.js';
import { startRelay } from './support/relay.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function relayWith(limits: Record<string, number>) {
  const r = await startRelay({ limits });
  cleanups.push(r.cleanup);
  const ws: Carrier = { kind: 'ws', url: r.relay.url };
  const udp: Carrier = { kind: 'udp', host: '127.0.0.1', port: r.relay.udp?.port as number };
  const peer = async (carrier: Carrier, extra: Partial<Parameters<typeof RelayPeer.start>[0]> = {}) => {
    const p = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier, ...extra });
    cleanups.push(() => p.close());
    await p.ready();
    return p;
  };
  return { ...r, ws, udp, peer };
}

describe('per-client limits', () => {
  it('a WebSocket client over its rate is slowed (reading paused, not dropped) while another is not', async () => {
    const rate = 256 * 1024;
    const { relay, ws, peer } = await relayWith({ rateBytesPerSec: rate, burstBytes: 128 * 1024 });
    const [fast, sink, calm, calmSink] = await Promise.all([peer(ws), peer(ws), peer(ws), peer(ws)]);
    const ab = await fast.connectTo(sink.publicKey);
    const ba = await sink.acceptedFrom(fast.publicKey);
    const cd = await calm.connectTo(calmSink.publicKey);
    const dc = await calmSink.acceptedFrom(calm.publicKey);
    const big = new Uint8Array(randomBytes(1 << 20));
    const small = new Uint8Array(randomBytes(64 * 1024)); // within the calm client's burst
    const t0 = performance.now();
    let bigDone = 0;
    let smallDone = 0;
    const bigRx = sink.receiveStream(ba, 90_000).then((d) => {
      bigDone = performance.now() - t0;
      return d;
    });
    await fast.sendStream(ab, big, 90_000);
    // the calm client starts once the fast one is being held back
    await bounded<void>(20_000, 'fast client paused', (resolve) => {
      const i = setInterval(() => relay.ws.stats().pausedMs > 0 && resolve(), 10);
      return () => clearInterval(i);
    });
    const smallRx = calmSink.receiveStream(dc, 60_000).then((d) => {
      smallDone = performance.now() - t0;
      return d;
    });
    await calm.sendStream(cd, small);
    const [gotBig, gotSmall] = await Promise.all([bigRx, smallRx]);
    expect(sha(gotBig)).toBe(sha(big));
    expect(sha(gotSmall)).toBe(sha(small));
    // the fast client's megabyte needs at least (1 MiB - burst) / rate ≈ 3.5 s; lower bound only
    expect(bigDone).toBeGreaterThan((((1 << 20) - 128 * 1024) / rate) * 1000 * 0.9);
    // the calm client was not held behind it
    expect(smallDone).toBeLessThan(bigDone);
    const dropped = relay.engine.stats().relay.dropped;
    expect(dropped.rate_limited).toBe(0); // back-pressure, not drops
    expect(relay.metrics()).toMatch(/srmudp_relay_forwarded_bytes_total \d+/);
  });

  it('a UDP client over its rate has its excess dropped (counted rate_limited) and its transfer still completes', async () => {
    const { relay, udp, ws, peer } = await relayWith({ rateBytesPerSec: 512 * 1024, burstBytes: 64 * 1024 });
    const [a, b] = await Promise.all([peer(udp), peer(ws)]);
    const ab = await a.connectTo(b.publicKey);
    const ba = await b.acceptedFrom(a.publicKey);
    const data = new Uint8Array(randomBytes(1 << 20));
    const [got] = await Promise.all([b.receiveStream(ba, 90_000), a.sendStream(ab, data, 90_000)]);
    expect(sha(got)).toBe(sha(data));
    expect(relay.engine.stats().relay.dropped.rate_limited).toBeGreaterThan(0);
    expect(relay.metrics()).toMatch(
      /srmudp_relay_dropped_total\{layer="relay",reason="rate_limited"\} [1-9]/,
    );
    expect(a.relayEvents.some((e) => e.type === 'rate_limited')).toBe(true); // the typed notice
  });

  it('a client over its circuits gets resource_limit; others are served', async () => {
    const { ws, udp, peer } = await relayWith({ maxCircuitsPerClient: 2 });
    const [a, b, c, d] = await Promise.all([peer(ws), peer(udp), peer(ws), peer(ws)]);
    await a.circuit(b.publicKey);
    await a.circuit(c.publicKey);
    const err = await a.circuit(d.publicKey).then(
      () => null,
      (e: { reason?: string }) => e.reason,
    );
    expect(err).toBe('resource_limit');
    await expect(b.circuit(d.publicKey)).resolves.toBeGreaterThan(0);
  });

  it('a UDP datagram above the size limit is dropped (too_large); a WebSocket one closes with 1009 message_too_big', async () => {
    const { relay, ws, udp, peer } = await relayWith({ maxMessageSize: 4096 });
    const [a, b] = await Promise.all([peer({ ...ws, maxMessageSize: 65_536 }), peer(udp)]);
    const channel = await a.circuit(b.publicKey);
    await bounded<void>(10_000, 'target bound', (resolve) => {
      const i = setInterval(() => b.client.channelOf(a.publicKey) > 0 && resolve(), 5);
      return () => clearInterval(i);
    });
    const channelB = b.client.channelOf(a.publicKey);
    // the UDP client: dropped and counted at the relay (a datagram has no carrier to close)
    b.carrier.send(
      encodeChannelData(channelB, new Uint8Array(5000).fill(0x81)),
      b.hopAddress.host,
      b.hopAddress.port,
    );
    await bounded<void>(10_000, 'too_large counted', (resolve) => {
      const i = setInterval(() => relay.engine.stats().relay.dropped.too_large > 0 && resolve(), 10);
      return () => clearInterval(i);
    });
    // the WebSocket client: the carrier closes with the typed reason and reconnects
    const carrier = a.carrier as WsTransport;
    const closed = bounded<WsStateChange>(20_000, 'close', (resolve) => {
      const i = setInterval(() => {
        const c = a.carrierChanges.find((c) => c.state === 'reconnecting');
        if (c) resolve(c);
      }, 5);
      return () => clearInterval(i);
    });
    expect(carrier.send(encodeChannelData(channel, new Uint8Array(5000).fill(0x81)))).toBe(true);
    const change = await closed;
    expect(change.error?.closeCode).toBe(1009);
    expect(change.error?.closeReason).toBe('message_too_big');
    await bounded<void>(10_000, 'the error in /metrics', (resolve) => {
      const i = setInterval(
        () =>
          /srmudp_relay_websocket_errors_total\{code="WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"\} 1/.test(
            relay.metrics(),
          ) && resolve(),
        10,
      );
      return () => clearInterval(i);
    });
  });
});

describe('a datagram whose handling throws', () => {
  it('is dropped and counted (contained, logged, in /metrics); the relay serves everyone else', async () => {
    const r = await relayWith({});
    const [a, b] = await Promise.all([r.peer(r.ws), r.peer(r.udp)]);
    // a bug reached by one datagram: the relay's endpoint throws on a datagram of this exact text
    const poison = Buffer.from('poison datagram');
    const endpoint = r.relay.engine.endpoint;
    const handle = endpoint.handle.bind(endpoint);
    endpoint.handle = (now, from, data) => {
      if (Buffer.from(data).equals(poison)) throw new TypeError('a bug');
      handle(now, from, data);
    };
    const sock = createSocket('udp4');
    await new Promise<void>((done) => sock.bind(0, '127.0.0.1', done));
    for (let i = 0; i < 5; i++) sock.send(poison, r.udp.port as number, '127.0.0.1');
    await bounded<void>(5000, 'five datagrams contained', (resolve) => {
      const i = setInterval(() => r.relay.engine.stats().contained >= 5 && resolve(), 10);
      return () => clearInterval(i);
    });
    sock.close();
    expect(r.relay.engine.stats().contained).toBe(5);
    expect(r.logs.filter((l) => l.includes('datagram dropped: its handling threw'))).toHaveLength(3);
    const metrics = await (await fetch(`http://127.0.0.1:${r.relay.http.port}/metrics`)).text();
    expect(metrics).toContain('srmudp_relay_dropped_total{layer="engine",reason="contained"} 5');
    // clients on both carriers still get circuits
    await expect(a.circuit(b.publicKey)).resolves.toBeGreaterThan(0);
  });
});
