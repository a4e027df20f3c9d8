/**
 * Decoders are total: any byte string gives a value or a WireDecodeError, never another
 * exception (DESIGN.md §3). At least 100,000 inputs per run, half random, half mutated valid
 * encodings (bits flipped, bytes overwritten, truncated, extended, spliced). Scale with
 * WIRE_FUZZ_RUNS (inputs per decoder and kind; default 17,000 -> 6 x 17,000 = 102,000).
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  classifyDatagram,
  decodeFrames,
  decodePacket,
  decodeStun,
  encodeFrames,
  encodePacketBytes,
  encodeStun,
  FrameDecoder,
  peekReceiverIndex,
  readDataHeader,
  stunShortTermKey,
  WireDecodeError,
} from '../src/index.js';
import { frameArb, packetArb } from './arbitraries.js';
import { stunMessageArb } from './stun-arbitraries.js';

const RUNS = Number(process.env.WIRE_FUZZ_RUNS ?? 17_000);
const key = stunShortTermKey('fuzz');
let total = 0;

type Mutation = { kind: 'flip' | 'set' | 'truncate' | 'extend' | 'insert' | 'delete'; at: number; v: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'set', 'truncate', 'extend', 'insert', 'delete'),
  at: fc.nat(),
  v: fc.nat(255),
});

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = bytes;
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[at]! ^= 1 << (m.v & 7);
        break;
      case 'set':
        if (b.length > 0) b[at] = m.v;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'extend': {
        const n = (m.v & 15) + 1;
        const out = new Uint8Array(b.length + n);
        out.set(b);
        for (let i = 0; i < n; i++) out[b.length + i] = (m.v * (i + 7)) & 0xff;
        b = out;
        break;
      }
      case 'insert': {
        const out = new Uint8Array(b.length + 1);
        out.set(b.subarray(0, at));
        out[at] = m.v;
        out.set(b.subarray(at), at + 1);
        b = out;
        break;
      }
      case 'delete': {
        if (b.length === 0) break;
        const out = new Uint8Array(b.length - 1);
        out.set(b.subarray(0, at));
        out.set(b.subarray(at + 1), at);
        b = out;
        break;
      }
    }
  }
  return b;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs `decode`; passes when it returns or throws WireDecodeError. Anything else fails. */
function total_(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): unknown {
  total++;
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof WireDecodeError) return undefined;
    throw e;
  }
}

const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 1500 }),
  // biased first bytes: srmudp types, frame types, STUN headers
  fc
    .tuple(
      fc.constantFrom(
        0x00,
        0x01,
        0x02,
        0x08,
        0x0e,
        0x18,
        0x1c,
        0x31,
        0x38,
        0x81,
        0x82,
        0x83,
        0x84,
        0x90,
        0x91,
      ),
      fc.uint8Array({ maxLength: 200 }),
    )
    .map(([t, rest]) => Uint8Array.from([t, ...rest])),
  fc.tuple(fc.nat(0x3fff), fc.uint8Array({ maxLength: 120 })).map(([type, rest]) => {
    const len = rest.length & ~3;
    return Uint8Array.from([
      type >> 8,
      type & 0xff,
      len >> 8,
      len & 0xff,
      0x21,
      0x12,
      0xa4,
      0x42,
      ...new Uint8Array(12),
      ...rest.subarray(0, len),
    ]);
  }),
);

function decodeFramesChecked(bytes: Uint8Array): unknown {
  const frames = decodeFrames(bytes);
  // Whatever decodes re-encodes (canonically), and the canonical form is a fixed point.
  const again = encodeFrames(frames);
  if (!sameBytes(encodeFrames(decodeFrames(again)), again))
    throw new Error('frames: canonical form not stable');
  return frames;
}

function decodePacketChecked(bytes: Uint8Array): unknown {
  classifyDatagram(bytes);
  peekReceiverIndex(bytes);
  const p = decodePacket(bytes);
  // The packet layout is fixed, so what decodes re-encodes to the same bytes.
  if (!sameBytes(encodePacketBytes(p), bytes)) throw new Error('packet: re-encoding differs');
  if (p.type === 'data' && readDataHeader(bytes).packetNumber !== p.packetNumber)
    throw new Error('data header');
  return p;
}

