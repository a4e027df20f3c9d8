// The README example, kept runnable: if this test changes, update README.md.
import { expect, it } from 'vitest';
import {
  AEAD_TAG_LENGTH,
  classifyDatagram,
  decodeFrames,
  decodeStun,
  encodeFrame,
  encodeStun,
  readDataHeader,
  streamFrameOverhead,
  writeDataHeader,
} from '../src/index.js';

it('README example works as written', () => {
  const packet = new Uint8Array(1200);
  let p = writeDataHeader(packet, 0, 0, /* receiver index */ 0x1234, /* packet number */ 7);
  p = encodeFrame({ type: 'ack', delay: 250, ranges: [{ start: 0, end: 6 }] }, packet, p);
  const room = packet.length - p - AEAD_TAG_LENGTH;
  const n = room - streamFrameOverhead(4, 0, room);
  p = encodeFrame({ type: 'stream', streamId: 4, offset: 0, fin: false, data: new Uint8Array(n) }, packet, p);
  expect(p).toBe(1200 - AEAD_TAG_LENGTH);

  expect(classifyDatagram(packet)).toBe('srmudp');
  const { receiverIndex, packetNumber, sealed } = readDataHeader(packet);
  const frames = decodeFrames(sealed.subarray(0, sealed.length - AEAD_TAG_LENGTH));
  expect([receiverIndex, packetNumber, frames.map((f) => f.type)]).toEqual([4660, 7, ['ack', 'stream']]);

  const request = encodeStun({ class: 'request', method: 1, transactionId: new Uint8Array(12).fill(1) });
  const req = decodeStun(request);
  const response = encodeStun(
    {
      class: 'success',
      method: 1,
      transactionId: req.transactionId,
      xorMappedAddress: { family: 6, host: '2001:db8::1', port: 40000 },
    },
    { fingerprint: true },
  );
  expect(decodeStun(response).xorMappedAddress).toEqual({ family: 6, host: '2001:db8::1', port: 40000 });
});
