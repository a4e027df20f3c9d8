import { type AckFrame, decodeFrames, encodeFrames } from '@srmudp/wire';
import { describe, expect, it, vi } from 'vitest';
import { AckTracker, IMMEDIATE_FIRST } from '../src/ack-tracker.js';
import { congestionFactory as resolveFactory } from '../src/config.js';
import { DeliveryRateSampler } from '../src/delivery-rate.js';
import { ProtocolError } from '../src/errors.js';
import {
  BASE_PLPMTU,
  bbr,
  CONGESTION_CONTROLLERS,
  type CongestionControllerFactory,
  type CongestionControllerOptions,
  congestionFactory,
  cubic,
  newReno,
  ReliableConnection,
  Timer,
} from '../src/index.js';
import { INITIAL_SEND_TIMES, LossRecovery, type RecoveryHost, sendTimeLimit } from '../src/loss-recovery.js';
import {
  ACKS_AT,
  CONNECTION_AT,
  CONNECTION_SLOTS,
  LIVENESS_AT,
  numericSlots,
  PACER_AT,
  PATH_AT,
  PATH_SLOTS,
  PMTUD_AT,
  RATE_AT,
  RECOVERY_AT,
  RTT_AT,
  TIMERS_AT,
} from '../src/numeric-slots.js';
import { Pacer } from '../src/pacer.js';
import { BLACK_HOLE_LOSSES, PathState } from '../src/paths.js';
import { RttEstimator } from '../src/rtt.js';
import { SentFrame, SentKind, SentPacket } from '../src/sent-packet.js';
import { Counters } from '../src/stats.js';
import { TIMER_NAMES, TimerTable } from '../src/timers.js';
import { Pair } from './helpers/pair.js';

const PATH_CONFIG = { initialRtt: 100, maxUdpPayload: 1472, congestion: newReno, log: null };

function ack(...ranges: [number, number][]): AckFrame {
  return { type: 'ack', delay: 0, ranges: ranges.map(([start, end]) => ({ start, end })) };
}

describe('TimerTable', () => {
  it('next() is the earliest armed deadline; stop/stopAll disarm; armed() lists them by name', () => {
    const t = new TimerTable();
    expect(t.next()).toBeNull();
    t.set(Timer.Idle, 30_000);
    t.set(Timer.Ack, 25);
    t.set(Timer.Pacing, 3);
    expect(t.next()).toBe(3);
    expect(t.armed()).toEqual([
      { timer: 'Pacing', at: 3 },
      { timer: 'Ack', at: 25 },
      { timer: 'Idle', at: 30_000 },
    ]);
    expect(t.expired(Timer.Ack, 24)).toBe(false);
    expect(t.expired(Timer.Ack, 25)).toBe(true);
    expect(t.expired(Timer.KeepAlive, 1e12)).toBe(false); // not armed
    t.stop(Timer.Pacing);
    expect(t.next()).toBe(25);
    t.stopAll();
    expect(t.next()).toBeNull();
  });
});

