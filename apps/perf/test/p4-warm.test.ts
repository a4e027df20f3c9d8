import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../src/markdown.js';
import type { P4Result, P4Row } from '../src/p4.js';
import { cookieVariant, P4_COOKIES_OFF_THRESHOLD, p4Steady } from '../src/p4.js';
import { buildSummary, type Report } from '../src/report.js';
import { TEST_MACHINE } from './fixtures.js';

function row(proto: 'srmudp' | 'tcp', over: Partial<P4Row> = {}): P4Row {
  return {
    proto,
    label: proto === 'srmudp' ? 'srmudp node' : 'Node TCP',
    peers: 1000,
    established: 1000,
    failed: 0,
    firstError: null,
    heapBytesPerConn: 7400,
    heapDeltaBytes: 7_400_000,
    heapConnections: 1000,
    externalBytesPerConn: 0,
    rssBytesPerConn: 0,
    handshakesPerSec: 500,
    serverCpuMsPerHandshake: 1,
    serverDatagramsSentPerHandshake: 3,
    serverDatagramsReceivedPerHandshake: 3,
    warmupBatches: 1,
    warmHandshakesPerSec: 800,
    warmServerCpuMsPerHandshake: 0.5,
    warmServerDatagramsSentPerHandshake: 2,
    warmServerDatagramsReceivedPerHandshake: 2,
    batchCpuMsPerHandshake: [1, 0.5],
    warmHeapBytesPerConn: 7500,
    client: proto === 'srmudp' ? 'light' : null,
    connectMedianMs: 1,
    connectP99Ms: 2,
    idleSeconds: 1,
    idleCpuSec: 0,
    idleCpuUsPerConnPerSec: 0.2,
    idlePacketsPerConnPerSec: 0.1,
    keepaliveMs: 15_000,
    backend: proto === 'srmudp' ? 'sodium' : null,
    ...over,
  };
}

function report(rows: P4Row[], warmupBatches: number, steadyBatches?: number): Omit<Report, 'summary'> {
  const p4: P4Result = {
    peers: 1000,
    clientProcesses: 4,
    client: 'light',
    concurrencyPerProcess: 16,
    idleSeconds: 1,
    warmupBatches,
    ...(steadyBatches === undefined ? {} : { steadyBatches }),
    rows,
    scaling: [],
  };
  return {
    schema: 'srmudp-perf/1',
    generatedAt: '2026-01-01T00:00:00.000Z',
    mode: 'full',
    command: 'test',
    wallSeconds: 1,
    machine: TEST_MACHINE,
    p1: null,
    profile: null,
    handshakeProfile: null,
    p2: null,
    p3: null,
    p4,
    python: null,
    notMeasured: [],
  } as unknown as Omit<Report, 'summary'>;
}

