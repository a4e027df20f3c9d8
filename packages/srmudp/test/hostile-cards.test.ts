// Hostile cards must not turn a node into a reflector (issue 22, item 6): UDP sockets on
// loopback stand for the third parties a card lists; we count what reaches them.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { generateIdentity } from '@srmudp/crypto';
import { type Candidate, encodeCard, signRecord } from '@srmudp/rendezvous';
import { MemoryStore, memoryBackend } from '@srmudp/rendezvous-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { DialPacer, MAX_DIAL_CANDIDATES } from '../src/dial-pacer.js';
import { createNode, type SrmudpNode } from '../src/index.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** `n` UDP sockets on 127.0.0.1 that count the datagrams they receive. */
async function victims(n: number): Promise<{ ports: number[]; hits: number[] }> {
  const hits = new Array<number>(n).fill(0);
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s: Socket = createSocket('udp4');
    s.on('message', () => {
      hits[i] = (hits[i] ?? 0) + 1;
    });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    ports.push(s.address().port);
    cleanup.push(() => new Promise<void>((r) => s.close(() => r())));
  }
  return { ports, hits };
}

/** A card of a fresh (attacker) identity whose signed record lists these candidates. */
function hostileCard(ports: readonly number[]): string {
  const { secret: secretKey, publicKey: peerId } = generateIdentity((n) => new Uint8Array(randomBytes(n)));
  const now = Date.now();
  const candidates: Candidate[] = ports.map((port) => ({ kind: 'host', family: 4, host: '127.0.0.1', port }));
  const record = signRecord(
    { peerId, seq: 1, issuedAt: now, expiresAt: now + 3_600_000, candidates },
    secretKey,
  );
  return encodeCard({ peerId, locators: [], record });
}

async function node(): Promise<SrmudpNode> {
  const n = await createNode({ host: '127.0.0.1', handshakeTimeoutMs: 1500 });
  cleanup.push(() => n.close());
  return n;
}

const contacted = (hits: number[]) => hits.filter((h) => h > 0).length;

/** The pacer's timers: the node passes its driver's; plain timers here. */
const after = (ms: number, fn: () => void) => {
  const t = setTimeout(fn, ms);
  return { cancel: () => clearTimeout(t) };
};

describe('hostile cards', () => {
  it('a record listing 125 third parties: connect() contacts at most 8 distinct addresses (was all of them)', async () => {
    const v = await victims(25);
    // 125 entries (a 998-byte record): the 25 victims five times each
    const card = hostileCard(Array.from({ length: 125 }, (_, i) => v.ports[i % 25] as number));
    const a = await node();
    await expect(a.connect(card, { signal: AbortSignal.timeout(1200) })).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 200));
    expect(contacted(v.hits)).toBeLessThanOrEqual(MAX_DIAL_CANDIDATES);
    expect(contacted(v.hits)).toBeGreaterThan(0);
  });

  it('first contact to unvalidated addresses is paced over the node: 12 cards x 8 addresses are not all hit at once', {
    timeout: 15_000,
  }, async () => {
    const v = await victims(96);
    const a = await node();
    const peers: Record<string, string> = {};
    for (let c = 0; c < 12; c++) peers[`p${c}`] = hostileCard(v.ports.slice(c * 8, c * 8 + 8));
    a.peers.add(peers);
    await new Promise((r) => setTimeout(r, 700));
    // burst 32 addresses, then 8 per second: ~38 by now, never the 96 an unpaced node hits
    const early = contacted(v.hits);
    expect(early).toBeGreaterThanOrEqual(8);
    expect(early).toBeLessThanOrEqual(48);
  });

  it('the pacer remembers the last 2,048 to 4,096 validated addresses: older ones are paced again', async () => {
    const pacer = new DialPacer({ after, burst: 1, perSecond: 0.001 });
    const addr = (port: number) => ({ host: '127.0.0.1', port });
    for (let p = 1; p <= 5000; p++) pacer.validated(addr(p));
    pacer.validated(addr(4000)); // again: moved to the newer generation, still free
    await pacer.admit([addr(60_000)]); // the one token
    let old = false;
    const forgotten = pacer.admit([addr(1)]).then(
      () => (old = true),
      () => {},
    );
    // the newest generation and the one before it are free, even with no token left
    for (const p of [5000, 4097, 2049]) await pacer.admit([addr(p)]);
    await new Promise((r) => setTimeout(r, 20));
    expect(old).toBe(false); // validated 4,999 connections ago: paced like any stranger
    pacer.close();
    await forgotten;
  });

  it('addresses a connection came through are not paced; the pacer waits first come, first served', async () => {
    const pacer = new DialPacer({ after, burst: 4, perSecond: 50 }); // a token every 20 ms
    const addr = (port: number) => ({ host: '127.0.0.1', port });
    await pacer.admit([addr(1), addr(2), addr(3), addr(4)]);
    const order: string[] = [];
    const second = pacer.admit([addr(5), addr(6)]).then(() => order.push('second'));
    const third = pacer.admit([addr(7)]).then(() => order.push('third'));
    pacer.validated(addr(9));
    await pacer.admit([addr(9)]).then(() => order.push('validated'));
    await Promise.all([second, third]);
    expect(order).toEqual(['validated', 'second', 'third']);
    const aborted = new AbortController();
    const pending = pacer.admit([addr(10), addr(11), addr(12), addr(13)], aborted.signal);
    aborted.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    pacer.close();
    await expect(pacer.admit([addr(20)])).rejects.toMatchObject({ code: 'NODE_CLOSED' });
  });

  it('with a rendezvous, the card is locators only and the same after a restart on a new port', async () => {
    const store = new MemoryStore();
    const { secret } = generateIdentity((n) => new Uint8Array(randomBytes(n)));
    const start = () =>
      createNode({ host: '127.0.0.1', identity: { secret }, rendezvous: [memoryBackend({ store })] });
    const first = await start();
    const card1 = first.contactCard({ name: 'alice' });
    const port1 = first.address().port;
    await first.close();
    const second = await start();
    cleanup.push(() => second.close());
    expect(second.address().port).not.toBe(port1);
    expect(second.contactCard({ name: 'alice' })).toBe(card1);
    expect(card1.length).toBeLessThan(100);
  });
});
