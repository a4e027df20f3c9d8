/** fast-check arbitraries for every frame and packet type (shared by the property and fuzz tests). */
import fc from 'fast-check';
import type { AckRange, Frame, Packet } from '../src/index.js';

/** Mostly small numbers, sometimes any safe integer: exercises every varint length. */
export const varintArb = fc.oneof(
  fc.nat(63),
  fc.nat(16383),
  fc.nat(2 ** 30 - 1),
  fc.maxSafeNat(),
  fc.constantFrom(0, 63, 64, 16383, 16384, 2 ** 30 - 1, 2 ** 30, 2 ** 53 - 1),
);
const u32Arb = fc.oneof(fc.nat(100), fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 0xffffffff));
const bytesArb = (max: number) => fc.uint8Array({ maxLength: max });
const fixed = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

export const ackRangesArb: fc.Arbitrary<AckRange[]> = fc
  .tuple(
    varintArb,
    fc.array(fc.tuple(fc.oneof(fc.nat(10), varintArb), fc.oneof(fc.nat(10), varintArb)), { maxLength: 20 }),
  )
  .map(([largest, steps]) => {
    const ranges: AckRange[] = [];
    let end = largest;
    for (const [len, gap] of steps) {
      const start = end - Math.min(len, end);
      ranges.push({ start, end });
      if (start < gap + 2) return ranges;
      end = start - gap - 2;
    }
    ranges.push({ start: end, end });
    return ranges;
  });

export const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant('padding' as const), length: fc.integer({ min: 1, max: 64 }) }),
  fc.constant({ type: 'ping' as const }),
  fc.record({ type: fc.constant('ack' as const), delay: varintArb, ranges: ackRangesArb }),
  fc
    .record({
      type: fc.constant('stream' as const),
      streamId: varintArb,
      offset: fc.oneof(fc.constant(0), varintArb),
      fin: fc.boolean(),
      data: bytesArb(200),
    })
    .filter((f) => f.offset + f.data.length <= 2 ** 53 - 1),
  fc.record({
    type: fc.constant('reset_stream' as const),
    streamId: varintArb,
    code: varintArb,
    finalSize: varintArb,
  }),
  fc.record({ type: fc.constant('stop_sending' as const), streamId: varintArb, code: varintArb }),
  fc.record({ type: fc.constant('max_data' as const), max: varintArb }),
  fc.record({ type: fc.constant('max_stream_data' as const), streamId: varintArb, max: varintArb }),
  fc.record({ type: fc.constant('max_streams' as const), max: varintArb }),
  fc
    .record({
      id: varintArb,
      offset: varintArb,
      extra: varintArb,
      unordered: fc.boolean(),
      data: bytesArb(200),
    })
    .filter((m) => m.offset + m.data.length + m.extra <= 2 ** 53 - 1)
    .map(({ id, offset, extra, unordered, data }) => ({
      type: 'message' as const,
      id,
      offset,
      total: offset + data.length + extra,
      unordered,
      data,
    })),
  fc.record({ type: fc.constant('datagram' as const), data: bytesArb(300) }),
  fc.record({ type: fc.constant('path_challenge' as const), data: fixed(8) }),
  fc.record({ type: fc.constant('path_response' as const), data: fixed(8) }),
  fc.record({ type: fc.constant('relay' as const), peer: fixed(32), payload: bytesArb(300) }),
  fc.record({
    type: fc.constant('close' as const),
    code: varintArb,
    // one leading U+FEFF is dropped by the decoder (wire-format.md, CLOSE): pinned in stun.test.ts
    reason: fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.startsWith('\uFEFF')),
  }),
);

/** Adjacent PADDING frames decode as one run: the canonical form of a frame list. */
export function mergePadding(frames: Frame[]): Frame[] {
  const out: Frame[] = [];
  for (const f of frames) {
    const last = out[out.length - 1];
    if (f.type === 'padding' && last?.type === 'padding')
      out[out.length - 1] = { ...last, length: last.length + f.length };
    else out.push(f);
  }
  return out;
}

export const packetArb: fc.Arbitrary<Packet> = fc.oneof(
  fc
    .record({
      type: fc.constantFrom(
        'handshake_init' as const,
        'handshake_response' as const,
        'handshake_final' as const,
      ),
      version: fc.constant(1),
      pattern: fc.constantFrom(0 as const, 1 as const),
      senderIndex: u32Arb,
      receiverIndex: u32Arb,
      noise: bytesArb(200),
      mac1: fixed(16),
      mac2: fixed(16),
    })
    .map((p) => ({
      ...p,
      receiverIndex: p.type === 'handshake_init' ? 0 : p.receiverIndex,
      pattern: p.type === 'handshake_final' ? (1 as const) : p.pattern,
    })),
  fc.record({
    type: fc.constant('cookie_reply' as const),
    receiverIndex: u32Arb,
    nonce: fixed(24),
    sealedCookie: fixed(32),
  }),
  fc.record({
    type: fc.constant('data' as const),
    keyPhase: fc.constantFrom(0 as const, 1 as const),
    receiverIndex: u32Arb,
    packetNumber: varintArb,
    sealed: fc.uint8Array({ minLength: 16, maxLength: 300 }),
  }),
);
