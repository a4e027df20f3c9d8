// Two processes over real UDP sockets on loopback (issue 5): a big stream, many messages, IPv6
// and dual-stack. Sizes can be lowered for quick local runs; CI runs the sizes.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, type SrmudpNode } from '../src/index.js';
import { PeerProcess } from './peer-process.js';

const STREAM_MIB = Number(process.env.SRMUDP_TEST_STREAM_MIB ?? 1024);
const MESSAGES = Number(process.env.SRMUDP_TEST_MESSAGES ?? 10_000);

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function pair(local: object, remote: object) {
  const { peer, ready } = await PeerProcess.start(remote);
  cleanup.push(() => peer.stop());
  const node = await createNode(local);
  cleanup.push(() => node.close());
  return { peer, ready, node };
}

async function connect(node: SrmudpNode, host: string, port: number, peerId: string) {
  return node.connect({ host, port, peerId }, { signal: AbortSignal.timeout(15_000) });
}

describe('two processes', () => {
  it(`transfers a ${STREAM_MIB} MiB stream intact (SHA-256 equal)`, async () => {
    const { peer, ready, node } = await pair({ host: '127.0.0.1' }, { host: '127.0.0.1' });
    const conn = await connect(node, '127.0.0.1', ready.port as number, ready.peerId as string);
    const total = STREAM_MIB * 1024 * 1024;
    const h = createHash('sha256');
    const s = conn.openStream();
    const block = randomBytes(1024 * 1024);
    for (let i = 0; i < STREAM_MIB; i++) {
      // vary every MiB so reordering bugs cannot hide behind identical blocks
      block.writeUInt32BE(i, 0);
      const chunk = Buffer.from(block);
      h.update(chunk);
      if (!s.write(chunk)) await once(s, 'drain');
    }
    s.end();
    const got = await peer.next((m) => m.type === 'stream', 600_000);
    expect(got.bytes).toBe(total);
    expect(got.sha256).toBe(h.digest('hex'));
  }, 900_000);

  it(`delivers ${MESSAGES} messages of random sizes (1 B to 1 MiB) whole and in order`, async () => {
    const { peer, ready, node } = await pair({ host: '127.0.0.1' }, { host: '127.0.0.1' });
    const conn = await connect(node, '127.0.0.1', ready.port as number, ready.peerId as string);
    const h = createHash('sha256');
    let bytes = 0;
    const pool = randomBytes(1024 * 1024);
    for (let i = 0; i < MESSAGES; i++) {
      // log-uniform sizes: both extremes occur (first 1 byte, then one exactly 1 MiB)
      const size = i === 0 ? 1 : i === 1 ? 1024 * 1024 : Math.max(1, Math.floor(2 ** (Math.random() * 20)));
      const m = Buffer.from(pool.subarray(0, size));
      m.writeUInt8(i & 0xff, 0);
      h.update(m);
      bytes += size;
      if (!conn.send(m)) await once(conn, 'drain');
    }
    const want = h.digest('hex');
    const got = await peer.next((m) => m.type === 'messages' && m.count === MESSAGES, 600_000);
    expect(got.bytes).toBe(bytes);
    expect(got.sha256).toBe(want);
  }, 900_000);

  it('works over IPv6 (::1)', async () => {
    const { peer, ready, node } = await pair({ host: '::1' }, { host: '::1' });
    const conn = await connect(node, '::1', ready.port as number, ready.peerId as string);
    expect(conn.path).toMatchObject({ kind: 'direct', address: { host: '::1' } });
    const s = conn.openStream();
    const data = randomBytes(256 * 1024);
    s.end(data);
    const got = await peer.next((m) => m.type === 'stream', 30_000);
    expect(got.sha256).toBe(createHash('sha256').update(data).digest('hex'));
  }, 60_000);

  it('a dual-stack node accepts IPv4 and IPv6 peers on one socket', async () => {
    const { peer, ready } = await PeerProcess.start({ host: '::' });
    cleanup.push(() => peer.stop());
    const v4 = await createNode({ host: '127.0.0.1' });
    const v6 = await createNode({ host: '::1' });
    cleanup.push(
      () => v4.close(),
      () => v6.close(),
    );
    const c4 = await connect(v4, '127.0.0.1', ready.port as number, ready.peerId as string);
    const c6 = await connect(v6, '::1', ready.port as number, ready.peerId as string);
    for (const c of [c4, c6]) {
      const data = randomBytes(64 * 1024);
      c.openStream().end(data);
      const got = await peer.next((m) => m.type === 'stream', 30_000);
      expect(got.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    }
  }, 60_000);
});
