// Shared pieces of the façade's NAT lab suites (issue 6): a lab per scenario with our RFC 5780
// STUN server in rdv, srmudp nodes in the hosts' namespaces (fixtures/nat-peer.ts), and the
// report fragments `pnpm test:nat --report` turns into docs/nat-matrix.md.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import {
  ADDR,
  ADDR6,
  type Coturn,
  canRunLab,
  createLab,
  type Lab,
  type LabOptions,
  type LabProcess,
  type NodeName,
} from '../../../../tooling/natlab/src/index.js';

// what a suite needs of the lab beyond this module, so that suites import from here alone
export { UPNP_EXTERNAL_IP } from '../../../../tooling/natlab/src/index.js';
export { hasTool } from '../../../../tooling/natlab/src/lab.js';
export type { Lab, LabProcess };
export { ADDR, ADDR6 };

export const LAB = canRunLab();
const NAT_PEER = fileURLToPath(new URL('./fixtures/nat-peer.ts', import.meta.url));
const STUN_SERVER = fileURLToPath(new URL('./fixtures/stun-server.ts', import.meta.url));
const RENDEZVOUS_HTTP = fileURLToPath(new URL('./fixtures/rendezvous-http.ts', import.meta.url));
export const STUN_PORT = 3478;
/**
 * TypeScript fixtures run from source through tsx (a root devDependency: ~0.9 s to start, against
 * ~5 s for the lab's transpileModule loader), falling back to the lab's loader without it.
 */
const TSX_LOADER = (() => {
  try {
    const dir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
    const loader = join(dir, 'dist', 'loader.mjs');
    return existsSync(loader) ? loader : null;
  } catch {
    return null;
  }
})();

/** Runs a TypeScript fixture in a lab namespace (JSON lines on stdin/stdout). */
export function spawnTs(
  lab: Lab,
  node: NodeName,
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): LabProcess {
  if (TSX_LOADER === null) return lab.spawnNode(node, script, args, { env });
  return lab.spawn(
    node,
    [process.execPath, '--import', TSX_LOADER, '--conditions=source', script, ...args],
    env,
  );
}

/** Two reflector IPs (mapping), the first one RFC 5780 capable (filtering). */
export const STUN_SERVERS = [`${ADDR.rdv}:${STUN_PORT}`, `${ADDR.rdvAlt}:${STUN_PORT}`];
/** The same on rdv's IPv6 addresses (labs with IPv6 run the STUN server on both families). */
export const STUN_SERVERS6 = [`[${ADDR6.rdv}]:${STUN_PORT}`, `[${ADDR6.rdvAlt}]:${STUN_PORT}`];

/**
 * Where the lab cannot run (no root, no namespaces), one test passes and prints why, so the skip
 * is visible in every run instead of silent.
 */
export function reportSkipWhenUnsupported(suite: string): void {
  if (LAB.ok) return;
  it(`reports why the ${suite} NAT lab suite does not run here`, () => {
    console.warn(`srmudp NAT lab (${suite}): not run on this machine: ${LAB.reason}`);
    expect(LAB.reason).toMatch(/.+/);
  });
}

/** A unique lab prefix per scenario ('sn' + 5 hex: namespaces stay within 15 characters). */
export function uniquePrefix(): string {
  return `sn${randomBytes(3).toString('hex').slice(0, 5)}`;
}

export interface LabRun {
  lab: Lab;
  stun: LabProcess;
  procs: LabProcess[];
}

/**
 * Builds a lab, self-checks it (a NAT that does not behave as its profile fails the test as a lab
 * error), starts the STUN server in rdv, runs `fn`, and always tears everything down.
 */
export async function withLab<T>(opts: LabOptions, fn: (run: LabRun) => Promise<T>): Promise<T> {
  const lab = createLab({ prefix: uniquePrefix(), ...opts });
  const run: LabRun = { lab, stun: null as unknown as LabProcess, procs: [] };
  try {
    await lab.up();
    await lab.selfCheck();
    run.stun = spawnTs(lab, 'rdv', STUN_SERVER, [
      ADDR.rdv,
      ADDR.rdvAlt,
      ADDR.rdvFilter,
      String(STUN_PORT),
      String(STUN_PORT + 1),
      ...(lab.hasIpv6 ? [ADDR6.rdv, ADDR6.rdvAlt, ADDR6.rdvFilter] : []),
    ]);
    run.procs.push(run.stun);
    await run.stun.next((m) => m.t === 'ready', 20_000);
    return await fn(run);
  } catch (e) {
    // CI keeps nothing of the lab's processes: their last stderr (the peers' logs, see
    // PEER_LOGS) goes with the failure, so an intermittent can be read from the one run it hit
    for (const p of run.procs) {
      const tail = p.stderr.trim();
      if (tail !== '')
        console.error(`[lab ${lab.prefix}] ${p.ns} pid ${p.pid}, last stderr:\n${tail.slice(-4000)}`);
    }
    throw e;
  } finally {
    for (const p of run.procs) p.killNow();
    await lab.down();
  }
}

