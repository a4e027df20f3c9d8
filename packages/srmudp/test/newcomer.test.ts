// What a new user meets (issue 21): waiting for a peer, saying what a dial does, typed errors.
import { createSocket } from 'node:dgram';
import { parseCard } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type PeerEvent, type SrmudpNode } from '../src/index.js';

const nodes: SrmudpNode[] = [];
async function node(opts: Parameters<typeof createNode>[0] = {}): Promise<SrmudpNode> {
  const n = await createNode({ host: '127.0.0.1', ...opts });
  nodes.push(n);
  return n;
}
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (e: unknown) => (e as { code?: string }).code ?? String(e),
  );

describe('peers.ready (item 1)', () => {
  it('waits for a named peer, so the first message is not lost', async () => {
    const alice = await node();
    const bob = await node({ peers: { alice: alice.contactCard() } });
    alice.peers.add({ bob: bob.contactCard() });
    const conn = await bob.peers.ready('alice', { timeout: 10_000 });
    expect(conn.peerId).toBe(alice.peerId);
    // before peers.ready this send ran before any connection and returned []
    expect(bob.send('hello alice', { to: ['alice'] })).toEqual(['alice']);
    const m = await alice.receive({ timeout: 5000 });
    expect(m && new TextDecoder().decode(m.data)).toBe('hello alice');
    // already connected: at once
    expect((await bob.peers.ready('alice')).peerId).toBe(alice.peerId);
  });

  it('unknown names, a timeout with the last dial error, an abort and a closing node are typed', async () => {
    const a = await node({ handshakeTimeoutMs: 300, reconnectDelayMs: 50 });
    expect(await codeOf(a.peers.ready('nobody'))).toBe('UNKNOWN_PEER');
    const gone = await node();
    const card = gone.contactCard();
    await gone.close();
    a.peers.add({ gone: card });
    const err = await a.peers
      .ready('gone', { timeout: 1500 })
      .catch((e: unknown) => e as Error & { code: string });
    expect(err).toMatchObject({ code: 'PEER_TIMEOUT' });
    expect(err.message).toMatch(/^gone not connected within 1500 ms \(last attempt: [A-Z_]+: /);
    const ac = new AbortController();
    const aborted = a.peers.ready('gone', { signal: ac.signal });
    ac.abort();
    expect(await codeOf(aborted)).toBe('ABORTED');
    const removed = codeOf(a.peers.ready('gone'));
    a.peers.remove(['gone']);
    expect(await removed).toBe('UNKNOWN_PEER');
    a.peers.add({ gone: card });
    const closing = codeOf(a.peers.ready('gone')); // handled before close() rejects it
    await a.close();
    expect(await closing).toBe('NODE_CLOSED');
  });
});

describe('saying what happens (item 3)', () => {
  it("'peer' events: connecting with the number of addresses, then why it failed and when it retries", async () => {
    const a = await node({ handshakeTimeoutMs: 300, reconnectDelayMs: 100 });
    const gone = await node();
    const card = gone.contactCard();
    await gone.close();
    const events: PeerEvent[] = [];
    a.on('peer', (e: PeerEvent) => events.push(e));
    a.peers.add({ gone: card });
    const until = Date.now() + 5000;
    while (!events.some((e) => e.state === 'reconnecting') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    expect(events[0]).toEqual({ name: 'gone', state: 'connecting', addresses: 1 });
    const failed = events.find((e) => e.state === 'reconnecting');
    expect(failed?.error?.code).toMatch(/^[A-Z_]+$/);
    expect(failed?.retryInMs).toBe(100);
    expect(a.status().gone?.lastError?.code).toBe(failed?.error?.code);
  });

  it('connect with a timeout fails with CONNECT_TIMEOUT naming the peer and addresses, not "aborted"', async () => {
    const a = await node();
    // a socket that takes the initiation and never answers: no ICMP, only silence
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const b = await node();
      const target = { host: '127.0.0.1', port: silent.address().port, peerId: b.peerId };
      const err = await a
        .connect(target, { timeout: 400 })
        .catch((e: unknown) => e as Error & { code: string });
      expect(err.code).toBe('CONNECT_TIMEOUT');
      expect(err.message).toBe(
        `no answer from ${b.peerId.slice(0, 12)} at 1 address(es) within 400 ms (offline, or UDP blocked on the way)`,
      );
    } finally {
      silent.close();
    }
  });

  it('a card can say which program it is for (app tag)', async () => {
    const a = await node();
    expect(parseCard(a.contactCard({ app: 'srmudp-chat/1' })).app).toBe('srmudp-chat/1');
    expect(parseCard(a.contactCard()).app).toBeUndefined();
  });
});

describe('typed errors (item 4)', () => {
  it("host names are resolved: host: 'localhost' binds (a TypeError before)", async () => {
    const a = await node({ host: 'localhost' });
    expect(['127.0.0.1', '::1']).toContain(a.address().host);
    expect(await codeOf(createNode({ host: 'no-such-host.invalid' }))).toBe('RESOLVE_FAILED');
  });

  it('a port in use is ADDRESS_IN_USE (a plain EADDRINUSE before)', async () => {
    const a = await node();
    const err = await createNode({ host: '127.0.0.1', port: a.address().port }).catch(
      (e: unknown) => e as Error & { code: string },
    );
    expect(err.code).toBe('ADDRESS_IN_USE');
    expect(err.message).toBe(
      `UDP port ${a.address().port} on 127.0.0.1 is already in use (another srmudp node?); choose another port or 0 for any`,
    );
  });

  it('our own card is OWN_CARD in connect and peers.add (a RangeError before)', async () => {
    const a = await node();
    expect(await codeOf(a.connect(a.contactCard()))).toBe('OWN_CARD');
    expect(() => a.peers.add({ me: a.contactCard() })).toThrow(expect.objectContaining({ code: 'OWN_CARD' }));
  });

  it("send(x, { to: ['nobody'] }) names the unknown peers (it returned [] silently before)", async () => {
    const a = await node();
    const b = await node();
    a.peers.add({ bob: b.contactCard() });
    await a.peers.ready('bob', { timeout: 10_000 });
    expect(() => a.send('x', { to: ['bob', 'nobody'] })).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_PEER',
        message: 'no peer named "nobody" (known: bob; add it with peers.add)',
      }),
    );
    expect(a.send('x', { to: ['bob'] })).toEqual(['bob']);
  });
});
