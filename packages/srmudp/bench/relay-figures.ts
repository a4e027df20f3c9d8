// Figures of issue 14 on loopback, as ratios within one run (the machine is shared): goodput
// through a gate vs direct, the RTT a relay hop adds, and the time from a relayed start to a
// validated direct path. Run: node --conditions=source --import tsx bench/relay-figures.ts
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Connection, createNode, type SrmudpNode } from '../src/index.js';

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

async function main(): Promise<void> {
  const gate = await createNode({ host: '127.0.0.1', stunServers: [], relay: { serve: true } });
  const gt = { host: '127.0.0.1', port: gate.address().port, peerId: gate.peerId };
  const mk = () =>
    createNode({ host: '127.0.0.1', stunServers: [], relay: { gates: [gt] }, handshakeTimeoutMs: 1000 });
  const nodes: SrmudpNode[] = [gate];
  const rows: string[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b, c] = [await mk(), await mk(), await mk()];
      nodes.push(a, b, c);
      for (const n of [a, b, c]) {
        for (let i = 0; i < 200 && n.status()['gate-0']?.state !== 'established'; i++)
          await new Promise((r) => setTimeout(r, 20));
      }
      // relayed: a dials b at a dead port (direct dial fails, the gate carries it)
      const dead = await createNode({ host: '127.0.0.1', stunServers: [] });
      const deadPort = dead.address().port;
      await dead.close();
      const relayed = await a.connect(
        { host: '127.0.0.1', port: deadPort, peerId: b.peerId },
        { timeout: 30_000 },
      );
      if (relayed.path?.kind !== 'relayed') throw new Error('not relayed');
      // direct: a dials c at its address
      const direct = await a.connect({ host: '127.0.0.1', port: c.address().port, peerId: c.peerId });
      await new Promise((r) => setTimeout(r, 300));
      const rttRelayed = relayed.stats().minRttMs;
      const rttDirect = direct.stats().minRttMs;
      // interleaved: direct, relayed
      const gDirect = await transfer(direct, c, a.peerId);
      const gRelayed = await transfer(relayed, b, a.peerId);
      // relayed → direct: b's real address as a candidate; time to the 'path' event
      const t0 = performance.now();
      const moved = once(relayed, 'path');
      await a.connect({ host: '127.0.0.1', port: b.address().port, peerId: b.peerId });
      await Promise.race([
        moved,
        new Promise((_, j) => setTimeout(() => j(new Error('no upgrade in 20 s')), 20_000)),
      ]);
      const upgradeMs = performance.now() - t0;
      rows.push(
        `round ${round + 1}: goodput direct ${gDirect.toFixed(0)} Mbit/s, relayed ${gRelayed.toFixed(0)} Mbit/s (ratio ${(gRelayed / gDirect).toFixed(2)}); ` +
          `min RTT direct ${rttDirect.toFixed(2)} ms, relayed ${rttRelayed.toFixed(2)} ms (+${(rttRelayed - rttDirect).toFixed(2)} ms); ` +
          `relayed → direct in ${upgradeMs.toFixed(0)} ms (path now ${relayed.path?.kind})`,
      );
      console.log(rows[rows.length - 1]);
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
}

await main();
