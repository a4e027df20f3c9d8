/**
 * P4: many peers on one node. A server process (one srmudp node, one UDP socket) accepts `peers`
 * connections from client processes (each client endpoint with its own socket); measured on the
 * server: memory per connection (GC'd heap, external and RSS deltas / peers), CPU while the
 * connections sit idle (keepalives) per connection per second, and handshakes per second. The
 * same run with Node TCP (net) is the reference for memory and connection rate.
 *
 * Handshakes twice: cold, the first `peers` connections after the server process started (V8's
 * JIT warm-up included), and warm (steady state): after `warmupBatches` more batches that
 * connected, closed and were dropped by the server (discarded), the median of `steadyBatches`
 * batches of `peers` connections, each from fresh client identities.
 * Memory per connection is taken after the cold batch against the baseline before any client
 * (one-time costs included); the idle window runs on the last batch.
 */
import { LocalWorker, type Msg, workerPath } from './proc.js';
import { sleep, summarize } from './stats.js';
import type { CryptoChoice } from './workers/args.js';

export interface P4Row {
  proto: 'srmudp' | 'tcp';
  label: string;
  /** the one setting this run changed from the defaults, as text for the tables (null: none):
   * {@link cookieVariant} of `cookieThreshold` */
  variant?: string | null;
  /** srmudp: the server's `limits.cookieThreshold` when this run set it (a variant), null: the
   * default; absent in reports written before it. The report finds its variants by this number */
  cookieThreshold?: number | null;
  peers: number;
  established: number;
  failed: number;
  firstError: string | null;
  heapBytesPerConn: number;
  /** the server's heap growth behind heapBytesPerConn (heapUsed after the connections minus
   * before any client) and the connections it is divided by: the marginal figure
   * ({@link marginalHeap}) is the slope between two rows */
  heapDeltaBytes: number;
  heapConnections: number;
  externalBytesPerConn: number;
  rssBytesPerConn: number;
  /** connections per second: peers / (go .. server saw the last one); the cold batch */
  handshakesPerSec: number;
  /** server CPU per accepted connection during the handshake phase, ms; the cold batch */
  serverCpuMsPerHandshake: number;
  /** datagrams the server sent / received per accepted connection in the handshake phase (srmudp); cold */
  serverDatagramsSentPerHandshake: number;
  serverDatagramsReceivedPerHandshake: number;
  /** cookie replies the server sent per accepted connection in the handshake phase (srmudp; the
   * DoS policy's round trips: 0 with cookie replies off); cold, then warm */
  serverCookieRepliesPerHandshake?: number;
  warmServerCookieRepliesPerHandshake?: number;
  /** batches run and discarded between the cold one and the steady-state ones. In reports written
   * before 2026-12-07's `steadyBatches` (field absent): the batches before the one warm batch,
   * the cold one included. 0 with no steady batch = cold only, the warm figures NaN */
  warmupBatches: number;
  /** batches measured in steady state, after the warm-up; the warm figures are their medians
   * (each figure's own). Absent in reports written before 2026-12-07: one warm batch */
  steadyBatches?: number;
  /** the same four figures in steady state (medians over the steady batches; fresh client
   * identities in each) */
  warmHandshakesPerSec: number;
  warmServerCpuMsPerHandshake: number;
  warmServerDatagramsSentPerHandshake: number;
  warmServerDatagramsReceivedPerHandshake: number;
  /** server CPU ms per handshake of every batch in order (cold first, the steady ones last):
   * whether the warm-up sufficed, and how far the steady batches spread */
  batchCpuMsPerHandshake: number[];
  /** heap growth per connection after the last batch, against the same baseline (before any client) */
  warmHeapBytesPerConn: number;
  /** srmudp clients: 'light' (bare @srmudp/core endpoints) or 'node' (full srmudp nodes) */
  client: P4Client | null;
  connectMedianMs: number | null;
  connectP99Ms: number | null;
  idleSeconds: number;
  idleCpuSec: number;
  /** server CPU microseconds per connection per second while idle */
  idleCpuUsPerConnPerSec: number;
  /** server datagrams (sent + received) per connection per second while idle (srmudp) */
  idlePacketsPerConnPerSec: number;
  keepaliveMs: number | null;
  /** srmudp: the crypto backend of the server and the clients */
  backend: string | null;
  error?: string;
}

/**
 * What runs the srmudp clients: `light`, a bare @srmudp/core endpoint per socket (the default:
 * the client processes share the cores with the server, so their weight shows in the wall-clock
 * rate), or `node`, a full srmudp node per socket (the façade, NAT session included).
 */
