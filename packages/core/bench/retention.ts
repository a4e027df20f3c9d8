/**
 * What one server CoreEndpoint keeps of closed connections (in-process, virtual clock, as
 * handshakes.ts): K rounds of N fresh clients (new identities, new addresses; at most 16
 * handshaking at once, as P4) that connect and close at once; after each round the clock runs past
 * the closing periods until the server holds no connection, then the server's heap (GC'd) and
 * the size of every Map, Set and array it reaches are printed: heap bytes kept per closed peer,
 * and which collections grew. test/retention.test.ts asserts the same on small rounds. Seen
 * (2026-12): only the responder's lastInit (≤16,384 keys) and the host → prefix cache (≤4,096,
 * cleared when full) keep an entry per closed peer; the rate limiter's buckets decay with time. Run:
 * node --expose-gc --conditions=source --import tsx packages/core/bench/retention.ts [N=1000] [K=4] [hosts=distinct|one] (env DRAIN_S=300)
 */
import { randomBytes } from 'node:crypto';
import { identityFromSecret } from '@srmudp/crypto';
import { sodiumBackend } from '@srmudp/crypto-node';
import type { Address } from '@srmudp/wire';
import { CoreEndpoint } from '../src/endpoint.js';
import { collectionSizes } from '../test/collection-sizes.js';

const N = Number(process.argv[2] ?? 1000);
const K = Number(process.argv[3] ?? 4);
/** `one`: every client on 127.0.0.1 (as P4 on loopback); `distinct`: each on its own /24 */
const oneHost = process.argv[4] === 'one';
/** seconds of virtual clock run after the server holds no connection (P4 measures at 0) */
const DRAIN_S = Number(process.env.DRAIN_S ?? 300);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const random = (n: number) => new Uint8Array(randomBytes(n));
const backend = sodiumBackend();
const cfg = { random, ownsDatagrams: true, ...(backend === null ? {} : { cryptoBackend: backend }) };
const S: Address = { host: '10.0.0.1', port: 9 };
let now = 1000;
let gen = 0;
const idS = identityFromSecret(random(32));
const server = new CoreEndpoint({ identity: idS, ...cfg }, now);

function serverTimers(): void {
  const t = server.pollTimeout();
  if (t !== null && t <= now) server.handleTimeout(now);
}

interface Client {
  ep: CoreEndpoint;
  addr: Address;
  done: boolean;
}

/** N clients connect and close; returns how many the server accepted */
function round(): number {
  const byAddress = new Map<string, Client>();
  const active = new Set<Client>();
  let started = 0;
  let accepted = 0;
  for (let turn = 0; turn < 5_000_000; turn++) {
    while (active.size < 16 && started < N) {
      const g = gen++;
      started++;
      const addr = oneHost
        ? { host: '127.0.0.1', port: 1024 + (g % 60000) }
        : { host: `10.${(g >> 8) & 255}.${g & 255}.7`, port: 1024 + (g % 60000) };
      const ep = new CoreEndpoint({ identity: identityFromSecret(random(32)), ...cfg }, now);
      ep.connect(now, { addresses: [S], remoteKey: idS.publicKey });
      const c = { ep, addr, done: false };
      byAddress.set(`${addr.host}:${addr.port}`, c);
      active.add(c);
    }
    now += 4;
    for (const c of byAddress.values()) {
      const t = c.ep.pollTimeout();
      if (t !== null && t <= now) c.ep.handleTimeout(now);
      for (let e = c.ep.pollEvent(); e; e = c.ep.pollEvent()) {
        if (e.type === 'connected' && !c.done) c.ep.connection(e.id)?.close(now, 0, 'bye');
        if (e.type === 'connected' || e.type === 'connect_failed') {
          c.done = true;
          active.delete(c);
        }
      }
      for (let x = c.ep.pollTransmit(now); x; x = c.ep.pollTransmit(now)) server.handle(now, c.addr, x.data);
    }
    serverTimers();
    for (let x = server.pollTransmit(now); x; x = server.pollTransmit(now))
      byAddress.get(`${x.to.host}:${x.to.port}`)?.ep.handle(now, S, x.data);
    for (let e = server.pollEvent(); e; e = server.pollEvent()) if (e.type === 'connected') accepted++;
    const st = server.stats();
    if (
      started === N &&
      active.size === 0 &&
      st.connections === 0 &&
      st.handshaking === 0 &&
      st.pendingHandshakes === 0
    ) {
      for (let j = 0; j < DRAIN_S; j++) {
        now += 1000;
        serverTimers();
        while (server.pollTransmit(now));
        while (server.pollEvent());
      }
      return accepted;
    }
  }
  throw new Error(`round did not finish: ${accepted} of ${N} accepted`);
}

let before = collectionSizes(server);
gc();
gc();
let heap = process.memoryUsage().heapUsed;
for (let r = 0; r < K; r++) {
  const accepted = round();
  gc();
  gc();
  const h = process.memoryUsage().heapUsed;
  const after = collectionSizes(server);
  const grown: string[] = [];
  for (const [path, n] of after)
    if (n !== (before.get(path) ?? 0)) grown.push(`${path} ${before.get(path) ?? 0} → ${n}`);
  console.log(
    `round ${r}: ${accepted} accepted; heap ${(h - heap) / accepted >= 0 ? '+' : ''}${((h - heap) / accepted).toFixed(0)} B per closed peer; changed: ${grown.join(', ') || 'none'}`,
  );
  before = after;
  heap = h;
}
