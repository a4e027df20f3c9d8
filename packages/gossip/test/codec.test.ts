import { WireDecodeError } from '@srmudp/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeFrame,
  encodeSignedMessage,
  GOSSIP_WIRE_VERSION,
  type GossipFrame,
  MAX_IHAVE_ITEMS,
  MAX_RECORD_SIZE,
  MAX_SHUFFLE_ENTRIES,
  peekFrameType,
} from '../src/index.js';
import { bytes, frameArb } from './arbitraries.js';

/** Decodes or throws WireDecodeError; anything else fails the property. */
function decodeOrTypedError(b: Uint8Array): GossipFrame | WireDecodeError {
  try {
    return decodeFrame(b);
  } catch (e) {
    if (e instanceof WireDecodeError) return e;
    throw e;
  }
}

describe('gossip codec', () => {
  it('round-trips every frame type', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const enc = encodeFrame(f);
        expect(enc[0]).toBe(GOSSIP_WIRE_VERSION);
        expect(peekFrameType(enc)).toBe(f.type);
        expect(decodeFrame(enc)).toEqual(f);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes any bytes to a frame or a WireDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        decodeOrTypedError(b);
      }),
      { numRuns: 5000 },
    );
    // Random bytes rarely pass the header: also start from a valid header and type.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x20 }),
        bytes(32),
        fc.uint8Array({ maxLength: 400 }),
        (type, topic, rest) => {
          const b = new Uint8Array([GOSSIP_WIRE_VERSION, type, ...topic, ...rest]);
          const r = decodeOrTypedError(b);
          if (!(r instanceof WireDecodeError)) expect(decodeFrame(encodeFrame(r))).toEqual(r);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('decodes mutated and truncated valid frames to a frame or a WireDecodeError', () => {
    fc.assert(
      fc.property(
        frameArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (f, muts, cut) => {
          const enc = encodeFrame(f);
          for (const [pos, v] of muts) enc[pos % enc.length] = v;
          decodeOrTypedError(enc);
          decodeOrTypedError(enc.subarray(0, cut % (enc.length + 1)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('names what is wrong with a typed code', () => {
    const prune = encodeFrame({ type: 'prune', topic: new Uint8Array(32) });
    const code = (b: Uint8Array) => (decodeOrTypedError(b) as WireDecodeError).code;
    expect(code(new Uint8Array([2, ...prune.subarray(1)]))).toBe('UNSUPPORTED_VERSION');
    expect(code(new Uint8Array([1, 0x7f, ...new Uint8Array(32)]))).toBe('UNKNOWN_TYPE');
    expect(code(new Uint8Array([...prune, 0]))).toBe('TRAILING_BYTES');
    expect(code(prune.subarray(0, 20))).toBe('TRUNCATED');
    const reply = encodeFrame({ type: 'neighbor_reply', topic: new Uint8Array(32), accepted: true });
    reply[34] = 2;
    expect(code(reply)).toBe('BAD_VALUE');
    // declared lengths above the protocol's limits are refused before anything is read
    const join = new Uint8Array([1, 0x01, ...new Uint8Array(32), 0x50, 0x01]); // record length 4097
    expect(code(join)).toBe('BAD_VALUE');
    const ihave = new Uint8Array([1, 0x11, ...new Uint8Array(32), 0x44, 0x01]); // 1025 items
    expect(code(ihave)).toBe('BAD_VALUE');
    const shuffle = new Uint8Array([
      1,
      0x06,
      ...new Uint8Array(32),
      ...new Uint8Array(8),
      3,
      ...new Uint8Array(32),
      0,
      65,
    ]);
    expect(code(shuffle)).toBe('BAD_VALUE');
  });

  it('keeps the v1 layout (pinned bytes)', () => {
    const topic = new Uint8Array(32).fill(0xaa);
    expect(Buffer.from(encodeFrame({ type: 'graft', topic, id: null, round: 300 })).toString('hex')).toBe(
      `0112${'aa'.repeat(32)}00412c`,
    );
    const msg = encodeSignedMessage({
      origin: new Uint8Array(32).fill(0x11),
      issuedAt: 0x0102030405,
      seq: 7,
      payload: { kind: 'inline', data: new Uint8Array([0xde, 0xad]) },
      signature: new Uint8Array(64).fill(0x22),
    });
    expect(Buffer.from(encodeFrame({ type: 'gossip', topic, round: 1, message: msg })).toString('hex')).toBe(
      `0110${'aa'.repeat(32)}01${'11'.repeat(32)}0000000102030405070002dead${'22'.repeat(64)}`,
    );
  });

  it('refuses to encode out-of-range fields', () => {
    const topic = new Uint8Array(32);
    expect(() => encodeFrame({ type: 'join', topic: new Uint8Array(31), record: new Uint8Array() })).toThrow(
      RangeError,
    );
    expect(() => encodeFrame({ type: 'join', topic, record: new Uint8Array(MAX_RECORD_SIZE + 1) })).toThrow(
      RangeError,
    );
    expect(() => encodeFrame({ type: 'graft', topic, id: null, round: 0x10000 })).toThrow(RangeError);
    expect(() =>
      encodeFrame({
        type: 'shuffle_reply',
        topic,
        id: new Uint8Array(8),
        entries: Array.from({ length: MAX_SHUFFLE_ENTRIES + 1 }, () => ({
          peer: new Uint8Array(32),
          record: new Uint8Array(),
        })),
      }),
    ).toThrow(RangeError);
    expect(() =>
      encodeFrame({
        type: 'ihave',
        topic,
        items: Array.from({ length: MAX_IHAVE_ITEMS + 1 }, () => ({ id: new Uint8Array(32), round: 0 })),
      }),
    ).toThrow(RangeError);
  });
});
