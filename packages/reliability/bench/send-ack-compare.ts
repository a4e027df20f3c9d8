/**
 * The send + ACK path of `send-ack.bench.ts`, timed (process CPU time) for this package and for
 * another build of it (a previous commit), interleaved in one process, so the ratio holds on a
 * loaded machine.
 *
 *   git archive <commit> packages/reliability | tar -x -C /tmp/base --strip-components=2
 *   BASELINE=/tmp/base/src/index.ts node --conditions=source --import tsx bench/send-ack-compare.ts
 *
 * The baseline must resolve `@srmudp/wire` (link this repository's packages/wire into
 * /tmp/base/node_modules/@srmudp/wire). ROUNDS (default 15) rounds of ITERATIONS (default 200)
 * iterations of 100 packets per build and controller, in alternating order.
 */
import * as current from '../src/index.js';

type Conn = InstanceType<typeof current.ReliableConnection>;
type Api = {
  ReliableConnection: new (o: object) => Conn;
  /** read and pollEvent gained `now` in the structure step; older builds take none */
  read(c: Conn, now: number, id: number): Uint8Array | null;
  pollEvent(c: Conn, now: number): unknown;
};

const PACKETS = 100;
const chunk = new Uint8Array(256 * 1024);

function api(mod: typeof current): Api {
  // the class was `Connection` before the vocabulary step named it after its layer
  const named = mod as unknown as Record<string, unknown>;
  const C = (named.ReliableConnection ?? named.Connection) as Api['ReliableConnection'] & {
    prototype: { read: { length: number } };
  };
  const takesNow = C.prototype.read.length >= 2;
  type Old = { read(id: number): Uint8Array | null; pollEvent(): unknown };
  return takesNow
    ? {
        ReliableConnection: C,
        read: (c, now, id) => c.read(now, id),
        pollEvent: (c, now) => c.pollEvent(now),
      }
    : {
        ReliableConnection: C,
        read: (c, _now, id) => (c as unknown as Old).read(id),
        pollEvent: (c) => (c as unknown as Old).pollEvent(),
      };
}

function setup(m: Api, congestion: 'bbr' | 'cubic' | 'newreno'): () => void {
  const a = new m.ReliableConnection({ role: 'initiator', now: 0, overhead: 8, congestion });
  const b = new m.ReliableConnection({ role: 'responder', now: 0, overhead: 8, congestion });
  const id = a.openStream();
  let now = 0;
  // until the receiver knows the stream (the first packet is a PMTU probe): read() needs it
  a.write(id, chunk);
  for (let i = 0; i < 10 && !b.streamIds().includes(id); i++) {
    const t = a.pollTransmit(now);
    if (t !== null) b.handlePacket(now, t.packetNumber, t.payload);
  }
  return () => {
    let sent = 0;
    while (sent < PACKETS) {
      if (a.writable(id) > chunk.length) a.write(id, chunk);
      now += 0.05;
      const t = a.pollTransmit(now);
      if (t === null) {
        now += 1;
        a.handleTimeout(now);
      } else {
        b.handlePacket(now, t.packetNumber, t.payload);
        sent++;
      }
      for (let r = m.read(b, now, id); r !== null; r = m.read(b, now, id)) {}
      for (let ack = b.pollTransmit(now); ack !== null; ack = b.pollTransmit(now))
        a.handlePacket(now, ack.packetNumber, ack.payload);
      while (m.pollEvent(b, now) !== null) {}
      while (m.pollEvent(a, now) !== null) {}
    }
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

const baselinePath = process.env.BASELINE;
if (baselinePath === undefined) throw new Error('BASELINE=<path to the baseline src/index.ts> is required');
const baseline = (await import(baselinePath)) as typeof current;
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const ITERATIONS = Number(process.env.ITERATIONS ?? 200);
const builds = [
  { name: 'baseline', api: api(baseline) },
  { name: 'current', api: api(current) },
];

console.log(
  `send + ACK, CPU µs per packet: median (min) of ${ROUNDS} interleaved rounds of ${ITERATIONS} x ${PACKETS}`,
);
console.log('| controller | baseline | current | current / baseline: median of paired rounds (IQR) |');
console.log('|---|---:|---:|---:|');
for (const cc of ['bbr', 'cubic', 'newreno'] as const) {
  const steps = builds.map((b) => setup(b.api, cc));
  for (const step of steps) for (let i = 0; i < ITERATIONS; i++) step(); // warm-up (JIT)
  const us: number[][] = builds.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const k of order) {
      const step = steps[k]!;
      // CPU time of this process, not wall time: other jobs on the machine preempt us
      const t0 = process.cpuUsage();
      for (let i = 0; i < ITERATIONS; i++) step();
      const d = process.cpuUsage(t0);
      us[k]!.push((d.user + d.system) / (ITERATIONS * PACKETS));
    }
  }
  const ratios = us[1]!.map((c, i) => c / us[0]![i]!).sort((x, y) => x - y);
  const q = (f: number) => ratios[Math.floor(f * (ratios.length - 1))]!.toFixed(2);
  const cell = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)})`;
  console.log(
    `| ${cc} | ${cell(us[0]!)} | ${cell(us[1]!)} | ${median(ratios).toFixed(3)} (${q(0.25)}-${q(0.75)}) |`,
  );
}
