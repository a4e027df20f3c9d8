// The façade picks the fastest crypto backend (libsodium here) and says which; an explicit
// backend interoperates with it byte for byte.
import { randomBytes } from 'node:crypto';
import { nobleBackend } from '@srmudp/crypto';
import { afterEach, expect, it } from 'vitest';
import { createNode, type SrmudpNode } from '../src/index.js';

const nodes: SrmudpNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

it('uses libsodium by default and talks to a noble node (both directions, 256 KiB intact)', async () => {
  const a = await createNode({ host: '127.0.0.1' });
  const b = await createNode({ host: '127.0.0.1', cryptoBackend: nobleBackend() });
  nodes.push(a, b);
  expect(a.cryptoBackend).toBe('sodium');
  expect(b.cryptoBackend).toBe('noble');
  const conn = await a.connect({ host: '127.0.0.1', port: b.address().port, peerId: b.peerId });
  const bConn = await (async () => {
    for await (const c of b.connections()) return c;
    throw new Error('no connection');
  })();
  const payload = new Uint8Array(randomBytes(256 * 1024));
  const s = conn.openStream();
  s.end(payload);
  const rx = (await bConn.streams().next()).value;
  const chunks: Uint8Array[] = [];
  for await (const chunk of rx) chunks.push(chunk as Uint8Array);
  expect(Buffer.concat(chunks).equals(payload)).toBe(true);
  const reply = new Promise<Uint8Array>((resolve) => a.once('message', (m) => resolve(m.data)));
  b.send('pong');
  expect(new TextDecoder().decode(await reply)).toBe('pong');
}, 20_000);

it('rejects something that is not a backend as INVALID_OPTIONS', async () => {
  await expect(
    createNode({ host: '127.0.0.1', cryptoBackend: { name: 'x' } as never }),
  ).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
});
