/**
 * Total decoders: any byte string gives a value or a WireDecodeError, nothing else; valid
 * messages round-trip; the state machines never throw on hostile bytes.
 */
import { identityFromSecret } from '@srmudp/crypto';
import { WireDecodeError } from '@srmudp/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CircuitLimits,
  CLOSE_REASONS,
  type CloseReason,
  type ControlMessage,
  createVoucher,
  decodeChannelData,
  decodeControl,
  decodeVoucher,
  encodeChannelData,
  encodeControl,
  openPolicy,
  peekChannel,
  peekControlHeader,
  REJECT_REASONS,
  type RejectReason,
  type RelayStatus,
} from '../src/index.js';
import { Local } from './local.js';

const RUNS = 20_000;

function total(decode: (b: Uint8Array) => unknown): (b: Uint8Array) => void {
  return (b) => {
    try {
      decode(b);
    } catch (e) {
      if (!(e instanceof WireDecodeError)) throw e;
    }
  };
}

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const vi = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const smallVi = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 2 ** 30 }), vi);
const limits: fc.Arbitrary<CircuitLimits> = fc.record({ durationMs: smallVi, bytes: smallVi });
const channel = fc.integer({ min: 0x4000, max: 0x4fff });
const optBytes = (max: number) => fc.option(fc.uint8Array({ minLength: 1, maxLength: max }), { nil: null });
const reject = fc.constantFrom(...(Object.keys(REJECT_REASONS) as RejectReason[]));
const close = fc.constantFrom(...(Object.keys(CLOSE_REASONS) as CloseReason[]));
const status: fc.Arbitrary<RelayStatus> = fc.oneof(
  fc.record({
    code: fc.constant('healthy' as const),
    instance: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    epoch: smallVi,
    rateBytesPerSec: smallVi,
    burstBytes: smallVi,
    maxCircuits: smallVi,
    maxMessageSize: smallVi,
  }),
  fc.record({ code: fc.constant('rate_limited' as const), rateBytesPerSec: smallVi, burstBytes: smallVi }),
  fc.record({ code: fc.constant('same_key_elsewhere' as const) }),
  fc.record({ code: fc.constant('restarting' as const), reconnectInMs: smallVi, tryForMs: smallVi }),
  fc.record({ code: fc.constant('denied' as const), reason: reject }),
);

export const controlMessage: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.record({
    type: fc.constant('connect' as const),
    requestId: smallVi,
    target: key,
    limits,
    voucher: optBytes(1024),
    firstPacket: optBytes(1500),
  }),
  fc.record({
    type: fc.constant('incoming' as const),
    requestId: smallVi,
    requester: key,
    limits,
    voucher: optBytes(300),
    firstPacket: optBytes(300),
  }),
  fc.record({ type: fc.constant('accept' as const), requestId: smallVi, incomingId: smallVi, limits }),
  fc.record({ type: fc.constant('reject' as const), requestId: smallVi, reason: reject }),
  fc.record({
    type: fc.constant('bound' as const),
    requestId: smallVi,
    channel,
    peer: key,
    limits,
    expiresInMs: smallVi,
  }),
  fc.record({ type: fc.constant('close' as const), requestId: smallVi, channel, reason: close }),
  fc.record({ type: fc.constant('refresh' as const), requestId: smallVi, channel }),
  fc.record({ type: fc.constant('status' as const), requestId: smallVi, status }),
);

