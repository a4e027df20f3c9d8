// Soak (issue 11): 100 peers with churn (connect, transfer, close, node restart, crash without
// close) on one hub node while random and mutated datagrams hit it. Reports the hub's heap after GC
// and its handle count (start vs end), that no connection is left in any state once the peers are
// gone, that every transfer's SHA-256 matched, and that no process saw an unhandled rejection.
//
//   node --import tsx --conditions=source packages/srmudp/test/soak/soak.ts [minutes=10] [peers=100]
//
// test/soak.test.ts runs a short version in CI. Processes: the hub (--expose-gc), peer groups of
// 25 (one is killed with SIGKILL and restarted every `crashEveryMs`: its peers vanish without
// CLOSE and come back with the same identities), and the noise generator.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type PeerMessage, PeerProcess } from '../peer-process.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

export interface SoakOptions {
  durationMs: number;
  peers: number;
  /** random and mutated datagrams per second from the noise process */
  noiseRate: number;
  /** replays and mutations of captured traffic per second, per peer group */
  mutateRate: number;
  crashEveryMs: number;
  log?: (line: string) => void;
}

export interface HubSample {
  heapUsed: number;
  handles: number;
  kinds: Record<string, number>;
  endpoint: {
    connections: number;
    handshaking: number;
    pendingHandshakes: number;
    drops: Record<string, number>;
  };
  streams: number;
  unhandled: number;
}

export interface SoakResult {
  durationMs: number;
  /** hub before any peer, after the warm-up, just before the peers stop, after they are gone */
  hub: { idleStart: HubSample; loadedStart: HubSample; loadedEnd: HubSample; idleEnd: HubSample };
  peers: Record<string, number>;
  noiseSent: number;
  crashes: number;
  /** ms from the peers' stop until the hub had no connection, handshake or pending state */
  settleMs: number;
  unhandled: number;
}

