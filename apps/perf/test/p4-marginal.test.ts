import { describe, expect, it } from 'vitest';
import { p4MarginalText } from '../src/markdown.js';
import { marginalHeap, type P4Row } from '../src/p4.js';
import { buildSummary, type Report } from '../src/report.js';

function row(peers: number, heapDeltaBytes: number, over: Partial<P4Row> = {}): P4Row {
  return {
    proto: 'srmudp',
    label: 'srmudp node',
    peers,
    established: peers,
    failed: 0,
    firstError: null,
    heapBytesPerConn: heapDeltaBytes / peers,
    heapDeltaBytes,
    heapConnections: peers,
    externalBytesPerConn: 0,
    rssBytesPerConn: 0,
    handshakesPerSec: 400,
    serverCpuMsPerHandshake: 1,
    connectMedianMs: 1,
    connectP99Ms: 2,
    idleSeconds: 1,
    idleCpuSec: 0,
    idleCpuUsPerConnPerSec: 0,
    idlePacketsPerConnPerSec: 0,
    keepaliveMs: 15_000,
    backend: 'sodium',
    ...over,
  };
}

describe('P4 marginal heap per connection', () => {
  // one-time 1.5 MB plus 8,000 bytes per connection
  const small = row(100, 1_500_000 + 100 * 8000);
  const big = row(1000, 1_500_000 + 1000 * 8000);

  it('is the slope between two peer counts: the one-time part drops out', () => {
    expect(big.heapBytesPerConn).toBe(9500);
    expect(marginalHeap(small, big)).toEqual({ bytesPerConn: 8000, fromPeers: 100, toPeers: 1000 });
    expect(marginalHeap(big, small)).toEqual({ bytesPerConn: 8000, fromPeers: 100, toPeers: 1000 });
  });

  it('is null without two measured points at different counts', () => {
    expect(marginalHeap(big, big)).toBeNull();
    expect(marginalHeap(row(100, Number.NaN, { error: 'failed' }), big)).toBeNull();
    expect(marginalHeap(row(100, 0, { established: 0 }), big)).toBeNull();
  });

  it('the report shows it beside the existing figure, which stays', () => {
    const tcp = row(1000, 2_000_000, { proto: 'tcp', label: 'Node TCP', backend: null });
    const r = {
      p1: null,
      p2: null,
      p3: null,
      p4: {
        peers: 1000,
        clientProcesses: 4,
        concurrencyPerProcess: 8,
        idleSeconds: 1,
        rows: [big, tcp],
        scaling: [small],
      },
    } as unknown as Omit<Report, 'summary'>;
    const summary = buildSummary(r);
    const heap = summary.find((l) => l.id === 'P4.heap');
    const marginal = summary.find((l) => l.id === 'P4.heap.marginal');
    expect(heap?.srmudp).toBeCloseTo(9500 / 1024, 6);
    expect(marginal?.srmudp).toBeCloseTo(8000 / 1024, 6);
    expect(marginal?.reference).toBeCloseTo(9500 / 1024, 6);
    const md = p4MarginalText(r.p4 as NonNullable<Report['p4']>);
    expect(md).toContain('Marginal heap per connection (srmudp): **7.8 KiB**');
    expect(md).toContain('~1.5 MB once');
    expect(p4MarginalText({ ...(r.p4 as NonNullable<Report['p4']>), scaling: [] })).toBe('');
  });
});