export type P4Client = 'light' | 'node';

export interface P4Result {
  peers: number;
  clientProcesses: number;
  client: P4Client;
  concurrencyPerProcess: number;
  idleSeconds: number;
  /** warm-up batches of `peers` connections between the cold batch and the steady ones (before
   * 2026-12-07's `steadyBatches`: before the one warm batch, the cold one included) */
  warmupBatches: number;
  /** steady-state batches whose medians are the warm figures (absent before 2026-12-07: one) */
  steadyBatches?: number;
  rows: P4Row[];
  /** srmudp at other peer counts (same method, shorter idle window): how costs per connection scale */
  scaling: P4Row[];
  /** srmudp with one setting changed, same peers and method (shorter idle window): what that
   * setting costs; absent in reports written before the first variant */
  variants?: P4Row[];
}

/**
 * The server's `limits.cookieThreshold` of the variant that measures the DoS policy's price: above
 * any rate P4 reaches, so the server never asks for cookies. Until 2026-12-07 a responder past 64
 * initiations per second answered each new source with a stateless cookie reply first, so every
 * P4 handshake paid a round trip more, one MAC check more and a sealed cookie (WireGuard §5.4.7).
 * Since then confirmed initiations do not count as load and P4's clients get no cookie replies
 * with the defaults either: the variant checks that, and its ratio shows the run-to-run spread.
 */
export const P4_COOKIES_OFF_THRESHOLD = 1_000_000_000;

/** The variant text of a row whose server had `limits.cookieThreshold` = `threshold`. */
export function cookieVariant(threshold: number): string {
  return threshold >= P4_COOKIES_OFF_THRESHOLD
    ? `cookie replies off (limits.cookieThreshold ${threshold.toLocaleString('en-US')} initiations/s)`
    : `limits.cookieThreshold ${threshold.toLocaleString('en-US')} initiations/s`;
}

const LABELS = {
  srmudp: 'srmudp node (one UDP socket, Noise IK handshakes)',
  tcp: 'Node TCP server (net, kernel TCP; reference)',
};

export async function runP4(opts: {
  peers: number;
  clientProcesses: number;
  concurrency: number;
  idleSeconds: number;
  /** batches of `peers` connections (connected, closed, dropped) run after the cold one and
   * discarded, before the steady ones (default 0) */
  warmupBatches?: number;
  /** batches measured after the warm-up, their medians the warm figures (default 1; 0 = cold only) */
  steadyBatches?: number;
  keepaliveMs?: number;
  protos?: ('srmudp' | 'tcp')[];
  /** srmudp's crypto backend on both ends (default: the façade's automatic choice) */
  crypto?: CryptoChoice;
  /** srmudp clients (default 'light') */
  client?: P4Client;
  /** environment of the server process (PERF_CPU_PROFILE: profile the handshake phase) */
  serverEnv?: Record<string, string>;
  /** srmudp: the server's `limits.cookieThreshold` instead of the default (a variant: {@link P4_COOKIES_OFF_THRESHOLD}) */
  cookieThreshold?: number;
  log?: (s: string) => void;
}): Promise<P4Result> {
  const rows: P4Row[] = [];
  for (const proto of opts.protos ?? (['srmudp', 'tcp'] as const)) {
    // the cookie-policy variant is srmudp's alone
    const threshold = proto === 'srmudp' ? opts.cookieThreshold : undefined;
    try {
      rows.push(await runOne(proto, opts, threshold));
      const r = rows.at(-1) as P4Row;
      opts.log?.(
        `P4 ${proto}: ${r.established}/${r.peers}, cold ${r.handshakesPerSec.toFixed(0)}/s` +
          `${(r.steadyBatches ?? 0) > 0 ? ` warm ${r.warmHandshakesPerSec.toFixed(0)}/s` : ''}, CPU ms/handshake by batch ` +
          `${r.batchCpuMsPerHandshake.map((x) => x.toFixed(3)).join(' ')}, ` +
          `${(r.heapBytesPerConn / 1024).toFixed(1)} KiB heap/conn, ${r.idleCpuUsPerConnPerSec.toFixed(2)} µs/conn/s`,
      );
    } catch (err) {
      opts.log?.(`P4 ${proto} failed: ${(err as Error).message}`);
      rows.push(emptyRow(proto, opts.peers, String((err as Error).message ?? err), threshold));
    }
  }
  return {
    peers: opts.peers,
    clientProcesses: opts.clientProcesses,
    client: opts.client ?? 'light',
    concurrencyPerProcess: opts.concurrency,
    idleSeconds: opts.idleSeconds,
    warmupBatches: batchPlan(opts).warmups,
    steadyBatches: batchPlan(opts).steadyN,
    rows,
    scaling: [],
    variants: [],
  };
}