const TIMING = { keepaliveMs: 2000, idleTimeoutMs: 6000, handshakeTimeoutMs: 5000 };
const GROUP = 25;
/** How long the hub may take to have no connection, handshake or pending state after the stop. */
const SETTLE_MS = 40_000;

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const started: PeerProcess[] = [];
  const start = async (script: string, options: object, flags: string[] = []) => {
    const r = await PeerProcess.start(options, here(script), flags);
    started.push(r.peer);
    return r;
  };
  try {
    const { peer: hub, ready } = await start('./hub.ts', TIMING, ['--expose-gc']);
    const sample = async (): Promise<HubSample> => {
      hub.send({ type: 'sample' });
      return (await hub.next((m) => m.type === 'sample', 20_000)) as unknown as HubSample;
    };
    const idleStart = await sample();
    const groupOptions = (g: number, count: number) => ({
      card: ready.card,
      hubPort: ready.port,
      count,
      seed: g,
      mutateRate: o.mutateRate,
      ...TIMING,
    });
    const counts = Array.from({ length: Math.ceil(o.peers / GROUP) }, (_, g) =>
      Math.min(GROUP, o.peers - g * GROUP),
    );
    const groups = await Promise.all(
      counts.map(async (count, g) => ({
        peer: (await start('./peers.ts', groupOptions(g, count))).peer,
        count,
      })),
    );
    const { peer: noise } = await start('./noise.ts', {
      hubPort: ready.port,
      peerId: ready.peerId,
      rate: o.noiseRate,
    });
    const t0 = Date.now();
    const warmup = Math.min(10_000, o.durationMs / 5);
    await sleep(warmup);
    const loadedStart = await sample();
    log(`warm: hub heap ${mb(loadedStart.heapUsed)} MiB, ${loadedStart.endpoint.connections} connections`);
    // totals of the group processes that were killed (their last progress report)
    const dead: Record<string, number> = {};
    let crashes = 0;
    let nextCrash = t0 + o.crashEveryMs;
    let nextLog = t0 + 30_000;
    while (Date.now() - t0 < o.durationMs) {
      await sleep(Math.min(1000, Math.max(0, o.durationMs - (Date.now() - t0))));
      if (Date.now() >= nextCrash && Date.now() - t0 < o.durationMs - 15_000) {
        nextCrash += o.crashEveryMs;
        const g = crashes % groups.length;
        const victim = groups[g] as { peer: PeerProcess; count: number };
        add(dead, lastProgress(victim.peer));
        victim.peer.child.kill('SIGKILL');
        crashes++;
        victim.peer = (await start('./peers.ts', groupOptions(g, victim.count))).peer;
        log(`crash ${crashes}: peer group ${g} killed and restarted`);
      }
      if (Date.now() >= nextLog) {
        nextLog += 30_000;
        const s = await sample();
        log(
          `t=${Math.round((Date.now() - t0) / 1000)} s: hub heap ${mb(s.heapUsed)} MiB, handles ${s.handles}, ` +
            `${s.endpoint.connections} connections, ${s.streams} streams`,
        );
      }
    }
    const loadedEnd = await sample();
    noise.send({ type: 'stop' });
    const noiseSent = ((await noise.next((m) => m.type === 'final', 10_000)).sent as number) ?? 0;
    const totals: Record<string, number> = { ...dead };
    for (const g of groups) g.peer.send({ type: 'stop' });
    for (const g of groups)
      add(totals, (await g.peer.next((m) => m.type === 'final', 60_000)) as PeerMessage);
    for (const g of groups) for (const line of g.peer.stderr) log(`peers: ${line.trim()}`);
    // nothing may stay: closed peers sent CLOSE (the hub drains for 3 PTO: seconds when the
    // machine is loaded and RTT samples are long), crashed ones idle out, forged handshakes expire
    const stop = Date.now();
    let idleEnd = await sample();
    let nextNote = stop;
    while (Date.now() - stop < SETTLE_MS) {
      const e = idleEnd.endpoint;
      if (e.connections === 0 && e.handshaking === 0 && e.pendingHandshakes === 0) break;
      if (Date.now() >= nextNote) {
        nextNote += 5000;
        log(
          `settling: ${e.connections} connections, ${e.handshaking} handshaking, ${e.pendingHandshakes} pending`,
        );
      }
      await sleep(500);
      idleEnd = await sample();
    }
    const settleMs = Date.now() - stop;
    hub.send({ type: 'close' });
    const closed = await hub.next((m) => m.type === 'closed', 10_000);
    return {
      durationMs: Date.now() - t0,
      hub: { idleStart, loadedStart, loadedEnd, idleEnd },
      peers: totals,
      noiseSent,
      crashes,
      settleMs,
      unhandled: (closed.unhandled as number) + (totals.unhandled ?? 0),
    };
  } finally {
    for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
}

function lastProgress(p: PeerProcess): PeerMessage {
  let last: PeerMessage = { type: 'progress' };
  for (;;) {
    const m = p.take((x) => x.type === 'progress');
    if (m === undefined) return last;
    last = m;
  }
}

function add(into: Record<string, number>, m: PeerMessage): void {
  for (const [k, v] of Object.entries(m)) if (typeof v === 'number') into[k] = (into[k] ?? 0) + v;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (b: number) => (b / 1048576).toFixed(1);

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const minutes = Number(process.argv[2] ?? 10);
  const peers = Number(process.argv[3] ?? 100);
  const durationMs = minutes * 60_000;
  // at least 10^6 random and mutated datagrams over the run
  const noiseRate = Number(process.argv[4] ?? Math.ceil(1_000_000 / (durationMs / 1000)) + 100);
  const r = await runSoak({
    durationMs,
    peers,
    noiseRate,
    mutateRate: 50,
    crashEveryMs: 60_000,
    log: (l) => console.log(l),
  });
  console.log(JSON.stringify(r, null, 2));
  const { idleStart, loadedStart, loadedEnd, idleEnd } = r.hub;
  console.log(
    `heap loaded end/start ${(loadedEnd.heapUsed / loadedStart.heapUsed).toFixed(2)}, idle end/start ` +
      `${(idleEnd.heapUsed / idleStart.heapUsed).toFixed(2)}; handles idle ${idleStart.handles} -> ${idleEnd.handles}; ` +
      `transfers ${r.peers.transfers} (${mb(r.peers.transferBytes ?? 0)} MiB), mismatches ${r.peers.mismatches}, ` +
      `noise ${r.noiseSent} + mutated ${r.peers.mutated}; settle ${r.settleMs} ms; unhandled ${r.unhandled}`,
  );
  process.exit(0);
}
