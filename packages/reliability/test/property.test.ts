import { type LinkConfig, PAIR_A, PAIR_B, pair } from '@srmudp/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnNode, equalBytes, pattern } from './helpers/sim-conn.js';

// CI default meets the minimum of 200 schedules; raise locally with the env var.
const RUNS = Number(process.env.RELIABILITY_PROPERTY_RUNS ?? 200);

const linkArb: fc.Arbitrary<LinkConfig> = fc
  .record({
    latencyMs: fc.integer({ min: 1, max: 60 }),
    jitterMs: fc.integer({ min: 0, max: 20 }),
    bandwidthBps: fc.constantFrom(2e6, 10e6, 50e6),
    loss: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
    gilbertElliott: fc.option(
      fc.record({
        pGoodToBad: fc.double({ min: 0.001, max: 0.05, noNaN: true }),
        pBadToGood: fc.double({ min: 0.2, max: 0.9, noNaN: true }),
        lossInBad: fc.double({ min: 0.3, max: 0.9, noNaN: true }),
      }),
      { nil: undefined },
    ),
    reorder: fc.double({ min: 0, max: 0.1, noNaN: true }),
    duplicate: fc.double({ min: 0, max: 0.05, noNaN: true }),
    mtu: fc.integer({ min: 1200, max: 1500 }),
  })
  .map((l) => {
    const { gilbertElliott, ...rest } = l;
    const out: LinkConfig = gilbertElliott === undefined ? rest : { ...rest, gilbertElliott };
    return out;
  });

const scheduleArbOf = (maxStream: number) =>
  fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    ab: linkArb,
    ba: linkArb,
    streams: fc.array(fc.integer({ min: 0, max: maxStream }), { minLength: 1, maxLength: 4 }),
    backStreams: fc.array(fc.integer({ min: 0, max: 8_000 }), { maxLength: 2 }),
    messages: fc.array(fc.record({ size: fc.integer({ min: 0, max: 9_000 }), unordered: fc.boolean() }), {
      maxLength: 5,
    }),
    congestion: fc.constantFrom('bbr', 'cubic', 'newreno') as fc.Arbitrary<'bbr' | 'cubic' | 'newreno'>,
  });
const scheduleArb = scheduleArbOf(24_000);
// fewer, larger schedules: long enough for PMTU search, black holes and many loss episodes
const heavyArb = scheduleArbOf(300_000);
const HEAVY_RUNS = Number(process.env.RELIABILITY_PROPERTY_HEAVY_RUNS ?? 20);

type Schedule = typeof scheduleArb extends fc.Arbitrary<infer T> ? T : never;

interface Plan {
  data: Uint8Array[];
  ids: number[];
  written: number[];
  got: Uint8Array[][];
  gotLen: number[];
  finished: boolean[];
}

