// Diagnosis of missed deliveries in a real-socket group: build, broadcast at a steady rate,
// wait for stragglers, then print who missed what and the views of those members.
// Arguments: members, processes, seconds of broadcasts, broadcasts per second.
import { loadavg } from 'node:os';
import { Cluster, type MemberDiag } from './group-cluster.js';

const [members = 40, processes = 2, seconds = 10, rate = 5] = process.argv.slice(2).map(Number);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
console.log(
  `${members} members, ${processes} processes, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ')}`,
);
const c = await Cluster.start(members, processes, 'gossip');
try {
  const t0 = Date.now();
  await c.build(120_000);
  console.log(`built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(3000 + Number(process.env.IDLE_MS ?? 0));
  const asym = (d: MemberDiag[]) => {
    const byId = new Map(d.map((x, i) => [x.id, i]));
    const out: string[] = [];
    d.forEach((x, i) => {
      for (const y of x.active) {
        const j = byId.get(y);
        if (j === undefined) out.push(`${i}->?`);
        else if (!(d[j] as MemberDiag).active.includes(x.id)) out.push(`${i}->${j}`);
      }
    });
    return out;
  };
  const components = (d: MemberDiag[]) => {
    const byId = new Map(d.map((x, i) => [x.id, i]));
    const seen = new Set<number>();
    const out: number[][] = [];
    for (let s = 0; s < d.length; s++) {
      if (seen.has(s)) continue;
      const comp: number[] = [];
      const stack = [s];
      seen.add(s);
      while (stack.length > 0) {
        const i = stack.pop() as number;
        comp.push(i);
        for (const y of (d[i] as MemberDiag).active) {
          const j = byId.get(y);
          if (j !== undefined && !seen.has(j)) {
            seen.add(j);
            stack.push(j);
          }
        }
      }
      out.push(comp.sort((a, b) => a - b));
    }
    return out.sort((a, b) => b.length - a.length);
  };
  const histogram = (xs: number[]) => {
    const h = new Map<number, number>();
    for (const x of xs) h.set(x, (h.get(x) ?? 0) + 1);
    return [...h].sort((a, b) => a[0] - b[0]);
  };
  const show = (what: string, d: MemberDiag[]) => {
    const comps = components(d);
    const sizes = d.map((x) => x.active.length);
    console.log(
      `${what}: components ${JSON.stringify(comps.map((c) => (c.length > 10 ? c.length : c)))}, asymmetric links ${JSON.stringify(asym(d))}, active sizes ${JSON.stringify(histogram(sizes))}`,
    );
  };
  show('after build', await c.diag());
  const ids: { id: string; origin: number; sentAt: number }[] = [];
  const end = Date.now() + seconds * 1000;
  for (let k = 0; Date.now() < end; k++) {
    const origin = (k * 7) % members;
    const sentAt = Date.now();
    ids.push({ id: await c.broadcast(origin, `steady ${k}`), origin, sentAt });
    await sleep(1000 / rate);
  }
  let counts: number[][] = [];
  const expected = ids.length * (members - 1);
  let got = 0;
  const w0 = Date.now();
  for (;;) {
    counts = await c.counts(ids.map((x) => x.id));
    got = counts.reduce((s, row) => s + row.reduce((a, b) => a + Math.min(b, 1), 0), 0);
    console.log(`  +${((Date.now() - w0) / 1000).toFixed(1)} s: ${got} / ${expected}`);
    if (got >= expected || Date.now() - w0 > 20_000) break;
    await sleep(2000);
  }
  const times = await c.times(ids.map((x) => x.id));
  const lat: number[] = [];
  const perMsg: number[] = [];
  ids.forEach((x, k) => {
    let worst = 0;
    (times[k] as number[]).forEach((t, i) => {
      if (i === x.origin || t < 0) return;
      lat.push(t - x.sentAt);
      worst = Math.max(worst, t - x.sentAt);
    });
    perMsg.push(worst);
  });
  lat.sort((a, b) => a - b);
  const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))];
  console.log(
    `latency ms: median ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${lat[lat.length - 1]}; last delivery per message: ${perMsg.join(' ')}`,
  );
  const d = await c.diag();
  console.log(
    `delivered ${((100 * got) / expected).toFixed(1)} %, most copies ${Math.max(...counts.flat())}`,
  );
  show('after broadcasts', d);
  const byId = new Map(d.map((x, i) => [x.id, i]));
  const idx = (ks: string[]) => ks.map((k) => byId.get(k) ?? '?');
  for (let i = 0; i < members; i++) {
    const missed = ids
      .map((x, k) => ({ k, x }))
      .filter(({ k, x }) => x.origin !== i && (counts[k] as number[])[i] === 0);
    if (missed.length === 0) continue;
    const x = d[i] as MemberDiag;
    console.log(
      `member ${i}: missed ${missed.length} (${missed.map((m) => m.k).join(',')}); active ${JSON.stringify(idx(x.active))} eager ${JSON.stringify(idx(x.eager))} lazy ${JSON.stringify(idx(x.lazy))} pending ${JSON.stringify(idx(x.pending))} conns ${x.connections} stats ${JSON.stringify(x.stats)}`,
    );
  }
  const tot: Record<string, number> = {};
  for (const x of d) for (const [k, n] of Object.entries(x.stats?.drops ?? {})) tot[k] = (tot[k] ?? 0) + n;
  console.log(
    `drops over all members: ${JSON.stringify(tot)}; unroutable ${d.reduce((s, x) => s + (x.stats?.unroutable ?? 0), 0)}`,
  );
} finally {
  await c.close();
}
