/**
 * P4 clients: `--count` client endpoints in this process, each with its own UDP socket (srmudp)
 * or TCP socket (tcp reference). Created before `go` so the handshake rate excludes socket setup;
 * on `go` they connect with at most `--concurrency` handshakes in flight and stay connected
 * until the orchestrator closes stdin. srmudp clients are light by default (`--client light`: a
 * bare @srmudp/core endpoint per socket, light-client.ts), so the four client processes on the
 * same cores take less CPU from the server they measure; `--client node` runs full srmudp nodes
 * (the façade with its NAT session, as before). `reset` (P4's warm-up) closes every client and
 * creates a fresh batch: new sockets and new identities (fresh keys, never one the server saw),
 * then answers ready again.
 */
import net from 'node:net';
import { parsePeerId } from '@srmudp/crypto';
import { createNode, type SrmudpNode } from 'srmudp';
import { cryptoOf, parseArgs } from './args.js';
import { autoCrypto, cryptoOption } from './backend.js';
import { fail, onMessage, send, wallMs } from './channel.js';
import { LightClient } from './light-client.js';

const args = parseArgs(process.argv.slice(2));
const proto = args.proto === 'tcp' ? 'tcp' : 'srmudp';
const host = args.host ?? '127.0.0.1';
const count = Number(args.count ?? 250);
const concurrency = Number(args.concurrency ?? 16);
const light = (args.client ?? 'light') === 'light';

const nodes: SrmudpNode[] = [];
const lights: LightClient[] = [];
const sockets: net.Socket[] = [];

async function start(): Promise<void> {
  await createBatch();
  send({ t: 'ready', count });
}

/** `count` clients, each with a new socket and (srmudp) a newly generated identity */
async function createBatch(): Promise<void> {
  if (proto === 'srmudp' && light) {
    const crypto = cryptoOption(cryptoOf(args.crypto));
    for (let i = 0; i < count; i++) {
      lights.push(
        await LightClient.create({
          host,
          backend: crypto.cryptoBackend ?? autoCrypto(),
          ...(args.keepalive ? { keepaliveMs: Number(args.keepalive) } : {}),
        }),
      );
    }
  } else if (proto === 'srmudp') {
    for (let i = 0; i < count; i++) {
      nodes.push(
        await createNode({
          host,
          port: 0,
          ...(args.keepalive ? { keepaliveMs: Number(args.keepalive) } : {}),
          ...cryptoOption(cryptoOf(args.crypto)),
        }),
      );
    }
  }
}

/** close every client of the batch (srmudp: a CLOSE to the server) and create a fresh batch */
async function reset(): Promise<void> {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all([...lights.splice(0).map((c) => c.close()), ...nodes.splice(0).map((n) => n.close())]);
  await createBatch();
  send({ t: 'ready', count });
}

async function connectOne(i: number, m: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  if (proto === 'srmudp' && light) {
    await (lights[i] as LightClient).connect(
      { host: String(m.host), port: Number(m.port) },
      parsePeerId(String(m.peerId)),
    );
  } else if (proto === 'srmudp') {
    await (nodes[i] as SrmudpNode).connect(String(m.card));
  } else {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: String(m.host), port: Number(m.port) }, () => resolve());
      s.on('error', reject);
      sockets.push(s);
    });
  }
  return performance.now() - t0;
}

async function go(m: Record<string, unknown>): Promise<void> {
  const startAt = wallMs();
  const latencies: number[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let nextIndex = 0;
  const lane = async () => {
    for (let i = nextIndex++; i < count; i = nextIndex++) {
      try {
        latencies.push(await connectOne(i, m));
      } catch (err) {
        failed++;
        firstError ??= String((err as Error).message ?? err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  latencies.sort((a, b) => a - b);
  send({
    t: 'connected',
    ok: latencies.length,
    failed,
    firstError,
    startAt,
    at: wallMs(),
    medianMs: latencies[Math.floor(latencies.length / 2)] ?? null,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? null,
  });
}

onMessage(async (m) => {
  if (m.t === 'go') await go(m);
  else if (m.t === 'reset') await reset();
});

start().catch(fail);
