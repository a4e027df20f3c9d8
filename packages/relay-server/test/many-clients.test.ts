import { afterAll, describe, expect, it } from 'vitest';
import { RelayPeer } from '../src/testing/index.js';
import { startRelay } from './support/relay.js';

const N = 1_000;
const BATCH = 100;

describe(`${N} WebSocket clients on one relay`, () => {
  const peers: RelayPeer[] = [];
  let cleanup: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (let i = 0; i < peers.length; i += BATCH)
      await Promise.all(peers.slice(i, i + BATCH).map((p) => p.close()));
    await cleanup?.();
  }, 120_000);

  it('all hold a hop session at once, the relay counts them, and circuits still work', async () => {
    // every client comes from 127.0.0.1 here: lift the per-IP WebSocket limits (defaults 10/s,
    // 1,024 open); core's per-prefix handshake budgets stay at their defaults
    const r = await startRelay({
      limits: { newConnectionsPerIpPerSec: 10_000, newConnectionsBurst: N, maxConnectionsPerIp: 2 * N },
    });
    cleanup = r.cleanup;
    const t0 = performance.now();
    for (let i = 0; i < N; i += BATCH) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(BATCH, N - i) }, () =>
          RelayPeer.start({ relayKey: r.relay.publicKey, carrier: { kind: 'ws', url: r.relay.url } }),
        ),
      );
      peers.push(...batch);
      await Promise.all(batch.map((p) => p.ready(60_000)));
    }
    const connectMs = performance.now() - t0;
    expect(r.relay.engine.stats().hops).toBe(N);
    expect(r.relay.ws.stats().connections).toBe(N);
    expect(r.relay.metrics()).toMatch(new RegExp(`srmudp_relay_clients\\{carrier="websocket"\\} ${N}\\n`));
    // a few circuits between random far-apart clients, end to end
    for (const [x, y] of [
      [0, N - 1],
      [17, 503],
      [999, 1],
    ] as const) {
      const a = peers[x] as RelayPeer;
      const b = peers[y] as RelayPeer;
      const ab = await a.connectTo(b.publicKey);
      const ba = await b.acceptedFrom(a.publicKey);
      const data = new TextEncoder().encode(`hello ${x} → ${y}`);
      const [got] = await Promise.all([b.receiveStream(ba), a.sendStream(ab, data)]);
      expect(new TextDecoder().decode(got)).toBe(`hello ${x} → ${y}`);
    }
    const mem = process.memoryUsage();
    console.info(
      `relay-server: ${N} WebSocket clients with hop sessions in ${Math.round(connectMs)} ms ` +
        `(test process rss ${Math.round(mem.rss / 1e6)} MB, clients and relay together)`,
    );
  });
});
