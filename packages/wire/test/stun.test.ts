import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyDatagram,
  crc32,
  decodeStun,
  decodeStunNoIntegrity,
  encodeStun,
  encodeStunInto,
  encodeStunNoIntegrity,
  type StunMessage,
  stunMessageType,
  stunShortTermKey,
  stunSize,
  unknownComprehensionRequired,
  verifyStunIntegrity,
  WireDecodeError,
} from '../src/index.js';
import { stunMessageArb } from './stun-arbitraries.js';
import {
  RFC5769_PASSWORD,
  RFC5769_REQUEST,
  RFC5769_RESPONSE_IPV4,
  RFC5769_RESPONSE_IPV6,
  RFC5769_TRANSACTION_ID,
  RFC5769_USERNAME,
} from './vectors/rfc5769.js';

const runs = Number(process.env.WIRE_PROPERTY_RUNS ?? 1000);
const key = stunShortTermKey(RFC5769_PASSWORD);
const vectorOpts = { integrityKey: key, fingerprint: true, paddingByte: 0x20 };

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof WireDecodeError) return e.code;
    throw e;
  }
  throw new Error('expected a WireDecodeError');
}

describe('STUN codec: RFC 5769 vectors', () => {
  it('§2.1 sample request: decodes, verifies and re-encodes byte for byte', () => {
    expect(classifyDatagram(RFC5769_REQUEST)).toBe('stun');
    const msg = decodeStun(RFC5769_REQUEST, { integrityKey: key });
    expect(msg).toEqual({
      class: 'request',
      method: 0x001,
      transactionId: RFC5769_TRANSACTION_ID,
      software: 'STUN test client',
      priority: 0x6e0001ff,
      iceControlled: Uint8Array.of(0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36),
      username: RFC5769_USERNAME,
      integrity: 'verified',
      fingerprint: true,
    });
    expect(encodeStun(msg, vectorOpts)).toEqual(RFC5769_REQUEST);
    const built: StunMessage = {
      class: 'request',
      method: 1,
      transactionId: RFC5769_TRANSACTION_ID,
      software: 'STUN test client',
      priority: 0x6e0001ff,
      iceControlled: Uint8Array.of(0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36),
      username: RFC5769_USERNAME,
    };
    expect(encodeStun(built, vectorOpts)).toEqual(RFC5769_REQUEST);
    expect(stunSize(built, vectorOpts)).toBe(RFC5769_REQUEST.length);
  });

  it('§2.2 sample IPv4 response', () => {
    const msg = decodeStun(RFC5769_RESPONSE_IPV4, { integrityKey: key });
    expect(msg).toEqual({
      class: 'success',
      method: 1,
      transactionId: RFC5769_TRANSACTION_ID,
      software: 'test vector',
      xorMappedAddress: { family: 4, host: '192.0.2.1', port: 32853 },
      integrity: 'verified',
      fingerprint: true,
    });
    const built: StunMessage = {
      class: 'success',
      method: 1,
      transactionId: RFC5769_TRANSACTION_ID,
      software: 'test vector',
      xorMappedAddress: { family: 4, host: '192.0.2.1', port: 32853 },
    };
    expect(encodeStun(built, vectorOpts)).toEqual(RFC5769_RESPONSE_IPV4);
  });

  it('§2.3 sample IPv6 response', () => {
    const msg = decodeStun(RFC5769_RESPONSE_IPV6, { integrityKey: key });
    expect(msg.xorMappedAddress).toEqual({
      family: 6,
      host: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
    });
    expect(msg.integrity).toBe('verified');
    expect(encodeStun(msg, vectorOpts)).toEqual(RFC5769_RESPONSE_IPV6);
  });

  it('detects a wrong password, a flipped bit and a bad fingerprint', () => {
    expect(code(() => decodeStun(RFC5769_RESPONSE_IPV4, { integrityKey: stunShortTermKey('wrong') }))).toBe(
      'BAD_INTEGRITY',
    );
    expect(verifyStunIntegrity(RFC5769_RESPONSE_IPV4, key)).toBe(true);
    expect(verifyStunIntegrity(RFC5769_RESPONSE_IPV4, stunShortTermKey('x'))).toBe(false);
    expect(decodeStun(RFC5769_RESPONSE_IPV4).integrity).toBe('unchecked');
    const flipped = RFC5769_RESPONSE_IPV4.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(code(() => decodeStun(flipped))).toBe('BAD_FINGERPRINT');
    const software = RFC5769_RESPONSE_IPV4.slice();
    software[25]! ^= 0x20; // 'e' -> 'E': the fingerprint catches it first
    expect(code(() => decodeStun(software, { integrityKey: key }))).toBe('BAD_FINGERPRINT');
  });
});

