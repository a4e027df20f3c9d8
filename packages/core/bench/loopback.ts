/**
 * In-process throughput of two core Endpoints (no sockets): one stream, datagrams handed from one
 * endpoint to the other, clock from performance.now(). Measures core + reliability + crypto cost
 * per byte, and the time each side spends in its calls per data packet (sender: pollTransmit,
 * handle of ACKs, timers, writes; receiver: handle, reads, its ACKs). Run:
 * npx tsx --conditions=source packages/core/bench/loopback.ts [MiB] [noble|node|sodium]
 */
import { identityFromSecret } from '@srmudp/crypto';
import { nodeBackend, sodiumBackend } from '@srmudp/crypto-node';
import { CoreEndpoint } from '../src/endpoint.js';

const MiB = Number(process.argv[2] ?? 256);
const backendName = process.argv[3] ?? 'node';
let seed = 1;
const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
};
const chosen = backendName === 'node' ? nodeBackend() : backendName === 'sodium' ? sodiumBackend() : null;
if (backendName === 'sodium' && chosen === null) throw new Error('sodium-native did not load');
const backend = chosen === null ? {} : { cryptoBackend: chosen };
const idA = identityFromSecret(new Uint8Array(32).fill(1));
const idB = identityFromSecret(new Uint8Array(32).fill(2));
const A = { host: '127.0.0.1', port: 1 };
const B = { host: '127.0.0.1', port: 2 };
const clock = () => performance.now();
/** process CPU time in ms: the per-side figures hold on a loaded machine, where wall time does not */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
// as the façade: each datagram is handed over (decrypted in place)
const a = new CoreEndpoint({ identity: idA, random, ...backend, ownsDatagrams: true }, clock());
const b = new CoreEndpoint({ identity: idB, random, ...backend, ownsDatagrams: true }, clock());
const conn = a.connect(clock(), { addresses: [B], remoteKey: idB.publicKey });
const total = MiB * 1024 * 1024;
const chunk = new Uint8Array(256 * 1024);
let written = 0;
let read = 0;
let sid = -1;
let t0 = 0;
let packets = 0;
/** CPU ms each side spent in its own calls */
let timeA = 0;
let timeB = 0;
/** datagrams the receiver sent */
let acks = 0;
while (read < total) {
  const now = clock();
  let c0 = cpu();
  const ta = a.pollTimeout();
  if (ta !== null && ta <= now) a.handleTimeout(now);
  let c1 = cpu();
  timeA += c1 - c0;
  const tb = b.pollTimeout();
  if (tb !== null && tb <= now) b.handleTimeout(now);
  timeB += cpu() - c1;
  const batch = [];
  c0 = cpu();
  for (let t = a.pollTransmit(now); t; t = a.pollTransmit(now)) batch.push(t.data);
  c1 = cpu();
  timeA += c1 - c0;
  for (const d of batch) b.handle(now, A, d);
  packets += batch.length;
  batch.length = 0;
  for (let t = b.pollTransmit(now); t; t = b.pollTransmit(now)) batch.push(t.data);
  acks += batch.length;
  c0 = cpu();
  timeB += c0 - c1;
  for (const d of batch) a.handle(now, B, d);
  c1 = cpu();
  timeA += c1 - c0;
  for (let e = a.pollEvent(); e; e = a.pollEvent()) {
    if (e.type === 'connected') {
      sid = conn.openStream();
      t0 = clock();
    }
  }
  c0 = cpu();
  for (let e = b.pollEvent(); e; e = b.pollEvent()) {
    if (e.type === 'readable') {
      const c = b.connection(e.id);
      for (let d = c?.read(now, e.streamId); d; d = c?.read(now, e.streamId)) read += d.length;
    }
  }
  c1 = cpu();
  timeB += c1 - c0;
  if (sid >= 0) {
    while (written < total) {
      const n = conn.write(sid, chunk.subarray(0, Math.min(chunk.length, total - written)));
      if (n === 0) break;
      written += n;
    }
  }
  timeA += cpu() - c1;
}
const s = (clock() - t0) / 1000;
const st = conn.stats();
console.log(
  `${backendName}: ${MiB} MiB in ${s.toFixed(2)} s = ${(total / 1e6 / s).toFixed(1)} MB/s, ${packets} packets, ` +
    `pmtu ${st.pmtu}, cwnd ${st.cwnd}, lost ${st.packetsLost}; per data packet: sender ` +
    `${((timeA * 1000) / packets).toFixed(2)} µs, receiver ${((timeB * 1000) / packets).toFixed(2)} µs, ` +
    `receiver datagrams ${acks}`,
);
