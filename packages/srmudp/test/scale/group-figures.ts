// Memory and CPU per member: a gossip group against a full mesh of the same size, same run,
// interleaved (gossip, mesh, gossip, mesh). Not a test: `pnpm --filter srmudp figures:group`
// (arguments: members, processes, rounds). Each phase: build the group, settle, then a steady
// window (10 s, one broadcast every 200 ms from rotating members); CPU is the processes' user +
// system time over that window, memory the JS heap (after GC) per member at its end.
import { availableParallelism as availableCores, loadavg } from 'node:os';
import { Cluster, type Measure } from './group-cluster.js';

const [members = 60, processes = 3, rounds = 2] = process.argv.slice(2).map(Number);
const WINDOW_MS = 10_000;
const IDLE_MS = 10_000;
const BUILD_MS = Number(process.env.SRMUDP_GROUP_BUILD_MS ?? 300_000);

async function phase(mode: 'gossip' | 'mesh') {
  const c = await Cluster.start(members, processes, mode);
  try {
    const t0 = Date.now();
    // a mesh of 100 may not complete on a loaded 2-core machine: measured as far as it got
    // (the connections column says how far), and said so
    let built = true;
    await c.build(BUILD_MS).catch((e: unknown) => {
      built = false;
      console.error(`${mode}: not built within ${BUILD_MS / 1000} s: ${String(e).slice(0, 200)}`);
    });
    const buildMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 3000)); // settle: joins, evictions, closes
    // idle: keepalives, gossip's housekeeping and shuffles, no messages
    const idle0: Measure = await c.measure();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const before: Measure = await c.measure();
    const idleCpu = (before.cpuMicros - idle0.cpuMicros) / 1000 / members / (IDLE_MS / 1000);
    const ids: string[] = [];
    const sentAt: number[] = [];
    const end = Date.now() + WINDOW_MS;
    for (let k = 0; Date.now() < end; k++) {
      sentAt.push(Date.now());
      ids.push(await c.broadcast((k * 7) % members, `steady ${k}`, `m${k}`));
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const after = await c.measure();
    // delivery is counted after the CPU window, waiting (up to 20 s) for stragglers: on a loaded
    // machine the last copies may be a few seconds behind
    const expected = ids.length * (members - 1);
    let counts: number[][] = [];
    let got = 0;
    let gotAtCut = -1;
    for (let t = Date.now(); ; ) {
      counts = await c.counts(ids);
      got = counts.reduce((s, row) => s + row.reduce((a, b) => a + Math.min(b, 1), 0), 0);
      if (gotAtCut < 0) gotAtCut = got; // the first count: ~1.5 s after the last broadcast
      if (got >= expected || Date.now() - t > 20_000) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const maxCopies = Math.max(0, ...counts.flat());
    // latency: first delivery at each member after its broadcast (both clocks are this machine's)
    const lat: number[] = [];
    const times = await c.times(ids);
    times.forEach((row, k) => {
      for (const t of row) if (t >= 0) lat.push(t - (sentAt[k] as number));
    });
    lat.sort((a, b) => a - b);
    return {
      mode,
      built,
      buildMs,
      idleCpuMsPerMemberPerS: idleCpu,
      cpuMsPerMemberPerS: (after.cpuMicros - before.cpuMicros) / 1000 / members / ((WINDOW_MS + 1500) / 1000),
      heapKiBPerMember: after.heapUsed / 1024 / members,
      connectionsPerMember: after.connections / members,
      delivered: got / expected,
      deliveredAtCut: gotAtCut / expected,
      latencyP99: lat.length ? (lat[Math.floor(lat.length * 0.99)] as number) : NaN,
      latencyMax: lat.length ? (lat[lat.length - 1] as number) : NaN,
      maxCopies,
    };
  } finally {
    await c.close();
  }
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');
console.log(
  `${members} members in ${processes} processes, ${rounds} round(s); load average before: ${load()}`,
);
const rows: Awaited<ReturnType<typeof phase>>[] = [];
/** A phase whose processes stop answering (a 100-member mesh on a loaded machine): said, not fatal. */
const safely = (mode: 'gossip' | 'mesh') =>
  phase(mode).catch((e: unknown) => {
    console.error(`${mode}: failed: ${String(e).slice(0, 300)}`);
    return {
      mode,
      built: false,
      buildMs: NaN,
      idleCpuMsPerMemberPerS: NaN,
      cpuMsPerMemberPerS: NaN,
      heapKiBPerMember: NaN,
      connectionsPerMember: NaN,
      delivered: NaN,
      deliveredAtCut: NaN,
      latencyP99: NaN,
      latencyMax: NaN,
      maxCopies: NaN,
    };
  });
for (let r = 0; r < rounds; r++) {
  rows.push(await safely('gossip'));
  rows.push(await safely('mesh'));
}
console.log(`load average after: ${load()} (1 / 5 / 15 min, ${availableCores()} cores)`);
const f = (x: number, d = 1) => x.toFixed(d);
console.log(
  `| round | mode | connections / member | heap KiB / member | CPU ms / member / s, idle | CPU ms / member / s, 5 broadcasts/s | delivered ~1.5 s after the last / in the end (most copies at one member) | latency p99 / max ms | build s |`,
);
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [i, x] of rows.entries()) {
  console.log(
    `| ${Math.floor(i / 2) + 1} | ${x.mode} | ${f(x.connectionsPerMember)} | ${f(x.heapKiBPerMember, 0)} | ${f(x.idleCpuMsPerMemberPerS, 2)} | ${f(x.cpuMsPerMemberPerS, 2)} | ${f(x.deliveredAtCut * 100)} % / ${f(x.delivered * 100)} % (${x.maxCopies}) | ${f(x.latencyP99, 0)} / ${f(x.latencyMax, 0)} | ${x.built ? f(x.buildMs / 1000) : `not built in ${f(x.buildMs / 1000)}`} |`,
  );
}
for (let r = 0; r < rounds; r++) {
  const g = rows[2 * r] as (typeof rows)[0];
  const m = rows[2 * r + 1] as (typeof rows)[0];
  console.log(
    `round ${r + 1}: mesh / gossip: heap ${f(m.heapKiBPerMember / g.heapKiBPerMember, 2)}x, CPU idle ${f(m.idleCpuMsPerMemberPerS / g.idleCpuMsPerMemberPerS, 2)}x, CPU with broadcasts ${f(m.cpuMsPerMemberPerS / g.cpuMsPerMemberPerS, 2)}x, connections ${f(m.connectionsPerMember / g.connectionsPerMember, 2)}x`,
  );
}
