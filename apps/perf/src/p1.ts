/**
 * P1: single-stream goodput between two processes on loopback: srmudp (with each crypto backend)
 * vs Hyperswarm's encrypted stream vs udx-native vs Node TCP, and the datagram floors.
 */
import { LocalWorker, workerPath } from './proc.js';
import { MB, type Summary, summarize } from './stats.js';
import { type SizedTransferResult, sizedTransfer } from './transfer.js';

export type P1Proto =
  | 'srmudp'
  | 'srmudp-node'
  | 'srmudp-noble'
  | 'hyperswarm'
  | 'udx'
  | 'tcp'
  | 'sealed-udp'
  | 'raw-udp';

export const P1_PROTOS: readonly P1Proto[] = [
  'srmudp',
  'srmudp-node',
  'srmudp-noble',
  'hyperswarm',
  'udx',
  'tcp',
  'sealed-udp',
  'raw-udp',
];

/** The worker's --proto and extra arguments of each P1 implementation. */
const WORKER: Record<P1Proto, string[]> = {
  srmudp: ['--proto', 'srmudp'], // the façade's automatic backend choice
  'srmudp-node': ['--proto', 'srmudp', '--crypto', 'node'],
  'srmudp-noble': ['--proto', 'srmudp', '--crypto', 'noble'],
  hyperswarm: ['--proto', 'hyperswarm'],
  udx: ['--proto', 'udx'],
  tcp: ['--proto', 'tcp'],
  'sealed-udp': ['--proto', 'sealed-udp'],
  'raw-udp': ['--proto', 'raw-udp'],
};

export interface P1Row {
  proto: P1Proto;
  label: string;
  runs: SizedTransferResult[];
  goodputMBps: Summary;
  /** CPU seconds (sender + receiver) per MB delivered */
  cpuSecPerMB: Summary;
  peakRssSenderMiB: Summary;
  peakRssReceiverMiB: Summary;
  /** the crypto backend that ran (srmudp rows and the sealed floor), null otherwise */
  backend: string | null;
  /** srmudp rows: CPU µs per data packet: sender CPU ÷ packets it sent, receiver CPU ÷ packets it took in */
  cpuUsPerPacketSender: Summary | null;
  cpuUsPerPacketReceiver: Summary | null;
  /** runs that failed (stalled, crashed), with the reason; the figures are over the others */
  failures: string[];
  error?: string;
}

export interface P1Result {
  bytes: number;
  repeat: number;
  /** srmudp's path MTU (UDP payload bytes) at the end of the transfer */
  srmudpPmtu: number | null;
  /** srmudp's sender socket in its last run: datagrams sent, those sent segmented (UDP GSO) and
   * the sendmsg calls that carried them; null when not reported */
  srmudpGso: { sent: number; datagrams: number; sends: number } | null;
  /** the receiver's batched receive (recvmmsg) in the last srmudp run, null when not reported;
   * `coalesced`: those of its datagrams that arrived several to one read (UDP_GRO), null when the
   * transport does not report it */
  srmudpRecvBatch: { received: number; datagrams: number; batches: number; coalesced: number | null } | null;
  rows: P1Row[];
}

const LABELS: Record<P1Proto, string> = {
  srmudp: "srmudp (default congestion control, Noise + ChaCha20-Poly1305, the façade's backend choice)",
  'srmudp-node': 'srmudp with the node:crypto backend',
  'srmudp-noble': 'srmudp with the noble backend (pure JavaScript)',
  hyperswarm: 'Hyperswarm: udx-native stream + @hyperswarm/secret-stream (Noise XX, XChaCha20-Poly1305)',
  udx: 'udx-native (no encryption)',
  tcp: 'Node TCP (net, kernel TCP over loopback)',
  'sealed-udp':
    "floor: node:dgram + srmudp's AEAD backend, ChaCha20-Poly1305 per 1,452-byte datagram, no protocol (open loop)",
  'raw-udp': 'floor: node:dgram, 1,452-byte datagrams, no encryption, no protocol (open loop)',
};

export async function transferOnce(
  proto: P1Proto,
  bytes: number,
  nodeArgs: string[] = [],
  /** environment per role (PERF_CPU_PROFILE: profile the transfer window into that file) */
  env: { sink?: Record<string, string>; source?: Record<string, string> } = {},
) {
  const args = [...WORKER[proto], '--bytes', String(bytes)];
  const sink = new LocalWorker(workerPath('stream-sink'), args, nodeArgs, env.sink);
  const src = new LocalWorker(workerPath('stream-source'), args, nodeArgs, env.source);
  try {
    return await sizedTransfer(sink, src, WORKER[proto][1] as string, bytes);
  } finally {
    await Promise.all([sink.kill(), src.kill()]);
  }
}

