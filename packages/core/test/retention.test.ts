/**
 * What a server endpoint keeps of connections that are gone: rounds of fresh clients (new
 * identities, new addresses) connect to one server and close, the clock runs past the closing
 * periods, and every Map, Set and array the server reaches is measured after each round. Only the
 * tables bounded by design may grow (they keep one small entry per remote key or host, capped):
 * everything else (connection table, session indexes, event queues, timers, paths, budgets)
 * must be back to its size after the first round. A server runs for days with millions of peers.
 */
import { randomBytes } from 'node:crypto';
import { identityFromSecret } from '@srmudp/crypto';
import { sodiumBackend } from '@srmudp/crypto-node';
import type { Address } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { CoreEndpoint } from '../src/endpoint.js';
import { collectionSizes } from './collection-sizes.js';

/** Tables allowed to keep an entry per gone peer, and their caps (the bounds' own tests: crypto). */
const BOUNDED: Record<string, number> = {
  // IK replay protection: the newest initiation timestamp per remote key (~130 bytes an entry)
  'secure.responder.lastInit': 16_384,
  // host → /24 or /64 prefix cache of the handshake budgets (cleared when full)
  'secure.responder.gate.sources.prefixes': 4096,
};

const random = (n: number) => new Uint8Array(randomBytes(n));
const backend = sodiumBackend();
const S: Address = { host: '10.0.0.1', port: 9 };

describe('server retention of closed connections', () => {
  it('keeps nothing per closed peer but the bounded tables', () => {
    const N = 48;
    let now = 1000;
    let gen = 0;
    const idS = identityFromSecret(random(32));
    const cfg = { random, ownsDatagrams: true, ...(backend === null ? {} : { cryptoBackend: backend }) };
    const server = new CoreEndpoint({ identity: idS, ...cfg }, now);
    const serverTimers = () => {
      const t = server.pollTimeout();
      if (t !== null && t <= now) server.handleTimeout(now);
    };

    /** N fresh clients connect and close at once; returns when the server holds nothing of them */
    const round = (): void => {
      const clients = new Map<string, { ep: CoreEndpoint; addr: Address; closed: boolean }>();
      for (let i = 0; i < N; i++) {
        const g = gen++;
        const addr = { host: `10.${(g >> 8) & 255}.${g & 255}.7`, port: 1000 + g };
        const ep = new CoreEndpoint({ identity: identityFromSecret(random(32)), ...cfg }, now);
        ep.connect(now, { addresses: [S], remoteKey: idS.publicKey });
        clients.set(`${addr.host}:${addr.port}`, { ep, addr, closed: false });
      }
      let accepted = 0;
      for (let turn = 0; turn < 50_000; turn++) {
        now += 4;
        for (const c of clients.values()) {
          const t = c.ep.pollTimeout();
          if (t !== null && t <= now) c.ep.handleTimeout(now);
          for (let e = c.ep.pollEvent(); e; e = c.ep.pollEvent())
            if (e.type === 'connected' && !c.closed) {
              c.closed = true;
              c.ep.connection(e.id)?.close(now, 0, 'bye');
            }
          for (let x = c.ep.pollTransmit(now); x; x = c.ep.pollTransmit(now))
            server.handle(now, c.addr, x.data);
        }
        serverTimers();
        for (let x = server.pollTransmit(now); x; x = server.pollTransmit(now))
          clients.get(`${x.to.host}:${x.to.port}`)?.ep.handle(now, S, x.data);
        for (let e = server.pollEvent(); e; e = server.pollEvent()) if (e.type === 'connected') accepted++;
        const st = server.stats();
        if (accepted === N && st.connections === 0 && st.handshaking === 0 && st.pendingHandshakes === 0) {
          // a few minutes more: every timer of the gone connections (cookies, budgets, ...) fires
          for (let j = 0; j < 300; j++) {
            now += 1000;
            serverTimers();
            while (server.pollTransmit(now));
            while (server.pollEvent());
          }
          return;
        }
      }
      throw new Error(`round did not finish: ${accepted} of ${N} accepted`);
    };

    round(); // the first one creates the lazily built state (configs, caches)
    let before = collectionSizes(server);
    for (let r = 0; r < 2; r++) {
      round();
      const after = collectionSizes(server);
      const grown: string[] = [];
      for (const [path, n] of after) {
        const was = before.get(path) ?? 0;
        if (path in BOUNDED) {
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