/**
 * "One STUN server only": coturn in rdv on two addresses and ports (203.0.113.200/.201, 3480/3481;
 * with `ip6` also 2001:db8:0:100::200/201), an RFC 5780 server that answers OTHER-ADDRESS and
 * CHANGE-REQUEST. The lab checks from inet that CHANGE-REQUEST answers really come from the other
 * address and port before this resolves (a broken fixture fails the test as a lab error). Use
 * the returned `stunServers` as a node's only servers. Stopped with the lab.
 */
export async function oneStunServer(
  run: LabRun,
  opts: { ip6?: boolean } = {},
): Promise<{ coturn: Coturn; stunServers: string[] }> {
  const coturn = await run.lab.startCoturn({ rfc5780: true, ip6: opts.ip6 === true });
  run.procs.push(coturn.process);
  const stunServers = [`${coturn.ip}:${coturn.port}`];
  if (coturn.ip6 !== null) stunServers.push(`[${coturn.ip6}]:${coturn.port}`);
  return { coturn, stunServers };
}

/**
 * An HTTP rendezvous server in rdv (port 8080): nodes given `{ rendezvousUrl }` publish their
 * record there and their cards carry its locator only, so every dial re-resolves the record.
 */
export async function startRendezvous(run: LabRun): Promise<string> {
  const p = spawnTs(run.lab, 'rdv', RENDEZVOUS_HTTP, [ADDR.rdv, '8080']);
  run.procs.push(p);
  const ready = (await p.next((m) => m.t === 'ready', 30_000)) as { url: string };
  return ready.url;
}

export interface PeerReady {
  t: 'ready';
  card: string;
  peerId: string;
  candidates: Array<{ kind: string; host: string; port: number }>;
  nat: {
    state: string;
    nat: {
      mapping: string;
      filtering: string;
      portPreserving: boolean | null;
      publicEndpoints?: Array<{ host: string; port: number }>;
    } | null;
    families: Array<{
      family: 4 | 6;
      nat: {
        mapping: string;
        filtering: string;
        publicEndpoints: Array<{ host: string; port: number }>;
      } | null;
      error: { code: string; message: string } | null;
    }>;
    reflexive: Array<{ host: string; port: number }>;
    error: { code: string; message: string } | null;
  };
  address: { host: string; port: number };
  /** createNode() alone (it never waits for NAT gathering) */
  startMs: number;
  /** until the first gathering had a result (what 'ready' waited for) */
  gatherMs: number;
}

export interface Peer {
  proc: LabProcess;
  ready: PeerReady;
  host: NodeName;
}

/**
 * The loggers every lab peer runs with (its stderr, printed by withLab when a test fails): the
 * node's, NAT traversal's, core's, groups' and WebSocket relays', a few lines per connection,
 * path and neighbour decision, none per packet. `SRMUDP_LAB_DEBUG` (or `DEBUG`) replaces the
 * list, in `DEBUG` syntax; empty: none.
 */
const PEER_LOGS =
  process.env.SRMUDP_LAB_DEBUG ??
  process.env.DEBUG ??
  'srmudp:node,srmudp:nat,srmudp:core,srmudp:group,srmudp:ws-relay';

/**
 * Starts a srmudp node in `host`'s namespace (port 40000, the lab's STUN servers by default);
 * `env` is added to its environment (`DEBUG` replaces {@link PEER_LOGS}).
 */
export async function spawnPeer(
  run: LabRun,
  host: NodeName,
  options: object = {},
  env: NodeJS.ProcessEnv = {},
): Promise<Peer> {
  const proc = spawnTs(
    run.lab,
    host,
    NAT_PEER,
    [JSON.stringify({ port: 40000, stunServers: STUN_SERVERS, ...options })],
    { DEBUG: PEER_LOGS, ...env },
  );
  run.procs.push(proc);
  const ready = (await proc.next((m) => m.t === 'ready', 60_000)) as unknown as PeerReady;
  return { proc, ready, host };
}

export type ConnectResult =
  | {
      t: 'connected';
      ms: number;
      path: { kind: string; address: { host: string; port: number } };
      rttMs: number;
      minRttMs: number;
    }
  | { t: 'failed'; ms: number; code: string; message: string };

/** `r` is a direct connection whose path goes to `address` (host, and port when given). */
export function expectDirect(r: ConnectResult, address: { host: string; port?: number }): void {
  expect(r, JSON.stringify(r)).toMatchObject({ t: 'connected', path: { kind: 'direct', address } });
}

