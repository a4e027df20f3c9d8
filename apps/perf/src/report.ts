/** The report: its JSON shape and the summary of ratios; markdown.ts renders docs/performance.md. */
import type { MachineInfo, SourceInfo } from './machine.js';
import type { P1Result } from './p1.js';
import type { P2Result } from './p2.js';
import type { P3Result } from './p3.js';
import {
  cookieVariant,
  marginalHeap,
  P4_COOKIES_OFF_THRESHOLD,
  type P4Result,
  type P4Row,
  p4Steady,
} from './p4.js';
import type { HandshakeProfileResult, ProfileResult } from './profile.js';
import { MB, ratio } from './stats.js';

/** One line of the summary: our figure, its reference from the same run, and their ratio. */
export interface SummaryLine {
  id: string;
  figure: string;
  unit: string;
  srmudp: number;
  reference: number;
  referenceName: string;
  /** srmudp / reference */
  ratio: number;
  /** the project's target for the ratio, when there is one */
  target?: { min?: number; max?: number; text: string };
  met?: boolean;
}

export interface Report {
  schema: 'srmudp-perf/1';
  generatedAt: string;
  mode: 'full' | 'quick';
  command: string;
  wallSeconds: number;
  machine: MachineInfo;
  /** the code measured: commit and uncommitted package files */
  source?: SourceInfo;
  summary: SummaryLine[];
  p1: P1Result | null;
  profile: ProfileResult | null;
  /** the P4 server profiled while accepting connections */
  handshakeProfile: HandshakeProfileResult | null;
  p2: P2Result | null;
  p3: P3Result | null;
  p4: P4Result | null;
  /** the original Python srmudp/srudp quotes 4 Mbps */
  python: { quotedMbit: number; srmudpMbit: number; ratio: number } | null;
  notMeasured: { figure: string; reason: string }[];
}

export const PYTHON_QUOTED_MBIT = 4;

