/**
 * Hot-path costs: a full-size data packet (13-byte header, ACK frame with 3 ranges, STREAM frame
 * with 1150 bytes, 16-byte tag space = 1200 bytes; no AEAD, that is @srmudp/crypto's) and a
 * STUN binding success response.
 */
import { bench, describe } from 'vitest';
import {
  type AckFrame,
  AEAD_TAG_LENGTH,
  DATA_HEADER_LENGTH,
  decodeFrames,
  decodeStun,
  encodeFrame,
  encodeStun,
  Reader,
  readDataHeader,
  readFrame,
  type StreamFrame,
  type StunMessage,
  streamFrameOverhead,
  stunShortTermKey,
  writeDataHeader,
} from '../src/index.js';

const ack: AckFrame = {
  type: 'ack',
  delay: 1500,
  ranges: [
    { start: 1_000_090, end: 1_000_100 },
    { start: 1_000_050, end: 1_000_080 },
    { start: 999_000, end: 1_000_000 },
  ],
};
const PACKET = 1200;
const payloadRoom = PACKET - DATA_HEADER_LENGTH - AEAD_TAG_LENGTH;
const streamId = 4;
const offset = 123_456_789;
// Size the STREAM data so the whole packet is exactly 1200 bytes.
const ackSize = (() => {
  const b = new Uint8Array(64);
  return encodeFrame(ack, b, 0);
})();
let dataLength = payloadRoom - ackSize - streamFrameOverhead(streamId, offset, 1150);
if (streamFrameOverhead(streamId, offset, dataLength) !== streamFrameOverhead(streamId, offset, 1150))
  dataLength--;
const stream: StreamFrame = {
  type: 'stream',
  streamId,
  offset,
  fin: false,
  data: new Uint8Array(dataLength).fill(0xab),
};

const out = new Uint8Array(PACKET);
function encodePacket(): number {
  let p = writeDataHeader(out, 0, 0, 0xdeadbeef, 1_000_101);
  p = encodeFrame(ack, out, p);
  p = encodeFrame(stream, out, p);
  return p + AEAD_TAG_LENGTH; // the AEAD would append its tag here
}
const encoded = out.slice(0, encodePacket());
if (encoded.length !== PACKET) throw new Error(`bench packet is ${encoded.length} bytes, expected ${PACKET}`);

let sink = 0;

describe(`data packet, ${PACKET} bytes (header + ACK + STREAM of ${dataLength} bytes)`, () => {
  bench('encode (writeDataHeader + 2 x encodeFrame)', () => {
    sink ^= encodePacket();
  });
  bench('decode (readDataHeader + decodeFrames)', () => {
    const d = readDataHeader(encoded);
    const frames = decodeFrames(d.sealed.subarray(0, d.sealed.length - AEAD_TAG_LENGTH));
    sink ^= frames.length;
  });
  bench('decode (readDataHeader + Reader/readFrame loop)', () => {
    const d = readDataHeader(encoded);
    const r = new Reader(d.sealed, 0, d.sealed.length - AEAD_TAG_LENGTH);
    while (r.pos < r.end) sink ^= readFrame(r).type.length;
  });
});

const key = stunShortTermKey('VOkJxbRl1RmTxUk/WvJxBt');
const response: StunMessage = {
  class: 'success',
  method: 1,
  transactionId: Uint8Array.of(0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae),
  software: 'srmudp',
  xorMappedAddress: { family: 4, host: '192.0.2.1', port: 32853 },
};
const plain = encodeStun(response, { fingerprint: true });
const withIntegrity = encodeStun(response, { fingerprint: true, integrityKey: key });

describe('STUN binding success response', () => {
  bench('encode (XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT)', () => {
    sink ^= encodeStun(response, { fingerprint: true }).length;
  });
  bench('decode (XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT)', () => {
    sink ^= decodeStun(plain).xorMappedAddress!.port;
  });
  bench('encode + MESSAGE-INTEGRITY', () => {
    sink ^= encodeStun(response, { fingerprint: true, integrityKey: key }).length;
  });
  bench('decode + verify MESSAGE-INTEGRITY', () => {
    sink ^= decodeStun(withIntegrity, { integrityKey: key }).xorMappedAddress!.port;
  });
});

export { sink };