/** Both peers dial each other's card at once (simultaneous open); both results. */
export async function connectBoth(
  a: Peer,
  b: Peer,
  timeoutMs = 30_000,
): Promise<[ConnectResult, ConnectResult]> {
  a.proc.send({ t: 'connect', card: b.ready.card, timeoutMs });
  b.proc.send({ t: 'connect', card: a.ready.card, timeoutMs });
  const done = (m: { t?: unknown }) => m.t === 'connected' || m.t === 'failed';
  const [ra, rb] = await Promise.all([
    a.proc.next(done, timeoutMs + 15_000),
    b.proc.next(done, timeoutMs + 15_000),
  ]);
  return [ra as unknown as ConnectResult, rb as unknown as ConnectResult];
}

/** IP family of an address text. */
export function familyOf(host: string): 4 | 6 {
  return host.includes(':') ? 6 : 4;
}

/** The public IP the other side's packets come from (the carrier NAT's when stacked: same IP). */
export function publicIpOf(side: 'A' | 'B'): string {
  return side === 'A' ? ADDR.publicA : ADDR.publicB;
}

/** The profiles of the matrix (`cgnat`: an `eim` home router behind an `eim` carrier NAT). */
export type Profile = 'eim' | 'restricted' | 'fullcone' | 'symmetric' | 'cgnat';
export const PROFILES: readonly Profile[] = ['eim', 'restricted', 'fullcone', 'symmetric', 'cgnat'];
/** Every unordered profile pair, in the matrix's row order. */
export const PROFILE_PAIRS: ReadonlyArray<readonly [Profile, Profile]> = PROFILES.flatMap((pa, i) =>
  PROFILES.slice(i).map((pb) => [pa, pb] as const),
);

/** Waits (bounded: 60 × 0.5 s) until `p`'s named peer gate-0 (its hop session) is established. */
export async function hopUp(p: Peer): Promise<void> {
  for (let i = 0; i < 60; i++) {
    p.proc.send({ t: 'stats' });
    const st = (await p.proc.next((m) => m.t === 'stats', 10_000)) as unknown as {
      status: Record<string, { state: string }>;
    };
    if (st.status['gate-0']?.state === 'established') return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no hop session with the gate from ${p.host}`);
}

/**
 * A gate in rdv (203.0.113.200:40001, `relay: { serve: true, ...gateRelay }`, plus `gateOptions`)
 * and members in hostA and hostB configured with it, once both hold their hop session (a
 * circuit reaches a target only through its hop session).
 */
export async function gateAndMembers(
  run: LabRun,
  gateRelay: object = {},
  gateOptions: object = {},
): Promise<{ gate: Peer; a: Peer; b: Peer; gateOptions: object }> {
  const all = { host: ADDR.rdv, port: 40001, relay: { serve: true, ...gateRelay }, ...gateOptions };
  const gate = await spawnPeer(run, 'rdv', all);
  const opts = { relay: { gates: [gate.ready.card] } };
  const [a, b] = await Promise.all([spawnPeer(run, 'hostA', opts), spawnPeer(run, 'hostB', opts)]);
  await Promise.all([hopUp(a), hopUp(b)]);
  return { gate, a, b, gateOptions: all };
}

/**
 * No direct path between the two sides: inet drops every packet between their public addresses
 * (both directions), so only relays (on rdv, or behind natC) join them.
 */
export async function blockDirect(lab: Lab): Promise<void> {
  const drop = (from: string, to: string) => `ip saddr ${from} ip daddr ${to} drop`;
  await lab.exec('inet', ['nft', '-f', '-'], {
    input: `table ip nodirect {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ${drop(ADDR.publicA, ADDR.publicB)}
    ${drop(ADDR.publicB, ADDR.publicA)}
  }
}
`,
  });
}

// --- report fragments (pnpm test:nat --report)

export interface ReportRow {
  section: string;
  pair: string;
  expected: string;
  result: string;
  timeMs: number | null;
  detail: string;
  /** set once every assertion of the scenario passed */
  pass?: boolean;
  /** position in the report (the matrix's row order) */
  order?: number;
  /** the per-pair relay table's column this row fills ('gate' or 'via') */
  column?: 'gate' | 'via';
}

/** Writes report rows of one suite when SRMUDP_NAT_REPORT_DIR is set (the --report run). */
export function writeReportFragment(name: string, rows: readonly ReportRow[]): void {
  const dir = process.env.SRMUDP_NAT_REPORT_DIR;
  if (!dir || rows.length === 0) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(rows, null, 2));
}

/**
 * A gate that lets at most `parallel` calls run at once (labs are heavy on a 2-core machine):
 * `const slot = slots(3); it.concurrent('x', () => slot(() => withLab(...)))`.
 */
export function slots(parallel: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running >= parallel) await new Promise<void>((r) => queue.push(r));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

/** Runs `tasks` with at most `limit` at a time (labs are heavy on a 2-core machine). */
export async function limited<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
