/**
 * P4 server: one node (srmudp) or one net.Server (tcp reference) that accepts many connections.
 * Messages in: mem (GC, then memory), cpu-start, cpu-end, count, settle (after a warm-up batch:
 * wait until every connection is gone, closing periods included, then start the handshake
 * counters, the count and PERF_CPU_PROFILE's profiler afresh for the next batch). Out: ready (port, card, mem baseline),
 * established ({ count, at } when the target count is reached, once per batch), mem, cpu,
 * settled, error.
 */
import { once } from 'node:events';
import net from 'node:net';
import { createNode, type SrmudpNode } from 'srmudp';
import { cryptoOf, parseArgs } from './args.js';
import { cryptoOption } from './backend.js';
import { fail, onMessage, send, startProfile, stopProfile, wallMs } from './channel.js';

const args = parseArgs(process.argv.slice(2));
const proto = args.proto === 'tcp' ? 'tcp' : 'srmudp';
const host = args.host ?? '127.0.0.1';
const target = Number(args.target ?? 1000);

const gc = (globalThis as { gc?: () => void }).gc;

function mem() {
  for (let i = 0; i < 3; i++) gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, gc: !!gc };
}

let count = 0;
/** CPU baseline for the handshake phase (taken when ready is sent) */
let hsCpu0 = process.cpuUsage();
let firstAt = 0;
let node: SrmudpNode | null = null;
/** tcp: the sockets not closed yet */
const sockets = new Set<net.Socket>();

/** the server's counters when the handshake phase started */
let hs0: ServerCounts = { sent: 0, received: 0, cookieReplies: 0 };

function established(): void {
  count++;
  if (count === 1) firstAt = wallMs();
  if (count === target) {
    const d = process.cpuUsage(hsCpu0);
    const at = wallMs();
    const t = serverCounts();
    const sent = t.sent - hs0.sent;
    const received = t.received - hs0.received;
    const cookieReplies = t.cookieReplies - hs0.cookieReplies;
    stopProfile().then(
      () =>
        send({
          t: 'established',
          count,
          firstAt,
          at,
          cpuSec: (d.user + d.system) / 1e6,
          sent,
          received,
          cookieReplies,
        }),
      fail,
    );
  }
}

async function start(): Promise<void> {
  if (proto === 'srmudp') {
    node = await createNode({
      host,
      port: 0,
      limits: {
        maxConnections: target + 64,
        maxPendingHandshakes: Math.max(1024, target),
        // the rate above which cookies are demanded (p4.ts: runP4's cookieThreshold, the cookie-policy variant)
        ...(args['cookie-threshold'] ? { cookieThreshold: Number(args['cookie-threshold']) } : {}),
      },
      ...(args.keepalive ? { keepaliveMs: Number(args.keepalive) } : {}),
      ...cryptoOption(cryptoOf(args.crypto)),
    });
    node.on('connection', () => established());
    const base = mem();
    const card = node.contactCard(); // (signs a record: before the CPU baseline and the profile)
    startHandshakePhase();
    send({
      t: 'ready',
      host,
      port: node.address().port,
      card,
      peerId: node.peerId,
      mem: base,
      backend: node.cryptoBackend,
    });
  } else {
    const server = net.createServer((sock) => {
      sock.setKeepAlive(true, 15_000);
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => {});
      established();
    });
    server.listen({ port: 0, host, backlog: 4096 });
    await once(server, 'listening');
    const base = mem();
    startHandshakePhase();
    send({ t: 'ready', host, port: (server.address() as net.AddressInfo).port, mem: base });
  }
}

let cpu0 = process.cpuUsage();
let cpuAt = 0;
let packets0 = 0;

interface ServerCounts {
  /** datagrams the server socket sent and received */
  sent: number;
  received: number;
  /** cookie replies the server sent (the DoS policy's round trips) */
  cookieReplies: number;
}

/** The server's counters so far, from one stats() (srmudp; all 0 for tcp). */
function serverCounts(): ServerCounts {
  if (!node) return { sent: 0, received: 0, cookieReplies: 0 };
  const s = node.stats();
  const t = s.transport as unknown as { sent?: number; received?: number };
  return { sent: t.sent ?? 0, received: t.received ?? 0, cookieReplies: s.endpoint.cookieRepliesSent };
}

function packetsNow(): number {
  const t = serverCounts();
  return t.sent + t.received;
}

/** connections the server still holds, those in their closing period included */
function openNow(): number {
  return node ? node.stats().endpoint.connections : sockets.size;
}

/**
 * A batch's handshake phase starts: the count, the CPU and datagram baselines and (with
 * PERF_CPU_PROFILE) the profiler afresh; the file keeps the last batch's profile.
 */
function startHandshakePhase(): void {
  // the profiler first: its start (V8 logs every compiled function: tens of ms) stays out of the batch's CPU
  startProfile();
  count = 0;
  firstAt = 0;
  hs0 = serverCounts();
  hsCpu0 = process.cpuUsage();
}

/**
 * After a warm-up batch the clients closed: wait (at most `timeoutMs`) until the server holds no
 * connection, then restart the handshake-phase baselines (CPU, datagrams, count) for the next
 * batch. No forced GC here: back-to-back forced GCs once every connection is gone let V8 drop
 * the hidden classes (maps) the handshake path's optimised code depends on, and that code with
 * them ("weak objects" deoptimisations, `--log-deopt`), so the next batch would pay for
 * optimising it again (measured 2026-12-06: ~0.3 ms of compiler threads per handshake), which a
 * server accepting without pause never does. The garbage of the dropped connections is
 * collected by V8's own GCs, during the next batch, as in a server where closes and handshakes
 * overlap.
 */
async function settle(timeoutMs: number): Promise<void> {
  const t0 = wallMs();
  while (openNow() > 0 && wallMs() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 20));
  const left = openNow();
  startHandshakePhase();
  send({ t: 'settled', waitedMs: wallMs() - t0, left });
}

onMessage((m) => {
  if (m.t === 'settle') settle(Number(m.timeoutMs ?? 30_000)).catch(fail);
  else if (m.t === 'mem') send({ t: 'mem', count, mem: mem() });
  else if (m.t === 'count') send({ t: 'count', count });
  else if (m.t === 'cpu-start') {
    gc?.();
    cpu0 = process.cpuUsage();
    cpuAt = wallMs();
    packets0 = packetsNow();
    send({ t: 'cpu-started' });
  } else if (m.t === 'cpu-end') {
    const d = process.cpuUsage(cpu0);
    const stats = node ? node.stats() : null;
    send({
      t: 'cpu',
      cpuSec: (d.user + d.system) / 1e6,
      seconds: (wallMs() - cpuAt) / 1000,
      count,
      packets: packetsNow() - packets0,
      stats: stats as unknown as Record<string, unknown>,
    });
  }
});

start().catch(fail);
