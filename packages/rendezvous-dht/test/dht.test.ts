import { ed25519 } from '@noble/curves/ed25519.js';
import { createSigner, isRendezvousError, parseCard, Rendezvous, signRecord } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SALT, dhtBackend, MAINLINE_BOOTSTRAP } from '../src/index.js';
import { loopbackDht } from './loopback-dht.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function net() {
  const n = await loopbackDht(6);
  cleanup.push(() => n.close());
  const make = async (salt?: string) => {
    const b = dhtBackend({
      bootstrap: false,
      nodes: n.nodes,
      host: '127.0.0.1',
      timeoutMs: 5000,
      queryTimeoutMs: 500,
      ...(salt ? { salt } : {}),
    });
    cleanup.push(() => b.close());
    await b.ready({ minNodes: n.nodes.length });
    return b;
  };
  return { ...n, make };
}

function rec(secretKey: Uint8Array, seq: number, port = 4000) {
  const peerId = ed25519.getPublicKey(secretKey);
  const now = Date.now();
  return signRecord(
    {
      peerId,
      seq,
      issuedAt: now,
      expiresAt: now + 60_000,
      candidates: [{ kind: 'srflx', family: 4, host: '198.51.100.2', port }],
    },
    secretKey,
  );
}

describe('DHT backend', () => {
  it('never bootstraps from the public routers when bootstrap is false; the default list is mainline', async () => {
    const b = dhtBackend({ bootstrap: false, host: '127.0.0.1' });
    cleanup.push(() => b.close());
    await b.ready({ minNodes: 0 });
    const rpc = (b.dht as unknown as { _rpc: { bootstrap: unknown[] } })._rpc;
    expect(rpc.bootstrap).toEqual([]);
    expect(MAINLINE_BOOTSTRAP).toContain('router.bittorrent.com:6881');
    // BEP 44 items expire on nodes after about two hours: Rendezvous republishes hourly.
    expect(b.capabilities).toMatchObject({
      republishIntervalMs: 3_600_000,
      cost: 'free',
      watch: 'none',
      maxValueSize: 999,
    });
  });

  it('stores the record as a BEP 44 item at SHA-1(peer id || salt); salts separate applications', async () => {
    const n = await net();
    const a = await n.make();
    const other = await n.make('another-app');
    const secretKey = ed25519.utils.randomSecretKey();
    const signer = createSigner(secretKey);
    const value = rec(secretKey, 100);
    const { locator } = await a.publish({ peerId: signer.publicKey }, value, { seq: 100, signer });
    expect(locator).toEqual({ backend: 'dht' }); // DEFAULT_SALT is implied
    expect(DEFAULT_SALT).toBe('srmudp/rendezvous/v1');
    expect(a.target(signer.publicKey).length).toBe(20);
    expect(await other.resolve({ peerId: signer.publicKey })).toBeNull(); // its own salt
    expect(await other.resolve({ peerId: signer.publicKey, locator })).toEqual(value); // the card's salt
  });

  it('refuses API misuse: missing or foreign signer, long salt', async () => {
    const n = await net();
    const a = await n.make();
    const sk = ed25519.utils.randomSecretKey();
    const peerId = ed25519.getPublicKey(sk);
    await expect(a.publish({ peerId }, rec(sk, 1), { seq: 1 })).rejects.toThrow(
      '"options.signer" is required',
    );
    await expect(
      a.publish({ peerId }, rec(sk, 1), { seq: 1, signer: createSigner(ed25519.utils.randomSecretKey()) }),
    ).rejects.toThrow('"options.signer" does not belong to "key.peerId"');
    expect(() => dhtBackend({ salt: 'x'.repeat(65), bootstrap: false })).toThrow(RangeError);
  });

  it('an isolated node (no DHT reachable) reports UNAVAILABLE or null, within the timeout', async () => {
    const lonely = dhtBackend({ bootstrap: false, host: '127.0.0.1', timeoutMs: 1000, queryTimeoutMs: 200 });
    cleanup.push(() => lonely.close());
    const sk = ed25519.utils.randomSecretKey();
    const signer = createSigner(sk);
    const t0 = Date.now();
    try {
      const r = await lonely.resolve({ peerId: signer.publicKey });
      expect(r).toBeNull();
    } catch (error) {
      expect(isRendezvousError(error, 'UNAVAILABLE')).toBe(true);
    }
    try {
      await lonely.publish({ peerId: signer.publicKey }, rec(sk, 1), { seq: 1, signer });
      expect.unreachable('a put reaching no node must fail');
    } catch (error) {
      expect(isRendezvousError(error, 'UNAVAILABLE')).toBe(true);
    }
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('two Rendezvous nodes find each other through the DHT; a restarted publisher continues above its old seq', async () => {
    const n = await net();
    const secretKey = ed25519.utils.randomSecretKey();
    const alice = new Rendezvous({ backends: [await n.make()], secretKey });
    const bob = new Rendezvous({ backends: [await n.make()] });
    cleanup.push(async () => {
      await alice.close();
      await bob.close();
    });
    await alice.publish({ candidates: [{ kind: 'srflx', family: 4, host: '198.51.100.3', port: 5000 }] });
    const card = alice.card();
    expect(parseCard(card).locators).toEqual([{ backend: 'dht' }]);
    expect(card.length).toBeLessThan(80); // locator-only: stable across restarts
    const first = await bob.resolve(card);
    expect(first?.record.candidates[0]?.port).toBe(5000);
    await alice.close();
    // Restart: a fresh process with the same key and no saved state, on a new port.
    await new Promise((r) => setTimeout(r, 5));
    const alice2 = new Rendezvous({ backends: [await n.make()], secretKey });
    cleanup.push(() => alice2.close());
    const report = await alice2.publish({
      candidates: [{ kind: 'srflx', family: 4, host: '198.51.100.3', port: 5001 }],
    });
    expect(report.backends[0]?.status).toBe('published');
    const second = await bob.resolve(card);
    expect(second?.record.candidates[0]?.port).toBe(5001);
    expect(second?.record.seq).toBeGreaterThan(first?.record.seq as number);
  });
});
