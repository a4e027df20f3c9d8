// WebSocket relays on loopback (issue 15): two nodes keep hop sessions with an srmudp-relay over
// WebSocket; a dial whose direct path fails goes through it (status: relayed over websocket), a
// relay restart mid-transfer is survived (new WebSockets, new hop handshakes, new circuits; the
// end-to-end session and the stream go on), and the node's record carries its home relay.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelayServer, jsonLogger, type RelayServer } from '@srmudp/relay-server';
import { decodeRecord, parseCard } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import type { SrmudpNode } from '../src/index.js';
import { hashOfStream, loopbackNodes, waitFor } from './helpers.js';

const node = loopbackNodes();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startRelay(dir: string, port = 0): Promise<RelayServer> {
  return createRelayServer(
    {
      host: '127.0.0.1',
      port,
      udpHost: '127.0.0.1',
      udpPort: 0,
      keyFile: join(dir, 'relay.key'),
      drainMs: 200,
    },
    {
      log: jsonLogger(
        process.env.RELAY_LOG === '1' ? 'debug' : 'warn',
        (l) => process.env.RELAY_LOG === '1' && console.log(l),
      ),
    },
  );
}

/** A port nobody listens on: a direct dial there gets no answer. */
async function deadPort(): Promise<number> {
  const dead = await node({ stunServers: [] });
  const port = dead.address().port;
  await dead.close();
  return port;
}

function firstStream(to: SrmudpNode, from: SrmudpNode) {
  return (async () => {
    for await (const c of to.connections()) {
      if (c.peerId !== from.peerId) continue;
      for await (const s of c.streams()) return hashOfStream(s);
    }
    throw new Error('no stream');
  })();
}

describe('WebSocket relays (façade, loopback)', () => {
  it('falls back to the relay over WebSocket; survives a relay restart mid-transfer; publishes the home relay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-wsrelay-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    let relay = await startRelay(dir);
    cleanups.push(() => relay.close());
    const wsPort = Number(new URL(relay.url).port);
    const spec = relay.relayAddress;
    const a = await node({
      relays: [spec],
      stunServers: [],
      handshakeTimeoutMs: 1500,
      idleTimeoutMs: 30_000,
    });
    const b = await node({ relays: [spec], stunServers: [], idleTimeoutMs: 30_000 });
    await waitFor(
      () => a.relayStatus()[0]?.state === 'ready' && b.relayStatus()[0]?.state === 'ready',
      15_000,
      'hop sessions with the relay',
    );
    // the card's record names the home relay
    const card = parseCard(b.contactCard());
    const rec = decodeRecord(card.record as Uint8Array).record;
    expect(rec.homeRelay?.url).toBe(relay.url);

    const incoming = firstStream(b, a);
    const conn = await a.connect(
      { host: '127.0.0.1', port: await deadPort(), peerId: b.peerId },
      { timeout: 30_000 },
    );
    expect(conn.path?.kind).toBe('relayed');
    expect(a.status()[b.peerId]?.carrier).toBe('websocket');

    const payload = new Uint8Array(randomBytes(8 << 20));
    const s = conn.openStream();
    let restarted = false;
    for (let off = 0; off < payload.length; off += 64 * 1024) {
      if (!s.write(payload.subarray(off, off + 64 * 1024))) await once(s, 'drain');
      if (!restarted && off >= payload.length / 4) {
        restarted = true;
        // the relay goes away and comes back on the same port with the same key
        await relay.close();
        relay = await startRelay(dir, wsPort);
      }
    }
    s.end();
    const got = await incoming;
    expect(got.bytes).toBe(payload.length);
    const { createHash } = await import('node:crypto');
    expect(got.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(conn.isClosed).toBe(false);
    expect(a.relayStatus()[0]?.opens).toBeGreaterThanOrEqual(2);
    expect(a.relayStatus()[0]?.hops).toBeGreaterThanOrEqual(2);
    // a direct address that answers (UDP works after all): the connection moves to it, same session
    const again = await a.connect({ host: '127.0.0.1', port: b.address().port, peerId: b.peerId });
    expect(again).toBe(conn);
    await waitFor(() => conn.path?.kind === 'direct', 20_000, 'the move to the direct path');
    expect(a.status()[b.peerId]?.carrier).toBe('udp');
    expect(conn.isClosed).toBe(false);
  }, 90_000);

  it("a relay learnt from the target's card is opened for the dial and closed once no connection uses it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-wsrelay-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const relay = await startRelay(dir);
    cleanups.push(() => relay.close());
    // a: no relay of its own; b: the relay as its home relay (its card's record names it)
    const a = await node({ stunServers: [], relayIdleMs: 1000 });
    const b = await node({ relays: [relay.relayAddress], stunServers: [] });
    await waitFor(() => b.relayStatus()[0]?.state === 'ready', 15_000, "b's hop session with the relay");
    const conn = await a.connect(b.contactCard(), { timeout: 20_000 });
    // the dial opened b's home relay (learnt); loopback UDP works, so the connection is direct
    expect(a.relayStatus()).toMatchObject([{ url: relay.url, home: false }]);
    await waitFor(() => conn.path?.kind === 'direct', 10_000, 'the direct path');
    // unused for relayIdleMs (1 s; looked at every 0.5 s): closed, the connection untouched
    await waitFor(() => a.relayStatus().length === 0, 10_000, 'the learnt relay closed for idleness');
    expect(conn.isClosed).toBe(false);
    // the relay saw the hop session go (a CLOSE, then the WebSocket): no client left of a
    await waitFor(() => relay.engine.stats().hops === 1, 10_000, "only b's hop left at the relay");
    // the configured home relay of b stays
    expect(b.relayStatus()).toMatchObject([{ state: 'ready', home: true }]);
  }, 60_000);
});
