import { createHash } from 'node:crypto';
import { afterEach } from 'vitest';
import { createNode, type SrmudpNode, type SrmudpStream } from '../src/index.js';

/** A factory of nodes on 127.0.0.1 (extra options merged in), all closed after each test. */
export function loopbackNodes(): (opts?: object) => Promise<SrmudpNode> {
  const nodes: SrmudpNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });
  return async (opts: object = {}) => {
    const n = await createNode({ host: '127.0.0.1', ...opts });
    nodes.push(n);
    return n;
  };
}

/** Two loopback nodes from `node` (a {@link loopbackNodes} factory), a connected to b: both ends. */
export async function connectedPair(node: (opts?: object) => Promise<SrmudpNode>) {
  const a = await node();
  const b = await node();
  const conn = await a.connect({ host: '127.0.0.1', port: b.address().port, peerId: b.peerId });
  const incoming = (async () => {
    for await (const c of b.connections()) return c;
    throw new Error('no connection');
  })();
  return { a, b, conn, bConn: await incoming };
}

/** Polls `cond` every 10 ms until true; throws after `ms` with `what`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function allEstablished(node: SrmudpNode, names: string[]): boolean {
  const s = node.status();
  return names.every((n) => s[n]?.state === 'established');
}

export const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Reads a stream to its end: its length and SHA-256. */
export async function hashOfStream(s: SrmudpStream): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of s) {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { bytes, sha256: h.digest('hex') };
}

// blockTo lives in net-helpers.ts (no vitest import), so the benches share it
export { blockTo } from './net-helpers.js';
