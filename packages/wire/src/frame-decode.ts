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
import type {
  AckFrame,
  AckRange,
  DatagramFrame,
  Frame,
  MaxDataFrame,
  MaxStreamDataFrame,
  PaddingFrame,
  PingFrame,
  StreamFrame,
} from './types.js';
import { readUtf8 } from './utf8.js';
import { MAX_VARINT } from './varint.js';

/**
 * Reads one frame at `r.pos` and advances `r.pos` past it. With a `pool` ({@link FrameDecoder}),
 * the frequent frame types reuse its objects instead of fresh ones; validation is the same code.
 */
export function readFrame(r: Reader, pool?: FramePool): Frame {
  const start = r.pos;
  const t = r.u8('frame type');
  switch (t) {
    case FrameTypeByte.Padding: {
      // A run of zero bytes is one PADDING frame (RFC 9000 §19.1 pads with 0x00 bytes).
      const b = r.bytes;
      let p = r.pos;
      while (p < r.end && b[p] === 0) p++;
      r.pos = p;
      if (pool !== undefined) return pool.padding(p - start);
      return { type: 'padding', length: p - start };
    }
    case FrameTypeByte.Ping:
      return pool !== undefined ? pool.ping() : { type: 'ping' };
    case FrameTypeByte.Ack:
      return readAck(r, pool);
    case FrameTypeByte.ResetStream:
      return {
        type: 'reset_stream',
        streamId: r.varint('stream id'),
        code: r.varint('code'),
        finalSize: r.varint('final size'),
      };
    case FrameTypeByte.StopSending:
      return { type: 'stop_sending', streamId: r.varint('stream id'), code: r.varint('code') };
    case FrameTypeByte.MaxData: {
      const max = r.varint('max');
      return pool !== undefined ? pool.maxData(max) : { type: 'max_data', max };
    }
    case FrameTypeByte.MaxStreamData: {
      const streamId = r.varint('stream id');
      const max = r.varint('max');
      return pool !== undefined
        ? pool.maxStreamData(streamId, max)
        : { type: 'max_stream_data', streamId, max };
    }
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
    case FrameTypeByte.Datagram: {
      const data = r.rest();
      return pool !== undefined ? pool.datagram(data) : { type: 'datagram', data };
    }
    case FrameTypeByte.Datagram | DATAGRAM_FLAG_LEN: {
      const len = r.varint('datagram length');
      const data = r.take(len, 'datagram data');
      return pool !== undefined ? pool.datagram(data) : { type: 'datagram', data };
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
        const fin = (t & STREAM_FLAG_FIN) !== 0;
        if (pool !== undefined) return pool.stream(streamId, offset, fin, data);
        return { type: 'stream', streamId, offset, fin, data };
      }
      throw new WireDecodeError('UNKNOWN_TYPE', `unknown frame type 0x${t.toString(16)} at offset ${start}`);
  }
}

/** RFC 9000 §19.3: largest, delay, range count, first range, then (gap, length) pairs. */
function readAck(r: Reader, pool: FramePool | undefined): Frame {
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
  const frame = pool !== undefined ? pool.ack(delay) : null;
  const ranges: AckRange[] = frame !== null ? frame.ranges : [];
  setRange(ranges, 0, largest - firstLen, largest);
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
    setRange(ranges, i + 1, smallest, end);
  }
  if (frame !== null) {
    if (ranges.length > count + 1) ranges.length = count + 1;
    return frame;
  }
  return { type: 'ack', delay, ranges };
}

