import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IMMEDIATE_FIRST } from '../src/ack-tracker.js';
import { resolveConfig } from '../src/config.js';
import type {
  AckEvent,
  CongestionControllerFactory,
  ConnectionConfig,
  ReliableOptions,
} from '../src/index.js';
import {
  AckTracker,
  CONGESTION_CONTROLLERS,
  Cubic,
  DEFAULT_LIMITS,
  NewReno,
  Pacer,
  RangeSet,
  RecvBuffer,
  RecvSlab,
  RecvWindow,
  ReliableConnection,
  RttEstimator,
  SendBuffer,
} from '../src/index.js';
import { KEEPALIVE_GRID_DIVISOR, Liveness } from '../src/liveness.js';

describe('RangeSet', () => {
  it('matches a naive set under random add/remove', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 30 })), {
          maxLength: 60,
        }),
        (ops) => {
          const rs = new RangeSet();
          const naive = new Set<number>();
          for (const [add, start, len] of ops) {
            if (add) {
              let fresh = 0;
              for (let i = start; i < start + len; i++) if (!naive.has(i)) fresh++;
              expect(rs.add(start, start + len)).toBe(fresh);
              for (let i = start; i < start + len; i++) naive.add(i);
            } else {
              rs.remove(start, start + len);
              for (let i = start; i < start + len; i++) naive.delete(i);
            }
          }
          for (let i = 0; i < 240; i++) expect(rs.has(i)).toBe(naive.has(i));
          // ranges are sorted, disjoint and non-adjacent
          for (let i = 1; i < rs.size; i++) expect(rs.startAt(i)).toBeGreaterThan(rs.endAt(i - 1));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('RecvBuffer', () => {
  it('holds a frame that fills its packet as a view, a small one as a copy (never pins a whole packet for a few bytes)', () => {
    const rb = new RecvBuffer();
    const packet = new Uint8Array(1400).map((_, i) => i & 0xff);
    const big = packet.subarray(10, 1400); // a stream frame filling its packet
    rb.insert(0, big);
    const small = new Uint8Array(1400).fill(9);
    rb.insert(1390, small.subarray(0, 20)); // 20 bytes of a 1,400-byte packet
    small.fill(1); // the small frame was copied: later changes to its packet do not reach it
    const a = rb.read(1390) as Uint8Array;
    expect(a.buffer).toBe(packet.buffer); // no copy for the big one
    expect(a[0]).toBe(10);
    const b = rb.read(100) as Uint8Array;
    expect(b.length).toBe(20);
    expect(b.every((x) => x === 9)).toBe(true);
    expect(b.buffer).not.toBe(small.buffer);
    // the copy lives in the buffer's receive slab (recv-buffer.ts), not in the packet
    expect(b.buffer.byteLength).toBeLessThanOrEqual(64 * 1024);
  });

  it('copies of in-order frames share blocks and merge: one view per read, never overwritten', () => {
    const rb = new RecvBuffer();
    // frames of packets opened into one large slab (as the crypto backends do): copied
    const slab = new Uint8Array(64 * 1024);
    const stream = new Uint8Array(50_000).map((_, i) => (i * 31 + 7) & 0xff);
    let at = 0;
    const insertFrame = (n: number) => {
      const view = slab.subarray(at % 40_000, (at % 40_000) + n);
      view.set(stream.subarray(at, at + n));
      rb.insert(at, view);
      at += n;
    };
    for (let i = 0; i < 10; i++) insertFrame(1000);
    slab.fill(0); // the packets' memory is reused: the buffer holds copies
    const first = rb.read(Number.MAX_SAFE_INTEGER) as Uint8Array;
    expect(first.length).toBe(10_000); // ten frames, one contiguous view, no concatenation
    expect(first).toEqual(stream.subarray(0, 10_000));
    const firstBuffer = first.buffer;
    // more frames after a read: fresh memory, the view already returned stays intact
    for (let i = 0; i < 20; i++) insertFrame(1000);
    let got = 0;
    for (let r = rb.read(4096); r !== null; r = rb.read(4096)) {
      expect(r).toEqual(stream.subarray(10_000 + got, 10_000 + got + r.length));
      got += r.length;
    }
    expect(got).toBe(20_000);
    expect(first).toEqual(stream.subarray(0, 10_000));
    expect(first.buffer).toBe(firstBuffer);
    expect(rb.bufferedBytes).toBe(0);
    // 20 more frames fill a block (16 of them) and start another: readView hands out the full
    // block's chunk as it is; read concatenates what is contiguous
    for (let i = 0; i < 20; i++) insertFrame(1000);
    const block = rb.readView(Number.MAX_SAFE_INTEGER) as Uint8Array;
    expect(block.length).toBe(16_000);
    expect(block).toEqual(stream.subarray(30_000, 46_000));
    const rest = rb.read(Number.MAX_SAFE_INTEGER) as Uint8Array;
    expect(rest).toEqual(stream.subarray(46_000, 50_000));
    expect(rb.readView(10)).toBeNull();
  });

  it('a reader that keeps up: the copies of successive packets share a slab, each left intact', () => {
    // frames copied out of packets in a large slab, the buffer read empty after each one (a reader
    // that keeps up): before, each emptied buffer allocated a fresh 16 KiB block per packet
    const rb = new RecvBuffer(new RecvSlab()); // as a connection's streams use it
    const packets = new Uint8Array(64 * 1024);
    const stream = new Uint8Array(6000).map((_, i) => (i * 13 + 5) & 0xff);
    const views: Uint8Array[] = [];
    for (let at = 0; at < 6000; at += 1000) {
      const frame = packets.subarray(at, at + 1000);
      frame.set(stream.subarray(at, at + 1000));
      rb.insert(at, frame);
      views.push(rb.readView(Number.MAX_SAFE_INTEGER) as Uint8Array);
      expect(rb.bufferedBytes).toBe(0);
    }
    packets.fill(0);
    for (let k = 0; k < views.length; k++) {
      expect(views[k]).toEqual(stream.subarray(k * 1000, (k + 1) * 1000)); // never overwritten
    }
    // at most two slabs for six packets (one may have filled on the way); before: six blocks
    expect(new Set(views.map((v) => v.buffer)).size).toBeLessThanOrEqual(2);
  });

  it('buffers of two connections (two RecvSlabs) never share an ArrayBuffer; forgetting rewrites nothing', () => {
    const slabs = [new RecvSlab(), new RecvSlab()];
    // two streams per connection, all four filled in turn, read after every packet
    const bufs = [0, 0, 1, 1].map((k) => ({ k, rb: new RecvBuffer(slabs[k]), at: 0 }));
    const packets = new Uint8Array(64 * 1024);
    const seen = [new Set<ArrayBufferLike>(), new Set<ArrayBufferLike>()];
    const views: [Uint8Array, number][] = [];
    for (let round = 0; round < 100; round++) {
      for (const b of bufs) {
        const frame = packets.subarray(0, 700);
        frame.fill(b.k + 1);
        b.rb.insert(b.at, frame);
        b.at += 700;
        const v = b.rb.readView(Number.MAX_SAFE_INTEGER) as Uint8Array;
        seen[b.k]!.add(v.buffer);
        views.push([v, b.k + 1]);
        expect(new Uint8Array(v.buffer).every((x) => x === 0 || x === b.k + 1)).toBe(true);
      }
      // the connections' timers: nothing is held, but each slab was carved from since the last run
      for (const rs of slabs) rs.onTimers(false);
      expect(slabs[0]!.slab).not.toBeNull();
    }
    for (const x of seen[0]!) expect(seen[1]!.has(x)).toBe(false);
    expect(seen[0]!.size).toBeLessThan(50); // a slab per ~46 copies of 1400 B, not one each
    // a buffer holding unread bytes keeps its connection's slab; an emptied one lets it go
    const held = bufs[0]!.rb;
    held.insert(bufs[0]!.at, packets.subarray(0, 100));
    slabs[0]!.onTimers(true);
    expect(slabs[0]!.slab).not.toBeNull();
    const tail = held.read(Number.MAX_SAFE_INTEGER) as Uint8Array;
    slabs[0]!.onTimers(false); // emptied, nothing carved since the previous run
    expect(slabs[0]!.slab).toBeNull();
    slabs[1]!.onTimers(true); // quiet (keepalive): goes at once
    expect(slabs[1]!.slab).toBeNull();
    // new copies go to new slabs; nothing handed out before was rewritten
    for (const b of bufs) {
      b.rb.insert(b.at + (b.rb === held ? 100 : 0), packets.subarray(0, 700).fill(9));
      expect((b.rb.readView(Number.MAX_SAFE_INTEGER) as Uint8Array).buffer).not.toBe(views[0]![0].buffer);
    }
    expect(tail.length).toBe(100);
    for (const [v, x] of views) expect(v.every((y) => y === x)).toBe(true);
  });

  it('buffers filled in turn keep their own contiguous blocks: merged chunks as with one buffer', () => {
    const a = new RecvBuffer();
    const b = new RecvBuffer();
    const packets = new Uint8Array(64 * 1024);
    const sa = new Uint8Array(20_000).map((_, i) => (i * 31 + 7) & 0xff);
    const sb = new Uint8Array(20_000).map((_, i) => (i * 17 + 3) & 0xff);
    for (let at = 0; at < 20_000; at += 1000) {
      for (const [rb, src] of [
        [a, sa],
        [b, sb],
      ] as const) {
        const frame = packets.subarray(0, 1000);
        frame.set(src.subarray(at, at + 1000));
        rb.insert(at, frame);
      }
    }
    packets.fill(0);
    for (const [rb, src] of [
      [a, sa],
      [b, sb],
    ] as const) {
      const first = rb.readView(Number.MAX_SAFE_INTEGER) as Uint8Array;
      expect(first.length).toBe(16_000); // a whole block's chunk, as a buffer filled alone
      expect(first).toEqual(src.subarray(0, 16_000));
      expect(rb.read(Number.MAX_SAFE_INTEGER)).toEqual(src.subarray(16_000));
    }
  });

  it('reassembles any arrival order and overlap exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2999 }), fc.integer({ min: 1, max: 400 })), {
          maxLength: 40,
        }),
        (total, pieces) => {
          const data = new Uint8Array(total).map((_, i) => (i * 7 + 3) & 0xff);
          const rb = new RecvBuffer();
          const out: number[] = [];
          // random overlapping pieces, then everything in order so it completes
          const all = [...pieces.map(([o, l]) => [Math.min(o, total - 1), l] as const), [0, total] as const];
          for (const [o, l] of all) {
            rb.insert(o, data.subarray(o, Math.min(total, o + l)));
            for (let r = rb.read(97); r !== null; r = rb.read(97)) out.push(...r);
            expect(rb.bufferedBytes).toBeLessThanOrEqual(total);
          }
          expect(out.length).toBe(total);
          expect(Uint8Array.from(out)).toEqual(data);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a reader lagging behind hundreds of small chunks (compaction of read chunks) reads every byte once, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 150, maxLength: 400 }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 40 }),
        (sizes, readMax, readEvery) => {
          const total = sizes.reduce((a, b) => a + b, 0);
          const data = new Uint8Array(total).map((_, i) => (i * 13 + 5) & 0xff);
          const rb = new RecvBuffer();
          const out: number[] = [];
          // chunks arrive in pairs swapped (every other one out of order), reads come rarely
          const chunks: Array<[number, number]> = [];
          let at = 0;
          for (const n of sizes) {
            chunks.push([at, n]);
            at += n;
          }
          for (let i = 0; i + 1 < chunks.length; i += 2) {
            const t = chunks[i] as [number, number];
            chunks[i] = chunks[i + 1] as [number, number];
            chunks[i + 1] = t;
          }
          chunks.forEach(([o, n], i) => {
            rb.insert(o, data.slice(o, o + n));
            if (i % readEvery === 0) {
              for (let r = rb.read(readMax); r !== null; r = rb.read(readMax)) out.push(...r);
            }
          });
          for (let r = rb.read(readMax); r !== null; r = rb.read(readMax)) out.push(...r);
          expect(rb.bufferedBytes).toBe(0);
          expect(Uint8Array.from(out)).toEqual(data);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('SendBuffer', () => {
  it('re-queues only unacknowledged parts of a lost range and frees the acked prefix', () => {
    const sb = new SendBuffer();
    sb.write(new Uint8Array(100).fill(1));
    sb.write(new Uint8Array(100).fill(2));
    sb.sentEnd = 200;
    sb.onAck(50, 50, false);
    sb.onLost(0, 200, false);
    expect([sb.lost.startAt(0), sb.lost.endAt(0), sb.lost.startAt(1), sb.lost.endAt(1)]).toEqual([
      0, 50, 100, 200,
    ]);
    expect(sb.read(95, 10)).toEqual(new Uint8Array([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]));
    sb.onAck(0, 50, false);
    expect(sb.base).toBe(100);
    expect(sb.buffered()).toBe(100);
  });

  it('a late ACK of an old copy below base does not stop base from advancing (stall regression)', () => {
    const sb = new SendBuffer();
    sb.write(new Uint8Array(300));
    sb.sentEnd = 300;
    sb.onAck(0, 100, false); // the retransmission of [0, 100) is acked first
    expect(sb.base).toBe(100);
    sb.onAck(40, 20, false); // then the ACK of the original copy of [40, 60) arrives
    sb.onAck(100, 100, false);
    expect(sb.base).toBe(200);
    sb.onAck(200, 100, false);
    expect(sb.base).toBe(300);
    expect(sb.buffered()).toBe(0);
    expect(sb.acked.size).toBe(0);
  });

  it('any order of ACKs and losses: base is the acknowledged prefix, lost never holds acked bytes', () => {
    // the in-order fast path of onAck (no range book-keeping) against a naive byte map
    const N = 400;
    const op = fc.record({
      ack: fc.boolean(),
      offset: fc.integer({ min: 0, max: N - 1 }),
      len: fc.integer({ min: 1, max: 120 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.boolean(), (ops, inOrderFirst) => {
        const sb = new SendBuffer();
        for (let i = 0; i < 4; i++) sb.write(new Uint8Array(N / 4).fill(i));
        sb.sentEnd = N;
        const acked = new Uint8Array(N);
        const all = inOrderFirst
          ? [{ ack: true, offset: 0, len: 37 }, { ack: true, offset: 37, len: 50 }, ...ops]
          : ops;
        for (const o of all) {
          const len = Math.min(o.len, N - o.offset);
          if (o.ack) {
            sb.onAck(o.offset, len, false);
            acked.fill(1, o.offset, o.offset + len);
          } else sb.onLost(o.offset, len, false);
          let prefix = 0;
          while (prefix < N && acked[prefix] === 1) prefix++;
          expect(sb.base).toBe(prefix);
          expect(sb.buffered()).toBe(N - prefix);
          for (let i = 0; i < sb.lost.size; i++) {
            for (let b = sb.lost.startAt(i); b < sb.lost.endAt(i); b++) expect(acked[b]).toBe(0);
          }
          if (prefix < N) expect(sb.read(prefix, 1)[0]).toBe(Math.floor(prefix / (N / 4)));
        }
      }),
      { numRuns: 300, seed: 19 },
    );
  });
});

describe('RttEstimator (RFC 9002 §5)', () => {
  it('first sample initialises, later samples smooth and subtract ack delay', () => {
    const r = new RttEstimator();
    expect(r.smoothed).toBe(333);
    r.update(100, 0);
    expect([r.smoothed, r.variance, r.min]).toEqual([100, 50, 100]);
    r.update(120, 10); // adjusted 110
    expect(r.smoothed).toBeCloseTo(0.875 * 100 + 0.125 * 110, 9);
    expect(r.variance).toBeCloseTo(0.75 * 50 + 0.25 * 10, 9);
    r.update(105, 20); // 105 < min + 20: ack delay not subtracted
    expect(r.latest).toBe(105);
    expect(r.lossDelay()).toBeCloseTo((9 / 8) * Math.max(r.smoothed, 105), 9);
  });
});

describe('AckTracker (RFC 9000 §13.2)', () => {
  it('acks the first packets at once, then every second packet, immediately on reordering, else after max_ack_delay; drops duplicates', () => {
    const a = new AckTracker(25);
    for (let pn = 0; pn < IMMEDIATE_FIRST; pn++) {
      a.onPacket(0, pn, true);
      expect(a.shouldSend(0)).toBe(true);
      a.onAckSent();
    }
    const n = IMMEDIATE_FIRST;
    expect(a.onPacket(0, n, true)).toBe(true);
    expect(a.shouldSend(0)).toBe(false);
    expect(a.deadline).toBe(25);
    expect(a.onPacket(1, n, true)).toBe(false);
    a.onPacket(1, n + 1, true);
    expect(a.shouldSend(1)).toBe(true);
    a.onAckSent();
    a.onPacket(2, n + 5, true); // gap: immediate
    expect(a.shouldSend(2)).toBe(true);
    expect(a.build(2)?.ranges).toEqual([
      { start: n + 5, end: n + 5 },
      { start: 0, end: n + 1 },
    ]);
    a.onAckSent();
    a.onAckAcked(n + 5);
    expect(a.onPacket(3, n + 3, true)).toBe(false); // below the acknowledged floor
  });
});

function ackEvent(bytes: number, sentTime: number, rtt: RttEstimator): AckEvent {
  return {
    ackedBytes: bytes,
    largestAckedSentTime: sentTime,
    bytesInFlight: 0,
    delivered: 0,
    rate: { delivered: 0, interval: 0, isAppLimited: false, priorDelivered: 0, rtt: -1 },
    rtt,
    appLimited: false,
  };
}

describe('congestion controllers', () => {
  it('NewReno: slow start, halving once per recovery period, +1 MSS per window after', () => {
    const rtt = new RttEstimator();
    rtt.update(50, 0);
    const c = new NewReno({ maxDatagramSize: 1200, now: 0 });
    const w0 = c.window();
    c.onAck(10, ackEvent(12_000, 1, rtt));
    expect(c.window()).toBe(w0 + 12_000);
    c.onLoss(20, {
      lostBytes: 1200,
      largestLostSentTime: 15,
      persistentCongestion: false,
      bytesInFlight: 0,
      delivered: 0,
    });
    const half = c.window();
    expect(half).toBe((w0 + 12_000) / 2);
    c.onLoss(21, {
      lostBytes: 1200,
      largestLostSentTime: 16,
      persistentCongestion: false,
      bytesInFlight: 0,
      delivered: 0,
    });
    expect(c.window()).toBe(half); // same recovery period
    c.onAck(30, ackEvent(half, 25, rtt));
    expect(c.window()).toBe(half + 1200);
    c.onLoss(40, {
      lostBytes: 1200,
      largestLostSentTime: 35,
      persistentCongestion: true,
      bytesInFlight: 0,
      delivered: 0,
    });
    expect(c.window()).toBe(2400);
  });

  it('CUBIC: reduces by beta 0.7 and regrows towards W_max along the cubic', () => {
    const rtt = new RttEstimator();
    rtt.update(50, 0);
    const c = new Cubic({ maxDatagramSize: 1200, now: 0 });
    c.onAck(1, ackEvent(100 * 1200, 0.5, rtt));
    const wmax = c.window();
    c.onLoss(2, {
      lostBytes: 1200,
      largestLostSentTime: 1.5,
      persistentCongestion: false,
      bytesInFlight: 0,
      delivered: 0,
    });
    expect(c.window()).toBeCloseTo(wmax * 0.7, 6);
    let now = 3;
    for (let i = 0; i < 400; i++) {
      now += 50;
      c.onAck(now, ackEvent(c.window(), now - 1, rtt));
    }
    expect(c.window()).toBeGreaterThan(wmax);
  });

  it('Pacer: a full bucket sends at once, then at the rate', () => {
    const p = new Pacer(0, 1200);
    p.update(0, 12, 1200); // 12 bytes/ms: bucket of 2 packets
    expect(p.nextSendTime(0, 1200)).toBe(0);
    p.onSend(1200);
    p.onSend(1200);
    expect(p.nextSendTime(0, 1200)).toBeCloseTo(100, 6);
  });

  it('Pacer: the bucket holds 2 ms (up to 256 datagrams): a driver waking every ~1 ms keeps a fast rate', () => {
    const mss = 1472;
    const p = new Pacer(0, mss);
    const rate = 150_000; // bytes per ms: 150 MB/s, loopback speed
    let now = 0;
    let sent = 0;
    for (let wake = 0; wake < 100; wake++) {
      now += 1.1; // setTimeout(1) fires a little late
      p.update(now, rate, mss);
      for (let i = 0; i < 1000 && p.nextSendTime(now, mss) <= now; i++) {
        p.onSend(mss);
        sent += mss;
      }
    }
    // with a 32-datagram bucket the same driver sent ~43 KB/ms
    expect(sent / now).toBeGreaterThan(0.95 * rate);
    // and the burst stays bounded: at any rate, at most 256 datagrams at once
    const q = new Pacer(0, mss);
    q.update(1000, 1e9, mss);
    let burst = 0;
    while (burst < 1000 && q.nextSendTime(1000, mss) <= 1000) {
      q.onSend(mss);
      burst++;
    }
    expect(burst).toBe(256);
  });

  it('RecvWindow: grows (bounded) when consumed quickly', () => {
    const w = new RecvWindow(1000, 4000);
    expect(w.onReceive(1000)).toBe(true);
    expect(w.onReceive(1001)).toBe(false);
    w.onConsume(600, 0, 10);
    expect(w.pending).toBe(true);
    w.onReceive(1600);
    w.onConsume(1000, 5, 10);
    expect(w.window).toBe(2000);
    for (let i = 0; i < 10; i++) w.onConsume(2000, 6 + i, 10);
    expect(w.window).toBe(4000);
  });
});

describe('Liveness keepalive coalescing', () => {
  it('rounds the keepalive deadline down to a keepaliveMs/16 grid: never late, at most 1/16 early', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        fc.integer({ min: 16, max: 120_000 }),
        (t, ka) => {
          const l = new Liveness(30_000, ka, 0);
          l.onSent(t, true);
          const d = l.keepaliveDeadline();
          expect(d).toBeLessThanOrEqual(t + ka);
          expect(d).toBeGreaterThan(t + ka - ka / KEEPALIVE_GRID_DIVISOR - 1e-6);
        },
      ),
    );
  });

  it('connections that sent at different moments of one grid cell fall due together', () => {
    const ka = 15_000;
    const grid = ka / KEEPALIVE_GRID_DIVISOR;
    const base = 1000 * grid;
    const deadlines = [0, 0.1, 0.5, 0.9].map((f) => {
      const l = new Liveness(30_000, ka, 0);
      l.onSent(base + f * grid, false);
      return l.keepaliveDeadline();
    });
    expect(new Set(deadlines).size).toBe(1);
    const off = new Liveness(30_000, 0, 0);
    expect(off.keepaliveDeadline()).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('resolved configuration', () => {
  it('is made anew by every resolveConfig call: reliability keeps no cache (the caller shares)', () => {
    const limits = { sendBuffer: 1 << 20 };
    const a = resolveConfig({ role: 'initiator', now: 0, limits });
    const b = resolveConfig({ role: 'initiator', now: 5, limits, maxUdpPayload: 1452 });
    expect(b).not.toBe(a);
    expect(b).toEqual(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.limits)).toBe(true);
    expect(a.limits.sendBuffer).toBe(1 << 20);
    expect(resolveConfig({ role: 'initiator', now: 0 }).limits).toBe(DEFAULT_LIMITS);
    // a limits object changed after use is read again (no resolved copy kept by identity)
    limits.sendBuffer = 1 << 21;
    expect(resolveConfig({ role: 'initiator', now: 0, limits }).limits.sendBuffer).toBe(1 << 21);
    // connections created from plain options: each its own configuration
    const ca = new ReliableConnection({ role: 'initiator', now: 0 });
    const cb = new ReliableConnection({ role: 'initiator', now: 0 });
    const configOfConn = (c: ReliableConnection): unknown => (c as unknown as { config: unknown }).config;
    expect(configOfConn(ca)).not.toBe(configOfConn(cb));
    expect(() => resolveConfig({ role: 'initiator', now: 0, limits, congestion: 'vegas' as 'bbr' })).toThrow(
      TypeError,
    );
  });

  it('carries every option: two option sets differing in one field never give equal configurations', () => {
    const log = (): void => {};
    const factory: CongestionControllerFactory = (o) => CONGESTION_CONTROLLERS.cubic(o);
    const limits = { maxStreams: 50 };
    const base: ReliableOptions = { role: 'initiator', now: 0 };
    // each option with a non-default value, and the field of ConnectionConfig it lands in
    const variants: [Partial<ReliableOptions>, keyof ConnectionConfig, unknown][] = [
      [{ role: 'responder' }, 'role', 'responder'],
      [{ overhead: 30 }, 'overhead', 30],
      [{ headroom: 1 }, 'headroom', 1],
      [{ maxUdpPayload: 1453 }, 'maxUdpPayload', 1453],
      [{ maxAckDelayMs: 26 }, 'maxAckDelay', 26],
      [{ keepaliveMs: 15_001 }, 'keepaliveMs', 15_001],
      [{ idleTimeoutMs: 30_001 }, 'idleTimeoutMs', 30_001],
      [{ initialRttMs: 333.5 }, 'initialRtt', 333.5],
      [{ rttProbes: 1 }, 'rttProbes', 1],
      [{ rttProbeAnswer: true }, 'rttProbeAnswer', true],
      [{ congestion: 'cubic' }, 'congestion', CONGESTION_CONTROLLERS.cubic],
      [{ congestion: factory }, 'congestion', factory],
      [{ log }, 'log', log],
      [{ limits }, 'limits', { ...DEFAULT_LIMITS, maxStreams: 50 }],
    ];
    const plain = resolveConfig(base);
    for (const [option, field, value] of variants) {
      // resolved after the base, as a cache keyed on too few fields would return the base's
      const config = resolveConfig({ ...base, ...option });
      expect(config[field], field).toEqual(value);
      expect(plain[field], field).not.toEqual(value);
      expect(config).toEqual({ ...plain, [field]: value });
    }
  });

  it('creates connections from one resolved configuration; only resolveConfig makes one', () => {
    const config = resolveConfig({ role: 'responder', now: 0, keepaliveMs: 1234, idleTimeoutMs: 5678 });
    const a = new ReliableConnection({ config, now: 10 });
    const b = new ReliableConnection({ config, now: 20 });
    for (const c of [a, b]) {
      expect((c as unknown as { config: unknown }).config).toBe(config);
      expect(c.state).toBe('open');
    }
    // a connection made from the configuration behaves as one made from the options
    const viaOptions = new ReliableConnection({
      role: 'responder',
      now: 10,
      keepaliveMs: 1234,
      idleTimeoutMs: 5678,
    });
    expect(a.pollTimeout()).toBe(viaOptions.pollTimeout());
    expect(a.openStream()).toBe(viaOptions.openStream());
    // not a configuration resolveConfig returned (a copy, or unvalidated values): refused
    expect(() => new ReliableConnection({ config: { ...config }, now: 0 })).toThrow(TypeError);
    expect(() => new ReliableConnection({ config, now: Number.NaN })).toThrow(TypeError);
    // one with a log of the caller's is accepted too, and frozen
    const logged = resolveConfig({ role: 'initiator', now: 0, log: () => {} });
    expect(Object.isFrozen(logged)).toBe(true);
    expect(() => new ReliableConnection({ config: logged, now: 0 })).not.toThrow();
  });
});
