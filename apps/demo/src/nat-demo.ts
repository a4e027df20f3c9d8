// `pnpm demo:nat`: two peers behind two real Linux NATs (network namespaces, tooling/natlab) find
// each other from their contact cards alone, punch through, and exchange messages and a file.
// Needs root and network namespaces; elsewhere it says why and fails.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Output } from './output.js';

/** The parts of @srmudp/natlab the demo uses (loaded at run time from its build). */
interface LabProcessLike {
  send(msg: unknown): void;
  next(
    predicate: (m: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  killNow(): void;
}
interface LabLike {
  up(): Promise<unknown>;
  down(): Promise<void>;
  selfCheck(): Promise<{ hosts?: Array<{ host: string; mapping: string; filtering: string }> } & object>;
  spawn(node: string, argv: readonly string[]): LabProcessLike;
}
interface NatlabLike {
  canRunLab(): { ok: boolean; reason?: string };
  createLab(opts: object): LabLike;
  ADDR: Record<string, string>;
}

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '../../..');
const PEER = join(here, 'nat-demo-peer.js');
const FILE_BYTES = Number(process.env.SRMUDP_DEMO_NAT_MIB ?? 4) * 1024 * 1024;

async function loadNatlab(out: Output): Promise<NatlabLike | null> {
  const entry = join(ROOT, 'tooling/natlab/dist/index.js');
  if (!existsSync(entry)) {
    out(`cannot run the NAT demo: ${entry} is missing (build it: npx tsc -b tooling/natlab)`);
    return null;
  }
  return (await import(pathToFileURL(entry).href)) as NatlabLike;
}

/** Runs the NAT demo; resolves { ok } (false when it cannot run here or something failed). */
export async function runNatDemo(out: Output): Promise<{ ok: boolean }> {
  const natlab = await loadNatlab(out);
  if (natlab === null) return { ok: false };
  const can = natlab.canRunLab();
  if (!can.ok) {
    out(`cannot run the NAT demo here: ${can.reason ?? 'network namespaces unavailable'}`);
    out('it needs root, iproute2 and nftables/iptables (Linux network namespaces), e.g. in CI or a VM');
    return { ok: false };
  }
  const { ADDR } = natlab;
  const lab = natlab.createLab({
    A: 'eim',
    B: 'eim',
    impair: { natA: { delayMs: 15 }, natB: { delayMs: 15 } },
  });
  const procs: LabProcessLike[] = [];
  const spawn = (ns: string, args: string[]) => {
    const p = lab.spawn(ns, [process.execPath, PEER, ...args]);
    procs.push(p);
    return p;
  };
  try {
    out('building the lab: two homes (192.168.1.0/24 each) behind endpoint-independent NATs,');
    out(`  natA ${ADDR.publicA}, natB ${ADDR.publicB}, 15 ms each way on both public links`);
    await lab.up();
    await lab.selfCheck();
    out('  self-check passed: both NATs behave as their profile says');
    const stunAddrs = [`${ADDR.rdv}:3478`, `${ADDR.rdvAlt}:3478`];
    const stun = spawn('rdv', ['stun', JSON.stringify(stunAddrs)]);
    await stun.next((m) => m.t === 'ready', 30_000);
    out(`STUN: two srmudp nodes at ${stunAddrs.join(' and ')} (every node answers binding requests)`);

    const opts = JSON.stringify({ port: 40000, stunServers: stunAddrs });
    const alice = spawn('hostA', ['peer', opts]);
    const bob = spawn('hostB', ['peer', opts]);
    const [ra, rb] = await Promise.all([
      alice.next((m) => m.t === 'ready', 60_000),
      bob.next((m) => m.t === 'ready', 60_000),
    ]);
    for (const [name, r] of [
      ['alice', ra],
      ['bob', rb],
    ] as const) {
      const nat = r.nat as {
        nat: { mapping: string } | null;
        reflexive: Array<{ host: string; port: number }>;
      };
      const cands = (r.candidates as Array<{ kind: string; host: string; port: number }>)
        .map((c) => `${c.kind} ${c.host}:${c.port}`)
        .join(', ');
      out(`${name}: NAT mapping ${nat.nat?.mapping ?? 'unknown'}; candidates ${cands}`);
      out(`  card: ${String(r.card).slice(0, 60)}…`);
    }

    out('exchanging contact cards (peers.add on both sides: both dial, simultaneous open)...');
    const t0 = performance.now();
    alice.send({ t: 'add', name: 'bob', card: rb.card });
    bob.send({ t: 'add', name: 'alice', card: ra.card });
    await Promise.all([
      alice.next((m) => m.t === 'peer' && m.state === 'established', 30_000),
      bob.next((m) => m.t === 'peer' && m.state === 'established', 30_000),
    ]);
    out(`connected in ${Math.round(performance.now() - t0)} ms`);
    alice.send({ t: 'say', text: 'hello bob, through two NATs' });
    const m1 = await bob.next((m) => m.t === 'message', 10_000);
    out(`bob got: "${String(m1.text)}"`);
    bob.send({ t: 'say', text: 'hi alice, no port forwarding needed' });
    const m2 = await alice.next((m) => m.t === 'message', 10_000);
    out(`alice got: "${String(m2.text)}"`);
    for (const [name, p] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      p.send({ t: 'stats' });
      const s = await p.next((m) => m.t === 'stats', 5000);
      const path = s.path as { kind: string; address: { host: string; port: number } };
      out(
        `${name}: path ${path.kind} to ${path.address.host}:${path.address.port}, RTT ${Number(s.minRttMs).toFixed(1)} ms (lab: 4 × 15 ms)`,
      );
    }
    out(`alice sends bob a ${(FILE_BYTES / 1024 / 1024).toFixed(0)} MiB file...`);
    alice.send({ t: 'file', bytes: FILE_BYTES });
    const [sent, got] = await Promise.all([
      alice.next((m) => m.t === 'sent', 300_000),
      bob.next((m) => m.t === 'file', 300_000),
    ]);
    const same = sent.sha256 === got.sha256 && got.bytes === FILE_BYTES;
    const secs = Number(got.ms) / 1000;
    out(
      `bob received ${got.bytes} bytes in ${secs.toFixed(1)} s (${((FILE_BYTES * 8) / 1e6 / secs).toFixed(1)} Mbit/s), SHA-256 ${same ? 'equal' : 'DIFFERENT'}`,
    );
    return { ok: same };
  } catch (e) {
    out(`NAT demo failed: ${e instanceof Error ? e.message : String(e)}`);
    return { ok: false };
  } finally {
    for (const p of procs) p.killNow();
    await lab.down();
    out('lab torn down');
  }
}