/** The batches after the cold one that runP4's options ask for (defaults 0 and 1): no steady
 * batch, no warm-up either (cold figures only). */
function batchPlan(opts: { warmupBatches?: number; steadyBatches?: number }): {
  warmups: number;
  steadyN: number;
} {
  const steadyN = Math.max(0, Math.floor(opts.steadyBatches ?? 1));
  return { warmups: steadyN === 0 ? 0 : Math.max(0, Math.floor(opts.warmupBatches ?? 0)), steadyN };
}

/** A row's variant: the server's cookie threshold when the run set one, and its text. */
function variantOf(threshold: number | undefined): Pick<P4Row, 'variant' | 'cookieThreshold'> {
  return threshold !== undefined
    ? { variant: cookieVariant(threshold), cookieThreshold: threshold }
    : { variant: null, cookieThreshold: null };
}

/** The row of a run that failed: its variant still named. */
function emptyRow(proto: 'srmudp' | 'tcp', peers: number, error: string, threshold?: number): P4Row {
  return {
    proto,
    label: LABELS[proto],
    ...variantOf(threshold),
    peers,
    established: 0,
    failed: peers,
    firstError: error,
    heapBytesPerConn: Number.NaN,
    heapDeltaBytes: Number.NaN,
    heapConnections: 0,
    externalBytesPerConn: Number.NaN,
    rssBytesPerConn: Number.NaN,
    handshakesPerSec: Number.NaN,
    serverCpuMsPerHandshake: Number.NaN,
    serverDatagramsSentPerHandshake: Number.NaN,
    serverDatagramsReceivedPerHandshake: Number.NaN,
    warmupBatches: 0,
    steadyBatches: 0,
    warmHandshakesPerSec: Number.NaN,
    warmServerCpuMsPerHandshake: Number.NaN,
    warmServerDatagramsSentPerHandshake: Number.NaN,
    warmServerDatagramsReceivedPerHandshake: Number.NaN,
    batchCpuMsPerHandshake: [],
    warmHeapBytesPerConn: Number.NaN,
    client: null,
    connectMedianMs: null,
    connectP99Ms: null,
    idleSeconds: 0,
    idleCpuSec: Number.NaN,
    idleCpuUsPerConnPerSec: Number.NaN,
    idlePacketsPerConnPerSec: Number.NaN,
    keepaliveMs: null,
    backend: null,
    error,
  };
}