describe('ReliableConnection timers', () => {
  it('pollTimeout() is the earliest of the named timers, and only Close is armed while closing', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0, overhead: 8 });
    const id = c.openStream();
    c.write(id, new Uint8Array(3000));
    while (c.pollTransmit(0) !== null) {}
    const armed = c.armedTimers();
    const names = armed.map((a) => a.timer);
    expect(names).toContain('LossDetection');
    expect(names).toContain('Idle');
    expect(names).toContain('KeepAlive');
    expect(c.pollTimeout()).toBe(armed[0]!.at);
    expect(armed.find((a) => a.timer === 'KeepAlive')!.at).toBe(15_000);
    c.close(5, 0x101, 'done');
    const closing = c.armedTimers();
    expect(closing.map((a) => a.timer)).toEqual(['Close']);
    expect(c.pollTimeout()).toBe(closing[0]!.at);
  });

  it('close(now) after an idle period: the closing period starts at now, so CLOSE is still sent', () => {
    // quiet connection (no keepalive, no idle timeout): the last input is long before the close
    const opts = { keepaliveMs: 0, idleTimeoutMs: 0 };
    const p = new Pair(5, opts, opts);
    const id = p.a.openStream();
    p.a.write(id, new Uint8Array(100));
    p.run(() => p.eventsB.some((e) => e.type === 'readable'));
    p.run(() => p.a.stats().bytesInFlight === 0 && p.a.pollTimeout() === null && p.b.pollTimeout() === null);
    expect(p.a.pollTimeout()).toBeNull();
    const now = p.now + 10_000;
    p.a.close(now, 0x105, 'bye');
    const deadline = p.a.pollTimeout();
    expect(deadline).not.toBeNull();
    expect(deadline!).toBeGreaterThan(now);
    // a driver that handles due timers before sending (as core does) still sends CLOSE
    p.a.handleTimeout(now);
    expect(p.a.state).toBe('closing');
    const t = p.a.pollTransmit(now);
    expect(t).not.toBeNull();
    p.b.handlePacket(now + 5, t!.packetNumber, t!.payload);
    const ev = p.b.pollEvent(now + 5);
    expect(ev).toMatchObject({ type: 'closed', code: 0x105, reason: 'bye', remote: true });
  });

  it('read(now): a window consumed slowly does not grow (auto-tuning measures the read time given)', () => {
    // B's stream window is 64 KiB; A fills it; B reads half at once, then the rest 10 s later.
    const limits = { streamReceiveWindow: 64 * 1024, maxStreamReceiveWindow: 1 << 20 };
    const opts = { keepaliveMs: 0, idleTimeoutMs: 0 };
    const p = new Pair(50, { ...opts }, { ...opts, limits }); // 100 ms RTT: 4 RTT = 0.4 s
    const id = p.a.openStream();
    const data = new Uint8Array(1 << 20);
    let written = 0;
    const pump = () => {
      if (written < data.length) written += p.a.write(id, data.subarray(written));
    };
    p.run(() => {
      pump();
      return false;
    }, 2000);
    let got = 0;
    const readUpTo = (now: number, n: number) => {
      while (got < n) {
        const r = p.b.read(now, id, n - got);
        if (r === null) break;
        got += r.length;
      }
    };
    expect(p.b.recvComplete(id)).toBe(false);
    readUpTo(p.now, 40 * 1024); // first window update
    p.run(() => {
      pump();
      return false;
    }, p.now + 2000);
    // the peer's data stopped at the advertised limit; read all of it long after it arrived
    const later = p.now + 10_000;
    p.now = later;
    readUpTo(later, Number.MAX_SAFE_INTEGER);
    const before = got;
    p.run(() => {
      pump();
      return false;
    }, later + 2000);
    readUpTo(p.now, Number.MAX_SAFE_INTEGER);
    // consumed over 10 s (far more than 4 RTT): the window stays 64 KiB, not 128 KiB
    expect(got - before).toBeLessThanOrEqual(64 * 1024);
    expect(got - before).toBeGreaterThan(32 * 1024);
  });
});

describe('congestion controller factories', () => {
  it('built-in names are shorthands for their factories; unknown names are a TypeError', () => {
    expect(Object.keys(CONGESTION_CONTROLLERS)).toEqual(['bbr', 'cubic', 'newreno']);
    expect(congestionFactory('bbr')).toBe(bbr);
    expect(congestionFactory('cubic')).toBe(cubic);
    expect(congestionFactory('newreno')).toBe(newReno);
    expect(resolveFactory(cubic)).toBe(cubic);
    expect(() => congestionFactory('vegas' as never)).toThrow(TypeError);
    expect(
      () => new ReliableConnection({ role: 'initiator', now: 0, congestion: 'toString' as never }),
    ).toThrow(TypeError);
  });

  it('a custom factory is used, and called again for a new path', () => {
    const calls: CongestionControllerOptions[] = [];
    const factory: CongestionControllerFactory = (o) => {
      calls.push(o);
      const inner = newReno(o);
      return {
        name: 'custom',
        window: () => inner.window(),
        pacingRate: () => inner.pacingRate(),
        onPacketSent: (now, bytes, inFlight) => inner.onPacketSent(now, bytes, inFlight),
        onAck: (now, a) => inner.onAck(now, a),
        onLoss: (now, l) => inner.onLoss(now, l),
        onMtuChange: (m) => inner.onMtuChange(m),
      };
    };
    const p = new Pair(10, { congestion: factory });
    expect(calls).toEqual([{ maxDatagramSize: BASE_PLPMTU, now: 0 }]);
    expect(p.a.stats().congestion).toBe('custom');
    const id = p.a.openStream();
    p.a.write(id, new Uint8Array(50_000));
    p.a.finish(id);
    expect(p.run(() => p.eventsB.some((e) => e.type === 'readable'))).toBe(true);
    p.a.resetPath(p.now);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({ maxDatagramSize: BASE_PLPMTU, now: p.now });
    expect(p.a.congestionController.name).toBe('custom');
  });
});

