/**
 * In-process throughput of two core Endpoints (no sockets): one stream, datagrams handed from one
 * endpoint to the other, clock from performance.now(). Measures core + reliability + crypto cost
 * per byte. Run: npx tsx --conditions=source packages/core/bench/loopback.ts [MiB] [noble|node]
 */
import { identityFromSecret } from '@srmudp/crypto';
import { nodeBackend } from '@srmudp/crypto-node';
import { CoreEndpoint } from '../src/endpoint.js';

const MiB = Number(process.argv[2] ?? 256);
const backendName = process.argv[3] ?? 'node';
let seed = 1;
const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
};
const backend = backendName === 'node' ? { cryptoBackend: nodeBackend() } : {};
const idA = identityFromSecret(new Uint8Array(32).fill(1));
const idB = identityFromSecret(new Uint8Array(32).fill(2));
const A = { host: '127.0.0.1', port: 1 };
const B = { host: '127.0.0.1', port: 2 };
const clock = () => performance.now();
const a = new CoreEndpoint({ identity: idA, random, ...backend }, clock());
const b = new CoreEndpoint({ identity: idB, random, ...backend }, clock());
const conn = a.connect(clock(), { addresses: [B], remoteKey: idB.publicKey });
const total = MiB * 1024 * 1024;
const chunk = new Uint8Array(256 * 1024);
let written = 0;
let read = 0;
let sid = -1;
let t0 = 0;
let packets = 0;
while (read < total) {
  const now = clock();
  for (const ep of [a, b]) {
    const t = ep.pollTimeout();
    if (t !== null && t <= now) ep.handleTimeout(now);
  }
  for (let t = a.pollTransmit(now); t; t = a.pollTransmit(now)) {
    b.handle(now, A, t.data);
    packets++;
  }
  for (let t = b.pollTransmit(now); t; t = b.pollTransmit(now)) a.handle(now, B, t.data);
  for (let e = a.pollEvent(); e; e = a.pollEvent()) {
    if (e.type === 'connected') {
      sid = conn.openStream();
      t0 = clock();
    }
  }
  for (let e = b.pollEvent(); e; e = b.pollEvent()) {
    if (e.type === 'readable') {
      const c = b.connection(e.id);
      for (let d = c?.read(now, e.streamId); d; d = c?.read(now, e.streamId)) read += d.length;
    }
  }
  if (sid >= 0) {
    while (written < total) {
      const n = conn.write(sid, chunk.subarray(0, Math.min(chunk.length, total - written)));
      if (n === 0) break;
      written += n;
    }
  }
}
const s = (clock() - t0) / 1000;
const st = conn.stats();
console.log(
  `${backendName}: ${MiB} MiB in ${s.toFixed(2)} s = ${(total / 1e6 / s).toFixed(1)} MB/s, ${packets} packets, ` +
    `pmtu ${st.pmtu}, cwnd ${st.cwnd}, lost ${st.packetsLost}`,
);