async function runOne(
  proto: 'srmudp' | 'tcp',
  opts: {
    peers: number;
    clientProcesses: number;
    concurrency: number;
    idleSeconds: number;
    warmupBatches?: number;
    steadyBatches?: number;
    keepaliveMs?: number;
    crypto?: CryptoChoice;
    client?: P4Client;
    serverEnv?: Record<string, string>;
  },
  /** the server's `limits.cookieThreshold` (srmudp; undefined: the default) */
  threshold: number | undefined,
): Promise<P4Row> {
  const { warmups, steadyN } = batchPlan(opts);
  const client = opts.client ?? 'light';
  const ka = [
    ...(opts.keepaliveMs ? ['--keepalive', String(opts.keepaliveMs)] : []),
    ...(opts.crypto ? ['--crypto', opts.crypto] : []),
    ...(threshold !== undefined ? ['--cookie-threshold', String(threshold)] : []),
  ];
  const server = new LocalWorker(
    workerPath('p4-server'),
    ['--proto', proto, '--target', String(opts.peers), ...ka],
    ['--expose-gc'],
    opts.serverEnv ?? {},
  );
  const perProc = splitEven(opts.peers, opts.clientProcesses);
  const clients = perProc.map(
    (n) =>
      new LocalWorker(workerPath('p4-clients'), [
        '--proto',
        proto,
        '--count',
        String(n),
        '--concurrency',
        String(opts.concurrency),
        ...(proto === 'srmudp' ? ['--client', client] : []),
        ...ka,
      ]),
  );
  try {
    const ready = await server.next((m) => m.t === 'ready', 30_000);
    await Promise.all(clients.map((c) => c.next((m) => m.t === 'ready', 120_000)));
    const base = ready.mem as Record<string, number>;
    /** one batch: every client connects; the server's CPU and datagrams over the batch */
    const batch = async () => {
      const goAt = performance.timeOrigin + performance.now();
      for (const c of clients) c.send({ ...ready, t: 'go' });
      const results = await Promise.all(clients.map((c) => c.next((m) => m.t === 'connected', 180_000)));
      const ok = results.reduce((s, r) => s + Number(r.ok), 0);
      const failed = results.reduce((s, r) => s + Number(r.failed), 0);
      const firstError = (results.find((r) => r.firstError)?.firstError as string | undefined) ?? null;
      let est: Msg | null = null;
      if (ok === opts.peers) est = await server.next((m) => m.t === 'established', 30_000);
      const endAt = est ? Number(est.at) : Math.max(...results.map((r) => Number(r.at)));
      const n = Math.max(ok, 1);
      return {
        results,
        ok,
        failed,
        firstError,
        handshakesPerSec: ok / ((endAt - goAt) / 1000),
        cpuMs: est ? (Number(est.cpuSec) * 1000) / n : Number.NaN,
        sent: est && proto === 'srmudp' ? Number(est.sent) / n : Number.NaN,
        received: est && proto === 'srmudp' ? Number(est.received) / n : Number.NaN,
        cookieReplies: est && proto === 'srmudp' ? Number(est.cookieReplies) / n : Number.NaN,
      };
    };
    const heapNow = async () => {
      // let handshake leftovers (retransmitted initiations, cookie state) settle before measuring
      await sleep(1000);
      server.send({ t: 'mem' });
      return (await server.next((m) => m.t === 'mem', 30_000)).mem as Record<string, number>;
    };
    const cold = await batch();
    const mem = await heapNow();
    const batches = [cold];
    for (let i = 0; i < warmups + steadyN && cold.ok === opts.peers; i++) {
      // close every connection, wait until the server dropped them all (closing periods
      // included; no forced GC, its settle says why); the clients come back with new sockets
      // and new identities
      for (const c of clients) c.send({ t: 'reset' });
      await Promise.all(clients.map((c) => c.next((m) => m.t === 'ready', 120_000)));
      server.send({ t: 'settle', timeoutMs: 30_000 });
      const settled = await server.next((m) => m.t === 'settled', 40_000);
      if (Number(settled.left) > 0)
        throw new Error(`P4 warm-up: ${String(settled.left)} connections not dropped`);
      batches.push(await batch());
    }
    const last = batches.at(-1) as typeof cold;
    // the steady batches: what ran after the warm-up (none when the cold batch failed)
    const steady = batches.length > 1 ? batches.slice(1 + warmups) : [];
    const warm =
      steady.length > 0
        ? {
            handshakesPerSec: medianOf(steady.map((b) => b.handshakesPerSec)),
            cpuMs: medianOf(steady.map((b) => b.cpuMs)),
            sent: medianOf(steady.map((b) => b.sent)),
            received: medianOf(steady.map((b) => b.received)),
            cookieReplies: medianOf(steady.map((b) => b.cookieReplies)),
          }
        : null;
    const warmMem = warm ? await heapNow() : mem;
    const ok = last.ok;
    const n = Math.max(ok, 1);
    const nCold = Math.max(cold.ok, 1);
    server.send({ t: 'cpu-start' });
    await server.next((m) => m.t === 'cpu-started', 10_000);
    await sleep(opts.idleSeconds * 1000);
    server.send({ t: 'cpu-end' });
    const cpu = await server.next((m) => m.t === 'cpu', 10_000);
    server.send({ t: 'count' });
    const still = Number((await server.next((m) => m.t === 'count', 10_000)).count);
    const results = cold.results;
    const medians = results.map((r) => r.medianMs).filter((x): x is number => typeof x === 'number');
    const p99s = results.map((r) => r.p99Ms).filter((x): x is number => typeof x === 'number');
    return {
      proto,
      label: LABELS[proto],
      ...variantOf(threshold),
      peers: opts.peers,
      established: Math.min(still, ok),
      failed: batches.reduce((s, b) => s + b.failed, 0),
      firstError: batches.find((b) => b.firstError)?.firstError ?? null,
      heapBytesPerConn: ((mem.heapUsed ?? 0) - (base.heapUsed ?? 0)) / nCold,
      heapDeltaBytes: (mem.heapUsed ?? 0) - (base.heapUsed ?? 0),
      heapConnections: nCold,
      externalBytesPerConn: ((mem.external ?? 0) - (base.external ?? 0)) / nCold,
      rssBytesPerConn: ((mem.rss ?? 0) - (base.rss ?? 0)) / nCold,
      handshakesPerSec: cold.handshakesPerSec,
      serverCpuMsPerHandshake: cold.cpuMs,
      serverDatagramsSentPerHandshake: cold.sent,
      serverDatagramsReceivedPerHandshake: cold.received,
      serverCookieRepliesPerHandshake: cold.cookieReplies,
      warmupBatches: batches.length - 1 - steady.length,
      steadyBatches: steady.length,
      warmHandshakesPerSec: warm ? warm.handshakesPerSec : Number.NaN,
      warmServerCpuMsPerHandshake: warm ? warm.cpuMs : Number.NaN,
      warmServerDatagramsSentPerHandshake: warm ? warm.sent : Number.NaN,
      warmServerDatagramsReceivedPerHandshake: warm ? warm.received : Number.NaN,
      warmServerCookieRepliesPerHandshake: warm ? warm.cookieReplies : Number.NaN,
      batchCpuMsPerHandshake: batches.map((b) => b.cpuMs),
      warmHeapBytesPerConn: warm ? ((warmMem.heapUsed ?? 0) - (base.heapUsed ?? 0)) / n : Number.NaN,
      client: proto === 'srmudp' ? client : null,
      connectMedianMs: medians.length
        ? (medians.sort((a, b) => a - b)[Math.floor(medians.length / 2)] ?? null)
        : null,
      connectP99Ms: p99s.length ? Math.max(...p99s) : null,
      idleSeconds: Number(cpu.seconds),
      idleCpuSec: Number(cpu.cpuSec),
      idleCpuUsPerConnPerSec: (Number(cpu.cpuSec) * 1e6) / n / Number(cpu.seconds),
      idlePacketsPerConnPerSec: Number(cpu.packets) / n / Number(cpu.seconds),
      keepaliveMs: proto === 'srmudp' ? (opts.keepaliveMs ?? 15_000) : 15_000,
      backend: typeof ready.backend === 'string' ? ready.backend : null,
    };
  } finally {
    await Promise.all([server.kill(), ...clients.map((c) => c.kill())]);
  }
}