describe('DeliveryRateSampler', () => {
  it('a sample covers the send and ack intervals of the newest acknowledged packet', () => {
    const r = new DeliveryRateSampler();
    const sent: SentPacket[] = [];
    let inFlight = 0;
    for (let i = 0; i < 10; i++) {
      const p = new SentPacket(i, i, 1000, true, true, false, null);
      r.onPacketSent(p, i, inFlight);
      inFlight += 1000;
      sent.push(p);
    }
    // ACK of packets 0..4 at t = 50
    r.beginAck();
    for (let i = 0; i < 5; i++) r.onPacketAcked(sent[i]!, 50);
    r.endAck();
    let s = r.sample(1);
    expect(r.delivered).toBe(5000);
    expect(s.priorDelivered).toBe(0);
    expect(s.rtt).toBe(46); // packet 4, sent at 4
    expect(s.interval).toBe(50); // ack elapsed (50 - 0) > send elapsed (4 - 0)
    expect(s.delivered).toBe(5000);
    expect(s.isAppLimited).toBe(false);
    // an interval shorter than min RTT gives no rate
    expect(r.sample(60).delivered).toBe(0);
    // nothing to send with the window open: later packets are app-limited until delivered
    r.onAppLimited(5000);
    const q = new SentPacket(10, 60, 1000, true, true, false, null);
    r.onPacketSent(q, 60, 5000);
    expect(q.appLimited).toBe(true);
    r.beginAck();
    r.onPacketAcked(q, 100);
    r.endAck();
    s = r.sample(1);
    expect(s.isAppLimited).toBe(true);
    expect(s.priorDelivered).toBe(5000);
  });
});

