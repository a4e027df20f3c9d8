import { dumbbell, type LinkConfig } from '@srmudp/sim';
import type { CongestionChoice } from '../../src/index.js';
import { BatchingNode } from './batching-node.js';
import { ConnNode } from './sim-conn.js';

export interface GoodputOptions {
  congestion: CongestionChoice;
  bandwidthBps: number;
  rttMs: number;
  loss?: number;
  /** extra one-way delay U[0, jitterMs] per packet on the bottleneck (reorders packets) */
  jitterMs?: number;
  flows?: number;
  /** simulated ms before measuring (slow start) */
  warmupMs: number;
  /** simulated ms measured */
  measureMs: number;
  /** later flows start this much later each (ms) */
  staggerMs?: number;
  seed?: number;
  queueBytes?: number;
  /** the receivers read datagrams in batches every this many ms (ACK aggregation, see BatchingNode) */
  receiverBatchMs?: number;
  /** the senders read datagrams (ACKs) in batches every this many ms */
  senderBatchMs?: number;
}

export interface GoodputResult {
  /** per-flow goodput in bits per second over the measured window */
  flowsBps: number[];
  totalBps: number;
  /** fraction of the link rate */
  utilization: number;
  /** largest smoothed RTT minus min RTT seen by flow 0 during the window, ms (queueing delay) */
  maxQueueDelayMs: number;
  lossRate: number[];
  /** flow 0's packets declared lost then acknowledged, and its final reordering threshold */
  spuriousLosses: number;
  reorderingThreshold: number;
  /** flow 0's sender at the end: congestion window (bytes), smoothed and minimum RTT (ms) */
  cwnd: number;
  srttMs: number;
  minRttMs: number;
}

const CHUNK = new Uint8Array(64 * 1024);

/** Bulk transfer over a dumbbell: N senders share one bottleneck; receivers read everything. */
export function measureGoodput(o: GoodputOptions): GoodputResult {
  const flows = o.flows ?? 1;
  const oneWay = o.rttMs / 2;
  const bottleneck: LinkConfig = { bandwidthBps: o.bandwidthBps, latencyMs: oneWay, loss: o.loss ?? 0 };
  if (o.queueBytes !== undefined) bottleneck.queueBytes = o.queueBytes;
  if (o.jitterMs !== undefined) bottleneck.jitterMs = o.jitterMs;
  const received = new Array<number>(flows).fill(0);
  const senders: ConnNode[] = [];
  const { net } = dumbbell({
    seed: o.seed ?? 1,
    bottleneck,
    reverse: { latencyMs: oneWay },
    flows: Array.from({ length: flows }, (_, i) => ({
      sender: (_net, to) => {
        const n = new ConnNode(to, {
          role: 'initiator',
          now: 0,
          congestion: o.congestion,
          maxUdpPayload: 1472,
          limits: { streamSendBuffer: 8 << 20, sendBuffer: 16 << 20 },
        });
        n.keepEvents = false;
        let id = -1;
        const start = (o.staggerMs ?? 0) * i;
        n.app = (node, now) => {
          if (now < start) return;
          if (id < 0) id = node.conn.openStream();
          for (let k = 0; k < 64; k++) if (node.conn.write(id, CHUNK) < CHUNK.length) break;
        };
        senders.push(n);
        return o.senderBatchMs === undefined ? n : new BatchingNode(n, o.senderBatchMs);
      },
      receiver: (_net, to) => {
        const n = new ConnNode(to, {
          role: 'responder',
          now: 0,
          congestion: o.congestion,
          maxUdpPayload: 1472,
        });
        n.keepEvents = false;
        const ids: number[] = [];
        n.onEvent = (ev) => {
          if (ev.type === 'stream_opened') ids.push(ev.streamId);
        };
        n.app = (node, now) => {
          for (const id of ids) {
            for (;;) {
              const r = node.conn.read(now, id);
              if (r === null) break;
              received[i]! += r.length;
            }
          }
        };
        return o.receiverBatchMs === undefined ? n : new BatchingNode(n, o.receiverBatchMs);
      },
    })),
  });
  // flows start together or staggered; the sender's first pollTransmit runs its app
  for (const s of senders) {
    const orig = s.pollTimeout.bind(s);
    const start = (o.staggerMs ?? 0) * senders.indexOf(s);
    s.pollTimeout = () => {
      const t = orig();
      if (net.now < start) return t === null ? start : Math.min(t, start);
      return t;
    };
  }
  net.drive({ untilTime: o.warmupMs, maxSteps: Number.POSITIVE_INFINITY });
  const before = received.slice();
  let maxQueue = 0;
  const step = 50;
  for (let t = o.warmupMs; t < o.warmupMs + o.measureMs; t += step) {
    net.drive({ untilTime: t + step, maxSteps: Number.POSITIVE_INFINITY });
    const st = senders[0]!.conn.stats();
    maxQueue = Math.max(maxQueue, st.rttMs - o.rttMs);
  }
  const flowsBps = received.map((r, i) => ((r - before[i]!) * 8 * 1000) / o.measureMs);
  const totalBps = flowsBps.reduce((a, b) => a + b, 0);
  const last = senders[0]!.conn.stats();
  return {
    flowsBps,
    totalBps,
    utilization: totalBps / o.bandwidthBps,
    maxQueueDelayMs: maxQueue,
    lossRate: senders.map((s) => s.conn.stats().lossRate),
    spuriousLosses: senders[0]?.conn.stats().spuriousLosses ?? 0,
    reorderingThreshold: senders[0]?.conn.stats().reorderingThreshold ?? 0,
    cwnd: last.cwnd,
    srttMs: last.srttMs,
    minRttMs: last.minRttMs,
  };
}