describe('STUN codec', () => {
  it('decode(encode(msg)) = msg for generated messages, with and without integrity and fingerprint', () => {
    fc.assert(
      fc.property(stunMessageArb, fc.boolean(), fc.boolean(), fc.nat(255), (msg, mi, fp, pad) => {
        const opts = { fingerprint: fp, paddingByte: pad, ...(mi ? { integrityKey: key } : {}) };
        const bytes = encodeStun(msg, opts);
        expect(bytes.length).toBe(stunSize(msg, opts));
        expect(classifyDatagram(bytes)).toBe('stun');
        const back = decodeStun(bytes, mi ? { integrityKey: key } : {});
        const expected: StunMessage = { ...msg };
        if (mi) expected.integrity = 'verified';
        if (fp) expected.fingerprint = true;
        expect(back).toEqual(expected);
      }),
      { numRuns: runs },
    );
  });

  it('the NoIntegrity codec (no HMAC-SHA1 in a bundle) gives the same bytes and messages without a key', () => {
    fc.assert(
      fc.property(stunMessageArb, fc.boolean(), fc.nat(255), (msg, fp, pad) => {
        const opts = { fingerprint: fp, paddingByte: pad };
        const bytes = encodeStunNoIntegrity(msg, opts);
        expect(bytes).toEqual(encodeStun(msg, opts));
        expect(decodeStunNoIntegrity(bytes)).toEqual(decodeStun(bytes));
      }),
      { numRuns: Math.min(runs, 200) },
    );
    // a MESSAGE-INTEGRITY present is reported, never checked; signing is encodeStun's alone
    const signed = decodeStunNoIntegrity(RFC5769_REQUEST);
    expect(signed.integrity).toBe('unchecked');
    expect(signed).toEqual(decodeStun(RFC5769_REQUEST));
    const msg: StunMessage = { class: 'request', method: 1, transactionId: RFC5769_TRANSACTION_ID };
    expect(() => encodeStunNoIntegrity(msg, { integrityKey: key } as object)).toThrow(TypeError);
  });

  it('encodes message types per RFC 8489 §5 (class bits interleaved)', () => {
    expect(stunMessageType('request', 1)).toBe(0x0001);
    expect(stunMessageType('indication', 1)).toBe(0x0011);
    expect(stunMessageType('success', 1)).toBe(0x0101);
    expect(stunMessageType('error', 1)).toBe(0x0111);
    expect(stunMessageType('request', 0xfff)).toBe(0x3eef);
    expect(() => stunMessageType('request', 0x1000)).toThrow(RangeError);
  });

  it('writes a binding error response with ERROR-CODE and UNKNOWN-ATTRIBUTES (420)', () => {
    const req = decodeStun(
      encodeStun({
        class: 'request',
        method: 1,
        transactionId: new Uint8Array(12).fill(7),
        unknown: [
          { type: 0x7f00, value: Uint8Array.of(1) },
          { type: 0xc001, value: Uint8Array.of(2, 3) },
        ],
      }),
    );
    expect(unknownComprehensionRequired(req)).toEqual([0x7f00]);
    const resp = encodeStun({
      class: 'error',
      method: 1,
      transactionId: req.transactionId,
      errorCode: { code: 420, reason: 'Unknown Attribute' },
      unknownAttributes: unknownComprehensionRequired(req),
    });
    // header, ERROR-CODE: type 0009, length 4+17, class 4, number 20, reason, 3 bytes padding
    expect(Array.from(resp.subarray(20, 28))).toEqual([0x00, 0x09, 0x00, 21, 0, 0, 4, 20]);
    expect(decodeStun(resp)).toMatchObject({
      class: 'error',
      errorCode: { code: 420 },
      unknownAttributes: [0x7f00],
    });
  });

  it('encodes CHANGE-REQUEST, OTHER-ADDRESS and RESPONSE-ORIGIN (RFC 5780)', () => {
    const bytes = encodeStun({
      class: 'request',
      method: 1,
      transactionId: new Uint8Array(12),
      changeRequest: { changeIp: true, changePort: false },
    });
    expect(Array.from(bytes.subarray(20))).toEqual([0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x04]);
    const resp = encodeStun({
      class: 'success',
      method: 1,
      transactionId: new Uint8Array(12),
      otherAddress: { family: 4, host: '10.0.0.2', port: 3479 },
      responseOrigin: { family: 6, host: '::1', port: 3478 },
    });
    const back = decodeStun(resp);
    expect(back.otherAddress).toEqual({ family: 4, host: '10.0.0.2', port: 3479 });
    expect(back.responseOrigin).toEqual({ family: 6, host: '::1', port: 3478 });
  });

  it('drops one leading U+FEFF from text, as documented (wire-format.md, CLOSE): the property above once drew "\\uFEFF"', () => {
    const cases: [string, string][] = [
      ['\uFEFF', ''],
      ['\uFEFFtry again', 'try again'],
      ['\uFEFF\uFEFF', '\uFEFF'],
      ['a\uFEFF', 'a\uFEFF'],
    ];
    for (const [reason, decoded] of cases) {
      const msg = {
        class: 'error' as const,
        method: 1,
        transactionId: new Uint8Array(12).fill(7),
        errorCode: { code: 300, reason },
      };
      expect(decodeStun(encodeStun(msg)).errorCode).toEqual({ code: 300, reason: decoded });
    }
  });

  it('rejects non-STUN and malformed input with the right codes', () => {
    const ok = RFC5769_RESPONSE_IPV4;
    expect(code(() => decodeStun(ok.subarray(0, 19)))).toBe('TRUNCATED');
    const top = ok.slice();
    top[0] = 0x80;
    expect(code(() => decodeStun(top))).toBe('NOT_STUN');
    const cookie = ok.slice();
    cookie[5] = 0;
    expect(code(() => decodeStun(cookie))).toBe('NOT_STUN');
    const odd = ok.slice();
    odd[3] = 0x3d;
    expect(code(() => decodeStun(odd))).toBe('NOT_STUN');
    expect(code(() => decodeStun(ok.subarray(0, ok.length - 4)))).toBe('TRUNCATED');
    const longer = new Uint8Array(ok.length + 4);
    longer.set(ok);
    expect(code(() => decodeStun(longer))).toBe('TRAILING_BYTES');
    const tid = new Uint8Array(12);
    // attribute length running past the message
    expect(
      code(() => decodeStun(Uint8Array.from([0, 1, 0, 4, 0x21, 0x12, 0xa4, 0x42, ...tid, 0x80, 0x22, 0, 5]))),
    ).toBe('TRUNCATED');
    // address with unknown family
    expect(
      code(() =>
        decodeStun(
          Uint8Array.from([
            0,
            1,
            0,
            12,
            0x21,
            0x12,
            0xa4,
            0x42,
            ...tid,
            0,
            0x20,
            0,
            8,
            0,
            3,
            0,
            0,
            0,
            0,
            0,
            0,
          ]),
        ),
      ),
    ).toBe('BAD_VALUE');
    // FINGERPRINT that is not last
    const fpFirst = encodeStun({ class: 'request', method: 1, transactionId: tid }, { fingerprint: true });
    const withAfter = new Uint8Array(fpFirst.length + 4);
    withAfter.set(fpFirst);
    withAfter[3] = fpFirst.length - 20 + 4;
    withAfter.set([0x80, 0x99, 0, 0], fpFirst.length);
    expect(code(() => decodeStun(withAfter))).toBe('BAD_VALUE');
    // ERROR-CODE with class 7
    expect(
      code(() =>
        decodeStun(Uint8Array.from([1, 0x11, 0, 8, 0x21, 0x12, 0xa4, 0x42, ...tid, 0, 9, 0, 4, 0, 0, 7, 0])),
      ),
    ).toBe('BAD_VALUE');
    // invalid UTF-8 in SOFTWARE
    expect(
      code(() =>
        decodeStun(
          Uint8Array.from([0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, ...tid, 0x80, 0x22, 0, 2, 0xc3, 0x28, 0, 0]),
        ),
      ),
    ).toBe('BAD_VALUE');
  });

  it('keeps only the first of repeated attributes and ignores attributes after MESSAGE-INTEGRITY', () => {
    const tid = new Uint8Array(12);
    const a = encodeStun({ class: 'request', method: 1, transactionId: tid, software: 'a' });
    const b = encodeStun({ class: 'request', method: 1, transactionId: tid, software: 'b' });
    const both = new Uint8Array(a.length + 8);
    both.set(a);
    both.set(b.subarray(20), a.length);
    both[3] = 16;
    expect(decodeStun(both).software).toBe('a');
    const mi = encodeStun({ class: 'request', method: 1, transactionId: tid }, { integrityKey: key });
    const after = new Uint8Array(mi.length + 8);
    after.set(mi);
    after.set(b.subarray(20), mi.length);
    after[3] = mi.length - 20 + 8;
    const m = decodeStun(after, { integrityKey: key });
    expect(m.software).toBeUndefined();
    expect(m.integrity).toBe('verified');
  });

  it('writes into caller buffers and validates fields', () => {
    const msg: StunMessage = { class: 'request', method: 1, transactionId: new Uint8Array(12) };
    const buf = new Uint8Array(30);
    expect(encodeStunInto(msg, buf, 10)).toBe(30);
    expect(decodeStun(buf.subarray(10))).toEqual(msg);
    expect(() => encodeStunInto(msg, buf, 11)).toThrow(RangeError);
    expect(() => encodeStun({ ...msg, transactionId: new Uint8Array(11) })).toThrow(RangeError);
    expect(() => encodeStun({ ...msg, xorMappedAddress: { family: 4, host: '::1', port: 1 } })).toThrow(
      TypeError,
    );
    expect(() =>
      encodeStun({ ...msg, xorMappedAddress: { family: 4, host: '1.2.3.4', port: 65536 } }),
    ).toThrow(RangeError);
    expect(() => encodeStun({ ...msg, errorCode: { code: 200, reason: '' } })).toThrow(RangeError);
    expect(() => encodeStun({ ...msg, unknown: [{ type: 0x8022, value: new Uint8Array(0) }] })).toThrow(
      RangeError,
    );
    expect(() => encodeStun({ ...msg, unknown: [{ type: 0x8099, value: new Uint8Array(70000) }] })).toThrow(
      RangeError,
    );
  });

  it('computes CRC-32 (check value of "123456789")', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