describe('LossRecovery', () => {
  /** ring bound given with every packet (sendTimeLimit of the connection's windows) */
  function setup(maxOutstanding = 1 << 14) {
    const lost: number[] = [];
    const acked: number[] = [];
    const probes: (SentFrame[] | null)[] = [];
    const bursts: { packets: number; bytes: number; persistent: boolean }[] = [];
    const host: RecoveryHost = {
      onPacketAcked: (_now, p) => acked.push(p.pn),
      onPacketLost: (_now, p) => lost.push(p.pn),
      onProbeTimeout: (_now, frames) => probes.push(frames),
      onLossBurst: (_now, packets, bytes, persistent) => bursts.push({ packets, bytes, persistent }),
    };
    const path = new PathState(PATH_CONFIG, 0);
    const counters = new Counters();
    const rec = new LossRecovery(25, new DeliveryRateSampler(), counters, host);
    const send = (time: number, frames: SentFrame[] | null = null) => {
      const p = new SentPacket(rec.nextPn++, time, 1200, true, true, false, frames);
      rec.onPacketSent(p, maxOutstanding);
      return p;
    };
    /** an ACK-only packet: not ack-eliciting, not in flight, not in the ledger */
    const sendAckOnly = (time: number) => {
      const p = new SentPacket(rec.nextPn++, time, 40, false, false, false, null);
      rec.onPacketSent(p, maxOutstanding);
      return p;
    };
    return { rec, path, send, sendAckOnly, lost, acked, probes, counters, bursts };
  }

  it('rejects malformed ACKs and ACKs of packets never sent', () => {
    const { rec, path, send } = setup();
    send(0);
    expect(() => rec.onAckFrame(1, ack(), path)).toThrow(ProtocolError);
    expect(() => rec.onAckFrame(1, ack([0, 0], [0, 0]), path)).toThrow(ProtocolError);
    expect(() => rec.onAckFrame(1, ack([1, 1]), path)).toThrow(ProtocolError);
    expect(rec.onAckFrame(1, ack([0, 0]), path)).toBe(true);
    expect(rec.onAckFrame(2, ack([0, 0]), path)).toBe(false); // nothing new
  });

  it('packet threshold declares loss; a late ACK of a lost packet widens the threshold', () => {
    const { rec, path, send, lost, acked, counters, bursts } = setup();
    for (let i = 0; i < 6; i++) send(10); // sent together: no time-threshold loss 1 ms later
    expect(rec.bytesInFlight).toBe(6 * 1200);
    rec.onAckFrame(11, ack([5, 5]), path);
    expect(acked).toEqual([5]);
    expect(lost).toEqual([0, 1, 2]); // 5 >= pn + 3
    // three at once: a loss burst (for the logs), not persistent congestion
    expect(bursts).toEqual([{ packets: 3, bytes: 3 * 1200, persistent: false }]);
    expect(rec.bytesInFlight).toBe(2 * 1200);
    rec.onAckFrame(12, ack([5, 5], [0, 0]), path);
    expect(counters.spuriousLosses).toBe(1);
    expect(rec.packetThreshold).toBe(6); // 5 - 0 + 1
  });

  describe('RTT samples (RFC 9002 §5.1)', () => {
    it('measure to the largest acknowledged packet, ACK-only ones included', () => {
      const { rec, path, send, sendAckOnly } = setup();
      send(0);
      sendAckOnly(40);
      rec.onAckFrame(50, ack([0, 1]), path);
      expect(path.rtt.latest).toBe(10); // to pn 1 (sent at 40), not pn 0 (sent at 0)
      send(60);
      send(70);
      sendAckOnly(75);
      send(80);
      rec.onAckFrame(100, ack([2, 3]), path); // largest ack-eliciting
      expect(path.rtt.latest).toBe(30);
      rec.onAckFrame(110, ack([2, 5]), path); // pn 4 ACK-only, pn 5 the largest
      expect(path.rtt.latest).toBe(30);
    });

    it('no sample unless the largest is newly acknowledged and something ack-eliciting is', () => {
      const { rec, path, send, sendAckOnly } = setup();
      send(20);
      sendAckOnly(20);
      send(21);
      rec.onAckFrame(30, ack([1, 1]), path); // ACK-only alone: nothing ack-eliciting
      expect(path.rtt.hasSample).toBe(false);
      rec.onAckFrame(35, ack([2, 2]), path);
      expect(path.rtt.latest).toBe(14);
      // newly acks pn 0 (ack-eliciting) but the largest, pn 2, was acknowledged before: a
      // sample to pn 2 would include the time the peer held this ACK back
      expect(rec.onAckFrame(36, ack([0, 2]), path)).toBe(true);
      expect(path.rtt.latest).toBe(14);
      // an ACK-only largest acknowledged before (by an ACK that newly acked nothing else)
      sendAckOnly(50);
      rec.onAckFrame(55, ack([3, 3]), path);
      send(56);
      sendAckOnly(57);
      rec.onAckFrame(60, ack([5, 5]), path); // ACK-only alone again
      expect(rec.onAckFrame(65, ack([4, 5]), path)).toBe(true); // newly acks pn 4; pn 5 was acked at 60
      expect(path.rtt.latest).toBe(14);
      expect(rec.largestAcked).toBe(5);
    });

    it('the ack delay the peer reports (capped at max_ack_delay) comes off the sample (§5.3)', () => {
      const { rec, path, send, sendAckOnly } = setup();
      send(0);
      rec.onAckFrame(20, ack([0, 0]), path); // first sample: 20, taken as is
      send(30);
      sendAckOnly(31);
      rec.onAckFrame(81, { ...ack([1, 2]), delay: 40_000 }, path); // 50 ms, 40 ms delay capped at 25
      expect(path.rtt.latest).toBe(50);
      expect(path.rtt.min).toBe(20);
      expect(path.rtt.smoothed).toBe(0.875 * 20 + 0.125 * 25);
    });

    it('every packet outstanding above the largest acknowledged keeps its send time', () => {
      const { rec, path, send, sendAckOnly } = setup();
      // thousands of packets in flight (the ring starts small and must grow without losing any)
      for (let i = 0; i < 5000; i++) (i % 3 === 2 ? sendAckOnly : send)(i / 10);
      rec.onAckFrame(600, ack([4000, 4001]), path); // pn 4001: ACK-only, sent at 400.1
      expect(path.rtt.latest).toBeCloseTo(600 - 400.1, 9);
      for (let i = 0; i < 3000; i++) sendAckOnly(700 + i / 10);
      rec.onAckFrame(1000, ack([4999, 7999], [4002, 4002]), path); // pn 7999 sent at 999.9
      expect(path.rtt.latest).toBeCloseTo(1000 - 999.9, 9);
      send(2000);
      sendAckOnly(2001);
      rec.onAckFrame(2011, ack([8000, 8001]), path);
      expect(path.rtt.latest).toBe(10);
    });

    it('the send-time ring is bounded by what can be outstanding and shrinks once nothing is', () => {
      // a 1 MiB receive window and a 15 KB congestion window: ~1,772 packets, a ring of 2,048
      const limit = sendTimeLimit(15_000, 1 << 20);
      expect(limit).toBeCloseTo((2 * (15_000 + (1 << 20))) / BASE_PLPMTU, 9);
      const { rec, path, send, sendAckOnly } = setup(limit);
      expect(rec.sendTimeSlots).toBe(INITIAL_SEND_TIMES);
      send(0);
      // a receiver's long run of ACK-only packets that the peer has not acknowledged yet
      for (let i = 1; i <= 8000; i++) sendAckOnly(i / 10);
      expect(rec.sendTimeSlots).toBe(2048); // not 8,192: grows only while below the limit
      // the peer acknowledges a recent one: sampled from the ring
      rec.onAckFrame(805, ack([7990, 7990], [0, 0]), path); // pn 7990 sent at 799
      expect(path.rtt.latest).toBe(6);
      // an ACK whose largest is older than the ring holds gives no sample from it
      send(900); // pn 8001
      sendAckOnly(900); // pn 8002
      for (let i = 0; i < 3000; i++) sendAckOnly(901);
      const before = path.rtt.latest;
      rec.onAckFrame(1000, ack([8001, 8002]), path); // largest pn 8002: ACK-only, 3,000 packets back
      expect(rec.largestAcked).toBe(8002);
      expect(path.rtt.latest).toBe(before);
      // everything acknowledged: back to the first size, the outstanding send times kept
      send(1100); // pn 11003
      send(1101); // pn 11004
      sendAckOnly(1102); // pn 11005
      rec.onAckFrame(1110, ack([8003, 11003]), path);
      expect(path.rtt.latest).toBe(10);
      expect(rec.sendTimeSlots).toBe(INITIAL_SEND_TIMES);
      rec.onAckFrame(1120, ack([11004, 11005]), path); // largest pn 11005: ACK-only, sent at 1102
      expect(path.rtt.latest).toBe(18);
    });
  });

  it('PTO: the timer backs off exponentially and the oldest data is probed', () => {
    const { rec, path, send, probes } = setup();
    const frames = [new SentFrame(SentKind.MaxData, null, null, 0, 0, false)];
    send(0, frames);
    send(1);
    const pto = path.pto(25);
    expect(rec.timer(path)).toBe(1 + pto);
    rec.onTimeout(1 + pto, path);
    expect(rec.ptoCount).toBe(1);
    expect(rec.probesToSend).toBe(2);
    expect(probes).toEqual([frames]);
    expect(rec.timer(path)).toBe(1 + 2 * pto);
    rec.onAckFrame(1 + 2 * pto, ack([1, 1]), path);
    expect(rec.ptoCount).toBe(0);
  });
});

