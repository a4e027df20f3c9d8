import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COOKIE_REPLY_LENGTH,
  classifyDatagram,
  DATA_HEADER_LENGTH,
  DATA_OVERHEAD,
  decodePacket,
  encodePacket,
  encodePacketBytes,
  HANDSHAKE_HEADER_LENGTH,
  handshakeMacOffsets,
  handshakePacketSize,
  type Packet,
  packetSize,
  peekReceiverIndex,
  readDataHeader,
  WIRE_VERSION,
  WireDecodeError,
  writeDataHeader,
} from '../src/index.js';
import { packetArb } from './arbitraries.js';

const runs = Number(process.env.WIRE_PROPERTY_RUNS ?? 1000);
const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof WireDecodeError) return e.code;
    throw e;
  }
  throw new Error('expected a WireDecodeError');
}

describe('packet codec', () => {
  it('decode(encode(packet)) = packet for every packet type', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(packetArb, (p) => {
        seen.add(p.type);
        const size = packetSize(p);
        const buf = new Uint8Array(size + 5);
        expect(encodePacket(p, buf, 5)).toBe(size + 5);
        const bytes = buf.subarray(5);
        expect(decodePacket(bytes)).toEqual(p);
        expect(classifyDatagram(bytes)).toBe('srmudp');
      }),
      { numRuns: runs },
    );
    expect(seen.size).toBe(5);
  });

  it('keeps the data packet overhead within 32 bytes', () => {
    expect(DATA_HEADER_LENGTH).toBe(13);
    expect(DATA_OVERHEAD).toBe(29);
    expect(DATA_OVERHEAD).toBeLessThanOrEqual(32);
  });

  it('writes the data header as documented and reads it back without copying', () => {
    const buf = new Uint8Array(13 + 16);
    expect(writeDataHeader(buf, 0, 1, 0x01020304, 2 ** 53 - 1)).toBe(13);
    expect(toHex(buf.subarray(0, 13))).toBe('91' + '01020304' + '001fffffffffffff');
    const d = readDataHeader(buf);
    expect(d).toEqual({
      type: 'data',
      keyPhase: 1,
      receiverIndex: 0x01020304,
      packetNumber: 2 ** 53 - 1,
      sealed: buf.subarray(13),
    });
    expect(d.sealed.buffer).toBe(buf.buffer);
    expect(d.sealed.byteOffset).toBe(13);
    expect(peekReceiverIndex(buf)).toBe(0x01020304);
  });

  it('rejects data packets that are short, of another type or with packet numbers above 2^53-1', () => {
    expect(code(() => readDataHeader(new Uint8Array(0)))).toBe('UNKNOWN_TYPE');
    expect(code(() => readDataHeader(hex(`81${'00'.repeat(40)}`)))).toBe('UNKNOWN_TYPE');
    expect(code(() => decodePacket(hex(`90${'00'.repeat(27)}`)))).toBe('TRUNCATED');
    expect(decodePacket(hex(`90${'00'.repeat(28)}`))).toMatchObject({
      type: 'data',
      sealed: new Uint8Array(16),
    });
    expect(code(() => decodePacket(hex(`90000000010020000000000000${'00'.repeat(16)}`)))).toBe('BAD_VALUE');
    expect(() => writeDataHeader(new Uint8Array(12), 0, 0, 1, 1)).toThrow(RangeError);
    expect(() => writeDataHeader(new Uint8Array(13), 0, 2 as 0, 1, 1)).toThrow(RangeError);
    expect(() => writeDataHeader(new Uint8Array(13), 0, 0, 2 ** 32, 1)).toThrow(RangeError);
    expect(() => writeDataHeader(new Uint8Array(13), 0, 0, 1, 2 ** 53)).toThrow(RangeError);
  });

  it('lays out handshake packets and finds the MACs', () => {
    const p: Packet = {
      type: 'handshake_response',
      version: WIRE_VERSION,
      pattern: 0,
      senderIndex: 0x0a0b0c0d,
      receiverIndex: 0x01020304,
      noise: hex('eeee'),
      mac1: new Uint8Array(16).fill(0x11),
      mac2: new Uint8Array(16).fill(0x22),
    };
    const bytes = encodePacketBytes(p);
    expect(bytes.length).toBe(handshakePacketSize(2));
    expect(toHex(bytes)).toBe(`820100${'0a0b0c0d'}${'01020304'}eeee${'11'.repeat(16)}${'22'.repeat(16)}`);
    expect(HANDSHAKE_HEADER_LENGTH).toBe(11);
    const { mac1, mac2 } = handshakeMacOffsets(bytes);
    expect(mac1).toBe(13);
    expect(mac2).toBe(29);
    expect(bytes.subarray(mac1, mac2)).toEqual(p.mac1);
    expect(peekReceiverIndex(bytes)).toBe(0x01020304);
    expect(code(() => handshakeMacOffsets(new Uint8Array(42)))).toBe('TRUNCATED');
  });

  it('validates handshake packets', () => {
    const init = (rest: string) => hex(`81${rest}`);
    const tail = `0000000000000000${'00'.repeat(32)}`;
    expect(decodePacket(init(`0100${tail}`))).toMatchObject({
      type: 'handshake_init',
      noise: new Uint8Array(0),
    });
    expect(code(() => decodePacket(init(`0100${tail}`.slice(0, -2))))).toBe('TRUNCATED');
    expect(code(() => decodePacket(init(`0200${tail}`)))).toBe('UNSUPPORTED_VERSION');
    expect(code(() => decodePacket(init(`0102${tail}`)))).toBe('BAD_VALUE');
    expect(code(() => decodePacket(init(`0100${'00000000'}${'00000001'}${'00'.repeat(32)}`)))).toBe(
      'BAD_VALUE',
    );
    expect(code(() => decodePacket(hex(`830100${tail}`)))).toBe('BAD_VALUE'); // final is XX only
    expect(decodePacket(hex(`830101${tail}`))).toMatchObject({ type: 'handshake_final', pattern: 1 });
    const base = {
      version: 1,
      senderIndex: 1,
      noise: new Uint8Array(0),
      mac1: new Uint8Array(16),
      mac2: new Uint8Array(16),
    };
    expect(() =>
      encodePacketBytes({ ...base, type: 'handshake_init', pattern: 0, receiverIndex: 3 }),
    ).toThrow(RangeError);
    expect(() =>
      encodePacketBytes({ ...base, type: 'handshake_final', pattern: 0, receiverIndex: 3 }),
    ).toThrow(RangeError);
    expect(() =>
      encodePacketBytes({
        ...base,
        type: 'handshake_response',
        pattern: 0,
        receiverIndex: 3,
        mac2: new Uint8Array(15),
      }),
    ).toThrow(RangeError);
  });

  it('decodes cookie replies of exactly 61 bytes', () => {
    const ok = hex(`84${'01020304'}${'aa'.repeat(24)}${'bb'.repeat(32)}`);
    expect(COOKIE_REPLY_LENGTH).toBe(61);
    expect(decodePacket(ok)).toEqual({
      type: 'cookie_reply',
      receiverIndex: 0x01020304,
      nonce: new Uint8Array(24).fill(0xaa),
      sealedCookie: new Uint8Array(32).fill(0xbb),
    });
    expect(code(() => decodePacket(ok.subarray(0, 60)))).toBe('TRUNCATED');
    const long = new Uint8Array(62);
    long.set(ok);
    expect(code(() => decodePacket(long))).toBe('TRAILING_BYTES');
  });

  it('rejects unknown packet types', () => {
    for (const t of [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0x85, 0x8f, 0x92, 0xbf, 0xc0, 0xff]) {
      const b = new Uint8Array(80);
      b[0] = t;
      expect(code(() => decodePacket(b))).toBe('UNKNOWN_TYPE');
    }
    expect(code(() => decodePacket(new Uint8Array(0)))).toBe('UNKNOWN_TYPE');
  });

  it('classifies datagrams by the first byte (RFC 7983) and STUN header checks', () => {
    const stun = hex(`0001 0000 2112a442 ${'00'.repeat(12)}`.replaceAll(' ', ''));
    expect(classifyDatagram(stun)).toBe('stun');
    const badCookie = stun.slice();
    badCookie[4] = 0;
    expect(classifyDatagram(badCookie)).toBe('unknown');
    const badLen = stun.slice();
    badLen[3] = 4; // claims 4 attribute bytes, has none
    expect(classifyDatagram(badLen)).toBe('unknown');
    const notMul4 = new Uint8Array(22);
    notMul4.set(stun);
    notMul4[3] = 2;
    expect(classifyDatagram(notMul4)).toBe('unknown');
    expect(classifyDatagram(stun.subarray(0, 19))).toBe('unknown');
    expect(classifyDatagram(new Uint8Array(0))).toBe('unknown');
    expect(classifyDatagram(Uint8Array.of(0x90))).toBe('srmudp');
    expect(classifyDatagram(Uint8Array.of(0x40))).toBe('unknown');
    expect(classifyDatagram(Uint8Array.of(0xa0))).toBe('unknown');
    expect(classifyDatagram(Uint8Array.of(0xc1))).toBe('unknown');
  });
});
