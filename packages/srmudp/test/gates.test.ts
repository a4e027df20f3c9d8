// Gates in records and cards (issue 14): a node publishes its gates (and itself, when it serves
// and is reachable); a dialler that learns them from a card falls back to them when the direct
// dial is hopeless, with no gate configured locally.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { peerIdToString } from '@srmudp/crypto';
import { decodeRecord, parseCard } from '@srmudp/rendezvous';
import { describe, expect, it } from 'vitest';
import { GateBook, gatesToPublish, MAX_GATES_TRIED, MAX_PUBLISHED_GATES } from '../src/gates.js';
import type { SrmudpNode } from '../src/index.js';
import { blockTo, hashOfStream, loopbackNodes, waitFor } from './helpers.js';

const node = loopbackNodes();
const key = (b: number) => new Uint8Array(32).fill(b);

/** The SHA-256 of the first stream `from` opens to `to`. */
async function firstStreamFrom(to: SrmudpNode, from: SrmudpNode) {
  for await (const c of to.connections()) {
    if (c.peerId !== from.peerId) continue;
    for await (const s of c.streams()) return hashOfStream(s);
  }
  throw new Error('no stream');
}

describe('gatesToPublish', () => {
  const self = key(1);
  it('a serving node publishes itself at its port mapping and public addresses, then its configured gates', () => {
    const g = gatesToPublish({
      self,
      serving: true,
      mapped: { host: '198.51.100.7', port: 4000 },
      host: [
        { kind: 'host', family: 4, host: '192.168.1.5', port: 5000 },
        { kind: 'host', family: 4, host: '127.0.0.1', port: 5000 },
        { kind: 'host', family: 6, host: '2001:db8::5', port: 5000 },
      ],
      configured: [
        { key: key(2), address: { host: '203.0.113.9', port: 7000 } },
        { key: null, address: { host: '203.0.113.10', port: 7000 } },
        { key: key(3), address: null },
      ],
    });
    expect(g.map((x) => [x.peerId[0], x.family, x.host, x.port])).toEqual([
      [1, 4, '198.51.100.7', 4000],
      [1, 6, '2001:db8::5', 5000],
      [2, 4, '203.0.113.9', 7000],
    ]);
  });
  it('a node that does not serve, or is behind a NAT without a mapping, does not publish itself; at most 4', () => {
    const host = [{ kind: 'host' as const, family: 4 as const, host: '10.0.0.2', port: 5000 }];
    expect(
      gatesToPublish({
        self,
        serving: false,
        mapped: { host: '198.51.100.7', port: 1 },
        host,
        configured: [],
      }),
    ).toEqual([]);
    expect(gatesToPublish({ self, serving: true, mapped: null, host, configured: [] })).toEqual([]);
    const configured = [2, 3, 4, 5, 6, 7].map((b) => ({
      key: key(b),
      address: { host: '203.0.113.9', port: 7000 + b },
    }));
    expect(gatesToPublish({ self, serving: false, mapped: null, host, configured })).toHaveLength(
      MAX_PUBLISHED_GATES,
    );
  });
});

describe('GateBook', () => {
  const g = (b: number, port = 7000) => ({ peerId: key(b), family: 4 as const, host: '203.0.113.9', port });
  it("keeps a peer's gates (at most 2), replaces them with its next record, and pools self-announced gates", () => {
    const book = new GateBook();
    book.learn(key(10), [g(2), g(3), g(4)]);
    expect(book.for(key(10)).map((x) => x.key[0])).toEqual([2, 3]);
    expect(MAX_GATES_TRIED).toBe(2);
    book.learn(key(10), [g(5)]);
    expect(book.for(key(10)).map((x) => x.key[0])).toEqual([5]);
    // peer 11 announces itself as a gate: a possible route to any other peer, never to itself
    book.learn(key(11), [g(11)]);
    expect(book.for(key(10)).map((x) => x.key[0])).toEqual([5, 11]);
    expect(book.for(key(12)).map((x) => x.key[0])).toEqual([11]);
    expect(book.for(key(11))).toEqual([]);
    expect(book.isGate(key(11)) && book.isGate(key(5)) && !book.isGate(key(2))).toBe(true);
    book.learn(key(10), undefined);
    expect(book.for(key(10)).map((x) => x.key[0])).toEqual([11]);
  });
});

describe('gates in records and cards (façade, loopback)', () => {
  it('a card lists its gate; a dialler with no gate of its own falls back to it when the direct path is blocked, 1 MiB SHA-256 equal', async () => {
    const gate = await node({ relay: { serve: true }, stunServers: [] });
    const gateTarget = { host: '127.0.0.1', port: gate.address().port, peerId: gate.peerId };
    const b = await node({ relay: { gates: [gateTarget] }, stunServers: [] });
    const a = await node({ stunServers: [], handshakeTimeoutMs: 1500 });
    await waitFor(
      () => b.status()['gate-0']?.state === 'established',
      20_000,
      "b's hop session with the gate",
    );
    // b's card carries its gate, at the address its hop session reaches
    expect(b.gates()).toEqual([
      { peerId: gate.peerId, host: '127.0.0.1', port: gate.address().port, self: false },
    ]);
    const card = b.contactCard();
    const rec = parseCard(card).record;
    expect(rec).toBeDefined();
    const gates = decodeRecord(rec as Uint8Array).record.gates ?? [];
    expect(gates.map((x) => [peerIdToString(x.peerId), x.port])).toEqual([
      [gate.peerId, gate.address().port],
    ]);
    // no direct path from a to b
    blockTo(a, b.address().port);
    const incoming = firstStreamFrom(b, a);
    const conn = await a.connect(card, { timeout: 30_000 });
    expect(conn.path?.kind).toBe('relayed');
    expect(conn.path?.kind === 'relayed' && peerIdToString(conn.path.via)).toBe(gate.peerId);
    const payload = randomBytes(1024 * 1024);
    const s = conn.openStream();
    for (let off = 0; off < payload.length; off += 64 * 1024) {
      if (!s.write(payload.subarray(off, off + 64 * 1024))) await once(s, 'drain');
    }
    s.end();
    const got = await incoming;
    expect(got.bytes).toBe(payload.length);
    expect(got.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    // the gate is now a live connection of a's: a cached route
    expect(a.connection(gate.peerId)).toBeDefined();
  }, 90_000);

  it('without a gate in the card the same blocked dial fails (the fallback comes from the card)', async () => {
    const b = await node({ stunServers: [] });
    const a = await node({ stunServers: [], handshakeTimeoutMs: 1500 });
    expect(b.gates()).toEqual([]);
    blockTo(a, b.address().port);
    await expect(a.connect(b.contactCard(), { timeout: 30_000 })).rejects.toMatchObject({
      code: expect.stringMatching(/HANDSHAKE_TIMEOUT|PUNCH|UNREACHABLE|CONNECT/),
    });
  }, 60_000);
});
