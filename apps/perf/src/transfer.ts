/**
 * Drives one single-stream transfer between a sink and a source worker (stream-sink.ts,
 * stream-source.ts), on loopback or inside the NAT lab.
 */
import type { Msg, WorkerHandle } from './proc.js';
import { sleep } from './stats.js';

export interface SizedTransferResult {
  bytes: number;
  /** sink: first byte to last byte */
  seconds: number;
  /** source start (before connect) to the sink's last byte */
  totalSeconds: number;
  goodputBps: number;
  cpuSecSender: number;
  cpuSecReceiver: number;
  peakRssSender: number;
  peakRssReceiver: number;
  /** srmudp only: the sender's connection stats at the end */
  senderStats: Record<string, unknown> | null;
  /** srmudp only: the sender socket's counters at the end (@srmudp/transport-node's stats()) */
  senderTransport: Record<string, unknown> | null;
  /** srmudp only: the receiver socket's counters at the end */
  receiverTransport: Record<string, unknown> | null;
  /** srmudp only: datagrams the receiver's connection took in (data packets, authenticated) */
  packetsReceivedByReceiver: number | null;
  /** the crypto backend that sealed (srmudp: the receiver's, which equals the sender's unless
   * forced apart; the sealed floor: its backend); null when no srmudp crypto ran */
  backend: string | null;
}

async function introduce(sink: WorkerHandle, src: WorkerHandle, proto: string): Promise<Msg> {
  const ready = await sink.next((m) => m.t === 'ready', 30_000);
  const sready = await src.next((m) => m.t === 'ready', 30_000);
  if (proto === 'udx' || proto === 'hyperswarm') {
    sink.send({ t: 'peer', host: sready.host, port: sready.port, id: sready.id });
    await sink.next((m) => m.t === 'peered');
  }
  sink.send({ t: 'arm' });
  await sink.next((m) => m.t === 'armed');
  return ready;
}

/** Size-bounded: `bytes` from source to sink; goodput over the sink's first..last byte. */
export async function sizedTransfer(
  sink: WorkerHandle,
  src: WorkerHandle,
  proto: string,
  bytes: number,
): Promise<SizedTransferResult> {
  const ready = await introduce(sink, src, proto);
  src.send({ ...ready, t: 'go' });
  const connected = await src.next((m) => m.t === 'connected', 30_000);
  const done = await awaitDone(sink, src, bytes);
  src.send({ t: 'report' });
  const rep = await src.next((m) => m.t === 'report', 10_000);
  const seconds = (Number(done.lastAt) - Number(done.firstAt)) / 1000;
  return {
    bytes: Number(done.bytes),
    seconds,
    totalSeconds: (Number(done.lastAt) - Number(connected.startAt)) / 1000,
    goodputBps: Number(done.bytes) / seconds,
    cpuSecSender: Number(rep.cpuSec),
    cpuSecReceiver: Number(done.cpuSec),
    peakRssSender: Number(rep.peakRss),
    peakRssReceiver: Number(done.peakRss),
    senderStats: (rep.stats as Record<string, unknown> | null) ?? null,
    senderTransport: (rep.transport as Record<string, unknown> | null) ?? null,
    receiverTransport: (done.transport as Record<string, unknown> | null) ?? null,
    packetsReceivedByReceiver: typeof done.packetsReceived === 'number' ? done.packetsReceived : null,
    backend: typeof ready.backend === 'string' ? ready.backend : null,
  };
}

const STALL_CHECK_MS = 5_000;
/** no new byte at the receiver for this long = the transfer stalled */
const STALL_MS = 15_000;

/**
 * Waits for the sink's `done`, checking progress every few seconds: a transfer that makes no
 * progress for STALL_MS fails with both ends' state (for the report and for debugging).
 */
async function awaitDone(sink: WorkerHandle, src: WorkerHandle, bytes: number): Promise<Msg> {
  let last = -1;
  let lastChange = performance.now();
  const isTimeout = (err: unknown) => /timeout|no matching message/i.test(String((err as Error).message));
  for (;;) {
    try {
      return await sink.next((m) => m.t === 'done', STALL_CHECK_MS);
    } catch (err) {
      if (!isTimeout(err)) throw err;
    }
    sink.send({ t: 'sample' });
    const s = await sink.next((m) => m.t === 'sample', 10_000);
    const got = Number(s.bytes);
    if (got !== last) {
      last = got;
      lastChange = performance.now();
      continue;
    }
    if (performance.now() - lastChange < STALL_MS) continue;
    src.send({ t: 'report' });
    const rep = await src.next((m) => m.t === 'report', 10_000).catch(() => null);
    const st = (rep?.stats ?? null) as Record<string, unknown> | null;
    const brief = st
      ? Object.entries(st)
          .filter(([k]) => k !== 'path')
          .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 100) / 100 : JSON.stringify(v)}`)
          .join(' ')
      : 'n/a';
    const rst = (s.stats ?? null) as Record<string, unknown> | null;
    const rbrief = rst
      ? ['bytesReceived', 'bytesSent', 'packetsReceived', 'packetsSent', 'drops']
          .map((k) => `${k}=${JSON.stringify(rst[k])}`)
          .join(' ')
      : 'n/a';
    throw new Error(
      `stalled: receiver at ${got} of ${bytes} bytes with no progress for ${STALL_MS / 1000} s; ` +
        `sender connection: ${brief}; sender stream: ${JSON.stringify(rep?.writable ?? null)}; ` +
        `receiver connection: ${rbrief}; receiver stream: ${JSON.stringify(s.readable ?? null)}`,
    );
  }
}

export interface TimedTransferResult {
  /** goodput over the measurement window (after warm-up) */
  goodputBps: number;
  windowSeconds: number;
  windowBytes: number;
  /** bytes over the whole run, from the first byte */
  totalBytes: number;
  senderStats: Record<string, unknown> | null;
}

/** Time-bounded: the source writes until killed; goodput = bytes the sink got in [warm-up, warm-up + window]. */
export async function timedTransfer(
  sink: WorkerHandle,
  src: WorkerHandle,
  proto: string,
  warmupMs: number,
  windowMs: number,
  /** runs at the start of the measurement window (e.g. to inspect the sender's socket) */
  onWindow?: () => Promise<void>,
): Promise<TimedTransferResult> {
  const ready = await introduce(sink, src, proto);
  src.send({ ...ready, t: 'go' });
  await src.next((m) => m.t === 'connected', 30_000);
  await sink.next((m) => m.t === 'first', 30_000);
  await sleep(warmupMs);
  sink.send({ t: 'sample' });
  const s1 = await sink.next((m) => m.t === 'sample', 10_000);
  const t1 = performance.now();
  await onWindow?.();
  await sleep(Math.max(0, windowMs - (performance.now() - t1)));
  sink.send({ t: 'sample' });
  const s2 = await sink.next((m) => m.t === 'sample', 10_000);
  src.send({ t: 'report' });
  const rep = await src.next((m) => m.t === 'report', 10_000);
  const windowBytes = Number(s2.bytes) - Number(s1.bytes);
  const windowSeconds = (Number(s2.at) - Number(s1.at)) / 1000;
  return {
    goodputBps: windowBytes / windowSeconds,
    windowSeconds,
    windowBytes,
    totalBytes: Number(s2.bytes),
    senderStats: (rep.stats as Record<string, unknown> | null) ?? null,
  };
}
