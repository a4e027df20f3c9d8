/**
 * CPU profile of srmudp's P1 transfer: V8's sampling CPU profiler (the one `node --cpu-prof`
 * uses), started through node:inspector in both processes when the transfer starts and stopped
 * when it ends, so process start-up and module loading stay out of it. The .cpuprofile files are
 * reduced to self time per function (file:function), summed over sender and receiver and also
 * kept per process.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transferOnce } from './p1.js';
import { p4Steady, runP4 } from './p4.js';
import { MB } from './stats.js';

export interface ProfileEntry {
  /** repository-relative file (or node:internal/..., (garbage collector), ...) */
  file: string;
  fn: string;
  line: number;
  selfMs: number;
  /** of all non-idle samples */
  pct: number;
}

export interface ProfileResult {
  bytes: number;
  goodputMBps: number;
  /** srmudp's crypto backend in the profiled transfer */
  backend: string | null;
  /** top functions by self time, sender and receiver together */
  top: ProfileEntry[];
  sender: ProfileEntry[];
  receiver: ProfileEntry[];
  /** datagrams each side sent during the profiled transfer (from the sender's connection stats) */
  datagramsSent: { sender: number | null; receiver: number | null };
  /** self time per file (both processes): which modules the time goes to */
  byFile: { file: string; selfMs: number; pct: number }[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

function shortFile(url: string): string {
  if (!url) return '';
  let f = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (f.startsWith(repoRoot)) f = f.slice(repoRoot.length);
  const nm = f.lastIndexOf('node_modules/');
  if (nm >= 0) f = f.slice(nm);
  return f;
}

/** The worker function that starts the profiler (workers/channel.ts). */
function isProfilerStart(n: CpuProfileNode): boolean {
  return n.callFrame.functionName === 'startProfile' && /\/workers\/channel\.[jt]s$/.test(n.callFrame.url);
}

/**
 * Self time per (file, function) in ms, idle excluded, and so is the profiler's own start: the
 * samples under the worker's `startProfile` (V8 logs every compiled function when profiling
 * starts: tens of ms, 19 % "dispatch" of a 300-handshake profile).
 */
export function selfTimes(
  profile: CpuProfile,
): Map<string, { file: string; fn: string; line: number; ms: number }> {
  const byId = new Map<number, CpuProfileNode>();
  const parentOf = new Map<number, CpuProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n);
  const underProfilerStart = (n: CpuProfileNode): boolean => {
    for (let x: CpuProfileNode | undefined = n; x; x = parentOf.get(x.id))
      if (isProfilerStart(x)) return true;
    return false;
  };
  const out = new Map<string, { file: string; fn: string; line: number; ms: number }>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    if (!node || underProfilerStart(node)) continue;
    let fn = node.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') continue;
    let file = shortFile(node.callFrame.url);
    let line = node.callFrame.lineNumber + 1;
    // Native addons' functions (N-API) share one callback address, so V8 names all of their
    // samples after whichever was registered last (sodium-native's "extension_pbkdf2_sha512_async"
    // or "crypto_shorthash" for its X25519 and AEAD, and for transport-node's recvmmsg and
    // sendmmsg too): charge them to the JS function that called. Node's own bindings (Hmac,
    // digest, hexSlice: called from node:internal code, not from a file) keep their names.
    const parent = file === '' ? parentOf.get(node.id) : undefined;
    if (parent?.callFrame.url.startsWith('file://')) {
      fn = `${parent.callFrame.functionName} (native)`;
      file = shortFile(parent.callFrame.url);
      line = parent.callFrame.lineNumber + 1;
    }
    const key = `${file}\u0000${fn}`;
    const e = out.get(key) ?? { file, fn, line, ms: 0 };
    // timeDeltas[i] is the time before sample i; attribute it to that sample (V8's convention)
    e.ms += (profile.timeDeltas[i] ?? 0) / 1000;
    out.set(key, e);
  }
  return out;
}

export function topEntries(
  maps: Map<string, { file: string; fn: string; line: number; ms: number }>[],
  n: number,
): ProfileEntry[] {
  const sum = new Map<string, { file: string; fn: string; line: number; ms: number }>();
  for (const m of maps) {
    for (const [k, v] of m) {
      const e = sum.get(k);
      if (e) e.ms += v.ms;
      else sum.set(k, { ...v });
    }
  }
  let total = 0;
  for (const v of sum.values()) total += v.ms;
  return [...sum.values()]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n)
    .map((v) => ({
      file: v.file,
      fn: v.fn,
      line: v.line,
      selfMs: v.ms,
      pct: total > 0 ? (100 * v.ms) / total : 0,
    }));
}

