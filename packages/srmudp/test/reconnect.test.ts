// Lost connections of named peers come back by themselves (issue 5, DESIGN.md §8).
import { randomBytes } from 'node:crypto';
import { identityFromSecret } from '@srmudp/crypto';
import { MemoryStore, memoryBackend } from '@srmudp/rendezvous-memory';
import { afterEach, expect, it } from 'vitest';
import { createNode, type SrmudpNode } from '../src/index.js';
import { text, waitFor } from './helpers.js';

const nodes: SrmudpNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

it('a named peer that restarts on a new port is re-resolved and reconnected; a removed one is not', async () => {
  const store = new MemoryStore();
  const secret = new Uint8Array(randomBytes(32));
  const opts = { host: '127.0.0.1', handshakeTimeoutMs: 1000, reconnectDelayMs: 100 };
  const a = await createNode({ ...opts, rendezvous: [memoryBackend({ store })] });
  let b = await createNode({ ...opts, identity: { secret }, rendezvous: [memoryBackend({ store })] });
  nodes.push(a, b);
  // cards carry only locators: the address always comes from the rendezvous backend
  a.peers.add({ B: b.contactCard({ candidates: false }) });
  b.peers.add({ A: a.contactCard({ candidates: false }) });
  await waitFor(() => a.status().B?.state === 'established', 10_000, 'A -> B');
  await waitFor(() => b.status().A?.state === 'established', 10_000, 'B -> A');
  const oldPort = b.address().port;

  await b.close();
  await waitFor(() => a.status().B?.state !== 'established', 10_000, 'A notices B left');
  expect(['reconnecting', 'connecting']).toContain(a.status().B?.state);

  // B comes back with the same identity on another port and publishes its new record
  b = await createNode({ ...opts, identity: { secret }, rendezvous: [memoryBackend({ store })] });
  nodes.push(b);
  expect(b.address().port).not.toBe(oldPort);
  await waitFor(() => a.status().B?.state === 'established', 20_000, 'A reconnects to B');
  expect(a.status().B?.path).toMatchObject({ kind: 'direct', address: { port: b.address().port } });
  a.send('welcome back', { to: ['B'] });
  const m = await b.receive({ timeout: 5000 });
  expect(m && text(m.data)).toBe('welcome back');
  expect(a.status().B?.peerId).toBe(b.peerId);
  expect(b.identity.publicKey).toEqual(identityFromSecret(secret).publicKey);

  // removed on purpose: no reconnection
  a.peers.remove(['B']);
  await waitFor(() => a.connection('B') === undefined, 5000, 'A drops B');
  await new Promise((r) => setTimeout(r, 500));
  expect(a.status().B).toBeUndefined();
}, 60_000);

it('a peer that vanishes without closing is detected by the idle timeout and redialled until it is back', async () => {
  const store = new MemoryStore();
  const secret = new Uint8Array(randomBytes(32));
  const opts = {
    host: '127.0.0.1',
    handshakeTimeoutMs: 800,
    reconnectDelayMs: 100,
    idleTimeoutMs: 1500,
    keepaliveMs: 300,
  };
  const a = await createNode({ ...opts, rendezvous: [memoryBackend({ store })] });
  const b = await createNode({ ...opts, identity: { secret }, rendezvous: [memoryBackend({ store })] });
  nodes.push(a, b);
  a.peers.add({ B: b.contactCard({ candidates: false }) });
  await waitFor(() => a.status().B?.state === 'established', 10_000, 'A -> B');
  // crash: the socket disappears, no CLOSE is sent
  await b.transport.close();
  await waitFor(() => a.status().B?.state !== 'established', 10_000, 'idle timeout');
  // while B is away A keeps trying (handshake timeouts, backoff) and never gets stuck
  await new Promise((r) => setTimeout(r, 2500));
  expect(['reconnecting', 'connecting']).toContain(a.status().B?.state);
  // the typed reason of the last failed dial is visible while it is away
  expect(a.status().B?.lastError?.code).toBe('HANDSHAKE_TIMEOUT');
  const b2 = await createNode({ ...opts, identity: { secret }, rendezvous: [memoryBackend({ store })] });
  nodes.push(b2);
  await waitFor(() => a.status().B?.state === 'established', 30_000, 'A reconnects to the restarted B');
  expect(a.status().B?.path).toMatchObject({ address: { port: b2.address().port } });
}, 60_000);
