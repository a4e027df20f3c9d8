/**
 * Frame encoders. Every encoder writes into a caller buffer and returns the new offset, so a
 * packet is assembled in place with no intermediate arrays; `frameSize` gives the exact length
 * first. Values are validated (RangeError/TypeError on misuse) so nothing undecodable is sent.
 */

import {
  DATAGRAM_FLAG_LEN,
  FrameTypeByte,
  MESSAGE_FLAG_UNORDERED,
  PATH_DATA_LENGTH,
  PEER_ID_LENGTH,
  STREAM_FLAG_FIN,
  STREAM_FLAG_LEN,
  STREAM_FLAG_OFF,
} from './frame-types.js';
import type { AckFrame, Frame } from './types.js';
import { utf8Length, writeUtf8 } from './utf8.js';
import { checkVarint, MAX_VARINT, varintSize, writeVarint } from './varint.js';

/** Bytes of a STREAM frame before its data (type, id, offset when non-zero, length). */
export function streamFrameOverhead(streamId: number, offset: number, dataLength: number): number {
  return 1 + varintSize(streamId) + (offset === 0 ? 0 : varintSize(offset)) + varintSize(dataLength);
}

/** Bytes of a MESSAGE frame before its data (type, id, offset, total, length). */
export function messageFrameOverhead(id: number, offset: number, total: number, dataLength: number): number {
  return 1 + varintSize(id) + varintSize(offset) + varintSize(total) + varintSize(dataLength);
}

/** Bytes of a DATAGRAM frame before its data (type, length). */
export function datagramFrameOverhead(dataLength: number): number {
  return 1 + varintSize(dataLength);
}

/** Bytes of a RELAY frame before its payload (type, peer id, length). */
export function relayFrameOverhead(payloadLength: number): number {
  return 1 + PEER_ID_LENGTH + varintSize(payloadLength);
}

