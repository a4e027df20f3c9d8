/**
 * In-process accept cost of one core Endpoint (no sockets, no façade): N client endpoints dial it,
 * at most 16 handshakes in flight (as P4), datagrams handed over in memory, a virtual clock that
 * advances `STEP` ms (default 4) per turn so the responder's load measure, cookie round trips
 * and budgets run as under P4's rate. Reports the server's CPU (process.cpuUsage around its own
 * calls only) per accepted connection and the datagrams it sent per connection: what core,
 * crypto and reliability cost per handshake without syscalls, the driver, timers or GC of other
 * work. P4 (apps/perf) measures the whole node. Run:
 * npx tsx --conditions=source packages/core/bench/handshakes.ts [connections=1000] [rounds=3] [noble|node|sodium]
 */
import { randomBytes } from 'node:crypto';
import { identityFromSecret } from '@srmudp/crypto';
import { nodeBackend, sodiumBackend } from '@srmudp/crypto-node';
import type { Address } from '@srmudp/wire';
import { CoreEndpoint } from '../src/endpoint.js';

const N = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 3);
const backendName = process.argv[4] ?? 'sodium';
const STEP = Number(process.env.STEP ?? 4);
/** turns a connected client keeps being polled: 200 ms of the virtual clock */
const GRACE = Math.ceil(200 / STEP);
const random = (n: number) => new Uint8Array(randomBytes(n));
const chosen = backendName === 'node' ? nodeBackend() : backendName === 'sodium' ? sodiumBackend() : null;
if (backendName === 'sodium' && chosen === null) throw new Error('sodium-native did not load');
const backend = chosen === null ? {} : { cryptoBackend: chosen };
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Client {
  ep: CoreEndpoint;
  addr: Address;
  connected: boolean;
  /** turns it is still polled once connected (its delayed ACKs and first packets go out) */
  grace: number;
}

function run(): { usPerConn: number; sentPerConn: number } {
  let now = 1000;
  const idS = identityFromSecret(random(32));
  const S: Address = { host: '10.0.0.1', port: 9 };
  const server = new CoreEndpoint({ identity: idS, random, ...backend, ownsDatagrams: true }, now);
  const byAddress = new Map<string, Client>();
  /** clients polled each turn: handshaking, or connected less than GRACE turns ago */
  const active = new Set<Client>();
  let handshaking = 0;
  let dirty = new Set<Client>();
  let started = 0;
  let established = 0;
  let serverMs = 0;
  let sent = 0;
  while (established < N) {
    while (handshaking < 16 && started < N) {
      const i = started++;
      const addr = { host: `10.1.${(i >> 8) & 255}.${i & 255}`, port: 1000 + i };
      const ep = new CoreEndpoint(
        { identity: identityFromSecret(random(32)), random, ...backend, ownsDatagrams: true },
        now,
      );
      ep.connect(now, { addresses: [S], remoteKey: idS.publicKey });
      const c = { ep, addr, connected: false, grace: GRACE };
      byAddress.set(`${addr.host}:${addr.port}`, c);
      active.add(c);
      handshaking++;
    }
    now += STEP;
    for (const c of active) dirty.add(c);
    const polled = dirty;
    dirty = new Set();
    const toServer: [Address, Uint8Array][] = [];
    for (const c of polled) {
      const t = c.ep.pollTimeout();
      if (t !== null && t <= now) c.ep.handleTimeout(now);
      for (let x = c.ep.pollTransmit(now); x; x = c.ep.pollTransmit(now)) toServer.push([c.addr, x.data]);
      for (let e = c.ep.pollEvent(); e; e = c.ep.pollEvent())
        if (e.type === 'connected' && !c.connected) {
          c.connected = true;
          handshaking--;
        }
    }
    const c0 = cpu();
    for (const [from, d] of toServer) server.handle(now, from, d);
    const t = server.pollTimeout();
    if (t !== null && t <= now) server.handleTimeout(now);
    const out: { to: Address; data: Uint8Array }[] = [];
    for (let x = server.pollTransmit(now); x; x = server.pollTransmit(now)) out.push(x);
    for (let e = server.pollEvent(); e; e = server.pollEvent()) if (e.type === 'connected') established++;
    serverMs += cpu() - c0;
    sent += out.length;
    for (const x of out) {
      const c = byAddress.get(`${x.to.host}:${x.to.port}`);
      if (c === undefined) continue;
      c.ep.handle(now, S, x.data);
      dirty.add(c);
    }
    for (const c of active) if (c.connected && --c.grace <= 0) active.delete(c);
  }
  return { usPerConn: (serverMs * 1000) / N, sentPerConn: sent / N };
}

for (let r = 0; r < rounds; r++) {
  const { usPerConn, sentPerConn } = run();
  console.log(
    `round ${r}: server ${usPerConn.toFixed(0)} µs CPU per accepted connection, ${sentPerConn.toFixed(2)} datagrams sent per connection (${backendName})`,
  );
}