/** Valid encodings with some bytes changed, cut or appended: the interesting hostile inputs. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      valid,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      fc.boolean(),
    )
    .map(([b, edits, cut, extend]) => {
      let out = b.slice();
      for (const [i, v] of edits) if (out.length > 0) out[i % out.length] = v;
      if (extend) out = Uint8Array.of(...out, cut & 0xff);
      else if (cut % 3 === 0) out = out.subarray(0, cut % (out.length + 1));
      return out;
    });
}

const identity = identityFromSecret(new Uint8Array(32).fill(5));
const voucherBytes = fc
  .record({
    relay: key,
    target: key,
    expiresAt: fc.integer({ min: 0, max: 2 ** 50 }),
    limits,
    group: fc.uint8Array({ maxLength: 64 }),
    nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  })
  .map((o) => createVoucher(identity, o));
/** Signing is slow: mutate a fixed sample of valid vouchers. */
const sampleVouchers = fc.constantFrom(...fc.sample(voucherBytes, { numRuns: 30, seed: 7 }));

describe('decoders are total', () => {
  it('control messages round-trip', () => {
    fc.assert(
      fc.property(controlMessage, (m) => {
        const bytes = encodeControl(m);
        expect(decodeControl(bytes)).toEqual(m);
        expect(peekControlHeader(bytes)?.requestId).toBe(m.requestId);
      }),
      { numRuns: 3_000 },
    );
  });

  it('decodeControl: random and mutated bytes give a value or WireDecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), total(decodeControl)), { numRuns: RUNS });
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 60 }).map((b) => Uint8Array.of(1, ...b)),
        total(decodeControl),
      ),
      {
        numRuns: RUNS,
      },
    );
    fc.assert(fc.property(mutated(controlMessage.map(encodeControl)), total(decodeControl)), {
      numRuns: RUNS,
    });
  });

  it('peekControlHeader and peekChannel never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        peekControlHeader(b);
        const ch = peekChannel(b);
        // peekChannel agrees with the full decoder
        let decoded = -1;
        try {
          decoded = decodeChannelData(b).channel;
        } catch (e) {
          if (!(e instanceof WireDecodeError)) throw e;
        }
        expect(ch).toBe(decoded);
      }),
      { numRuns: RUNS },
    );
  });

  it('channel data round-trips and its decoder is total', () => {
    fc.assert(
      fc.property(channel, fc.uint8Array({ minLength: 1, maxLength: 2000 }), (ch, p) => {
        const d = encodeChannelData(ch, p);
        expect(d.length).toBe(p.length + 4);
        expect(decodeChannelData(d)).toEqual({ channel: ch, payload: p });
      }),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(
        mutated(
          fc
            .tuple(channel, fc.uint8Array({ minLength: 1, maxLength: 50 }))
            .map(([c, p]) => encodeChannelData(c, p)),
        ),
        total(decodeChannelData),
      ),
      { numRuns: RUNS },
    );
  });

  it('vouchers round-trip and their decoder is total', () => {
    fc.assert(
      fc.property(voucherBytes, (b) => {
        const v = decodeVoucher(b);
        expect(v.requester).toEqual(identity.publicKey);
      }),
      { numRuns: 50 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), total(decodeVoucher)), { numRuns: RUNS });
    fc.assert(fc.property(mutated(sampleVouchers), total(decodeVoucher)), { numRuns: RUNS });
  });
});

describe('state machines never throw on hostile bytes', () => {
  it('RelayService and RelayClient take random and mutated control messages and channel data', () => {
    const L = new Local({ seed: 'fuzz', policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 120 }),
      mutated(controlMessage.map(encodeControl)),
      mutated(
        fc
          .tuple(channel, fc.uint8Array({ minLength: 1, maxLength: 50 }))
          .map(([c, p]) => encodeChannelData(c, p)),
      ),
    );
    fc.assert(
      fc.property(hostile, (b) => {
        L.service.handleControl(L.now, A.key, b);
        L.service.handleChannelData(L.now, B.hop, b);
        A.client.handleControl(L.now, b);
        A.client.unwrap(L.now, b);
        L.pump();
      }),
      { numRuns: 5_000 },
    );
    const s = L.service.stats();
    expect(s.controlReceived).toBeGreaterThan(5_000);
    expect(s.dropped.control_malformed).toBeGreaterThan(1_000);
  });
});
