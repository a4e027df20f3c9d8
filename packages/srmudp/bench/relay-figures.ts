// Figures of issue 14 on loopback, as ratios within one run (the machine is shared): goodput
// through a gate vs direct, the RTT a relay hop adds, the CPU of forwarding per MB (the gate runs
// in its own process, this one runs both ends: the gate's CPU per forwarded MB against both
// ends' CPU per MB of a direct transfer, same round), and the time from a relayed start to the
// direct path the punch over the relayed session finds. `pnpm bench` (packages/srmudp), or
// node --conditions=source --import tsx bench/relay-figures.ts
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Connection, createNode, type SrmudpNode } from '../src/index.js';
import { blockTo } from '../test/net-helpers.js';

const MIB = 1024 * 1024;
const SIZE = Number(process.env.RELAY_FIG_MIB ?? 16) * MIB;
const ROUNDS = Number(process.env.RELAY_FIG_ROUNDS ?? 3);

async function transfer(conn: Connection, to: SrmudpNode, fromId: string): Promise<number> {
  const payload = randomBytes(SIZE);
  const want = createHash('sha256').update(payload).digest('hex');
  const got = (async () => {
    for await (const c of to.connections()) {
      if (c.peerId !== fromId) continue;
      for await (const s of c.streams()) {
        const h = createHash('sha256');
        for await (const chunk of s) h.update(chunk as Buffer);
        return h.digest('hex');
      }
    }
    return '';
  })();
  const t0 = performance.now();
  const s = conn.openStream();
  for (let off = 0; off < SIZE; off += 256 * 1024) {
    if (!s.write(payload.subarray(off, off + 256 * 1024))) await once(s, 'drain');
  }
  s.end();
  const h = await got;
  const ms = performance.now() - t0;
  if (h !== want) throw new Error('SHA-256 differs');
  return (SIZE * 8) / (ms * 1000); // Mbit/s
}

/** A loopback port nobody listens on. */
async function deadPort(): Promise<number> {
  const dead = await createNode({ host: '127.0.0.1', stunServers: [] });
  const port = dead.address().port;
  await dead.close();
  return port;
}

/** The gate process (`relay-figures.ts gate`): prints its card, then its CPU time on each line in. */
async function gateProcess(): Promise<void> {
  const gate = await createNode({ host: '127.0.0.1', stunServers: [], relay: { serve: true } });
  const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  out({ host: '127.0.0.1', port: gate.address().port, peerId: gate.peerId });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', () => {
    const u = process.cpuUsage();
    out({ cpuMs: (u.user + u.system) / 1000 });
  });
  rl.on('close', () => void gate.close().finally(() => process.exit(0)));
}

/** Starts the gate in its own process; its card, its CPU time (ms) on request, and stop. */
async function startGate() {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'gate'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  lines.on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the gate process did not answer in 30 s')), 30_000);
      const take = (l: string) => {
        clearTimeout(timer);
        resolve(JSON.parse(l) as Record<string, unknown>);
      };
      const l = queue.shift();
      if (l !== undefined) take(l);
      else waiting.push(take);
    });
  const card = (await next()) as { host: string; port: number; peerId: string };
  return {
    card,
    cpuMs: async () => {
      child.stdin.write('cpu\n');
      return (await next()).cpuMs as number;
    },
    stop: () => {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      return once(child, 'exit').finally(() => clearTimeout(t));
    },
  };
}

async function main(): Promise<void> {
  const gate = await startGate();
  const gt = gate.card;
  const mk = () =>
    createNode({ host: '127.0.0.1', stunServers: [], relay: { gates: [gt] }, handshakeTimeoutMs: 1000 });
  const nodes: SrmudpNode[] = [];
  const rows: string[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b, c] = [await mk(), await mk(), await mk()];
      nodes.push(a, b, c);
      for (const n of [a, b, c]) {
        for (let i = 0; i < 200 && n.status()['gate-0']?.state !== 'established'; i++)
          await new Promise((r) => setTimeout(r, 20));
      }
      // relayed: a dials b at a dead port (direct dial fails, the gate carries it); nothing a
      // sends reaches b's port directly, so the punch over the relayed session cannot move it
      const unblock = blockTo(a, b.address().port);
      const relayed = await a.connect(
        { host: '127.0.0.1', port: await deadPort(), peerId: b.peerId },
        { timeout: 30_000 },
      );
      if (relayed.path?.kind !== 'relayed') throw new Error('not relayed');
      // direct: a dials c at its address
      const direct = await a.connect({ host: '127.0.0.1', port: c.address().port, peerId: c.peerId });
      await new Promise((r) => setTimeout(r, 300));
      const rttRelayed = relayed.stats().minRttMs;
      const rttDirect = direct.stats().minRttMs;
      // interleaved: direct, relayed; this process's CPU (both ends) and the gate's during each
      const u0 = process.cpuUsage();
      const gDirect = await transfer(direct, c, a.peerId);
      const u1 = process.cpuUsage();
      const g1 = await gate.cpuMs();
      const gRelayed = await transfer(relayed, b, a.peerId);
      const g2 = await gate.cpuMs();
      const u2 = process.cpuUsage();
      if (relayed.path?.kind !== 'relayed') throw new Error('the relayed transfer moved');
      unblock();
      const ms = (x: NodeJS.CpuUsage, y: NodeJS.CpuUsage) => (y.user + y.system - x.user - x.system) / 1000;
      const mb = SIZE / MIB;
      const cpuDirect = ms(u0, u1) / mb;
      const cpuRelayed = ms(u1, u2) / mb;
      const cpuGate = (g2 - g1) / mb;
      // relayed start → direct by the punch over the relayed session (d dials e at a dead port)
      const [d, e] = [await mk(), await mk()];
      nodes.push(d, e);
      for (const n of [d, e]) {
        for (let i = 0; i < 200 && n.status()['gate-0']?.state !== 'established'; i++)
          await new Promise((r) => setTimeout(r, 20));
      }
      const up = await d.connect(
        { host: '127.0.0.1', port: await deadPort(), peerId: e.peerId },
        { timeout: 30_000 },
      );
      const t0 = performance.now();
      const startedRelayed = up.path?.kind === 'relayed';
      for (let i = 0; i < 2000 && up.path?.kind !== 'direct'; i++) await new Promise((r) => setTimeout(r, 5));
      const upgradeMs = performance.now() - t0;
      rows.push(
        `round ${round + 1}: goodput direct ${gDirect.toFixed(0)} Mbit/s, relayed ${gRelayed.toFixed(0)} Mbit/s (ratio ${(gRelayed / gDirect).toFixed(2)}); ` +
          `min RTT direct ${rttDirect.toFixed(2)} ms, relayed ${rttRelayed.toFixed(2)} ms (+${(rttRelayed - rttDirect).toFixed(2)} ms); ` +
          `CPU per MB, both ends: direct ${cpuDirect.toFixed(1)} ms, relayed ${cpuRelayed.toFixed(1)} ms; ` +
          `gate process per forwarded MB ${cpuGate.toFixed(1)} ms (ratio to direct, both ends: ${(cpuGate / cpuDirect).toFixed(2)}); ` +
          `relayed start → direct in ${upgradeMs.toFixed(0)} ms (${startedRelayed ? 'started relayed' : 'NOT relayed at start'}, path now ${up.path?.kind})`,
      );
      console.log(rows[rows.length - 1]);
      await Promise.all([a.close(), b.close(), c.close(), d.close(), e.close()]);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    await gate.stop();
  }
}

if (process.argv[2] === 'gate') await gateProcess();
else await main();