export async function runP1(opts: {
  bytes: number;
  repeat: number;
  protos?: P1Proto[];
  log?: (s: string) => void;
}): Promise<P1Result> {
  const protos = opts.protos ?? [...P1_PROTOS];
  const runs = new Map<P1Proto, SizedTransferResult[]>(protos.map((p) => [p, []]));
  const failures = new Map<P1Proto, string[]>(protos.map((p) => [p, []]));
  // interleave protocols so a change in machine load hits all of them alike
  for (let i = 0; i < opts.repeat; i++) {
    for (const proto of protos) {
      try {
        const r = await transferOnce(proto, opts.bytes);
        runs.get(proto)?.push(r);
        opts.log?.(`P1 ${proto} run ${i + 1}: ${(r.goodputBps / MB).toFixed(1)} MB/s`);
      } catch (err) {
        const msg = String((err as Error).message ?? err);
        failures.get(proto)?.push(msg);
        opts.log?.(`P1 ${proto} run ${i + 1} failed: ${msg}`);
      }
    }
  }
  // a failed run is not a figure: measure more runs (up to `repeat` extra) so the median has `repeat` runs
  for (const proto of protos) {
    for (let extra = 0; (runs.get(proto)?.length ?? 0) < opts.repeat && extra < opts.repeat; extra++) {
      try {
        const r = await transferOnce(proto, opts.bytes);
        runs.get(proto)?.push(r);
        opts.log?.(`P1 ${proto} extra run: ${(r.goodputBps / MB).toFixed(1)} MB/s`);
      } catch (err) {
        const msg = String((err as Error).message ?? err);
        failures.get(proto)?.push(msg);
        opts.log?.(`P1 ${proto} extra run failed: ${msg}`);
      }
    }
  }
  const rows = protos.map((proto): P1Row => {
    const rs = runs.get(proto) ?? [];
    const fails = failures.get(proto) ?? [];
    return {
      proto,
      label: LABELS[proto],
      runs: rs,
      goodputMBps: summarize(rs.map((r) => r.goodputBps / MB)),
      cpuSecPerMB: summarize(rs.map((r) => (r.cpuSecSender + r.cpuSecReceiver) / (r.bytes / MB))),
      peakRssSenderMiB: summarize(rs.map((r) => r.peakRssSender / 2 ** 20)),
      peakRssReceiverMiB: summarize(rs.map((r) => r.peakRssReceiver / 2 ** 20)),
      backend: rs.find((r) => r.backend !== null)?.backend ?? null,
      ...perPacket(proto, rs),
      failures: fails,
      ...(rs.length === 0 ? { error: fails[0] ?? 'no run' } : {}),
    };
  });
  const s = runs.get('srmudp')?.at(-1)?.senderStats ?? runs.get('srmudp-node')?.at(-1)?.senderStats;
  return {
    bytes: opts.bytes,
    repeat: opts.repeat,
    srmudpPmtu: typeof s?.pmtu === 'number' ? s.pmtu : null,
    srmudpGso: countersOf(runs.get('srmudp')?.at(-1)?.senderTransport ?? null, {
      sent: 'sent',
      datagrams: 'gsoDatagrams',
      sends: 'gsoSends',
    }),
    srmudpRecvBatch: recvBatchOf(runs.get('srmudp')?.at(-1)?.receiverTransport ?? null),
    rows,
  };
}

/** The receiver's batched-receive counters, with the coalesced ones when the transport has them. */
function recvBatchOf(t: Record<string, unknown> | null): P1Result['srmudpRecvBatch'] {
  const c = countersOf(t, { received: 'received', datagrams: 'recvBatchDatagrams', batches: 'recvBatches' });
  if (c === null) return null;
  const coalesced = countersOf(t, { n: 'recvCoalesced' });
  return { ...c, coalesced: coalesced?.n ?? null };
}

/**
 * Picks counters out of a transport's stats() (a worker's message: untyped), renamed by `names`
 * (wanted name → stats name); null unless every one of them is a number.
 */
function countersOf<K extends string>(
  t: Record<string, unknown> | null,
  names: Record<K, string>,
): Record<K, number> | null {
  if (t === null) return null;
  const out = {} as Record<K, number>;
  for (const [k, from] of Object.entries(names) as [K, string][]) {
    const v = t[from];
    if (typeof v !== 'number') return null;
    out[k] = v;
  }
  return out;
}

/** CPU µs per data packet on each side (srmudp rows; null where a run lacks the counts). */
function perPacket(
  proto: P1Proto,
  rs: SizedTransferResult[],
): Pick<P1Row, 'cpuUsPerPacketSender' | 'cpuUsPerPacketReceiver'> {
  if (!proto.startsWith('srmudp')) return { cpuUsPerPacketSender: null, cpuUsPerPacketReceiver: null };
  const sent = rs.filter((r) => typeof r.senderStats?.packetsSent === 'number');
  const recv = rs.filter((r) => r.packetsReceivedByReceiver !== null);
  return {
    cpuUsPerPacketSender: sent.length
      ? summarize(sent.map((r) => (r.cpuSecSender * 1e6) / (r.senderStats?.packetsSent as number)))
      : null,
    cpuUsPerPacketReceiver: recv.length
      ? summarize(recv.map((r) => (r.cpuSecReceiver * 1e6) / (r.packetsReceivedByReceiver as number)))
      : null,
  };
}