/**
 * Marginal heap per connection: the slope of the server's heap growth between two runs at
 * different peer counts (e.g. the 100-peer scaling point and the 1,000-peer row). Heap per
 * connection divides everything the server grew by since before any client, one-time costs
 * included (code V8 compiles and optimises during the first handshakes, tables sized on first
 * use): ~1.5 MB, ~1.5 KiB of the 1,000-peer figure. The slope leaves them out: what one more
 * idle connection costs. Null unless both rows measured and their connection counts differ.
 */
export function marginalHeap(
  a: P4Row,
  b: P4Row,
): { bytesPerConn: number; fromPeers: number; toPeers: number } | null {
  const [lo, hi] = a.heapConnections <= b.heapConnections ? [a, b] : [b, a];
  const dn = hi.heapConnections - lo.heapConnections;
  if (lo.error || hi.error || lo.established === 0 || dn <= 0) return null;
  if (!Number.isFinite(lo.heapDeltaBytes) || !Number.isFinite(hi.heapDeltaBytes)) return null;
  return {
    bytesPerConn: (hi.heapDeltaBytes - lo.heapDeltaBytes) / dn,
    fromPeers: lo.heapConnections,
    toPeers: hi.heapConnections,
  };
}

/** The median of one figure over the steady batches: NaN when a batch lacks it (it failed). */
function medianOf(xs: number[]): number {
  return xs.some((x) => Number.isNaN(x)) ? Number.NaN : summarize(xs).median;
}

function splitEven(total: number, parts: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0));
  return out.filter((n) => n > 0);
}

/**
 * A P4 row's handshake figures for the summary and the handshake profile: the steady state
 * (the medians of the steady batches) when measured, the cold batch otherwise (cold-only runs,
 * and reports written before the warm-up, whose rows lack the warm fields).
 */
export function p4Steady(row: P4Row): { warm: boolean; label: string; perSec: number; cpuMs: number } {
  const w = row.warmServerCpuMsPerHandshake;
  const steady = row.steadyBatches;
  const wb = row.warmupBatches;
  // reports from before 2026-12-07 have no steadyBatches: one warm batch after `warmupBatches`
  // (the cold one included)
  if ((steady ?? wb) > 0 && w !== undefined && Number.isFinite(w))
    return {
      warm: true,
      label:
        steady === undefined
          ? `steady state (after ${wb} warm-up batch${wb > 1 ? 'es' : ''} of ${row.peers})`
          : `steady state (${steady > 1 ? `median of ${steady} batches` : 'a batch'} of ${row.peers} after the cold one and ${wb} warm-up)`,
      perSec: row.warmHandshakesPerSec,
      cpuMs: w,
    };
  return {
    warm: false,
    label: `cold (first ${row.peers} after process start)`,
    perSec: row.handshakesPerSec,
    cpuMs: row.serverCpuMsPerHandshake,
  };
}
