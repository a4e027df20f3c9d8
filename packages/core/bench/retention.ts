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
import { collectionSizes, retentionRig } from '../test/retention-rig.js';

const N = Number(process.argv[2] ?? 1000);
const K = Number(process.argv[3] ?? 4);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const { server, round } = retentionRig({
  // `one`: every client on 127.0.0.1 (as P4 on loopback); `distinct`: each on its own /24
  oneHost: process.argv[4] === 'one',
  // seconds of virtual clock run after the server holds no connection (P4 measures at 0)
  drainSeconds: Number(process.env.DRAIN_S ?? 300),
});

let before = collectionSizes(server);
gc();
gc();
let heap = process.memoryUsage().heapUsed;
for (let r = 0; r < K; r++) {
  const accepted = round(N);
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