export function byFile(
  maps: Map<string, { file: string; fn: string; line: number; ms: number }>[],
  n: number,
): { file: string; selfMs: number; pct: number }[] {
  const sum = new Map<string, number>();
  let total = 0;
  for (const m of maps) {
    for (const v of m.values()) {
      const file = v.file || `[native] ${v.fn}`;
      sum.set(file, (sum.get(file) ?? 0) + v.ms);
      total += v.ms;
    }
  }
  return [...sum.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([file, ms]) => ({ file, selfMs: ms, pct: total > 0 ? (100 * ms) / total : 0 }));
}

function readProfiles(dir: string): Map<string, { file: string; fn: string; line: number; ms: number }>[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => selfTimes(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile));
}

export async function profileSrmudp(bytes: number, n = 10): Promise<ProfileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-perf-prof-'));
  const sdir = join(dir, 'sender');
  const rdir = join(dir, 'receiver');
  try {
    // one run, both processes profiled; sender and receiver write into separate directories
    mkdirSync(sdir);
    mkdirSync(rdir);
    const env = {
      sink: { PERF_CPU_PROFILE: join(rdir, 'receiver.cpuprofile') },
      source: { PERF_CPU_PROFILE: join(sdir, 'sender.cpuprofile') },
    };
    // one retry: a stalled transfer (reported in P1) should not cost the profile
    const r = await transferOnce('srmudp', bytes, [], env).catch(() =>
      transferOnce('srmudp', bytes, [], env),
    );
    const sender = readProfiles(sdir);
    const receiver = readProfiles(rdir);
    if (sender.length === 0 || receiver.length === 0) throw new Error('no .cpuprofile written');
    return {
      bytes,
      goodputMBps: r.goodputBps / MB,
      backend: r.backend,
      top: topEntries([...sender, ...receiver], n),
      sender: topEntries(sender, n),
      receiver: topEntries(receiver, n),
      byFile: byFile([...sender, ...receiver], n),
      datagramsSent: {
        sender: typeof r.senderStats?.packetsSent === 'number' ? r.senderStats.packetsSent : null,
        receiver: typeof r.senderStats?.packetsReceived === 'number' ? r.senderStats.packetsReceived : null,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface HandshakeProfileResult {
  peers: number;
  /** batches of `peers` fresh clients connected and dropped before the profiled one, the cold one
   * included (absent in reports written before the warm-up: the profile was of the cold batch) */
  warmupBatches?: number;
  /** srmudp's crypto backend on the server and the clients */
  backend: string | null;
  handshakesPerSec: number;
  serverCpuMsPerHandshake: number;
  top: ProfileEntry[];
  byFile: { file: string; selfMs: number; pct: number }[];
}

/**
 * The P4 server (srmudp) profiled while it accepts `peers` connections (handshake phase only),
 * in steady state: the batch after `batchesBefore` batches of fresh clients, the cold one
 * included (default 4: the cold one and 3 warm-up batches; 0 profiles the cold batch).
 */
export async function profileHandshakes(
  peers: number,
  n = 10,
  batchesBefore = 4,
): Promise<HandshakeProfileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-perf-hsprof-'));
  try {
    const r = await runP4({
      peers,
      clientProcesses: 2,
      concurrency: 16,
      idleSeconds: 1,
      // the server's profile file keeps the last batch's handshake phase
      warmupBatches: Math.max(0, batchesBefore - 1),
      steadyBatches: batchesBefore > 0 ? 1 : 0,
      protos: ['srmudp'],
      serverEnv: { PERF_CPU_PROFILE: join(dir, 'server.cpuprofile') },
    });
    const row = r.rows[0];
    if (!row || row.error) throw new Error(row?.error ?? 'no P4 result');
    const maps = readProfiles(dir);
    if (maps.length === 0) throw new Error('no .cpuprofile written');
    const s = p4Steady(row);
    return {
      peers,
      // the batches before the profiled one, the cold one included
      warmupBatches: s.warm ? 1 + row.warmupBatches : 0,
      backend: row.backend,
      handshakesPerSec: s.perSec,
      serverCpuMsPerHandshake: s.cpuMs,
      top: topEntries(maps, n),
      byFile: byFile(maps, n),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