function checkBytes(name: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array`);
}

function checkFixed(name: string, v: unknown, len: number): asserts v is Uint8Array {
  checkBytes(name, v);
  if (v.length !== len) {
    throw new RangeError(`"${name}" expected Uint8Array of length ${len}, got length=${v.length}`);
  }
}

/**
 * Checks ACK ranges are encodable: non-empty, each start <= end, descending and separated by at
 * least one missing packet (RFC 9000 §19.3.1 cannot express adjacent or overlapping ranges).
 */
function checkAckRanges(ack: AckFrame): void {
  const ranges = ack.ranges;
  if (!Array.isArray(ranges) || ranges.length === 0) {
    throw new RangeError('"ranges" expected at least one range');
  }
  let prevStart = -1;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    checkVarint(`ranges[${i}].start`, r.start);
    checkVarint(`ranges[${i}].end`, r.end);
    if (r.start > r.end) throw new RangeError(`"ranges[${i}]" start ${r.start} > end ${r.end}`);
    if (i > 0 && r.end + 2 > prevStart) {
      throw new RangeError(
        `"ranges[${i}]" must be below ranges[${i - 1}] with a gap: end ${r.end}, previous start ${prevStart}`,
      );
    }
    prevStart = r.start;
  }
}

function ackSize(ack: AckFrame): number {
  checkAckRanges(ack);
  const ranges = ack.ranges;
  const first = ranges[0]!;
  let n = 1 + varintSize(first.end) + varintSize(ack.delay) + varintSize(ranges.length - 1);
  n += varintSize(first.end - first.start);
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i]!;
    n += varintSize(ranges[i - 1]!.start - r.end - 2) + varintSize(r.end - r.start);
  }
  return n;
}

/** Exact encoded length of `frame`; throws RangeError/TypeError when it cannot be encoded. */
export function frameSize(frame: Frame): number {
  switch (frame.type) {
    case 'padding':
      if (!Number.isSafeInteger(frame.length) || frame.length < 1) {
        throw new RangeError(`"length" expected integer >= 1, got ${frame.length}`);
      }
      return frame.length;
    case 'ping':
      return 1;
    case 'ack':
      return ackSize(frame);
    case 'stream':
      checkBytes('data', frame.data);
      checkStreamEnd(frame.offset, frame.data.length);
      return streamFrameOverhead(frame.streamId, frame.offset, frame.data.length) + frame.data.length;
    case 'reset_stream':
      return 1 + varintSize(frame.streamId) + varintSize(frame.code) + varintSize(frame.finalSize);
    case 'stop_sending':
      return 1 + varintSize(frame.streamId) + varintSize(frame.code);
    case 'max_data':
    case 'max_streams':
      return 1 + varintSize(frame.max);
    case 'max_stream_data':
      return 1 + varintSize(frame.streamId) + varintSize(frame.max);
    case 'message':
      checkBytes('data', frame.data);
      checkMessageFragment(frame.offset, frame.data.length, frame.total);
      if (frame.control === true && frame.unordered) throw new RangeError('a CONTROL frame is ordered');
      return messageFrameOverhead(frame.id, frame.offset, frame.total, frame.data.length) + frame.data.length;
    case 'datagram':
      checkBytes('data', frame.data);
      return datagramFrameOverhead(frame.data.length) + frame.data.length;
    case 'path_challenge':
    case 'path_response':
      checkFixed('data', frame.data, PATH_DATA_LENGTH);
      return 1 + PATH_DATA_LENGTH;
    case 'relay':
      checkFixed('peer', frame.peer, PEER_ID_LENGTH);
      checkBytes('payload', frame.payload);
      return relayFrameOverhead(frame.payload.length) + frame.payload.length;
    case 'close': {
      if (typeof frame.reason !== 'string') throw new TypeError('"reason" expected string');
      const len = utf8Length(frame.reason);
      return 1 + varintSize(frame.code) + varintSize(len) + len;
    }
    default:
      throw new TypeError(`unknown frame type ${JSON.stringify((frame as { type: unknown }).type)}`);
  }
}

function checkStreamEnd(offset: number, length: number): void {
  checkVarint('offset', offset);
  if (offset + length > MAX_VARINT) throw new RangeError(`"offset" + data length exceeds 2^53-1`);
}

function checkMessageFragment(offset: number, length: number, total: number): void {
  checkVarint('offset', offset);
  checkVarint('total', total);
  if (offset + length > total) {
    throw new RangeError(`message fragment ${offset}+${length} exceeds "total" ${total}`);
  }
}

/**
 * Writes `frame` at `offset` of `buf` and returns the offset after it. RangeError if it does not
 * fit (nothing meaningful is written then) or a field is out of range.
 */
export function encodeFrame(frame: Frame, buf: Uint8Array, offset: number): number {
  const size = frameSize(frame);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.length) {
    throw new RangeError(`frame of ${size} bytes does not fit at offset ${offset} of ${buf.length}`);
  }
  let p = offset;
  switch (frame.type) {
    case 'padding':
      buf.fill(0, p, p + frame.length);
      return p + frame.length;
    case 'ping':
      buf[p] = FrameTypeByte.Ping;
      return p + 1;
    case 'ack': {
      const ranges = frame.ranges;
      const first = ranges[0]!;
      buf[p++] = FrameTypeByte.Ack;
      p = writeVarint(buf, p, first.end);
      p = writeVarint(buf, p, frame.delay);
      p = writeVarint(buf, p, ranges.length - 1);
      p = writeVarint(buf, p, first.end - first.start);
      for (let i = 1; i < ranges.length; i++) {
        const r = ranges[i]!;
        p = writeVarint(buf, p, ranges[i - 1]!.start - r.end - 2);
        p = writeVarint(buf, p, r.end - r.start);
      }
      return p;
    }
    case 'stream': {
      const off = frame.offset !== 0;
      buf[p++] =
        FrameTypeByte.Stream |
        (off ? STREAM_FLAG_OFF : 0) |
        STREAM_FLAG_LEN |
        (frame.fin ? STREAM_FLAG_FIN : 0);
      p = writeVarint(buf, p, frame.streamId);
      if (off) p = writeVarint(buf, p, frame.offset);
      p = writeVarint(buf, p, frame.data.length);
      buf.set(frame.data, p);
      return p + frame.data.length;
    }
    case 'reset_stream':
      buf[p++] = FrameTypeByte.ResetStream;
      p = writeVarint(buf, p, frame.streamId);
      p = writeVarint(buf, p, frame.code);
      return writeVarint(buf, p, frame.finalSize);
    case 'stop_sending':
      buf[p++] = FrameTypeByte.StopSending;
      p = writeVarint(buf, p, frame.streamId);
      return writeVarint(buf, p, frame.code);
    case 'max_data':
      buf[p++] = FrameTypeByte.MaxData;
      return writeVarint(buf, p, frame.max);
    case 'max_streams':
      buf[p++] = FrameTypeByte.MaxStreams;
      return writeVarint(buf, p, frame.max);
    case 'max_stream_data':
      buf[p++] = FrameTypeByte.MaxStreamData;
      p = writeVarint(buf, p, frame.streamId);
      return writeVarint(buf, p, frame.max);
    case 'message':
      buf[p++] =
        frame.control === true
          ? FrameTypeByte.Control
          : FrameTypeByte.Message | (frame.unordered ? MESSAGE_FLAG_UNORDERED : 0);
      p = writeVarint(buf, p, frame.id);
      p = writeVarint(buf, p, frame.offset);
      p = writeVarint(buf, p, frame.total);
      p = writeVarint(buf, p, frame.data.length);
      buf.set(frame.data, p);
      return p + frame.data.length;
    case 'datagram':
      buf[p++] = FrameTypeByte.Datagram | DATAGRAM_FLAG_LEN;
      p = writeVarint(buf, p, frame.data.length);
      buf.set(frame.data, p);
      return p + frame.data.length;
    case 'path_challenge':
    case 'path_response':
      buf[p++] = frame.type === 'path_challenge' ? FrameTypeByte.PathChallenge : FrameTypeByte.PathResponse;
      buf.set(frame.data, p);
      return p + PATH_DATA_LENGTH;
    case 'relay':
      buf[p++] = FrameTypeByte.Relay;
      buf.set(frame.peer, p);
      p = writeVarint(buf, p + PEER_ID_LENGTH, frame.payload.length);
      buf.set(frame.payload, p);
      return p + frame.payload.length;
    case 'close':
      buf[p++] = FrameTypeByte.Close;
      p = writeVarint(buf, p, frame.code);
      p = writeVarint(buf, p, utf8Length(frame.reason));
      return writeUtf8(buf, p, frame.reason);
  }
}

/** Encodes `frames` back to back into a new buffer of the exact size. */
export function encodeFrames(frames: readonly Frame[]): Uint8Array {
  let size = 0;
  for (const f of frames) size += frameSize(f);
  const buf = new Uint8Array(size);
  let p = 0;
  for (const f of frames) p = encodeFrame(f, buf, p);
  return buf;
}
