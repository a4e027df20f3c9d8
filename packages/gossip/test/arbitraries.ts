// fast-check arbitraries of gossip frames (codec round trips, state-machine fuzzing).
import fc from 'fast-check';
import { encodeSignedMessage, type GossipFrame } from '../src/index.js';

export const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const record = fc.uint8Array({ maxLength: 300 });
const entries = fc.array(fc.record({ peer: bytes(32), record }), { maxLength: 8 });
const message = fc
  .record({
    origin: bytes(32),
    issuedAt: fc.maxSafeNat(),
    seq: fc.maxSafeNat(),
    payload: fc.oneof(
      fc.record({ kind: fc.constant('inline' as const), data: fc.uint8Array({ maxLength: 400 }) }),
      fc.record({
        kind: fc.constant('blob' as const),
        hash: bytes(32),
        size: fc.integer({ min: 1, max: 2 ** 40 }),
      }),
    ),
    signature: bytes(64),
  })
  .map(encodeSignedMessage);
const round = fc.integer({ min: 0, max: 0xffff });

export const frameArb: fc.Arbitrary<GossipFrame> = fc.oneof(
  fc.record({ type: fc.constant('join' as const), topic: bytes(32), record }),
  fc.record({
    type: fc.constant('forward_join' as const),
    topic: bytes(32),
    peer: bytes(32),
    ttl: fc.integer({ min: 0, max: 255 }),
    via: bytes(32),
    record,
  }),
  fc.record({ type: fc.constant('neighbor' as const), topic: bytes(32), high: fc.boolean(), record }),
  fc.record({ type: fc.constant('neighbor_reply' as const), topic: bytes(32), accepted: fc.boolean() }),
  fc.record({ type: fc.constant('disconnect' as const), topic: bytes(32), alive: fc.boolean() }),
  fc.record({
    type: fc.constant('shuffle' as const),
    topic: bytes(32),
    id: bytes(8),
    ttl: fc.integer({ min: 0, max: 255 }),
    origin: bytes(32),
    record,
    entries,
  }),
  fc.record({ type: fc.constant('shuffle_reply' as const), topic: bytes(32), id: bytes(8), entries }),
  fc.record({ type: fc.constant('gossip' as const), topic: bytes(32), round, message }),
  fc.record({
    type: fc.constant('ihave' as const),
    topic: bytes(32),
    items: fc.array(fc.record({ id: bytes(32), round }), { maxLength: 20 }),
  }),
  fc.record({
    type: fc.constant('graft' as const),
    topic: bytes(32),
    id: fc.option(bytes(32), { nil: null }),
    round,
  }),
  fc.record({ type: fc.constant('prune' as const), topic: bytes(32) }),
);
