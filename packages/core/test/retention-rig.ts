// One server CoreEndpoint and rounds of fresh clients that connect and close (in process, virtual
// clock): what test/retention.test.ts asserts on and bench/retention.ts measures.
import { randomBytes } from 'node:crypto';
import { identityFromSecret } from '@srmudp/crypto';
import { sodiumBackend } from '@srmudp/crypto-node';
import { type Address, GenerationalMap } from '@srmudp/wire';
import { CoreEndpoint } from '../src/endpoint.js';

/** Total size of every Map, Set and array reachable from `root`, by property path. */
export function collectionSizes(root: object): Map<string, number> {
  const out = new Map<string, number>();
  const seen = new Set<unknown>();
  const add = (path: string, n: number) => out.set(path, (out.get(path) ?? 0) + n);
  const walk = (o: unknown, path: string): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || ArrayBuffer.isView(o)) return;
    seen.add(o);
    if (o instanceof Map || o instanceof Set || o instanceof GenerationalMap) {
      add(path, o.size);
      for (const v of o.values()) walk(v, `${path}[]`);
    } else if (Array.isArray(o)) {
      add(path, o.length);
      for (const v of o) walk(v, `${path}[]`);
    } else for (const [k, v] of Object.entries(o)) walk(v, path === '' ? k : `${path}.${k}`);
  };
  walk(root, '');
  return out;
}

export interface RetentionRigOptions {
  /** every client on 127.0.0.1 (as P4 on loopback); default: each on its own /24 */
  oneHost?: boolean;
  /** seconds of virtual clock run once the server holds nothing (its timers fire); default 300 */
  drainSeconds?: number;
}

/**
 * A server endpoint and `round(n)`: n fresh clients (new identities, new addresses; at most 16
 * handshaking at once, as P4) connect and close at once; the clock runs until the server holds no
 * connection, handshake or pending handshake, then `drainSeconds` more. Returns how many the
 * server accepted.
 */
export function retentionRig(o: RetentionRigOptions = {}): {
  server: CoreEndpoint;
  round(n: number): number;
} {
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const backend = sodiumBackend();
  const cfg = { random, ownsDatagrams: true, ...(backend === null ? {} : { cryptoBackend: backend }) };
  const S: Address = { host: '10.0.0.1', port: 9 };
  const drainSeconds = o.drainSeconds ?? 300;
  let now = 1000;
  let gen = 0;
  const idS = identityFromSecret(random(32));
  const server = new CoreEndpoint({ identity: idS, ...cfg }, now);
  const serverTimers = () => {
    const t = server.pollTimeout();
    if (t !== null && t <= now) server.handleTimeout(now);
  };

  const round = (n: number): number => {
    const byAddress = new Map<string, { ep: CoreEndpoint; addr: Address; done: boolean }>();
    const active = new Set<{ done: boolean }>();
    let started = 0;
    let accepted = 0;
    for (let turn = 0; turn < 5_000_000; turn++) {
      while (active.size < 16 && started < n) {
        const g = gen++;
        started++;
        const port = 1024 + (g % 60000);
        const addr = o.oneHost
          ? { host: '127.0.0.1', port }
          : { host: `10.${(g >> 8) & 255}.${g & 255}.7`, port };
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
        for (let x = c.ep.pollTransmit(now); x; x = c.ep.pollTransmit(now))
          server.handle(now, c.addr, x.data);
      }
      serverTimers();
      for (let x = server.pollTransmit(now); x; x = server.pollTransmit(now))
        byAddress.get(`${x.to.host}:${x.to.port}`)?.ep.handle(now, S, x.data);
      for (let e = server.pollEvent(); e; e = server.pollEvent()) if (e.type === 'connected') accepted++;
      const st = server.stats();
      if (
        started === n &&
        active.size === 0 &&
        st.connections === 0 &&
        st.handshaking === 0 &&
        st.pendingHandshakes === 0
      ) {
        for (let j = 0; j < drainSeconds; j++) {
          now += 1000;
          serverTimers();
          while (server.pollTransmit(now));
          while (server.pollEvent());
        }
        return accepted;
      }
    }
    throw new Error(`round did not finish: ${accepted} of ${n} accepted`);
  };
  return { server, round };
}
