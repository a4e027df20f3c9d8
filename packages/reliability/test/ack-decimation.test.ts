import { PAIR_A, PAIR_B, pair } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import {
  ACK_DECIMATION_AFTER,
  ACK_DECIMATION_THRESHOLD,
  AckTracker,
  IMMEDIATE_AFTER_GAP,
} from '../src/ack-tracker.js';
import { ConnNode } from './helpers/sim-conn.js';

// ACK decimation (Chromium/quiche's default): past the connection's first 100 ack-eliciting
// packets, one ACK per 10 of them or after min(max_ack_delay, min_rtt / 4), with immediate ACKs
// kept for reordering, new gaps and PINGs.

/** Feeds `n` in-order ack-eliciting packets 0.1 ms apart from `start` (min_rtt 40 ms: 400 per
 * min_rtt), sending ACKs when due; returns how many ACKs went out. */
function feed(a: AckTracker, from: number, n: number, start: number): number {
  let acks = 0;
  for (let i = 0; i < n; i++) {
    const now = start + i * 0.1;
    a.onPacket(now, from + i, true, false, 40);
    if (a.shouldSend(now)) {
      a.onAckSent();
      acks++;
    }
  }
  return acks;
}

describe('AckTracker: ACK decimation', () => {
  it('every second packet at first, every tenth after ACK_DECIMATION_AFTER, sooner on gaps, PINGs and small windows', () => {
    const a = new AckTracker(25);
    const acksBefore = feed(a, 0, ACK_DECIMATION_AFTER, 0);
    expect(acksBefore).toBeGreaterThanOrEqual(ACK_DECIMATION_AFTER / 2);
    a.onAckSent();
    const n = ACK_DECIMATION_AFTER;
    expect(feed(a, n, 10 * ACK_DECIMATION_THRESHOLD, 100)).toBe(10);

    // below the threshold the delay is min(max_ack_delay, min_rtt / 4): 40 ms min_rtt -> 10 ms
    let pn = n + 10 * ACK_DECIMATION_THRESHOLD;
    a.onPacket(1000, pn++, true, false, 40);
    expect(a.shouldSend(1000)).toBe(false);
    expect(a.deadline).toBe(1010);
    expect(a.shouldSend(1010)).toBe(true);
    a.onAckSent();
    // a long path: max_ack_delay still bounds it (the peer's PTO counts on that)
    a.onPacket(1100, pn++, true, false, 400);
    expect(a.deadline).toBe(1125);
    a.onAckSent();
    // a tiny min_rtt: at least the 1 ms timer granularity
    a.onPacket(1200, pn++, true, false, 0.2);
    expect(a.deadline).toBe(1201);
    a.onAckSent();

    // a small window (few packets per min_rtt): at least ACKS_PER_RTT ACKs per min_rtt, so
    // every second packet at 2 per 40 ms, every fifth at 20 per 40 ms
    a.onPacket(1300, pn++, true, false, 40);
    a.onPacket(1301, pn++, true, false, 40);
    expect(a.shouldSend(1301)).toBe(true);
    a.onAckSent();
    // the rate is known after a min_rtt: still every second packet for the first 40 ms
    expect(feed(a, pn, 400, 1400)).toBe(200);
    pn += 400;
    expect(feed(a, pn, 400, 1440)).toBe(40);
    pn += 400;
    // a sender whose window is 20 packets sends them in bursts of 5 every 10 ms: after a min_rtt
    // each burst is acknowledged at its 5th packet instead of waiting for the timer
    for (let burst = 0; burst < 12; burst++) {
      const t = 1500 + burst * 10;
      for (let i = 1; i <= 5; i++) {
        a.onPacket(t, pn++, true, false, 40);
        if (burst >= 5) expect(a.shouldSend(t)).toBe(i === 5);
      }
      a.onAckSent();
    }

    // PING: at once
    a.onPacket(2000, pn++, true, true, 40);
    expect(a.shouldSend(2000)).toBe(true);
    a.onAckSent();

    // a gap: the packet past it and the next IMMEDIATE_AFTER_GAP - 1 are acknowledged at once,
    // so the sender's packet threshold (3) declares the hole lost without waiting
    pn++; // lost
    for (let i = 0; i < IMMEDIATE_AFTER_GAP; i++) {
      a.onPacket(2100, pn++, true, false, 40);
      expect(a.shouldSend(2100)).toBe(true);
      a.onAckSent();
    }
    a.onPacket(2100, pn++, true, false, 40);
    expect(a.shouldSend(2100)).toBe(false);
    // reordering (a packet below the largest) still triggers an immediate ACK
    a.onPacket(2101, pn + 1, true, false, 40);
    a.onAckSent();
    a.onPacket(2102, pn, true, false, 40);
    expect(a.shouldSend(2102)).toBe(true);
  });
});

