/**
 * What a server endpoint keeps of connections that are gone: rounds of fresh clients (new
 * identities, new addresses) connect to one server and close, the clock runs past the closing
 * periods, and every Map, Set and array the server reaches is measured after each round. Only the
 * tables bounded by design may grow (they keep one small entry per remote key or host, capped):
 * everything else (connection table, session indexes, event queues, timers, paths, budgets)
 * must be back to its size after the first round. A server runs for days with millions of peers.
 */
import { describe, expect, it } from 'vitest';
import { collectionSizes, retentionRig } from './retention-rig.js';

/** Tables allowed to keep an entry per gone peer, and their caps (the bounds' own tests: crypto). */
const BOUNDED: Record<string, number> = {
  // IK replay protection: the newest initiation timestamp per remote key (~130 bytes an entry;
  // the 16,384 most recent kept, up to twice that held: a GenerationalMap)
  'secure.responder.lastInit': 2 * 16_384,
  // host → /24 or /64 prefix cache of the handshake budgets (cleared when full)
  'secure.responder.gate.sources.prefixes': 4096,
};

/**
 * Caches keyed by a small closed set of connection kinds, not by peer: any round may add a kind
 * the earlier ones did not meet, never past the cap. The reliability configs are keyed by payload
 * limit (3 routes: IPv4, IPv6, relayed) × stream role × RTT-probe answer: the role follows how the
 * two public keys compare, so whether a round of 48 random clients meets both roles depends on the
 * server's key (with a server key starting 0x03, a round misses one about half the time).
 */
const CLOSED_KEY_SPACE: Record<string, number> = {
  'host.reliableConfigs.resolved': 3 * 2 * 2,
};

describe('server retention of closed connections', () => {
  it('keeps nothing per closed peer but the bounded tables', () => {
    const N = 48;
    // each client from its own host; a few minutes of clock after each round, so every timer of
    // the gone connections (cookies, budgets, ...) has fired
    const { server, round } = retentionRig({ drainSeconds: 300 });
    const roundOfN = () => expect(round(N)).toBe(N);

    roundOfN(); // the first one creates the lazily built state (configs, caches)
    let before = collectionSizes(server);
    for (let r = 0; r < 2; r++) {
      roundOfN();
      const after = collectionSizes(server);
      const grown: string[] = [];
      for (const [path, n] of after) {
        const was = before.get(path) ?? 0;
        if (path in CLOSED_KEY_SPACE) {
          expect(n, path).toBeLessThanOrEqual(CLOSED_KEY_SPACE[path] as number);
        } else if (path in BOUNDED) {
          // one entry per fresh peer (each from its own host), under the cap
          expect(n - was, path).toBe(N);
          expect(n, path).toBeLessThanOrEqual(BOUNDED[path] as number);
        } else if (n > was) grown.push(`${path}: ${was} → ${n}`);
      }
      expect(grown).toEqual([]);
      for (const path of Object.keys(BOUNDED)) expect(after.has(path), path).toBe(true);
      before = after;
    }
  }, 60_000);
});