/** `ranges[i] = { start, end }`, reusing the object already there (a pooled ACK's). */
function setRange(ranges: AckRange[], i: number, start: number, end: number): void {
  const x = ranges[i];
  if (x === undefined) ranges.push({ start, end });
  else {
    x.start = start;
    x.end = end;
  }
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

/**
 * The frame objects a {@link FrameDecoder} reuses: the n-th frame of a type in a packet is the n-th
 * object of that type, rewritten. Types a decoder meets rarely (CLOSE, RESET_STREAM, MESSAGE, ...)
 * are not pooled.
 */
export class FramePool {
  private readonly paddings: PaddingFrame[] = [];
  private readonly pings: PingFrame[] = [];
  private readonly acks: AckFrame[] = [];
  private readonly streams: StreamFrame[] = [];
  private readonly maxDatas: MaxDataFrame[] = [];
  private readonly maxStreamDatas: MaxStreamDataFrame[] = [];
  private readonly datagrams: DatagramFrame[] = [];
  private nPadding = 0;
  private nPing = 0;
  private nAck = 0;
  private nStream = 0;
  private nMaxData = 0;
  private nMaxStreamData = 0;
  private nDatagram = 0;

  /** A new packet: every object may be rewritten. */
  reset(): void {
    this.nPadding = 0;
    this.nPing = 0;
    this.nAck = 0;
    this.nStream = 0;
    this.nMaxData = 0;
    this.nMaxStreamData = 0;
    this.nDatagram = 0;
  }

  padding(length: number): PaddingFrame {
    const f = this.paddings[this.nPadding++];
    if (f === undefined) return push(this.paddings, { type: 'padding', length });
    f.length = length;
    return f;
  }

  ping(): PingFrame {
    const f = this.pings[this.nPing++];
    return f ?? push(this.pings, { type: 'ping' });
  }

  /** An ACK frame whose `ranges` the caller fills (and truncates). */
  ack(delay: number): AckFrame {
    const f = this.acks[this.nAck++];
    if (f === undefined) return push(this.acks, { type: 'ack', delay, ranges: [] });
    f.delay = delay;
    return f;
  }

  stream(streamId: number, offset: number, fin: boolean, data: Uint8Array): StreamFrame {
    const f = this.streams[this.nStream++];
    if (f === undefined) return push(this.streams, { type: 'stream', streamId, offset, fin, data });
    f.streamId = streamId;
    f.offset = offset;
    f.fin = fin;
    f.data = data;
    return f;
  }

  maxData(max: number): MaxDataFrame {
    const f = this.maxDatas[this.nMaxData++];
    if (f === undefined) return push(this.maxDatas, { type: 'max_data', max });
    f.max = max;
    return f;
  }

  maxStreamData(streamId: number, max: number): MaxStreamDataFrame {
    const f = this.maxStreamDatas[this.nMaxStreamData++];
    if (f === undefined) return push(this.maxStreamDatas, { type: 'max_stream_data', streamId, max });
    f.streamId = streamId;
    f.max = max;
    return f;
  }

  datagram(data: Uint8Array): DatagramFrame {
    const f = this.datagrams[this.nDatagram++];
    if (f === undefined) return push(this.datagrams, { type: 'datagram', data });
    f.data = data;
    return f;
  }
}

function push<T>(list: T[], x: T): T {
  list.push(x);
  return x;
}

const EMPTY = new Uint8Array(0);

/**
 * {@link decodeFrames} for a hot receive path: the same frames and the same errors (one code
 * path), but the returned array, the frequent frame objects and an ACK's `ranges` (array and
 * objects) belong to the decoder and are rewritten by its next `decode`. Byte fields (`data`) are
 * fresh views of the input as in `decodeFrames` and may be kept; a frame object, its `ranges` or
 * the array may not: copy what must outlive the next `decode`. Not re-entrant: a `decode` while
 * the previous packet's frames are still being handled overwrites them.
 */
export class FrameDecoder {
  private readonly reader = new Reader(EMPTY);
  private readonly pool = new FramePool();
  private readonly frames: Frame[] = [];

  /** Decodes a whole (decrypted) packet payload; throws as `decodeFrames` does. */
  decode(bytes: Uint8Array): readonly Frame[] {
    const r = this.reader;
    r.reset(bytes);
    this.pool.reset();
    const frames = this.frames;
    let n = 0;
    try {
      while (r.pos < r.end) {
        const f = readFrame(r, this.pool);
        if (n < frames.length) frames[n] = f;
        else frames.push(f);
        n++;
      }
    } finally {
      // drops the packet's input from the reader either way (nothing pins its buffer)
      r.reset(EMPTY);
    }
    if (frames.length > n) frames.length = n;
    return frames;
  }
}