function runSchedule(s: Schedule): void {
  const { net, a, b } = pair({
    seed: s.seed,
    a: () =>
      new ConnNode(PAIR_B, { role: 'initiator', now: 0, congestion: s.congestion, maxUdpPayload: 1472 }),
    b: () =>
      new ConnNode(PAIR_A, { role: 'responder', now: 0, congestion: s.congestion, maxUdpPayload: 1472 }),
    ab: s.ab,
    ba: s.ba,
  });
  const mk = (sizes: number[], seedBase: number): Plan => ({
    data: sizes.map((n, i) => pattern(n, seedBase + i)),
    ids: [],
    written: sizes.map(() => 0),
    got: sizes.map(() => []),
    gotLen: sizes.map(() => 0),
    finished: sizes.map(() => false),
  });
  const fwd = mk(s.streams, s.seed);
  const back = mk(s.backStreams, s.seed + 100);
  const msgs = s.messages.map((m, i) => ({
    data: pattern(m.size, s.seed + 1000 + i),
    unordered: m.unordered,
  }));
  const gotMsgs: { data: Uint8Array; unordered: boolean }[] = [];
  let msgsQueued = 0;

  const writer = (node: ConnNode, plan: Plan) => {
    if (plan.ids.length < plan.data.length) {
      while (plan.ids.length < plan.data.length && node.conn.canOpenStream())
        plan.ids.push(node.conn.openStream());
    }
    for (let i = 0; i < plan.ids.length; i++) {
      const id = plan.ids[i]!;
      const d = plan.data[i]!;
      if (plan.written[i]! < d.length) plan.written[i]! += node.conn.write(id, d.subarray(plan.written[i]!));
      if (plan.written[i] === d.length) node.conn.finish(id);
    }
  };
  const reader = (node: ConnNode, now: number, plan: Plan, peerIds: number[]) => {
    for (let i = 0; i < peerIds.length; i++) {
      const id = peerIds[i]!;
      if (plan.finished[i]) continue;
      for (;;) {
        const r = node.conn.read(now, id);
        if (r === null) break;
        plan.got[i]!.push(r);
        plan.gotLen[i]! += r.length;
      }
    }
  };
  const expectedIds = (plan: Plan, initiator: boolean) =>
    plan.data.map((_, i) => i * 2 + (initiator ? 0 : 1));
  const fwdIds = expectedIds(fwd, true);
  const backIds = expectedIds(back, false);
  const opened = { a: new Set<number>(), b: new Set<number>() };

  a.app = (node, now) => {
    writer(node, fwd);
    while (
      msgsQueued < msgs.length &&
      node.conn.sendMessage(msgs[msgsQueued]!.data, { unordered: msgs[msgsQueued]!.unordered })
    )
      msgsQueued++;
    reader(
      node,
      now,
      back,
      backIds.filter((id) => opened.a.has(id)),
    );
  };
  b.app = (node, now) => {
    writer(node, back);
    reader(
      node,
      now,
      fwd,
      fwdIds.filter((id) => opened.b.has(id)),
    );
  };
  const onEv =
    (side: 'a' | 'b', plan: Plan, ids: number[]) => (ev: import('../src/index.js').ReliableEvent) => {
      if (ev.type === 'stream_opened') opened[side].add(ev.streamId);
      if (ev.type === 'stream_finished') {
        const i = ids.indexOf(ev.streamId);
        if (i >= 0) plan.finished[i] = true;
      }
      if (ev.type === 'message' && side === 'b') gotMsgs.push({ data: ev.data, unordered: ev.unordered });
      if (ev.type === 'closed') throw new Error(`connection ${side} closed: ${JSON.stringify(ev)}`);
    };
  a.onEvent = onEv('a', back, backIds);
  b.onEvent = onEv('b', fwd, fwdIds);
  a.keepEvents = false;
  b.keepEvents = false;

  const done = () =>
    fwd.finished.every(Boolean) && back.finished.every(Boolean) && gotMsgs.length === msgs.length;
  // never stalls: completion within a bounded number of simulator steps
  const steps = net.driveBounded(2_000_000, done);
  if (process.env.RELIABILITY_DEBUG)
    console.log(
      s.congestion,
      steps,
      net.now,
      fwd.gotLen,
      back.gotLen,
      gotMsgs.length,
      JSON.stringify(a.conn.stats()),
    );

  for (const plan of [fwd, back]) {
    for (let i = 0; i < plan.data.length; i++) {
      const got = new Uint8Array(plan.gotLen[i]!);
      let o = 0;
      for (const c of plan.got[i]!) {
        got.set(c, o);
        o += c.length;
      }
      if (!equalBytes(got, plan.data[i]!))
        throw new Error(`stream ${i} bytes differ (${got.length} vs ${plan.data[i]!.length})`);
    }
  }
  // messages whole; ordered ones in order; each exactly once
  const orderedSent = msgs.filter((m) => !m.unordered).map((m) => m.data);
  const orderedGot = gotMsgs.filter((m) => !m.unordered).map((m) => m.data);
  expect(orderedGot.length).toBe(orderedSent.length);
  for (let i = 0; i < orderedSent.length; i++)
    if (!equalBytes(orderedGot[i]!, orderedSent[i]!)) throw new Error(`ordered message ${i} differs`);
  const unorderedSent = msgs.filter((m) => m.unordered).map((m) => m.data);
  const unorderedGot = gotMsgs.filter((m) => m.unordered).map((m) => m.data);
  expect(unorderedGot.length).toBe(unorderedSent.length);
  for (const m of unorderedSent) {
    const i = unorderedGot.findIndex((g) => equalBytes(g, m));
    if (i < 0) throw new Error('unordered message missing');
    unorderedGot.splice(i, 1);
  }
}

describe('property: delivery under any seeded impairment schedule', () => {
  it(`every stream byte exactly once and in order, messages whole, no stall (${RUNS} schedules)`, () => {
    fc.assert(
      fc.property(scheduleArb, (s) => {
        runSchedule(s);
      }),
      { numRuns: RUNS, seed: Number(process.env.RELIABILITY_PROPERTY_SEED ?? 0x5eed) },
    );
  }, 120_000);

  it(`the same with streams up to 300 KB (${HEAVY_RUNS} schedules)`, () => {
    fc.assert(
      fc.property(heavyArb, (s) => {
        runSchedule(s);
      }),
      { numRuns: HEAVY_RUNS, seed: Number(process.env.RELIABILITY_PROPERTY_SEED ?? 0x5eed) + 1 },
    );
  }, 120_000);
});
