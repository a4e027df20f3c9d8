/**
 * In-process accept cost of one core Endpoint (no sockets, no façade): N client endpoints dial it,
 * at most 16 handshakes in flight (as P4), datagrams handed over in memory, a virtual clock that
 * advances `STEP` ms (default 4) per turn so the responder's load measure, cookie round trips
 * and budgets run as under P4's rate. Reports the server's CPU (process.cpuUsage around its own
 * calls only) per accepted connection and the datagrams it sent per connection: what core,
 * crypto and reliability cost per handshake without syscalls, the driver, timers or GC of other
 * work. P4 (apps/perf) measures the whole node. It also counts the server's calls of its crypto
 * backend per accepted connection (a counting wrapper around the backend and `random`), times each
 * kind by replaying a recorded call, and prints their sum: the backend-primitive floor of one
 * accepted connection (noble's keyed BLAKE2s of mac1/mac2/cookies is not a backend call: not in
 * it). The wrapper's own cost (a closure and a map lookup per call, ~40 calls per connection) is
 * in the server's CPU figure, well under 1 % of it. The server's calls run inside `serverTurn`,
 * so a `--cpu-prof` profile separates them from the clients'. Run:
 * npx tsx --conditions=source packages/core/bench/handshakes.ts [connections=1000] [rounds=3] [noble|node|sodium]
 * env STEP (virtual ms per turn, default 4), COOKIE_THRESHOLD (the server's
 * limits.cookieThreshold; e.g. 1000000000: no cookie round trip), ALLOC=1 (the last round runs
 * under V8's sampling heap profiler, garbage included, and the bytes the server's calls allocated
 * per accepted connection are printed, by function: what feeds its GC; that round's CPU figure
 * then includes the profiler's cost)
 */
import { randomBytes } from 'node:crypto';
import type { HeapProfiler } from 'node:inspector';
import { Session } from 'node:inspector/promises';
import { type CryptoBackend, identityFromSecret, nobleBackend } from '@srmudp/crypto';
import { nodeBackend, sodiumBackend } from '@srmudp/crypto-node';
import type { Address } from '@srmudp/wire';
import { CoreEndpoint } from '../src/endpoint.js';

const N = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 3);
const backendName = process.argv[4] ?? 'sodium';
const STEP = Number(process.env.STEP ?? 4);
const cookieLimits =
  process.env.COOKIE_THRESHOLD === undefined
    ? {}
    : { limits: { cookieThreshold: Number(process.env.COOKIE_THRESHOLD) } };
/** turns a connected client keeps being polled: 200 ms of the virtual clock */
const GRACE = Math.ceil(200 / STEP);
const random = (n: number) => new Uint8Array(randomBytes(n));
const chosen = backendName === 'node' ? nodeBackend() : backendName === 'sodium' ? sodiumBackend() : null;
if (backendName === 'sodium' && chosen === null) throw new Error('sodium-native did not load');
const backend = chosen === null ? {} : { cryptoBackend: chosen };

/** One kind of backend call: how often the server made it, and a copy of its first arguments. */
interface Calls {
  n: number;
  replay: (() => unknown) | null;
}
const calls = new Map<string, Calls>();
const copy = (a: unknown): unknown => (a instanceof Uint8Array ? a.slice() : a);

/** `f`, counted under `name`; its first call's arguments (copied: keys are zeroed after use), the
 * first `replayArgs` of them, are kept to time the primitive by replaying it. */
function counted<A extends unknown[], R>(
  name: string,
  f: (...a: A) => R,
  replayArgs = Infinity,
): (...a: A) => R {
  return (...a: A): R => {
    let c = calls.get(name);
    if (c === undefined) {
      c = { n: 0, replay: null };
      calls.set(name, c);
    }
    c.n++;
    if (c.replay === null) {
      const args = a.slice(0, replayArgs).map(copy) as A;
      c.replay = () => f(...args);
    }
    return f(...a);
  };
}

/** The server's backend, each primitive counted. */
function countingBackend(b: CryptoBackend): CryptoBackend {
  const blake2s = b.blake2s;
  return {
    name: b.name,
    x25519: counted('x25519', b.x25519.bind(b)),
    x25519Public: counted('x25519Public (ephemeral)', b.x25519Public.bind(b)),
    // an AEAD's `out` buffer (5th argument) is left out of the replay: it allocates its result
    aeadSeal: counted('aeadSeal', b.aeadSeal.bind(b), 4),
    aeadOpen: counted('aeadOpen', b.aeadOpen.bind(b), 4),
    ...(blake2s
      ? {
          blake2s: {
            hash: counted('blake2s.hash', blake2s.hash.bind(blake2s)),
            hmac: counted('blake2s.hmac', blake2s.hmac.bind(blake2s)),
          },
        }
      : {}),
    ...(b.ed25519ToX25519 ? { ed25519ToX25519: counted('ed25519ToX25519', b.ed25519ToX25519.bind(b)) } : {}),
    ...(b.xchachaSeal ? { xchachaSeal: counted('xchachaSeal (cookie)', b.xchachaSeal.bind(b)) } : {}),
  };
}
const serverRandom = counted('random', random);

