import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bounded, RelayPeer } from '../src/testing/index.js';
import { startRelay } from './support/relay.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('relay restart', () => {
  it('clients are told to reconnect, reconnect to the restarted relay (same key, same ports) and the end-to-end session goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-relay-restart-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    let r = await startRelay({ reconnectInMs: 200 }, { dir });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await r.cleanup();
    });
    const { port, udp } = { port: r.relay.http.port, udp: r.relay.udp?.port as number };
    const firstKey = r.relay.peerId;
    const a = await RelayPeer.start({
      relayKey: r.relay.publicKey,
      carrier: { kind: 'ws', url: r.relay.url },
    });
    const b = await RelayPeer.start({
      relayKey: r.relay.publicKey,
      carrier: { kind: 'udp', host: '127.0.0.1', port: udp },
    });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await Promise.all([a.ready(), b.ready()]);
    const ab = await a.connectTo(b.publicKey);
    const ba = await b.acceptedFrom(a.publicKey);
    const first = new Uint8Array(randomBytes(256 * 1024));
    const [got1] = await Promise.all([b.receiveStream(ba), a.sendStream(ab, first)]);
    expect(sha(got1)).toBe(sha(first));

    // graceful shutdown: STATUS restarting reaches both clients; health says 503 meanwhile
    const told = Promise.all([
      a.waitRelay((e) => e.type === 'restarting'),
      b.waitRelay((e) => e.type === 'restarting'),
    ]);
    const closing = r.relay.close();
    const health = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (res) => res.status,
      () => 0,
    );
    expect([503, 0]).toContain(health); // 503 while draining (0 if already closed)
    const [ra] = await told;
    expect(ra).toMatchObject({ type: 'restarting', reconnectInMs: 200 });
    await closing;
    stopped = true;
    expect(r.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);

    // same key file and ports: the clients' hop sessions come back by themselves
    r = await startRelay({ port, udpPort: udp, reconnectInMs: 200 }, { dir });
    stopped = false;
    expect(r.relay.peerId).toBe(firstKey);
    const readyAgain = (p: RelayPeer) =>
      bounded<void>(30_000, 'hop session back', (resolve) => {
        const i = setInterval(() => p.client.isReady && r.relay.engine.stats().hops >= 2 && resolve(), 20);
        return () => clearInterval(i);
      });
    await Promise.all([readyAgain(a), readyAgain(b)]);
    expect(a.relayEvents.filter((e) => e.type === 'ready').at(-1)).toMatchObject({ restarted: true });
    // a new circuit carries the same end-to-end session on: no new handshake, streams go on
    await a.circuit(b.publicKey);
    expect(ab.state).toBe('established');
    const second = new Uint8Array(randomBytes(256 * 1024));
    const [got2] = await Promise.all([b.receiveStream(ba), a.sendStream(ab, second)]);
    expect(sha(got2)).toBe(sha(second));
    expect(a.peers.get(Buffer.from(b.publicKey).toString('hex'))).toBe(ab.id);
  });
});
