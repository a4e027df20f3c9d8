import { identityFromSecret } from '@srmudp/crypto';
import { nodeBackend } from '@srmudp/crypto-node';
import { bench, describe } from 'vitest';
import type { Address } from '../src/api.js';
import { CoreEndpoint } from '../src/endpoint.js';

let seed = 7;
const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
};
const A: Address = { host: '127.0.0.1', port: 1 };
const B: Address = { host: '127.0.0.1', port: 2 };
const idA = identityFromSecret(new Uint8Array(32).fill(1));
const idB = identityFromSecret(new Uint8Array(32).fill(2));
const backend = nodeBackend();

/** Hands every datagram from one endpoint to the other until both are quiet. */
function shuttle(a: CoreEndpoint, b: CoreEndpoint, now: number): void {
  for (let moved = 1; moved > 0; ) {
    moved = 0;
    for (let t = a.pollTransmit(now); t; t = a.pollTransmit(now), moved++) b.handle(now, A, t.data);
    for (let t = b.pollTransmit(now); t; t = b.pollTransmit(now), moved++) a.handle(now, B, t.data);
  }
}

function connectedPair(): { a: CoreEndpoint; b: CoreEndpoint; now: number } {
  const now = performance.now();
  const a = new CoreEndpoint({ identity: idA, random, cryptoBackend: backend }, now);
  const b = new CoreEndpoint({ identity: idB, random, cryptoBackend: backend }, now);
  a.connect(now, { addresses: [B], remoteKey: idB.publicKey });
  shuttle(a, b, now);
  return { a, b, now };
}

describe('core Endpoint (in process, node:crypto backend)', () => {
  bench('IK handshake (two endpoints, both sides)', () => {
    const { a } = connectedPair();
    if (a.stats().connections !== 1) throw new Error('not connected');
  });

  const size = 4 * 1024 * 1024;
  const chunk = new Uint8Array(256 * 1024);
  bench(`stream ${size / 1024 / 1024} MiB one way (sender and receiver on one thread)`, () => {
    const { a, b } = connectedPair();
    const conn = a.connection(1)!;
    const sid = conn.openStream();
    let written = 0;
    let read = 0;
    for (let i = 0; read < size && i < 1_000_000; i++) {
      const now = performance.now();
      while (written < size) {
        const n = conn.write(sid, chunk.subarray(0, Math.min(chunk.length, size - written)));
        if (n === 0) break;
        written += n;
      }
      for (const ep of [a, b]) {
        const t = ep.pollTimeout();
        if (t !== null && t <= now) ep.handleTimeout(now);
      }
      shuttle(a, b, now);
      for (let e = b.pollEvent(); e; e = b.pollEvent()) {
        if (e.type !== 'readable') continue;
        const c = b.connection(e.id)!;
        for (let d = c.read(now, e.streamId); d; d = c.read(now, e.streamId)) read += d.length;
      }
      while (a.pollEvent()) {}
    }
    if (read !== size) throw new Error(`read ${read}`);
  });
});