describe('P4 cold and warm (steady-state) handshakes', () => {
  it('the one-server-core line is the steady-state one, labelled, and the cold one is there too', () => {
    const r = report(
      [row('srmudp'), row('tcp', { serverCpuMsPerHandshake: 0.04, warmServerCpuMsPerHandshake: 0.02 })],
      1,
    );
    const summary = buildSummary(r);
    const core = summary.find((l) => l.id === 'P4.hscore');
    const cold = summary.find((l) => l.id === 'P4.hscore.cold');
    expect(core?.srmudp).toBeCloseTo(2000, 9);
    expect(core?.reference).toBeCloseTo(50_000, 9);
    expect(core?.figure).toContain('steady state (after 1 warm-up batch of 1000)');
    expect(core?.figure).toContain('target 2,000/s');
    expect(cold?.srmudp).toBeCloseTo(1000, 9);
    expect(cold?.reference).toBeCloseTo(25_000, 9);
    expect(cold?.figure).toContain('cold');
    expect(summary.find((l) => l.id === 'P4.hscpu')?.srmudp).toBe(0.5);
    expect(summary.find((l) => l.id === 'P4.handshakes')?.srmudp).toBe(800);
    // memory stays the cold batch's, against the baseline before any client
    expect(summary.find((l) => l.id === 'P4.heap')?.srmudp).toBeCloseTo(7400 / 1024, 9);

    const md = renderMarkdown({ ...r, summary });
    expect(md).toContain('| 500 / 800 |');
    expect(md).toContain('| 1.00 / 0.50 |');
    expect(md).toContain('3.00 / 3.00; 2.00 / 2.00');
    // a report written before the steady batches: one warm batch, "after 1" counted the cold one
    expect(md).toContain('the batch of 1000 connections after 1 warm-up batch (the cold one included)');
    expect(md).not.toContain('NaN');
  });

  it('since 2026-12-07 the steady state is the median of several batches after the warm-up, and says so', () => {
    const steady: Partial<P4Row> = {
      warmupBatches: 3,
      steadyBatches: 5,
      batchCpuMsPerHandshake: [1.2, 1.1, 0.8, 0.7, 0.62, 0.7, 0.55, 0.66, 0.6],
      warmServerCpuMsPerHandshake: 0.62,
      warmHandshakesPerSec: 900,
    };
    const s = row('srmudp', steady);
    expect(p4Steady(s)).toEqual({
      warm: true,
      label: 'steady state (median of 5 batches of 1000 after the cold one and 3 warm-up)',
      perSec: 900,
      cpuMs: 0.62,
    });
    expect(p4Steady(row('srmudp', { ...steady, steadyBatches: 1 })).label).toBe(
      'steady state (a batch of 1000 after the cold one and 3 warm-up)',
    );
    // no steady batch: the cold figures, whatever the warm fields hold
    expect(p4Steady(row('srmudp', { ...steady, warmupBatches: 0, steadyBatches: 0 })).warm).toBe(false);
    const r = report([s, row('tcp', { ...steady, warmServerCpuMsPerHandshake: 0.03 })], 3, 5);
    const summary = buildSummary(r);
    expect(summary.find((l) => l.id === 'P4.hscore')?.srmudp).toBeCloseTo(1000 / 0.62, 9);
    expect(summary.find((l) => l.id === 'P4.hscore')?.figure).toContain('median of 5 batches');
    const md = renderMarkdown({ ...r, summary });
    expect(md).toContain('after the cold batch and 3 warm-up batches of 1000 connections');
    expect(md).toContain('the median of 5 batches of 1000');
    expect(md).toContain('CPU ms/handshake by batch: 1.200, 1.100, 0.800');
    expect(md).not.toContain('NaN');
  });

  it('without a warm batch (--p4-steady 0, or a report from before the warm-up) the lines are the cold ones, labelled cold', () => {
    const noWarm: Partial<P4Row> = {
      warmupBatches: 0,
      warmHandshakesPerSec: Number.NaN,
      warmServerCpuMsPerHandshake: Number.NaN,
      batchCpuMsPerHandshake: [1],
    };
    const s = row('srmudp', noWarm);
    expect(p4Steady(s)).toEqual({
      warm: false,
      label: 'cold (first 1000 after process start)',
      perSec: 500,
      cpuMs: 1,
    });
    const summary = buildSummary(report([s, row('tcp', noWarm)], 0));
    expect(summary.find((l) => l.id === 'P4.hscore')?.srmudp).toBeCloseTo(1000, 9);
    expect(summary.find((l) => l.id === 'P4.hscore')?.figure).toContain('cold (first 1000');
    expect(summary.find((l) => l.id === 'P4.hscore.cold')).toBeUndefined();
    // an old performance.json: no warm fields at all
    const old = row('srmudp');
    const o = old as Partial<P4Row>;
    delete o.warmupBatches;
    delete o.warmServerCpuMsPerHandshake;
    delete o.batchCpuMsPerHandshake;
    expect(p4Steady(old).warm).toBe(false);
    expect(renderMarkdown({ ...report([old], 0), summary: [] })).not.toContain('NaN');
  });

  it("the cookie-policy line goes by the threshold a variant's server ran with, not by its label", () => {
    const off = row('srmudp', {
      warmServerCpuMsPerHandshake: 0.4,
      cookieThreshold: P4_COOKIES_OFF_THRESHOLD,
      variant: 'renamed for display',
    });
    const withVariants = (variants: P4Row[]) => {
      const r = report([row('srmudp'), row('tcp')], 1);
      (r.p4 as P4Result).variants = variants;
      return buildSummary(r).find((l) => l.id === 'P4.hscpu.cookiesoff');
    };
    const line = withVariants([off]);
    expect(line?.srmudp).toBe(0.4);
    expect(line?.reference).toBe(0.5);
    expect(line?.figure).toContain(cookieVariant(P4_COOKIES_OFF_THRESHOLD));
    // a variant with cookies still asked for (a lower threshold), one that failed, one with the label
    // but no threshold: none of them is the cookie-policy line
    expect(withVariants([row('srmudp', { cookieThreshold: 0, variant: cookieVariant(0) })])).toBeUndefined();
    expect(withVariants([{ ...off, established: 0 }])).toBeUndefined();
    expect(
      withVariants([
        row('srmudp', { cookieThreshold: null, variant: cookieVariant(P4_COOKIES_OFF_THRESHOLD) }),
      ]),
    ).toBeUndefined();
  });
});
