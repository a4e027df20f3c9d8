/**
 * Frame decoders. Total: any byte string yields frames or a {@link WireDecodeError}. Byte fields
 * (`data`, `payload`, `peer`) are subarrays of the input, not copies.
 */
import { WireDecodeError } from './errors.js';
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
import { Reader } from './reader.js';
import type { AckRange, Frame } from './types.js';
import { readUtf8 } from './utf8.js';
import { MAX_VARINT } from './varint.js';

/** Reads one frame at `r.pos` and advances `r.pos` past it. The allocation-light hot path. */
export function readFrame(r: Reader): Frame {
  const start = r.pos;
  const t = r.u8('frame type');
  switch (t) {
    case FrameTypeByte.Padding: {
      // A run of zero bytes is one PADDING frame (RFC 9000 §19.1 pads with 0x00 bytes).
      const b = r.bytes;
      let p = r.pos;
      while (p < r.end && b[p] === 0) p++;
      r.pos = p;
      return { type: 'padding', length: p - start };
    }
    case FrameTypeByte.Ping:
      return { type: 'ping' };
    case FrameTypeByte.Ack:
      return readAck(r);
    case FrameTypeByte.ResetStream:
      return {
        type: 'reset_stream',
        streamId: r.varint('stream id'),
        code: r.varint('code'),
        finalSize: r.varint('final size'),
      };
    case FrameTypeByte.StopSending:
      return { type: 'stop_sending', streamId: r.varint('stream id'), code: r.varint('code') };
    case FrameTypeByte.MaxData:
      return { type: 'max_data', max: r.varint('max') };
    case FrameTypeByte.MaxStreamData:
      return { type: 'max_stream_data', streamId: r.varint('stream id'), max: r.varint('max') };
    case FrameTypeByte.MaxStreams:
      return { type: 'max_streams', max: r.varint('max') };
    case FrameTypeByte.Message:
    case FrameTypeByte.Message | MESSAGE_FLAG_UNORDERED:
    case FrameTypeByte.Control: {
      const id = r.varint('message id');
      const offset = r.varint('message offset');
      const total = r.varint('message total');
      const len = r.varint('message length');
      if (offset + len > total) {
        throw new WireDecodeError('BAD_VALUE', `message fragment ${offset}+${len} exceeds total ${total}`);
      }
      const data = r.take(len, 'message data');
      if (t === FrameTypeByte.Control)
        return { type: 'message', id, offset, total, unordered: false, data, control: true };
      return { type: 'message', id, offset, total, unordered: (t & MESSAGE_FLAG_UNORDERED) !== 0, data };
    }
    case FrameTypeByte.PathChallenge:
      return { type: 'path_challenge', data: r.take(PATH_DATA_LENGTH, 'path challenge') };
    case FrameTypeByte.PathResponse:
      return { type: 'path_response', data: r.take(PATH_DATA_LENGTH, 'path response') };
    case FrameTypeByte.Close: {
      const code = r.varint('close code');
      const len = r.varint('reason length');
      return { type: 'close', code, reason: readUtf8(r.take(len, 'close reason'), 'close reason') };
    }
    case FrameTypeByte.Datagram:
      return { type: 'datagram', data: r.rest() };
    case FrameTypeByte.Datagram | DATAGRAM_FLAG_LEN: {
      const len = r.varint('datagram length');
      return { type: 'datagram', data: r.take(len, 'datagram data') };
    }
    case FrameTypeByte.Relay: {
      const peer = r.take(PEER_ID_LENGTH, 'relay peer');
      const len = r.varint('relay length');
      return { type: 'relay', peer, payload: r.take(len, 'relay payload') };
    }
    default:
      if ((t & 0xf8) === FrameTypeByte.Stream) {
        const streamId = r.varint('stream id');
        const offset = t & STREAM_FLAG_OFF ? r.varint('stream offset') : 0;
        const data = t & STREAM_FLAG_LEN ? r.take(r.varint('stream length'), 'stream data') : r.rest();
        // RFC 9000 §19.8: offset + length may not exceed the largest integer we can represent.
        if (offset + data.length > MAX_VARINT) {
          throw new WireDecodeError('BAD_VALUE', 'stream offset + length exceeds 2^53-1');
        }
        return { type: 'stream', streamId, offset, fin: (t & STREAM_FLAG_FIN) !== 0, data };
      }
      throw new WireDecodeError('UNKNOWN_TYPE', `unknown frame type 0x${t.toString(16)} at offset ${start}`);
  }
}

/** RFC 9000 §19.3: largest, delay, range count, first range, then (gap, length) pairs. */
function readAck(r: Reader): Frame {
  const largest = r.varint('ack largest');
  const delay = r.varint('ack delay');
  const count = r.varint('ack range count');
  // Each further range needs at least two bytes: refuse impossible counts before allocating.
  if (count * 2 > r.remaining) {
    throw new WireDecodeError('TRUNCATED', `ack range count ${count} exceeds the remaining input`);
  }
  const firstLen = r.varint('ack first range');
  if (firstLen > largest) {
    throw new WireDecodeError('BAD_VALUE', `ack first range ${firstLen} exceeds largest ${largest}`);
  }
  const ranges: AckRange[] = [{ start: largest - firstLen, end: largest }];
  let smallest = largest - firstLen;
  for (let i = 0; i < count; i++) {
    const gap = r.varint('ack gap');
    const len = r.varint('ack range length');
    // RFC 9000 §19.3.1: largest = previous smallest - gap - 2; must not go negative.
    if (gap + 2 > smallest)
      throw new WireDecodeError('BAD_VALUE', `ack gap ${gap} underflows at ${smallest}`);
    const end = smallest - gap - 2;
    if (len > end) throw new WireDecodeError('BAD_VALUE', `ack range length ${len} underflows at ${end}`);
    smallest = end - len;
    ranges.push({ start: smallest, end });
  }
  return { type: 'ack', delay, ranges };
}

/** Decodes the frame at `offset`; `next` is the offset after it. */
export function decodeFrame(bytes: Uint8Array, offset: number): { frame: Frame; next: number } {
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) {
    throw new RangeError(`"offset" expected integer in [0, ${bytes.length}], got ${offset}`);
  }
  const r = new Reader(bytes, offset);
  const frame = readFrame(r);
  return { frame, next: r.pos };
}

/** Decodes a whole (decrypted) packet payload into frames. */
export function decodeFrames(bytes: Uint8Array): Frame[] {
  const r = new Reader(bytes);
  const frames: Frame[] = [];
  while (r.pos < r.end) frames.push(readFrame(r));
  return frames;
}