function decodeStunChecked(bytes: Uint8Array): unknown {
  const kind = classifyDatagram(bytes);
  const m = decodeStun(bytes, { integrityKey: key });
  if (kind !== 'stun') throw new Error('decodeStun accepted what classifyDatagram rejects');
  return m;
}

describe('fuzz: decoders are total', () => {
  afterAll(() => {
    expect(total).toBeGreaterThanOrEqual(6 * RUNS);
  });

  const cases: [string, (b: Uint8Array) => unknown, fc.Arbitrary<Uint8Array>][] = [
    ['decodePacket', decodePacketChecked, packetArb.map(encodePacketBytes)],
    ['decodeFrames', decodeFramesChecked, fc.array(frameArb, { maxLength: 6 }).map(encodeFrames)],
    [
      'decodeStun',
      decodeStunChecked,
      fc
        .tuple(stunMessageArb, fc.boolean(), fc.boolean())
        .map(([m, mi, fp]) => encodeStun(m, { fingerprint: fp, ...(mi ? { integrityKey: key } : {}) })),
    ],
  ];

  for (const [name, decode, valid] of cases) {
    it(`${name}: ${RUNS} random byte strings`, () => {
      fc.assert(
        fc.property(randomBytes, (b) => {
          total_(decode, b);
        }),
        { numRuns: RUNS },
      );
    });

    it(`${name}: ${RUNS} mutated valid encodings`, () => {
      fc.assert(
        fc.property(valid, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (b, muts) => {
          total_(decode, mutate(b.slice(), muts));
        }),
        { numRuns: RUNS },
      );
    });
  }
});

/** Frames or the error's code and message, for comparing two decoders. */
function outcome(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): unknown {
  try {
    return { frames: decode(bytes) };
  } catch (e) {
    if (e instanceof WireDecodeError) return { code: e.code, message: e.message };
    throw e;
  }
}

describe('fuzz: FrameDecoder agrees with decodeFrames', () => {
  // one decoder for every input, as on a receive path: its reused objects carry the previous
  // input's values into the next decode, which must not show
  const decoder = new FrameDecoder();
  let compared = 0;
  afterAll(() => {
    expect(compared).toBe(2 * RUNS);
  });

  function agree(bytes: Uint8Array): void {
    compared++;
    const fresh = outcome(decodeFrames, bytes);
    // copied out before the next decode rewrites them
    const pooled = outcome((b) => structuredClone(decoder.decode(b)), bytes);
    if (!isDeepStrictEqual(pooled, structuredClone(fresh))) {
      throw new Error(`differ on ${Buffer.from(bytes).toString('hex')}: ${JSON.stringify([fresh, pooled])}`);
    }
  }

  const validFrames = fc.array(frameArb, { maxLength: 6 }).map(encodeFrames);
  it(`${RUNS} random byte strings: same frames, same errors`, () => {
    fc.assert(fc.property(randomBytes, agree), { numRuns: RUNS });
  });
  it(`${RUNS} mutated valid encodings: same frames, same errors`, () => {
    fc.assert(
      fc.property(validFrames, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (b, muts) => {
        agree(mutate(b.slice(), muts));
      }),
      { numRuns: RUNS },
    );
  });

  it('byte fields are views of the input, as in decodeFrames', () => {
    const bytes = encodeFrames([
      { type: 'stream', streamId: 4, offset: 9, fin: false, data: Uint8Array.of(1, 2, 3) },
      { type: 'datagram', data: Uint8Array.of(7, 8) },
    ]);
    const frames = decoder.decode(bytes);
    expect(frames).toHaveLength(2);
    for (const f of frames) {
      if (f.type !== 'stream' && f.type !== 'datagram') throw new Error(f.type);
      expect(f.data.buffer).toBe(bytes.buffer);
    }
  });
});