/** Median µs of `f` over 5 runs of `n` calls. */
function timeUs(f: () => unknown, n = 2000): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    runs.push(Number(process.hrtime.bigint() - t) / n / 1000);
  }
  return runs.sort((x, y) => x - y)[2] as number;
}
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
  const server = new CoreEndpoint(
    {
      identity: idS,
      random: serverRandom,
      cryptoBackend: countingBackend(chosen ?? nobleBackend()),
      ownsDatagrams: true,
      ...cookieLimits,
    },
    now,
  );
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
    const out = serverTurn(server, now, toServer);
    established += out.connected;
    serverMs += cpu() - c0;
    sent += out.datagrams.length;
    for (const x of out.datagrams) {
      const c = byAddress.get(`${x.to.host}:${x.to.port}`);
      if (c === undefined) continue;
      c.ep.handle(now, S, x.data);
      dirty.add(c);
    }
    for (const c of active) if (c.connected && --c.grace <= 0) active.delete(c);
  }
  return { usPerConn: (serverMs * 1000) / N, sentPerConn: sent / N };
}

/** The server's share of one turn (a named frame in CPU profiles): what the clients sent, its
 * timers, what it sends back, the connections it reported. */
function serverTurn(
  server: CoreEndpoint,
  now: number,
  toServer: [Address, Uint8Array][],
): { datagrams: { to: Address; data: Uint8Array }[]; connected: number } {
  for (const [from, d] of toServer) server.handle(now, from, d);
  const t = server.pollTimeout();
  if (t !== null && t <= now) server.handleTimeout(now);
  const datagrams: { to: Address; data: Uint8Array }[] = [];
  for (let x = server.pollTransmit(now); x; x = server.pollTransmit(now)) datagrams.push(x);
  let connected = 0;
  for (let e = server.pollEvent(); e; e = server.pollEvent()) if (e.type === 'connected') connected++;
  return { datagrams, connected };
}

type HeapNode = HeapProfiler.SamplingHeapProfileNode;

/** Bytes allocated under `serverTurn` (this file's), by allocating function `name file:line`. */
function serverAllocations(head: HeapNode): Map<string, number> {
  const by = new Map<string, number>();
  const visit = (n: HeapNode, under: boolean): void => {
    const f = n.callFrame;
    const inServer = under || (f.functionName === 'serverTurn' && f.url.endsWith('handshakes.ts'));
    if (inServer && n.selfSize > 0) {
      // (tsx's compiled TypeScript reports line 0: no line then)
      const line = f.lineNumber > 0 ? `:${f.lineNumber + 1}` : '';
      const where = f.url ? `${f.url.split('/').slice(-2).join('/')}${line}` : '(native)';
      const k = `${f.functionName || '(anonymous)'} ${where}`;
      by.set(k, (by.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children) visit(c, inServer);
  };
  visit(head, false);
  return by;
}

const profiler = process.env.ALLOC === '1' ? new Session() : null;
for (let r = 0; r < rounds; r++) {
  calls.clear();
  const sampling = profiler !== null && r === rounds - 1;
  if (sampling) {
    profiler.connect();
    await profiler.post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const { usPerConn, sentPerConn } = run();
  console.log(
    `round ${r}: server ${usPerConn.toFixed(0)} µs CPU per accepted connection, ${sentPerConn.toFixed(2)} datagrams sent per connection (${backendName})${sampling ? ', under the heap profiler' : ''}`,
  );
  if (sampling) {
    const { profile } = await profiler.post('HeapProfiler.stopSampling');
    profiler.disconnect();
    const by = [...serverAllocations(profile.head)].sort((a, b) => b[1] - a[1]);
    const total = by.reduce((s, [, v]) => s + v, 0);
    console.log(
      `server allocations (round ${r}, sampled every 1 KiB, garbage included): ${(total / N / 1024).toFixed(1)} KiB per accepted connection; top functions, bytes per connection:`,
    );
    for (const [k, v] of by.slice(0, 15))
      console.log(
        `  ${(v / N).toFixed(0).padStart(7)} B  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`,
      );
  }
}
// the last round's calls, each kind timed by replaying its first call
let floorUs = 0;
console.log('backend calls per accepted connection (last round), µs per call (median of 5 × 2,000):');
for (const [name, c] of calls) {
  const us = c.replay ? timeUs(c.replay) : 0;
  const perConn = c.n / N;
  floorUs += perConn * us;
  console.log(
    `  ${name.padEnd(26)} ${perConn.toFixed(2).padStart(6)} × ${us.toFixed(2).padStart(6)} µs = ${(perConn * us).toFixed(1).padStart(6)} µs`,
  );
}
console.log(
  `backend-primitive floor: ${floorUs.toFixed(0)} µs per accepted connection (noble's keyed BLAKE2s MACs not included)`,
);
