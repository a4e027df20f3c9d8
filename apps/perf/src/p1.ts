/** P1: single-stream goodput between two processes on loopback: srmudp vs udx-native vs Node TCP. */
import { LocalWorker, workerPath } from './proc.js';
import { MB, type Summary, summarize } from './stats.js';
import { type SizedTransferResult, sizedTransfer } from './transfer.js';

export type P1Proto = 'srmudp' | 'udx' | 'tcp';

export interface P1Row {
  proto: P1Proto;
  label: string;
  runs: SizedTransferResult[];
  goodputMBps: Summary;
  /** CPU seconds (sender + receiver) per MB delivered */
  cpuSecPerMB: Summary;
  peakRssSenderMiB: Summary;
  peakRssReceiverMiB: Summary;
  error?: string;
}

export interface P1Result {
  bytes: number;
  repeat: number;
  /** srmudp's path MTU (UDP payload bytes) at the end of the transfer */
  srmudpPmtu: number | null;
  rows: P1Row[];
}

const LABELS: Record<P1Proto, string> = {
  srmudp: 'srmudp (default congestion control, Noise + ChaCha20-Poly1305)',
  udx: 'udx-native (no encryption)',
  tcp: 'Node TCP (net, kernel TCP over loopback)',
};

export async function transferOnce(
  proto: P1Proto,
  bytes: number,
  nodeArgs: string[] = [],
  perRole: { sink?: string[]; source?: string[] } = {},
) {
  const args = ['--proto', proto, '--bytes', String(bytes)];
  const sink = new LocalWorker(workerPath('stream-sink'), args, [...nodeArgs, ...(perRole.sink ?? [])]);
  const src = new LocalWorker(workerPath('stream-source'), args, [...nodeArgs, ...(perRole.source ?? [])]);
  try {
    return await sizedTransfer(sink, src, proto, bytes);
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
  const protos = opts.protos ?? ['srmudp', 'udx', 'tcp'];
  const runs = new Map<P1Proto, SizedTransferResult[]>(protos.map((p) => [p, []]));
  const errors = new Map<P1Proto, string>();
  // interleave protocols so a change in machine load hits all of them alike
  for (let i = 0; i < opts.repeat; i++) {
    for (const proto of protos) {
      if (errors.has(proto)) continue;
      try {
        const r = await transferOnce(proto, opts.bytes);
        runs.get(proto)?.push(r);
        opts.log?.(`P1 ${proto} run ${i + 1}: ${(r.goodputBps / MB).toFixed(1)} MB/s`);
      } catch (err) {
        errors.set(proto, String((err as Error).message ?? err));
        opts.log?.(`P1 ${proto} failed: ${errors.get(proto)}`);
      }
    }
  }
  const rows = protos.map((proto): P1Row => {
    const rs = runs.get(proto) ?? [];
    const err = errors.get(proto);
    return {
      proto,
      label: LABELS[proto],
      runs: rs,
      goodputMBps: summarize(rs.map((r) => r.goodputBps / MB)),
      cpuSecPerMB: summarize(rs.map((r) => (r.cpuSecSender + r.cpuSecReceiver) / (r.bytes / MB))),
      peakRssSenderMiB: summarize(rs.map((r) => r.peakRssSender / 2 ** 20)),
      peakRssReceiverMiB: summarize(rs.map((r) => r.peakRssReceiver / 2 ** 20)),
      ...(err ? { error: err } : {}),
    };
  });
  const s = runs.get('srmudp')?.at(-1)?.senderStats;
  return {
    bytes: opts.bytes,
    repeat: opts.repeat,
    srmudpPmtu: typeof s?.pmtu === 'number' ? s.pmtu : null,
    rows,
  };
}
