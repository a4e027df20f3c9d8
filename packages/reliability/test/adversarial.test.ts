import { encodeFrames, type Frame, FrameTypeByte, writeVarint } from '@srmudp/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ReliableConnection, type ReliableEvent } from '../src/index.js';

const RUNS = Number(process.env.RELIABILITY_FUZZ_RUNS ?? 500);

function conn(role: 'initiator' | 'responder' = 'responder', extra = {}): ReliableConnection {
  return new ReliableConnection({ role, now: 0, overhead: 8, ...extra });
}

function events(c: ReliableConnection, now = 0): ReliableEvent[] {
  const out: ReliableEvent[] = [];
  for (let e = c.pollEvent(now); e !== null; e = c.pollEvent(now)) out.push(e);
  return out;
}

function closedWith(c: ReliableConnection): ReliableEvent | undefined {
  return events(c).find((e) => e.type === 'closed');
}

/** Drains what `c` sends and returns the frames of the packets (decoded by a fresh peer). */
function sentFrames(c: ReliableConnection, now: number): number {
  let n = 0;
  for (let t = c.pollTransmit(now); t !== null; t = c.pollTransmit(now)) n++;
  return n;
}

describe('adversarial peer input', () => {
  it('ACK of a packet never sent: PROTOCOL_VIOLATION, CLOSE sent, no exception', () => {
    const c = conn();
    c.handlePacket(1, 0, encodeFrames([{ type: 'ack', delay: 0, ranges: [{ start: 0, end: 5 }] }]));
    expect(closedWith(c)).toMatchObject({
      type: 'closed',
      code: ErrorCode.PROTOCOL_VIOLATION,
      remote: false,
    });
    expect(c.state).toBe('closing');
    const t = c.pollTransmit(1);
    expect(t).not.toBeNull();
    expect(t!.payload[0]).toBe(FrameTypeByte.Close);
  });

  it('ACK whose ranges run backwards (undecodable): FRAME_ENCODING_ERROR', () => {
    const c = conn();
    // largest 3, delay 0, 0 extra ranges, first range length 10 (> largest: would go below zero)
    const b = new Uint8Array(16);
    let o = 0;
    b[o++] = FrameTypeByte.Ack;
    o = writeVarint(b, o, 3);
    o = writeVarint(b, o, 0);
    o = writeVarint(b, o, 0);
    o = writeVarint(b, o, 10);
    expect(() => c.handlePacket(1, 0, b.subarray(0, o))).not.toThrow();
    expect(closedWith(c)).toMatchObject({ code: ErrorCode.FRAME_ENCODING_ERROR });
  });

  it('ACK ranges overlapping an earlier range (gap underflow) are rejected without exception', () => {
    const c = conn();
    // send something so packets 0..2 exist
    c.sendMessage(new Uint8Array(10));
    sentFrames(c, 0);
    const b = new Uint8Array(32);
    let o = 0;
    b[o++] = FrameTypeByte.Ack;
    o = writeVarint(b, o, 1); // largest 1
    o = writeVarint(b, o, 0);
    o = writeVarint(b, o, 1); // one more range
    o = writeVarint(b, o, 0); // first range [1,1]
    o = writeVarint(b, o, 5); // gap 5: would start below zero
    o = writeVarint(b, o, 0);
    expect(() => c.handlePacket(1, 0, b.subarray(0, o))).not.toThrow();
    const ev = closedWith(c);
    expect(ev).toBeDefined();
    expect([ErrorCode.FRAME_ENCODING_ERROR, ErrorCode.PROTOCOL_VIOLATION]).toContain(
      (ev as { code: number }).code,
    );
  });

  it('duplicate and stale ACKs are ignored', () => {
    const c = conn('initiator');
    c.sendMessage(new Uint8Array(100));
    sentFrames(c, 0);
    const ack = encodeFrames([{ type: 'ack', delay: 0, ranges: [{ start: 0, end: 0 }] }]);
    c.handlePacket(10, 0, ack);
    c.handlePacket(11, 1, ack);
    c.handlePacket(12, 1, ack); // duplicate packet number
    expect(c.state).toBe('open');
    expect(c.stats().drops.duplicatePackets).toBe(1);
    expect(c.stats().srttMs).toBeCloseTo(10, 5);
  });

  it('stream data beyond the advertised limit: FLOW_CONTROL_ERROR', () => {
    const c = conn();
    const data = new Uint8Array(1000);
    // initiator's stream 0; our initial stream window is 256 KiB
    c.handlePacket(
      1,
      0,
      encodeFrames([{ type: 'stream', streamId: 0, offset: 256 * 1024, fin: false, data }]),
    );
    expect(closedWith(c)).toMatchObject({ code: ErrorCode.FLOW_CONTROL_ERROR, error: 'FLOW_CONTROL_ERROR' });
  });

  it('connection-level limit holds across many streams', () => {
    const c = conn('responder', {
      limits: { connectionReceiveWindow: 64 * 1024, maxConnectionReceiveWindow: 32 << 20 },
    });
    const data = new Uint8Array(1100);
    let pn = 0;
    let closed: ReliableEvent | undefined;
    for (let s = 0; s < 16 && closed === undefined; s++) {
      for (let off = 0; off < 8 * 1100 && closed === undefined; off += 1100) {
        c.handlePacket(
          1,
          pn++,
          encodeFrames([{ type: 'stream', streamId: s * 2, offset: off, fin: false, data }]),
        );
        closed = events(c).find((e) => e.type === 'closed');
      }
    }
    expect(closed).toMatchObject({ code: ErrorCode.FLOW_CONTROL_ERROR });
  });

  it('offsets near 2^53: beyond flow control, or undecodable when they would wrap', () => {
    const c = conn();
    c.handlePacket(
      1,
      0,
      encodeFrames([
        { type: 'stream', streamId: 0, offset: 2 ** 53 - 10, fin: false, data: new Uint8Array(5) },
      ]),
    );
    expect(closedWith(c)).toMatchObject({ code: ErrorCode.FLOW_CONTROL_ERROR });
    // offset + length > 2^53 - 1 cannot be encoded by our encoder: build it by hand
    const c2 = conn();
    const b = new Uint8Array(64);
    let o = 0;
    b[o++] = FrameTypeByte.Stream | 0x04 | 0x02; // OFF | LEN
    o = writeVarint(b, o, 0);
    o = writeVarint(b, o, 2 ** 53 - 2);
    o = writeVarint(b, o, 10);
    o += 10;
    expect(() => c2.handlePacket(1, 0, b.subarray(0, o))).not.toThrow();
    const ev = closedWith(c2);
    expect(ev).toBeDefined();
    expect([ErrorCode.FRAME_ENCODING_ERROR, ErrorCode.FLOW_CONTROL_ERROR]).toContain(
      (ev as { code: number }).code,
    );
  });

  it('final size changes: FINAL_SIZE_ERROR', () => {
    const c = conn();
    const d = new Uint8Array(10);
    c.handlePacket(1, 0, encodeFrames([{ type: 'stream', streamId: 0, offset: 0, fin: true, data: d }]));
    c.handlePacket(1, 1, encodeFrames([{ type: 'stream', streamId: 0, offset: 10, fin: false, data: d }]));
    expect(events(c).find((e) => e.type === 'closed')).toMatchObject({ code: ErrorCode.FINAL_SIZE_ERROR });
  });

  it('streams beyond MAX_STREAMS: STREAM_LIMIT_ERROR; our never-opened stream: STREAM_STATE_ERROR', () => {
    const c = conn();
    c.handlePacket(
      1,
      0,
      encodeFrames([{ type: 'stream', streamId: 2 * 100, offset: 0, fin: false, data: new Uint8Array(1) }]),
    );
    expect(closedWith(c)).toMatchObject({ code: ErrorCode.STREAM_LIMIT_ERROR });
    const c2 = conn();
    c2.handlePacket(
      1,
      0,
      encodeFrames([{ type: 'stream', streamId: 1, offset: 0, fin: false, data: new Uint8Array(1) }]),
    );
    expect(closedWith(c2)).toMatchObject({ code: ErrorCode.STREAM_STATE_ERROR });
  });

  it('a message above maxMessageSize: MESSAGE_TOO_LARGE', () => {
    const c = conn();
    c.handlePacket(
      1,
      0,
      encodeFrames([
        { type: 'message', id: 0, offset: 0, total: 17 << 20, unordered: false, data: new Uint8Array(4) },
      ]),
    );
    expect(closedWith(c)).toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
  });

  it('many tiny message fragments cannot exceed the window (per-message charge)', () => {
    const c = conn('responder', {
      limits: {
        connectionReceiveWindow: 64 * 1024,
        maxConnectionReceiveWindow: 17 << 20,
        maxMessageSize: 1 << 20,
      },
    });
    let closed: ReliableEvent | undefined;
    for (let i = 0; i < 5000 && closed === undefined; i++) {
      // id 0 never completes, so every later ordered message waits in memory
      c.handlePacket(
        1,
        i,
        encodeFrames([
          { type: 'message', id: i + 1, offset: 0, total: 2, unordered: false, data: new Uint8Array(1) },
        ]),
      );
      closed = events(c).find((e) => e.type === 'closed');
    }
    expect(closed).toMatchObject({ code: ErrorCode.FLOW_CONTROL_ERROR });
  });

  it('a peer that never ACKs: bounded buffers, PTO backs off, idle timeout closes', () => {
    const c = conn('initiator');
    const id = c.openStream();
    const chunk = new Uint8Array(1 << 20);
    let accepted = 0;
    for (let i = 0; i < 64; i++) accepted += c.write(id, chunk);
    expect(accepted).toBeLessThanOrEqual(c.limits.streamSendBuffer);
    let now = 0;
    const gaps: number[] = [];
    let lastPto = 0;
    let closedAt = -1;
    for (let i = 0; i < 10_000 && closedAt < 0; i++) {
      while (c.pollTransmit(now) !== null) {}
      const t = c.pollTimeout();
      if (t === null) break;
      const prev = c.stats().ptoCount;
      now = Math.max(now, t);
      c.handleTimeout(now);
      if (c.stats().ptoCount > prev) {
        gaps.push(now - lastPto);
        lastPto = now;
      }
      // only PTO probes (two per timeout, RFC 9002 §6.2.4) may exceed the window
      expect(c.stats().bytesInFlight).toBeLessThanOrEqual(
        c.stats().cwnd + (2 * c.stats().ptoCount + 2) * 1500,
      );
      if (events(c, now).some((e) => e.type === 'closed')) closedAt = now;
    }
    expect(closedAt).toBeGreaterThanOrEqual(30_000);
    expect(closedAt).toBeLessThan(31_000);
    expect(c.state).toBe('closed');
    // exponential backoff: each PTO interval at least the previous one (later ones double)
    expect(gaps.length).toBeGreaterThanOrEqual(4);
    for (let i = 2; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThanOrEqual(gaps[i - 1]! * 1.9);
    expect(c.pollTimeout()).toBeNull();
    expect(c.pollTransmit(now)).toBeNull();
  });

  it('any byte string as a payload never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 2 ** 40 }), (bytes, pn) => {
        const c = conn();
        c.handlePacket(1, pn, bytes);
        c.handleTimeout(2);
        c.pollTransmit(2);
        c.pollTimeout();
        events(c, 2);
      }),
      { numRuns: RUNS },
    );
  });

  it('any sequence of well-formed frames never throws and never grows without bound', () => {
    const frameArb: fc.Arbitrary<Frame> = fc.oneof(
      fc.record({
        type: fc.constant('stream' as const),
        streamId: fc.integer({ min: 0, max: 300 }),
        offset: fc.oneof(fc.integer({ min: 0, max: 300_000 }), fc.constant(2 ** 53 - 100)),
        fin: fc.boolean(),
        data: fc.uint8Array({ maxLength: 64 }),
      }),
      fc.record({
        type: fc.constant('ack' as const),
        delay: fc.integer({ min: 0, max: 2 ** 32 }),
        ranges: fc.constant([{ start: 0, end: 0 }]).map((r) => r.map((x) => ({ ...x }))),
      }),
      fc.record({
        type: fc.constant('message' as const),
        id: fc.integer({ min: 0, max: 50 }),
        offset: fc.integer({ min: 0, max: 100 }),
        total: fc.integer({ min: 100, max: 200 }),
        unordered: fc.boolean(),
        data: fc.uint8Array({ maxLength: 50 }),
      }),
      fc.record({ type: fc.constant('max_data' as const), max: fc.integer({ min: 0, max: 2 ** 53 - 1 }) }),
      fc.record({
        type: fc.constant('max_stream_data' as const),
        streamId: fc.integer({ min: 0, max: 300 }),
        max: fc.integer({ min: 0, max: 2 ** 53 - 1 }),
      }),
      fc.record({ type: fc.constant('max_streams' as const), max: fc.integer({ min: 0, max: 2 ** 53 - 1 }) }),
      fc.record({
        type: fc.constant('reset_stream' as const),
        streamId: fc.integer({ min: 0, max: 300 }),
        code: fc.integer({ min: 0, max: 1000 }),
        finalSize: fc.integer({ min: 0, max: 300_000 }),
      }),
      fc.record({
        type: fc.constant('stop_sending' as const),
        streamId: fc.integer({ min: 0, max: 300 }),
        code: fc.integer({ min: 0, max: 1000 }),
      }),
      fc.record({ type: fc.constant('datagram' as const), data: fc.uint8Array({ maxLength: 100 }) }),
      fc.constant({ type: 'ping' } as Frame),
    );
    fc.assert(
      fc.property(
        fc.array(fc.array(frameArb, { minLength: 1, maxLength: 4 }), { maxLength: 30 }),
        (packets) => {
          const c = conn('responder');
          c.openStream();
          let now = 0;
          packets.forEach((frames, pn) => {
            let payload: Uint8Array;
            try {
              payload = encodeFrames(frames);
            } catch {
              return; // our encoder refuses it (e.g. offset + length beyond 2^53): not a wire input
            }
            now += 1;
            c.handlePacket(now, pn, payload);
            while (c.pollTransmit(now) !== null) {}
            c.handleTimeout(now);
            const ev = events(c, now);
            for (const e of ev) if (e.type === 'closed') expect(e.error).not.toBe('INTERNAL_ERROR');
          });
          expect(c.stats().bytesInFlight).toBeLessThanOrEqual(c.stats().cwnd + 3000);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
