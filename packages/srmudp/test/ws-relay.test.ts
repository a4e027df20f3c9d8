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
});
