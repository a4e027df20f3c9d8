import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  decodeFrames,
  encodeFrame,
  encodeFrames,
  type Frame,
  frameSize,
  isAckEliciting,
  messageFrameOverhead,
  Reader,
  readFrame,
  streamFrameOverhead,
  WireDecodeError,
} from '../src/index.js';
import { frameArb, mergePadding } from './arbitraries.js';

const runs = Number(process.env.WIRE_PROPERTY_RUNS ?? 1000);

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof WireDecodeError) return e.code;
    throw e;
  }
  throw new Error('expected a WireDecodeError');
}

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe('frame codec', () => {
  it('decode(encode(frame)) = frame for every frame type', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(frameArb, (frame) => {
        seen.add(frame.type);
        const size = frameSize(frame);
        const buf = new Uint8Array(size + 3);
        expect(encodeFrame(frame, buf, 3)).toBe(3 + size);
        const { frame: back, next } = decodeFrame(buf, 3);
        expect(next).toBe(3 + size);
        expect(back).toEqual(frame);
      }),
      { numRuns: runs },
    );
    expect(seen.size).toBe(15); // every member of the Frame union was generated
  });

  it('knows which frames elicit an ACK (RFC 9002 §2)', () => {
    expect(isAckEliciting({ type: 'ping' })).toBe(true);
    expect(
      isAckEliciting({ type: 'stream', streamId: 0, offset: 0, fin: true, data: new Uint8Array(0) }),
    ).toBe(true);
    expect(isAckEliciting({ type: 'ack', delay: 0, ranges: [{ start: 0, end: 0 }] })).toBe(false);
    expect(isAckEliciting({ type: 'padding', length: 1 })).toBe(false);
    expect(isAckEliciting({ type: 'close', code: 0, reason: '' })).toBe(false);
  });

  it('decodeFrames(encodeFrames(list)) = list (adjacent padding merged)', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), (frames) => {
        const bytes = encodeFrames(frames);
        expect(decodeFrames(bytes)).toEqual(mergePadding(frames));
        // The hot-path reader walks the same frames.
        const r = new Reader(bytes);
        let n = 0;
        while (r.pos < r.end) {
          readFrame(r);
          n++;
        }
        expect(n).toBe(mergePadding(frames).length);
      }),
      { numRuns: runs },
    );
  });

  it('writes the documented byte layouts', () => {
    expect(toHex(encodeFrames([{ type: 'ping' }, { type: 'padding', length: 3 }]))).toBe('01000000');
    expect(
      toHex(encodeFrames([{ type: 'stream', streamId: 4, offset: 0, fin: true, data: Uint8Array.of(0xaa) }])),
    ).toBe('0b0401aa');
    expect(
      toHex(
        encodeFrames([{ type: 'stream', streamId: 4, offset: 100, fin: false, data: Uint8Array.of(0xaa) }]),
      ),
    ).toBe('0e04406401aa');
    // ACK: largest 10, delay 25, 1 more range, first range 2 (8..10), gap 1 (6 missing... 5 largest), length 1 (4..5)
    expect(
      toHex(
        encodeFrames([
          {
            type: 'ack',
            delay: 25,
            ranges: [
              { start: 8, end: 10 },
              { start: 4, end: 5 },
            ],
          },
        ]),
      ),
    ).toBe('020a1901020101');
    expect(toHex(encodeFrames([{ type: 'close', code: 1, reason: 'bye' }]))).toBe('1c0103627965');
    expect(toHex(encodeFrames([{ type: 'datagram', data: Uint8Array.of(1, 2) }]))).toBe('31020102');
    expect(
      toHex(
        encodeFrames([
          { type: 'message', id: 7, offset: 0, total: 2, unordered: true, data: Uint8Array.of(9) },
        ]),
      ),
    ).toBe('19070002' + '0109');
  });

  it('drops one leading U+FEFF from a CLOSE reason, as documented (wire-format.md, CLOSE)', () => {
    for (const [reason, decoded] of [
      ['\uFEFF', ''],
      ['\uFEFFbye', 'bye'],
      ['\uFEFF\uFEFF', '\uFEFF'],
      ['a\uFEFF', 'a\uFEFF'],
    ] as const) {
      expect(decodeFrames(encodeFrames([{ type: 'close', code: 1, reason }]))).toEqual([
        { type: 'close', code: 1, reason: decoded },
      ]);
    }
  });

  it('decodes the non-canonical forms the encoder never writes', () => {
    // STREAM without LEN runs to the end; DATAGRAM 0x30 likewise; non-minimal varints.
    expect(decodeFrames(hex('0c4004' + '00' + 'aabb'))).toEqual([
      { type: 'stream', streamId: 4, offset: 0, fin: false, data: hex('aabb') },
    ]);
    expect(decodeFrames(hex('01' + '30ccdd'))).toEqual([
      { type: 'ping' },
      { type: 'datagram', data: hex('ccdd') },
    ]);
  });

  it('computes overheads that match the encoding', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.nat(2 ** 40), fc.nat(2000), (id, offset, len) => {
        const data = new Uint8Array(len);
        expect(streamFrameOverhead(id, offset, len) + len).toBe(
          frameSize({ type: 'stream', streamId: id, offset, fin: false, data }),
        );
        expect(messageFrameOverhead(id, offset, offset + len, len) + len).toBe(
          frameSize({ type: 'message', id, offset, total: offset + len, unordered: false, data }),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('rejects invalid ACK ranges: first range underflow, gap underflow, length underflow', () => {
    expect(code(() => decodeFrames(hex('02050000' + '06')))).toBe('BAD_VALUE'); // first range 6 > largest 5
    expect(code(() => decodeFrames(hex('020500010' + '3' + '0200')))).toBe('BAD_VALUE'); // 2..5, gap 2 -> -1
    expect(code(() => decodeFrames(hex('0205000101' + '0003')))).toBe('BAD_VALUE'); // 4..5, gap 0 -> 2, len 3
    expect(decodeFrames(hex('0205000101' + '0002'))).toEqual([
      {
        type: 'ack',
        delay: 0,
        ranges: [
          { start: 4, end: 5 },
          { start: 0, end: 2 },
        ],
      },
    ]);
    // Range count larger than the input can hold fails fast without allocating.
    expect(code(() => decodeFrames(hex('020500' + 'bfffffff' + '00')))).toBe('TRUNCATED');
  });

  it('refuses to encode ACK ranges the format cannot express', () => {
    const ack = (ranges: { start: number; end: number }[]): Frame => ({ type: 'ack', delay: 0, ranges });
    expect(() => frameSize(ack([]))).toThrow(RangeError);
    expect(() => frameSize(ack([{ start: 5, end: 4 }]))).toThrow(RangeError);
    // overlapping, adjacent, ascending
    expect(() =>
      frameSize(
        ack([
          { start: 5, end: 9 },
          { start: 3, end: 5 },
        ]),
      ),
    ).toThrow(RangeError);
    expect(() =>
      frameSize(
        ack([
          { start: 5, end: 9 },
          { start: 3, end: 4 },
        ]),
      ),
    ).toThrow(RangeError);
    expect(() =>
      frameSize(
        ack([
          { start: 1, end: 2 },
          { start: 5, end: 6 },
        ]),
      ),
    ).toThrow(RangeError);
  });

  it('rejects MESSAGE fragments beyond the total (BAD_VALUE) and refuses to encode them', () => {
    expect(code(() => decodeFrames(hex('18' + '01' + '02' + '03' + '02' + 'aabb')))).toBe('BAD_VALUE');
    expect(decodeFrames(hex('18' + '01' + '01' + '03' + '02' + 'aabb'))).toHaveLength(1);
    expect(() =>
      frameSize({ type: 'message', id: 1, offset: 2, total: 3, unordered: false, data: new Uint8Array(2) }),
    ).toThrow(RangeError);
  });

  it('reports truncation inside every field', () => {
    fc.assert(
      fc.property(
        frameArb.filter((f) => f.type !== 'padding' && f.type !== 'ping'),
        (frame) => {
          const bytes = encodeFrames([frame]);
          for (let cut = 1; cut < bytes.length; cut++) {
            const prefix = bytes.subarray(0, cut);
            expect(code(() => decodeFrames(prefix))).toBe('TRUNCATED');
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('CONTROL (0x1d): MESSAGE layout, ordered, its own type byte', () => {
    const f: Frame = {
      type: 'message',
      id: 3,
      offset: 0,
      total: 2,
      unordered: false,
      data: Uint8Array.of(1, 9),
      control: true,
    };
    const bytes = encodeFrames([f]);
    expect(bytes[0]).toBe(0x1d);
    expect(decodeFrames(bytes)).toEqual([f]);
    // an ordinary MESSAGE decodes without the flag
    const m = decodeFrames(encodeFrames([{ ...f, control: false }]))[0];
    expect(m).toMatchObject({ type: 'message', id: 3 });
    expect((m as { control?: boolean }).control).toBeUndefined();
    expect(() => frameSize({ ...f, unordered: true })).toThrow(RangeError);
    expect(code(() => decodeFrames(hex('1d00000205aa')))).toBe('BAD_VALUE');
  });

  it('rejects unknown frame types, bad UTF-8 and stream ends above 2^53-1', () => {
    for (const t of [0x03, 0x06, 0x07, 0x13, 0x1e, 0x20, 0x32, 0x39, 0x3f, 0x40, 0x80, 0xff]) {
      expect(code(() => decodeFrames(Uint8Array.of(t, 0, 0, 0)))).toBe('UNKNOWN_TYPE');
    }
    expect(code(() => decodeFrames(hex('1c0002c328')))).toBe('BAD_VALUE');
    expect(code(() => decodeFrames(hex('0e00' + 'c01fffffffffffff' + '01' + 'aa')))).toBe('BAD_VALUE');
    expect(decodeFrames(hex('0e00' + 'c01ffffffffffffe' + '01' + 'aa'))).toHaveLength(1);
  });

  it('throws RangeError when a frame does not fit the buffer, TypeError on unknown types', () => {
    expect(() => encodeFrame({ type: 'max_data', max: 64 }, new Uint8Array(2), 0)).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'max_data', max: 64 }, new Uint8Array(3), 1)).toThrow(RangeError);
    expect(encodeFrame({ type: 'max_data', max: 64 }, new Uint8Array(3), 0)).toBe(3);
    expect(() => frameSize({ type: 'nope' } as unknown as Frame)).toThrow(TypeError);
    expect(() => frameSize({ type: 'path_challenge', data: new Uint8Array(7) })).toThrow(RangeError);
    expect(() => frameSize({ type: 'relay', peer: new Uint8Array(31), payload: new Uint8Array(0) })).toThrow(
      RangeError,
    );
    expect(() => frameSize({ type: 'padding', length: 0 })).toThrow(RangeError);
    expect(() => decodeFrame(new Uint8Array(2), 3)).toThrow(RangeError);
  });
});