export function buildSummary(r: Omit<Report, 'summary'>): SummaryLine[] {
  const out: SummaryLine[] = [];
  const line = (l: Omit<SummaryLine, 'ratio' | 'met'>) => {
    const rt = ratio(l.srmudp, l.reference);
    const met =
      l.target && Number.isFinite(rt)
        ? (l.target.min === undefined || rt >= l.target.min) &&
          (l.target.max === undefined || rt <= l.target.max)
        : undefined;
    out.push({ ...l, ratio: rt, ...(met !== undefined ? { met } : {}) });
  };
  const p1 = (proto: string) => r.p1?.rows.find((x) => x.proto === proto && x.runs.length > 0);
  const s = p1('srmudp');
  const u = p1('udx');
  const t = p1('tcp');
  const h = p1('hyperswarm');
  const floor = p1('sealed-udp');
  // srmudp's goodput and CPU per MB against each same-run reference
  const refs = [
    { key: 'hyperswarm', row: h, name: 'Hyperswarm (udx-native + secret-stream)' },
    { key: 'udx', row: u, name: 'udx-native' },
    { key: 'floor', row: floor, name: 'the sealed-datagram floor' },
    { key: 'tcp', row: t, name: 'Node TCP' },
  ] as const;
  const sName = s?.backend ? ` (${s.backend} backend)` : '';
  for (const ref of refs) {
    if (!s || !ref.row) continue;
    line({
      id: `P1.goodput.${ref.key}`,
      figure: `P1 loopback single-stream goodput${sName}`,
      unit: 'MB/s',
      srmudp: s.goodputMBps.median,
      reference: ref.row.goodputMBps.median,
      referenceName: ref.name,
      ...(ref.key === 'udx' ? { target: { min: 0.5, text: '≥ 0.5 × udx-native' } } : {}),
      ...(ref.key === 'hyperswarm' ? { target: { min: 1, text: '≥ 1.0 × Hyperswarm' } } : {}),
    });
  }
  // the façade's backend against srmudp forced onto the others, same run
  for (const other of ['srmudp-node', 'srmudp-noble'] as const) {
    const o = p1(other);
    if (!s || !o || o.backend === s.backend) continue;
    line({
      id: `P1.backend.${other.slice('srmudp-'.length)}`,
      figure: `P1 goodput, srmudp with its ${s.backend ?? 'default'} backend vs with ${o.backend ?? other}`,
      unit: 'MB/s',
      srmudp: s.goodputMBps.median,
      reference: o.goodputMBps.median,
      referenceName: `srmudp, ${o.backend ?? other} backend`,
    });
  }
  if (h && u) {
    line({
      id: 'P1.hyperswarm.udx',
      figure: "P1 reference: Hyperswarm's encrypted stream vs plain udx-native",
      unit: 'MB/s',
      srmudp: h.goodputMBps.median,
      reference: u.goodputMBps.median,
      referenceName: 'udx-native',
    });
  }
  if (floor && u) {
    line({
      id: 'P1.floor.udx',
      figure: `P1 floor: sealed datagrams without any protocol (node:dgram + ${floor.backend ?? '?'} AEAD)`,
      unit: 'MB/s',
      srmudp: floor.goodputMBps.median,
      reference: u.goodputMBps.median,
      referenceName: 'udx-native',
    });
  }
  for (const ref of refs) {
    if (!s || !ref.row || ref.key === 'floor') continue;
    line({
      id: `P1.cpu.${ref.key}`,
      figure: `P1 CPU per MB (sender + receiver)${sName}`,
      unit: 'CPU ms/MB',
      srmudp: s.cpuSecPerMB.median * 1000,
      reference: ref.row.cpuSecPerMB.median * 1000,
      referenceName: ref.name,
      ...(ref.key === 'udx' ? { target: { max: 2, text: '≤ 2 × udx-native' } } : {}),
    });
  }
  // CPU per data packet on each side: the façade's backend against node:crypto, same run
  const sn = p1('srmudp-node');
  for (const side of ['Sender', 'Receiver'] as const) {
    const a = s?.[`cpuUsPerPacket${side}`];
    const b = sn?.[`cpuUsPerPacket${side}`];
    if (!s || !sn || !a || !b || sn.backend === s.backend) continue;
    line({
      id: `P1.cpupkt.${side.toLowerCase()}`,
      figure: `P1 ${side.toLowerCase()} CPU per data packet, srmudp ${s.backend ?? ''} vs node:crypto backend`,
      unit: 'CPU µs/packet',
      srmudp: a.median,
      reference: b.median,
      referenceName: 'srmudp, node backend',
    });
  }
  if (s && u) {
    line({
      id: 'P1.rss.udx',
      figure: 'P1 peak RSS of the receiver',
      unit: 'MiB',
      srmudp: s.peakRssReceiverMiB.median,
      reference: u.peakRssReceiverMiB.median,
      referenceName: 'udx-native',
    });
  }
  if (r.python) {
    line({
      id: 'P1.python',
      figure: 'P1 goodput vs the original Python srmudp/srudp (quoted, not measured here)',
      unit: 'Mbit/s',
      srmudp: r.python.srmudpMbit,
      reference: r.python.quotedMbit,
      referenceName: 'Python srudp (quoted 4 Mbps)',
    });
  }
  if (r.p2?.ran) {
    const ref = r.p2.rows.find((x) => x.variant === 'tcp' && Number.isFinite(x.goodputMbit));
    const cubic = r.p2.rows.find((x) => x.variant === 'tcp-cubic' && Number.isFinite(x.goodputMbit));
    for (const row of r.p2.rows) {
      if (row.variant === 'tcp' || row.variant === 'tcp-cubic' || !Number.isFinite(row.goodputMbit)) continue;
      if (ref) {
        line({
          id: `P2.${row.variant}.tcp`,
          figure: `P2 lab goodput (40 ms RTT, 1 % loss, 100 Mbit/s), srmudp ${row.variant}`,
          unit: 'Mbit/s',
          srmudp: row.goodputMbit,
          reference: ref.goodputMbit,
          referenceName: `Linux TCP (default: ${r.p2.tcpCongestionControl ?? '?'})`,
        });
      }
      if (cubic) {
        line({
          id: `P2.${row.variant}.tcp-cubic`,
          figure: `P2 lab goodput (40 ms RTT, 1 % loss, 100 Mbit/s), srmudp ${row.variant}`,
          unit: 'Mbit/s',
          srmudp: row.goodputMbit,
          reference: cubic.goodputMbit,
          referenceName: 'Linux TCP cubic',
        });
      }
    }
  }
  if (r.p3?.ran && r.p3.ms && r.p3.rtts) {
    line({
      id: 'P3.connect',
      figure: 'P3 connect(card) → first byte, eim × eim',
      unit: 'ms',
      srmudp: r.p3.ms.median,
      reference: r.p3.configuredRttMs,
      referenceName: 'path RTT (1 RTT)',
    });
  }
  const ps = r.p4?.rows.find((x) => x.proto === 'srmudp' && x.established > 0);
  const pt = r.p4?.rows.find((x) => x.proto === 'tcp' && x.established > 0);
  if (ps && pt) {
    line({
      id: 'P4.heap',
      figure: `P4 JS heap per connection (${ps.peers} peers)`,
      unit: 'KiB',
      srmudp: ps.heapBytesPerConn / 1024,
      reference: pt.heapBytesPerConn / 1024,
      referenceName: 'Node TCP server',
    });
    // RSS deltas of a few dozen connections are noise (GC returns pages): summarised only when both grew
    if (ps.rssBytesPerConn > 0 && pt.rssBytesPerConn > 0)
      line({
        id: 'P4.rss',
        figure: `P4 RSS per connection (${ps.peers} peers)`,
        unit: 'KiB',
        srmudp: ps.rssBytesPerConn / 1024,
        reference: pt.rssBytesPerConn / 1024,
        referenceName: 'Node TCP server (kernel socket memory not in RSS)',
      });
    const sw = p4Steady(ps);
    const tw = p4Steady(pt);
    const backend = ps.backend ? `, ${ps.backend} backend` : '';
    line({
      id: 'P4.handshakes',
      figure: `P4 handshakes (connections) per second, ${sw.label}${backend}`,
      unit: '1/s',
      srmudp: sw.perSec,
      reference: tw.perSec,
      referenceName: `Node TCP accept (no crypto), ${tw.label}`,
    });
    line({
      id: 'P4.hscpu',
      figure: `P4 server CPU per handshake (connection accept), ${sw.label}${backend}`,
      unit: 'CPU ms',
      srmudp: sw.cpuMs,
      reference: tw.cpuMs,
      referenceName: `Node TCP accept (no crypto), ${tw.label}`,
    });
    line({
      id: 'P4.hscore',
      figure: `P4 handshakes per second one server core buys (1000 ÷ server CPU ms per handshake), ${sw.label}${backend}; project target 2,000/s`,
      unit: '1/s',
      srmudp: 1000 / sw.cpuMs,
      reference: 1000 / tw.cpuMs,
      referenceName: `Node TCP accept (no crypto), ${tw.label}`,
    });
    if (sw.warm)
      line({
        id: 'P4.hscore.cold',
        figure: `P4 handshakes per second one server core buys, cold (the first ${ps.peers} after the server process started, JIT warm-up included)${backend}`,
        unit: '1/s',
        srmudp: 1000 / ps.serverCpuMsPerHandshake,
        reference: 1000 / pt.serverCpuMsPerHandshake,
        referenceName: 'Node TCP accept (no crypto), cold',
      });
    line({
      id: 'P4.idlecpu',
      figure: 'P4 idle CPU per connection (keepalives)',
      unit: 'µs CPU/conn/s',
      srmudp: ps.idleCpuUsPerConnPerSec,
      reference: pt.idleCpuUsPerConnPerSec,
      referenceName: 'Node TCP server (keepalive in the kernel)',
    });
  }
  const cookiesOff = r.p4?.variants?.find(
    (x): x is P4Row & { cookieThreshold: number } =>
      x.proto === 'srmudp' &&
      x.established > 0 &&
      typeof x.cookieThreshold === 'number' &&
      x.cookieThreshold >= P4_COOKIES_OFF_THRESHOLD,
  );
  if (ps && cookiesOff) {
    const sw = p4Steady(ps);
    const vw = p4Steady(cookiesOff);
    line({
      id: 'P4.hscpu.cookiesoff',
      figure: `P4 server CPU per handshake with ${cookieVariant(cookiesOff.cookieThreshold)}, ${vw.label}: whether the DoS policy costs P4's clients anything (no target; the next run of the same batches; since 2026-12-07 confirmed handshakes do not count as load, so neither run asks for cookies and the ratio is the run-to-run spread)`,
      unit: 'CPU ms',
      srmudp: vw.cpuMs,
      reference: sw.cpuMs,
      referenceName: `srmudp's defaults (cookie replies past limits.cookieThreshold unconfirmed initiations/s), ${sw.label}`,
    });
  }
  const small = r.p4?.scaling.find((x) => x.proto === 'srmudp' && x.established > 0);
  const marginal = ps && small ? marginalHeap(small, ps) : null;
  if (ps && marginal) {
    line({
      id: 'P4.heap.marginal',
      figure: `P4 marginal JS heap per connection (slope between ${marginal.fromPeers} and ${marginal.toPeers} peers: one-time costs left out), beside the heap per connection it comes from`,
      unit: 'KiB',
      srmudp: marginal.bytesPerConn / 1024,
      reference: ps.heapBytesPerConn / 1024,
      referenceName: `P4 heap per connection at ${ps.peers} peers (one-time costs included)`,
    });
  }
  if (ps && small) {
    line({
      id: 'P4.idlecpu.scaling',
      figure: `P4 idle CPU per connection at ${ps.peers} peers vs at ${small.peers} (flat = O(1) per connection)`,
      unit: 'µs CPU/conn/s',
      srmudp: ps.idleCpuUsPerConnPerSec,
      reference: small.idleCpuUsPerConnPerSec,
      referenceName: `srmudp at ${small.peers} peers`,
    });
  }
  return out;
}

export function pythonComparison(p1: P1Result | null): Report['python'] {
  const s = p1?.rows.find((x) => x.proto === 'srmudp' && x.runs.length > 0);
  if (!s) return null;
  const mbit = (s.goodputMBps.median * MB * 8) / 1e6;
  return { quotedMbit: PYTHON_QUOTED_MBIT, srmudpMbit: mbit, ratio: mbit / PYTHON_QUOTED_MBIT };
}
