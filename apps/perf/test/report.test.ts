import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderMarkdown } from '../src/markdown.js';
import { P1_PROTOS } from '../src/p1.js';
import { cookieVariant, P4_COOKIES_OFF_THRESHOLD, runP4 } from '../src/p4.js';
import { defaultOptions, type RunOptions, runReport, writeReport } from '../src/run.js';
import { MiB } from '../src/stats.js';
import { emptyReport } from './fixtures.js';

// Quick mode of P1 and P4 at small sizes: checks the report's shape and that every figure is a
// positive finite number. Speed targets live in docs/performance.md, not here.
const P1_MIB = Number(process.env.PERF_TEST_P1_MIB ?? 4);
const PEERS = Number(process.env.PERF_TEST_PEERS ?? 20);

const dir = mkdtempSync(join(tmpdir(), 'srmudp-perf-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Memory deltas per connection at a few peers can be negative when a GC shrinks the heap. */
const finite = (n: unknown) => {
  expect(typeof n).toBe('number');
  expect(Number.isFinite(n)).toBe(true);
};
const MEMORY_FIGURES = /^P4\.(heap|rss)/;

const positive = (n: unknown) => {
  expect(typeof n).toBe('number');
  expect(Number.isFinite(n)).toBe(true);
  expect(n as number).toBeGreaterThan(0);
};

describe('srmudp-perf quick mode (P1 + P4)', () => {
  const opts: RunOptions = {
    ...defaultOptions(true),
    only: ['P1', 'P4'],
    p1Bytes: P1_MIB * MiB,
    p4Peers: PEERS,
    p4ClientProcesses: 2,
    p4IdleSeconds: 1,
    // one warm-up batch after the cold one, then three steady batches (the warm figures their medians)
    p4WarmupBatches: 1,
    p4SteadyBatches: 3,
    command: 'vitest',
  };

  it('measures P1 for srmudp (each crypto backend), Hyperswarm, udx-native, TCP and the datagram floors, and P4 for srmudp and TCP, with finite positive figures', async () => {
    const r = await runReport(opts);
    expect(r.schema).toBe('srmudp-perf/1');
    expect(r.mode).toBe('quick');
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.machine.cpuModel.length).toBeGreaterThan(0);
    expect(r.machine.loadAverageAtStart).toHaveLength(3);

    // every implementation, in the order of P1_PROTOS: srmudp's three backends, then the references
    expect(r.p1?.rows.map((x) => x.proto)).toEqual(P1_PROTOS);
    expect(P1_PROTOS.slice(0, 4)).toEqual(['srmudp', 'srmudp-node', 'srmudp-noble', 'hyperswarm']);
    // which crypto backend sealed: the façade's choice (libsodium loads here) and the forced ones
    expect(r.p1?.rows.map((x) => x.backend)).toEqual([
      'sodium',
      'node',
      'noble',
      null,
      null,
      null,
      'sodium',
      null,
    ]);
    for (const row of r.p1?.rows ?? []) {
      if (row.proto.startsWith('srmudp')) {
        positive(row.cpuUsPerPacketSender?.median);
        positive(row.cpuUsPerPacketReceiver?.median);
      } else {
        expect(row.cpuUsPerPacketSender).toBeNull();
      }
      expect(row.error).toBeUndefined();
      expect(row.runs).toHaveLength(1);
      // the open-loop floors stop at the first datagram past the size; the streams deliver it exactly
      if (row.proto.endsWith('-udp')) expect(row.runs[0]?.bytes).toBeGreaterThanOrEqual(P1_MIB * MiB);
      else expect(row.runs[0]?.bytes).toBe(P1_MIB * MiB);
      positive(row.goodputMBps.median);
      positive(row.cpuSecPerMB.median);
      positive(row.peakRssSenderMiB.median);
      positive(row.peakRssReceiverMiB.median);
    }
    positive(r.python?.srmudpMbit);
    expect(r.python?.quotedMbit).toBe(4);

    expect(r.p4?.rows.map((x) => x.proto)).toEqual(['srmudp', 'tcp']);
    expect(r.p4?.rows.map((x) => x.backend)).toEqual(['sodium', null]);
    for (const row of r.p4?.rows ?? []) {
      expect(row.error).toBeUndefined();
      expect(row.established).toBe(PEERS);
      expect(row.failed).toBe(0);
      finite(row.heapBytesPerConn);
      positive(row.handshakesPerSec);
      // the cold batch, one warm-up batch, three steady batches from fresh clients
      expect(row.warmupBatches).toBe(1);
      expect(row.steadyBatches).toBe(3);
      expect(row.batchCpuMsPerHandshake).toHaveLength(5);
      for (const x of row.batchCpuMsPerHandshake) positive(x);
      // the warm CPU is the median of the steady batches', not the last batch's, not the warm-up's
      const steady = row.batchCpuMsPerHandshake.slice(2).sort((a, b) => a - b);
      expect(row.warmServerCpuMsPerHandshake).toBe(steady[1]);
      positive(row.warmHandshakesPerSec);
      positive(row.idleSeconds);
      expect(Number.isFinite(row.idleCpuUsPerConnPerSec)).toBe(true);
      expect(row.idleCpuUsPerConnPerSec).toBeGreaterThanOrEqual(0);
    }

    // the cookie-policy variant: the same batches, a server that never asks for cookies
    expect(r.p4?.variants?.map((x) => x.variant)).toEqual([cookieVariant(P4_COOKIES_OFF_THRESHOLD)]);
    // the rows carry the threshold they ran with (the summary goes by it, not by the label's text)
    expect(r.p4?.variants?.map((x) => x.cookieThreshold)).toEqual([P4_COOKIES_OFF_THRESHOLD]);
    expect(r.p4?.rows.map((x) => x.cookieThreshold)).toEqual([null, null]);
    const off = r.p4?.variants?.[0];
    const on = r.p4?.rows[0];
    expect(off?.error).toBeUndefined();
    expect(off?.established).toBe(PEERS);
    positive(off?.warmServerCpuMsPerHandshake);
    // the server of the variant sent no cookie reply (the default's, past 64 initiations/s, does
    // at these rates; its count depends on the machine's speed, so it is only checked to be there)
    expect(off?.serverCookieRepliesPerHandshake).toBe(0);
    expect(off?.warmServerCookieRepliesPerHandshake).toBe(0);
    expect(on?.warmServerCookieRepliesPerHandshake).toBeGreaterThanOrEqual(0);
    const cookiesLine = r.summary.find((l) => l.id === 'P4.hscpu.cookiesoff');
    expect(cookiesLine?.srmudp).toBe(off?.warmServerCpuMsPerHandshake);
    expect(cookiesLine?.reference).toBe(on?.warmServerCpuMsPerHandshake);

    // every summary line: our figure, its same-run reference and the ratio between them
    const ids = r.summary.map((l) => l.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'P1.goodput.hyperswarm',
        'P1.goodput.udx',
        'P1.goodput.tcp',
        'P1.backend.node',
        'P1.backend.noble',
        'P1.hyperswarm.udx',
        'P1.cpupkt.sender',
        'P1.cpupkt.receiver',
        'P1.goodput.floor',
        'P1.floor.udx',
        'P1.cpu.udx',
        'P1.python',
        'P4.heap',
        'P4.handshakes',
        'P4.hscore',
        'P4.hscore.cold',
      ]),
    );
    for (const l of r.summary) {
      if (MEMORY_FIGURES.test(l.id)) {
        finite(l.srmudp);
        finite(l.reference);
      } else {
        positive(l.srmudp);
        positive(l.reference);
      }
      expect(l.ratio).toBeCloseTo(l.srmudp / l.reference, 9);
    }
    const p1 = r.summary.find((l) => l.id === 'P1.goodput.udx');
    expect(p1?.met).toBe((p1?.ratio ?? 0) >= 0.5);

    // figures not selected are listed as not measured, with the reason
    expect(r.notMeasured.map((n) => n.figure)).toEqual(
      expect.arrayContaining(['CPU profile of srmudp P1', 'P2 NAT lab goodput', 'P3 connect time eim × eim']),
    );

    const files = writeReport(r, dir);
    const md = readFileSync(files.md, 'utf8');
    expect(md).toMatch(/^# srmudp performance/);
    expect(md).toContain('## Machine');
    expect(md).toContain(r.machine.cpuModel);
    expect(md).toContain('## P1: single-stream goodput on loopback');
    expect(md).toContain('## P4:');
    expect(md).toContain(`, ${cookieVariant(P4_COOKIES_OFF_THRESHOLD)} |`);
    expect(md).toContain('Hyperswarm: udx-native stream + @hyperswarm/secret-stream');
    expect(md).toContain('## Not measured');
    expect(md).toContain('quotes 4 Mbps');
    expect(md).not.toContain('NaN');
    // the receiver's reads: batched, and how many of them came coalesced (UDP_GRO)
    const rb = r.p1?.srmudpRecvBatch;
    expect(rb?.datagrams).toBeGreaterThan(0);
    expect(rb?.coalesced).toEqual(expect.any(Number));
    expect(md).toContain(
      (rb?.coalesced ?? 0) > 0
        ? '% arrived coalesced, several datagrams to one read'
        : 'none of them coalesced',
    );
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as typeof r;
    expect(json.summary).toHaveLength(r.summary.length);
    expect(json.p1?.rows[0]?.goodputMBps.median).toBeCloseTo(r.p1?.rows[0]?.goodputMBps.median ?? 0, 9);
  }, 120_000);

  it('passes the cookie threshold to the P4 server: 0 asks every initiation for a cookie, P4_COOKIES_OFF_THRESHOLD none', async () => {
    const run = async (cookieThreshold: number) =>
      (
        await runP4({
          peers: 10,
          clientProcesses: 1,
          concurrency: 4,
          idleSeconds: 0,
          steadyBatches: 0,
          protos: ['srmudp'],
          cookieThreshold,
        })
      ).rows[0];
    const always = await run(0);
    expect(always?.established).toBe(10);
    expect(always?.variant).toBe(cookieVariant(0));
    expect(always?.cookieThreshold).toBe(0);
    // one cookie round trip per handshake (more if an initiation was retransmitted)
    expect(always?.serverCookieRepliesPerHandshake).toBeGreaterThanOrEqual(1);
    const off = await run(P4_COOKIES_OFF_THRESHOLD);
    expect(off?.established).toBe(10);
    expect(off?.serverCookieRepliesPerHandshake).toBe(0);
  }, 60_000);

  it("states the share of the receiver's datagrams that arrived coalesced, and keeps older reports' sentence", () => {
    const report = (coalesced: number | null | undefined) =>
      renderMarkdown({
        ...emptyReport(),
        p1: {
          bytes: MiB,
          repeat: 1,
          srmudpPmtu: 1452,
          srmudpGso: null,
          srmudpRecvBatch: {
            received: 1000,
            datagrams: 990,
            batches: 10,
            ...(coalesced === undefined ? {} : { coalesced }),
          } as { received: number; datagrams: number; batches: number; coalesced: number | null },
          rows: [],
        },
      });
    const batched =
      'read 99.0 % of its datagrams in batches (recvmmsg, @srmudp/transport-node), 99.0 per call';
    const md = report(750);
    expect(md).toContain(batched);
    expect(md).toContain('; 75.0 % arrived coalesced, several datagrams to one read (Linux UDP_GRO)');
    expect(report(0)).toContain('none of them coalesced (UDP_GRO off or not available here)');
    // a report from before the counter (JSON without the field) renders as it did
    for (const old of [report(null), report(undefined)]) {
      expect(old).toContain(batched);
      expect(old).not.toContain('coalesced');
    }
  });

  it('renders missing figures as not measured instead of numbers', () => {
    const md = renderMarkdown({
      ...emptyReport(),
      p2: {
        ran: false,
        reason: 'NAT lab cannot run here: not root',
        topology: 't',
        impairment: { delayMsEachWay: 20, lossPctEachWay: 1, rateMbit: 100 },
        warmupSeconds: 1,
        windowSeconds: 1,
        tcpCongestionControl: null,
        impairBackend: null,
        rows: [],
      },
      notMeasured: [{ figure: 'P2 NAT lab goodput', reason: 'NAT lab cannot run here: not root' }],
    });
    expect(md).toContain('**Not measured**: NAT lab cannot run here: not root');
    expect(md).toContain('- **P2 NAT lab goodput**: NAT lab cannot run here: not root');
    expect(md).toContain('No figure was measured');
  });
});