describe('PathState', () => {
  function probeAckedPath(): PathState {
    const path = new PathState(PATH_CONFIG, 0);
    const size = path.pmtud.wantProbe(0);
    expect(size).toBe(1472);
    path.pmtud.onProbeSent(7);
    const mtu = path.onAcked(1, new SentPacket(7, 0, size, true, true, true, null));
    expect(mtu).toBe(1472);
    return path;
  }

  it(`black hole after ${BLACK_HOLE_LOSSES} full-size losses in a row, or 3 PTOs: back to ${BASE_PLPMTU}`, () => {
    const path = probeAckedPath();
    const big = (pn: number) => new SentPacket(pn, 2, 1472, true, true, false, null);
    for (let i = 0; i < BLACK_HOLE_LOSSES - 1; i++) expect(path.onLost(3, big(10 + i))).toBe(0);
    path.onAcked(3, big(30)); // one acknowledged full-size packet restarts the count
    for (let i = 0; i < BLACK_HOLE_LOSSES - 1; i++) expect(path.onLost(3, big(40 + i))).toBe(0);
    expect(path.onLost(3, big(50))).toBe(BASE_PLPMTU);
    expect(path.mtu).toBe(BASE_PLPMTU);
    expect(path.pmtud.blackHoles).toBe(1);

    const p2 = probeAckedPath();
    expect(p2.onPto(5, 2)).toBe(0);
    expect(p2.onPto(5, 3)).toBe(BASE_PLPMTU);
  });

  it('armTimers: the pacing and PMTU-search deadlines are reported only while in the future', () => {
    const path = probeAckedPath(); // search complete: re-search after PMTU_RAISE_TIMER
    path.armTimers(1);
    expect(path.searchAt).toBe(1 + 600_000);
    expect(path.pacingAt).toBe(Number.POSITIVE_INFINITY); // a full bucket does not wait
    path.armTimers(1 + 600_000);
    expect(path.searchAt).toBe(Number.POSITIVE_INFINITY);
    path.pacer.update(2, 10, 1472); // 10 bytes/ms
    for (let i = 0; i < 20; i++) path.pacer.onSend(1472);
    path.armTimers(2);
    expect(path.pacingAt).toBeGreaterThan(2);
    path.armTimers(path.pacingAt);
    expect(path.pacingAt).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('ACK timing', () => {
  it('the first packets and a packet with a PING are acknowledged at once; others wait max_ack_delay', () => {
    const c = new ReliableConnection({ role: 'responder', now: 0 });
    while (c.pollTransmit(0)) {}
    // the first ack-eliciting packets are acknowledged at once (true first RTT samples)
    for (let pn = 0; pn < IMMEDIATE_FIRST; pn++) {
      c.handlePacket(pn, pn, encodeFrames([{ type: 'max_data', max: 1 << (10 + pn) }]));
      expect(c.pollTransmit(pn)).not.toBeNull();
    }
    c.handlePacket(10, IMMEDIATE_FIRST, encodeFrames([{ type: 'max_data', max: 1 << 22 }]));
    expect(c.pollTransmit(10)).toBeNull(); // then: delayed ACK
    expect(c.pollTimeout()).toBeGreaterThan(10);
    const t = c.pollTimeout() as number;
    c.handleTimeout(t);
    expect(c.pollTransmit(t)).not.toBeNull();
    c.handlePacket(t + 1, IMMEDIATE_FIRST + 1, encodeFrames([{ type: 'ping' }])); // a keepalive
    const ack = c.pollTransmit(t + 1);
    expect(ack).not.toBeNull();
  });

  it('an ACK frame is built only when it leaves: when due, or on a packet that elicits one', () => {
    const c = new ReliableConnection({ role: 'responder', now: 0 });
    while (c.pollTransmit(0)) {}
    for (let pn = 0; pn < IMMEDIATE_FIRST; pn++) {
      c.handlePacket(pn, pn, encodeFrames([{ type: 'max_data', max: 1 << (10 + pn) }]));
      expect(c.pollTransmit(pn)).not.toBeNull();
    }
    const build = vi.spyOn(AckTracker.prototype, 'build');
    try {
      // pending but not due and nothing else to send: the poll returns null without building one
      c.handlePacket(10, IMMEDIATE_FIRST, encodeFrames([{ type: 'max_data', max: 1 << 22 }]));
      for (let i = 0; i < 3; i++) expect(c.pollTransmit(10 + i)).toBeNull();
      expect(build).not.toHaveBeenCalled();
      // data to send: the pending ACK rides on it, first frame of the packet
      const id = c.openStream();
      c.write(id, new Uint8Array(100));
      const data = c.pollTransmit(13);
      expect(data).not.toBeNull();
      const types = decodeFrames(data!.payload).map((f) => f.type);
      expect(types[0]).toBe('ack');
      expect(types).toContain('stream');
      expect(build).toHaveBeenCalledTimes(1);
      // due (the delayed-ACK timer) with nothing else: an ACK-only packet
      c.handlePacket(20, IMMEDIATE_FIRST + 1, encodeFrames([{ type: 'max_data', max: 1 << 23 }]));
      expect(c.pollTransmit(20)).toBeNull();
      const t = c.pollTimeout() as number;
      c.handleTimeout(t);
      const ackOnly = c.pollTransmit(t);
      expect(decodeFrames(ackOnly!.payload).map((f) => f.type)).toEqual(['ack']);
      expect(build).toHaveBeenCalledTimes(2);
    } finally {
      build.mockRestore();
    }
  });
});

describe('sans-IO inputs validate now', () => {
  it('close, read, stopSending and pollEvent take a finite now', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0 });
    const id = c.openStream();
    expect(() => c.read(Number.NaN, id)).toThrow(TypeError);
    expect(() => c.stopSending(Number.POSITIVE_INFINITY, id, 1)).toThrow(TypeError);
    expect(() => c.pollEvent(undefined as never)).toThrow(TypeError);
    expect(() => c.close('bye' as never)).toThrow(TypeError);
    c.handlePacket(0, 0, encodeFrames([{ type: 'ping' }]));
    expect(c.pollEvent(0)).toBeNull();
  });
});

describe('numeric slots (numeric-slots.ts)', () => {
  it('give each part of a connection and of a path slots of its own, inside its array', () => {
    const conn: [number, number][] = [
      [RATE_AT, 5],
      [RECOVERY_AT, 3],
      [ACKS_AT, 2],
      [LIVENESS_AT, 3],
      [CONNECTION_AT, 1],
      [TIMERS_AT, TIMER_NAMES.length],
    ];
    const path: [number, number][] = [
      [PATH_AT, 2],
      [RTT_AT, 5],
      [PACER_AT, 4],
      [PMTUD_AT, 1],
    ];
    for (const [parts, size] of [
      [conn, CONNECTION_SLOTS],
      [path, PATH_SLOTS],
    ] as const) {
      const used = new Set<number>();
      for (const [at, n] of parts) {
        for (let i = at; i < at + n; i++) {
          expect(used.has(i)).toBe(false);
          expect(i).toBeLessThan(size);
          used.add(i);
        }
      }
    }
  });

  it('parts sharing one array hold the same values as parts with arrays of their own', () => {
    const parts = (shared: boolean) => {
      const path = shared ? numericSlots(PATH_SLOTS) : undefined;
      return {
        rtt: new RttEstimator(333, path),
        pacer: new Pacer(0.5, 1200, path),
        timers: new TimerTable(shared ? numericSlots(CONNECTION_SLOTS) : undefined),
      };
    };
    const a = parts(true);
    const b = parts(false);
    for (const p of [a, b]) {
      p.rtt.update(12.25, 1.5, 3.75);
      p.rtt.update(9.5, 0.25, 8.5);
      p.pacer.update(20.75, 3808.71, 1200);
      p.timers.set(Timer.Idle, 30_000.5);
      p.timers.set(Timer.Ack, 25.125);
    }
    for (const k of ['latest', 'smoothed', 'variance', 'min', 'provisionalUntil'] as const)
      expect(a.rtt[k]).toBe(b.rtt[k]);
    expect(a.pacer.nextSendTime(21, 1200)).toBe(b.pacer.nextSendTime(21, 1200));
    expect(a.timers.armed()).toEqual(b.timers.armed());
    expect(a.timers.next()).toBe(25.125);
  });
});