interface Transfer {
  doneMs: number;
  dataPackets: number;
  receiverPackets: number;
  lost: number;
  spurious: number;
}

/** One stream of `bytes` over a 20 Mbit/s path of `rttMs` with random `loss` (BBR); `decimate`
 * false keeps the receiver at one ACK per two packets, for comparison in the same run. */
function transfer(bytes: number, rttMs: number, loss: number, seed: number, decimate: boolean): Transfer {
  let got = 0;
  let written = 0;
  let doneMs = -1;
  const { net, a, b } = pair({
    seed,
    ab: { bandwidthBps: 20e6, latencyMs: rttMs / 2, loss, queueBytes: 256 * 1024 },
    ba: { latencyMs: rttMs / 2 },
    a: () => new ConnNode(PAIR_B, { role: 'initiator', now: 0, maxUdpPayload: 1472 }),
    b: () => new ConnNode(PAIR_A, { role: 'responder', now: 0, maxUdpPayload: 1472 }),
  });
  if (!decimate) b.conn.acks.decimateAfter = Number.POSITIVE_INFINITY;
  const chunk = new Uint8Array(64 * 1024);
  let id = -1;
  a.keepEvents = false;
  b.keepEvents = false;
  a.app = (node) => {
    if (id < 0) id = node.conn.openStream();
    while (written < bytes) {
      const n = node.conn.write(id, chunk.subarray(0, Math.min(chunk.length, bytes - written)));
      written += n;
      if (n === 0) break;
    }
  };
  b.app = (node, now) => {
    for (const s of node.conn.streamIds()) {
      for (let r = node.conn.read(now, s); r !== null; r = node.conn.read(now, s)) got += r.length;
    }
    if (got >= bytes && doneMs < 0) doneMs = now;
  };
  for (let t = 0; t < 60_000 && doneMs < 0; t += 100) {
    net.drive({ untilTime: t + 100, maxSteps: Number.POSITIVE_INFINITY });
  }
  const sa = a.conn.stats();
  return {
    doneMs,
    dataPackets: sa.packetsSent,
    receiverPackets: b.conn.stats().packetsSent,
    lost: sa.packetsLost,
    spurious: sa.spuriousLosses,
  };
}

describe('ACK decimation end to end (simulated 20 Mbit/s, 40 ms path, BBR)', () => {
  it('a long lossless transfer sends about one ACK datagram per ten data packets, no slower', () => {
    const before = transfer(8 << 20, 40, 0, 1, false);
    const after = transfer(8 << 20, 40, 0, 1, true);
    expect(before.doneMs).toBeGreaterThan(0);
    expect(after.doneMs).toBeGreaterThan(0);
    // one per two data packets without decimation
    expect(before.receiverPackets / before.dataPackets).toBeGreaterThan(0.45);
    expect(after.receiverPackets / after.dataPackets).toBeLessThan(0.2);
    expect(after.doneMs).toBeLessThanOrEqual(before.doneMs);
    expect(after.lost).toBe(0);
  });

  it('lossy transfers (1% and 2%) complete as fast, without spurious retransmits', () => {
    let doneBefore = 0;
    let doneAfter = 0;
    for (const loss of [0.01, 0.02]) {
      for (let seed = 1; seed <= 8; seed++) {
        const before = transfer(4 << 20, 40, loss, seed, false);
        const after = transfer(4 << 20, 40, loss, seed, true);
        expect(after.doneMs).toBeGreaterThan(0);
        expect(after.lost).toBeGreaterThan(0);
        expect(after.spurious).toBeLessThanOrEqual(before.spurious);
        expect(after.receiverPackets).toBeLessThan(0.6 * before.receiverPackets);
        doneBefore += before.doneMs;
        doneAfter += after.doneMs;
      }
    }
    // one run varies by about 2% with the seed (where BBR's phases meet the losses); the sum
    // over 16 stays within 0.5% (measured 0.1% slower against per-2 ACKs with the gap rule,
    // 0.2% faster than before this change)
    expect(doneAfter).toBeLessThanOrEqual(1.005 * doneBefore);
  });
});
