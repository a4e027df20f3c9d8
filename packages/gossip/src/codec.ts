/**
 * The gossip wire format, version 1. Every frame travels as one whole message on a connection the
 * host already authenticated (srmudp's Noise session), so frames carry no sender field and no
 * MAC: `fromPeer` is the authenticated sender. Only broadcast payloads are signed, by their
 * origin, because they are relayed.
 *
 * ```
 * frame    = version:u8 (=1) type:u8 topic:32 body
 * join            0x01  record:vbytes
 * forward_join    0x02  peer:32 ttl:u8 via:32 record:vbytes
 * neighbor        0x03  priority:u8 (0 low, 1 high) record:vbytes
 * neighbor_reply  0x04  accepted:u8 (0 or 1)
 * disconnect      0x05  alive:u8 (0 or 1)
 * shuffle         0x06  id:8 ttl:u8 origin:32 record:vbytes count:u8 entry*count
 * shuffle_reply   0x07  id:8 count:u8 entry*count
 * gossip          0x10  round:varint message
 * ihave           0x11  count:varint (id:32 round:varint)*count
 * graft           0x12  has_id:u8 [id:32] round:varint
 * prune           0x13  (empty)
 * entry   = peer:32 record:vbytes
 * message = origin:32 issued_at:u64 seq:varint kind:u8 payload signature:64
 *   kind 0 (inline): data:vbytes      kind 1 (blob): hash:32 size:varint
 * vbytes  = length:varint bytes
 * ```
 * Integers are big-endian, varints are QUIC varints (RFC 9000 §16). Decoders are total: any
 * input gives a frame or a {@link WireDecodeError}, never another exception.
 */
import { Reader, varintSize, WireDecodeError, writeVarint } from '@srmudp/wire';

export const GOSSIP_WIRE_VERSION = 1;
export const PEER_ID_LENGTH = 32;
export const TOPIC_ID_LENGTH = 32;
export const MESSAGE_ID_LENGTH = 32;
export const SHUFFLE_ID_LENGTH = 8;
export const SIGNATURE_LENGTH = 64;
/** Largest opaque record (a signed rendezvous record) a frame may carry. */
export const MAX_RECORD_SIZE = 4096;
/** Largest number of entries in one shuffle or shuffle reply. */
export const MAX_SHUFFLE_ENTRIES = 64;
/** Largest number of ids in one IHave. */
export const MAX_IHAVE_ITEMS = 1024;
/** Largest inline payload: bigger payloads are announced by hash and fetched. */
export const MAX_INLINE_SIZE = 65_536;
/** Largest blob size an announcement may name (1 TiB; hosts set a lower policy limit). */
export const MAX_BLOB_SIZE = 2 ** 40;
/** Largest hop count. */
export const MAX_ROUND = 0xffff;

export const FRAME_TYPE = {
  join: 0x01,
  forward_join: 0x02,
  neighbor: 0x03,
  neighbor_reply: 0x04,
  disconnect: 0x05,
  shuffle: 0x06,
  shuffle_reply: 0x07,
  gossip: 0x10,
  ihave: 0x11,
  graft: 0x12,
  prune: 0x13,
} as const;
export type FrameTypeName = keyof typeof FRAME_TYPE;

export interface PeerRecord {
  /** 32-byte Ed25519 public key (peer id) */
  peer: Uint8Array;
  /** opaque signed record (the rendezvous record); gossip does not parse it */
  record: Uint8Array;
}

export type Payload = { kind: 'inline'; data: Uint8Array } | { kind: 'blob'; hash: Uint8Array; size: number };

export interface MessageFields {
  origin: Uint8Array;
  /** origin's wall clock at broadcast, ms since the Unix epoch */
  issuedAt: number;
  /** origin's per-process counter: two broadcasts in one millisecond still differ */
  seq: number;
  payload: Payload;
}

/** A broadcast message with its encodings: `body` is what the id hashes, `bytes` = body ‖ signature. */
export interface SignedMessage extends MessageFields {
  signature: Uint8Array;
  body: Uint8Array;
  bytes: Uint8Array;
}

export interface IHaveItem {
  id: Uint8Array;
  round: number;
}

export type GossipFrame =
  | { type: 'join'; topic: Uint8Array; record: Uint8Array }
  | {
      type: 'forward_join';
      topic: Uint8Array;
      peer: Uint8Array;
      ttl: number;
      via: Uint8Array;
      record: Uint8Array;
    }
  | { type: 'neighbor'; topic: Uint8Array; high: boolean; record: Uint8Array }
  | { type: 'neighbor_reply'; topic: Uint8Array; accepted: boolean }
  | { type: 'disconnect'; topic: Uint8Array; alive: boolean }
  | {
      type: 'shuffle';
      topic: Uint8Array;
      id: Uint8Array;
      ttl: number;
      origin: Uint8Array;
      record: Uint8Array;
      entries: PeerRecord[];
    }
  | { type: 'shuffle_reply'; topic: Uint8Array; id: Uint8Array; entries: PeerRecord[] }
  | { type: 'gossip'; topic: Uint8Array; round: number; message: SignedMessage }
  | { type: 'ihave'; topic: Uint8Array; items: IHaveItem[] }
  | { type: 'graft'; topic: Uint8Array; id: Uint8Array | null; round: number }
  | { type: 'prune'; topic: Uint8Array };

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  readonly buf: Uint8Array;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  varint(v: number): void {
    this.pos = writeVarint(this.buf, this.pos, v);
  }
  vbytes(b: Uint8Array): void {
    this.varint(b.length);
    this.bytes(b);
  }
  /** big-endian; v ≤ 2^53 − 1 (checked by the callers) */
  u64(v: number): void {
    const hi = Math.floor(v / 2 ** 32);
    const lo = v >>> 0;
    const b = this.buf;
    const p = this.pos;
    b[p] = hi >>> 24;
    b[p + 1] = (hi >>> 16) & 0xff;
    b[p + 2] = (hi >>> 8) & 0xff;
    b[p + 3] = hi & 0xff;
    b[p + 4] = lo >>> 24;
    b[p + 5] = (lo >>> 16) & 0xff;
    b[p + 6] = (lo >>> 8) & 0xff;
    b[p + 7] = lo & 0xff;
    this.pos = p + 8;
  }
  done(): Uint8Array {
    if (this.pos !== this.buf.length)
      throw new Error(`gossip codec: sized ${this.buf.length}, wrote ${this.pos}`);
    return this.buf;
  }
}

const vbytesSize = (b: Uint8Array) => varintSize(b.length) + b.length;
const entriesSize = (entries: readonly PeerRecord[]) =>
  1 + entries.reduce((s, e) => s + PEER_ID_LENGTH + vbytesSize(e.record), 0);
const HEADER = 2 + TOPIC_ID_LENGTH;

function fixed(v: Uint8Array, name: string, length: number): void {
  if (!(v instanceof Uint8Array) || v.length !== length) {
    throw new RangeError(`"${name}" expected Uint8Array of length ${length}, got length=${v?.length}`);
  }
}

function checkRecord(record: Uint8Array, name = 'record'): void {
  if (!(record instanceof Uint8Array) || record.length > MAX_RECORD_SIZE) {
    throw new RangeError(`"${name}" expected Uint8Array of at most ${MAX_RECORD_SIZE} bytes`);
  }
}

function checkEntries(entries: readonly PeerRecord[]): void {
  if (entries.length > MAX_SHUFFLE_ENTRIES) {
    throw new RangeError(`at most ${MAX_SHUFFLE_ENTRIES} shuffle entries, got ${entries.length}`);
  }
  for (const e of entries) {
    fixed(e.peer, 'entry.peer', PEER_ID_LENGTH);
    checkRecord(e.record, 'entry.record');
  }
}

function checkInt(name: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new RangeError(`"${name}" expected integer in [0, ${max}], got ${v}`);
  }
}

function header(w: Writer, type: number, topic: Uint8Array): void {
  fixed(topic, 'topic', TOPIC_ID_LENGTH);
  w.u8(GOSSIP_WIRE_VERSION);
  w.u8(type);
  w.bytes(topic);
}

function writeEntries(w: Writer, entries: readonly PeerRecord[]): void {
  w.u8(entries.length);
  for (const e of entries) {
    w.bytes(e.peer);
    w.vbytes(e.record);
  }
}

/** The signed part of a message. Throws RangeError on out-of-range fields. */
export function encodeMessageBody(m: MessageFields): Uint8Array {
  fixed(m.origin, 'origin', PEER_ID_LENGTH);
  checkInt('issuedAt', m.issuedAt, Number.MAX_SAFE_INTEGER);
  checkInt('seq', m.seq, Number.MAX_SAFE_INTEGER);
  const p = m.payload;
  let size = PEER_ID_LENGTH + 8 + varintSize(m.seq) + 1;
  if (p.kind === 'inline') {
    if (!(p.data instanceof Uint8Array) || p.data.length > MAX_INLINE_SIZE) {
      throw new RangeError(`inline payload expected Uint8Array of at most ${MAX_INLINE_SIZE} bytes`);
    }
    size += vbytesSize(p.data);
  } else {
    fixed(p.hash, 'hash', 32);
    if (!Number.isSafeInteger(p.size) || p.size < 1 || p.size > MAX_BLOB_SIZE) {
      throw new RangeError(`"size" expected integer in [1, 2^40], got ${p.size}`);
    }
    size += 32 + varintSize(p.size);
  }
  const w = new Writer(size);
  w.bytes(m.origin);
  w.u64(m.issuedAt);
  w.varint(m.seq);
  if (p.kind === 'inline') {
    w.u8(0);
    w.vbytes(p.data);
  } else {
    w.u8(1);
    w.bytes(p.hash);
    w.varint(p.size);
  }
  return w.done();
}

/** Assembles a message from its fields and signature (the signature is not checked here). */
export function encodeSignedMessage(m: MessageFields & { signature: Uint8Array }): SignedMessage {
  fixed(m.signature, 'signature', SIGNATURE_LENGTH);
  const body = encodeMessageBody(m);
  const bytes = new Uint8Array(body.length + SIGNATURE_LENGTH);
  bytes.set(body);
  bytes.set(m.signature, body.length);
  return {
    origin: m.origin,
    issuedAt: m.issuedAt,
    seq: m.seq,
    payload: m.payload,
    signature: m.signature,
    body: bytes.subarray(0, body.length),
    bytes,
  };
}

/** GOSSIP frame around already-encoded message bytes (the forwarding fast path). */
export function encodeGossipFrame(topic: Uint8Array, round: number, messageBytes: Uint8Array): Uint8Array {
  checkInt('round', round, MAX_ROUND);
  const w = new Writer(HEADER + varintSize(round) + messageBytes.length);
  header(w, FRAME_TYPE.gossip, topic);
  w.varint(round);
  w.bytes(messageBytes);
  return w.done();
}

/** Encodes any frame. Throws RangeError/TypeError when a field is out of range. */
export function encodeFrame(f: GossipFrame): Uint8Array {
  switch (f.type) {
    case 'join': {
      checkRecord(f.record);
      const w = new Writer(HEADER + vbytesSize(f.record));
      header(w, FRAME_TYPE.join, f.topic);
      w.vbytes(f.record);
      return w.done();
    }
    case 'forward_join': {
      fixed(f.peer, 'peer', PEER_ID_LENGTH);
      fixed(f.via, 'via', PEER_ID_LENGTH);
      checkInt('ttl', f.ttl, 255);
      checkRecord(f.record);
      const w = new Writer(HEADER + 32 + 1 + 32 + vbytesSize(f.record));
      header(w, FRAME_TYPE.forward_join, f.topic);
      w.bytes(f.peer);
      w.u8(f.ttl);
      w.bytes(f.via);
      w.vbytes(f.record);
      return w.done();
    }
    case 'neighbor': {
      checkRecord(f.record);
      const w = new Writer(HEADER + 1 + vbytesSize(f.record));
      header(w, FRAME_TYPE.neighbor, f.topic);
      w.u8(f.high ? 1 : 0);
      w.vbytes(f.record);
      return w.done();
    }
    case 'neighbor_reply':
    case 'disconnect': {
      const w = new Writer(HEADER + 1);
      header(w, FRAME_TYPE[f.type], f.topic);
      w.u8((f.type === 'neighbor_reply' ? f.accepted : f.alive) ? 1 : 0);
      return w.done();
    }
    case 'shuffle': {
      fixed(f.id, 'id', SHUFFLE_ID_LENGTH);
      fixed(f.origin, 'origin', PEER_ID_LENGTH);
      checkInt('ttl', f.ttl, 255);
      checkRecord(f.record);
      checkEntries(f.entries);
      const w = new Writer(HEADER + 8 + 1 + 32 + vbytesSize(f.record) + entriesSize(f.entries));
      header(w, FRAME_TYPE.shuffle, f.topic);
      w.bytes(f.id);
      w.u8(f.ttl);
      w.bytes(f.origin);
      w.vbytes(f.record);
      writeEntries(w, f.entries);
      return w.done();
    }
    case 'shuffle_reply': {
      fixed(f.id, 'id', SHUFFLE_ID_LENGTH);
      checkEntries(f.entries);
      const w = new Writer(HEADER + 8 + entriesSize(f.entries));
      header(w, FRAME_TYPE.shuffle_reply, f.topic);
      w.bytes(f.id);
      writeEntries(w, f.entries);
      return w.done();
    }
    case 'gossip':
      return encodeGossipFrame(f.topic, f.round, f.message.bytes);
    case 'ihave': {
      if (f.items.length > MAX_IHAVE_ITEMS) {
        throw new RangeError(`at most ${MAX_IHAVE_ITEMS} ihave items, got ${f.items.length}`);
      }
      let size = HEADER + varintSize(f.items.length);
      for (const it of f.items) {
        fixed(it.id, 'id', MESSAGE_ID_LENGTH);
        checkInt('round', it.round, MAX_ROUND);
        size += MESSAGE_ID_LENGTH + varintSize(it.round);
      }
      const w = new Writer(size);
      header(w, FRAME_TYPE.ihave, f.topic);
      w.varint(f.items.length);
      for (const it of f.items) {
        w.bytes(it.id);
        w.varint(it.round);
      }
      return w.done();
    }
    case 'graft': {
      if (f.id !== null) fixed(f.id, 'id', MESSAGE_ID_LENGTH);
      checkInt('round', f.round, MAX_ROUND);
      const w = new Writer(HEADER + 1 + (f.id ? 32 : 0) + varintSize(f.round));
      header(w, FRAME_TYPE.graft, f.topic);
      w.u8(f.id ? 1 : 0);
      if (f.id) w.bytes(f.id);
      w.varint(f.round);
      return w.done();
    }
    case 'prune': {
      const w = new Writer(HEADER);
      header(w, FRAME_TYPE.prune, f.topic);
      return w.done();
    }
    default:
      throw new TypeError(`unknown gossip frame type ${(f as { type: unknown }).type}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

function flag(r: Reader, what: string): boolean {
  const v = r.u8(what);
  if (v > 1) throw new WireDecodeError('BAD_VALUE', `${what}: expected 0 or 1, got ${v}`);
  return v === 1;
}

function vbytes(r: Reader, max: number, what: string): Uint8Array {
  const n = r.varint(`${what} length`);
  if (n > max) throw new WireDecodeError('BAD_VALUE', `${what}: ${n} bytes exceeds ${max}`);
  return r.take(n, what);
}

function readEntries(r: Reader): PeerRecord[] {
  const count = r.u8('entry count');
  if (count > MAX_SHUFFLE_ENTRIES) {
    throw new WireDecodeError('BAD_VALUE', `${count} shuffle entries exceeds ${MAX_SHUFFLE_ENTRIES}`);
  }
  const entries: PeerRecord[] = [];
  for (let i = 0; i < count; i++) {
    const peer = r.take(PEER_ID_LENGTH, 'entry peer');
    entries.push({ peer, record: vbytes(r, MAX_RECORD_SIZE, 'entry record') });
  }
  return entries;
}

function round(r: Reader): number {
  const v = r.varint('round');
  if (v > MAX_ROUND) throw new WireDecodeError('BAD_VALUE', `round ${v} exceeds ${MAX_ROUND}`);
  return v;
}

/** Decodes a message (body ‖ signature) that fills `r` to its end. */
function readMessage(r: Reader): SignedMessage {
  const start = r.pos;
  const origin = r.take(PEER_ID_LENGTH, 'origin');
  const issuedAt = r.u64('issued_at');
  const seq = r.varint('seq');
  const kind = r.u8('payload kind');
  let payload: Payload;
  if (kind === 0) {
    payload = { kind: 'inline', data: vbytes(r, MAX_INLINE_SIZE, 'inline payload') };
  } else if (kind === 1) {
    const hash = r.take(32, 'blob hash');
    const size = r.varint('blob size');
    if (size < 1 || size > MAX_BLOB_SIZE)
      throw new WireDecodeError('BAD_VALUE', `blob size ${size} out of range`);
    payload = { kind: 'blob', hash, size };
  } else {
    throw new WireDecodeError('BAD_VALUE', `payload kind ${kind} is not 0 (inline) or 1 (blob)`);
  }
  const bodyEnd = r.pos;
  const signature = r.take(SIGNATURE_LENGTH, 'signature');
  const bytes = r.bytes.subarray(start, r.pos);
  return { origin, issuedAt, seq, payload, signature, body: r.bytes.subarray(start, bodyEnd), bytes };
}

/**
 * Decodes one frame. Byte fields are views into `bytes` (copy what you keep). Throws
 * {@link WireDecodeError}: `UNSUPPORTED_VERSION`, `UNKNOWN_TYPE`, `TRUNCATED`, `BAD_VALUE`,
 * `VARINT_RANGE` or `TRAILING_BYTES`; nothing else.
 */
export function decodeFrame(bytes: Uint8Array): GossipFrame {
  if (!(bytes instanceof Uint8Array)) throw new WireDecodeError('BAD_VALUE', 'frame is not a Uint8Array');
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== GOSSIP_WIRE_VERSION) {
    throw new WireDecodeError(
      'UNSUPPORTED_VERSION',
      `gossip wire version ${version}, this is ${GOSSIP_WIRE_VERSION}`,
    );
  }
  const type = r.u8('type');
  const topic = r.take(TOPIC_ID_LENGTH, 'topic');
  let f: GossipFrame;
  switch (type) {
    case FRAME_TYPE.join:
      f = { type: 'join', topic, record: vbytes(r, MAX_RECORD_SIZE, 'record') };
      break;
    case FRAME_TYPE.forward_join: {
      const peer = r.take(PEER_ID_LENGTH, 'peer');
      const ttl = r.u8('ttl');
      const via = r.take(PEER_ID_LENGTH, 'via');
      f = { type: 'forward_join', topic, peer, ttl, via, record: vbytes(r, MAX_RECORD_SIZE, 'record') };
      break;
    }
    case FRAME_TYPE.neighbor: {
      const high = flag(r, 'priority');
      f = { type: 'neighbor', topic, high, record: vbytes(r, MAX_RECORD_SIZE, 'record') };
      break;
    }
    case FRAME_TYPE.neighbor_reply:
      f = { type: 'neighbor_reply', topic, accepted: flag(r, 'accepted') };
      break;
    case FRAME_TYPE.disconnect:
      f = { type: 'disconnect', topic, alive: flag(r, 'alive') };
      break;
    case FRAME_TYPE.shuffle: {
      const id = r.take(SHUFFLE_ID_LENGTH, 'shuffle id');
      const ttl = r.u8('ttl');
      const origin = r.take(PEER_ID_LENGTH, 'origin');
      const record = vbytes(r, MAX_RECORD_SIZE, 'record');
      f = { type: 'shuffle', topic, id, ttl, origin, record, entries: readEntries(r) };
      break;
    }
    case FRAME_TYPE.shuffle_reply: {
      const id = r.take(SHUFFLE_ID_LENGTH, 'shuffle id');
      f = { type: 'shuffle_reply', topic, id, entries: readEntries(r) };
      break;
    }
    case FRAME_TYPE.gossip: {
      const rd = round(r);
      f = { type: 'gossip', topic, round: rd, message: readMessage(r) };
      break;
    }
    case FRAME_TYPE.ihave: {
      const count = r.varint('ihave count');
      if (count > MAX_IHAVE_ITEMS)
        throw new WireDecodeError('BAD_VALUE', `${count} ihave items exceeds ${MAX_IHAVE_ITEMS}`);
      const items: IHaveItem[] = [];
      for (let i = 0; i < count; i++) {
        const id = r.take(MESSAGE_ID_LENGTH, 'ihave id');
        items.push({ id, round: round(r) });
      }
      f = { type: 'ihave', topic, items };
      break;
    }
    case FRAME_TYPE.graft: {
      const id = flag(r, 'graft has_id') ? r.take(MESSAGE_ID_LENGTH, 'graft id') : null;
      f = { type: 'graft', topic, id, round: round(r) };
      break;
    }
    case FRAME_TYPE.prune:
      f = { type: 'prune', topic };
      break;
    default:
      throw new WireDecodeError('UNKNOWN_TYPE', `unknown gossip frame type 0x${type.toString(16)}`);
  }
  if (r.remaining !== 0) throw new WireDecodeError('TRAILING_BYTES', `${r.remaining} bytes after the frame`);
  return f;
}

/** A message's frame type name from its first two bytes, or null (cheap classification for hosts and simulators). */
export function peekFrameType(bytes: Uint8Array): FrameTypeName | null {
  if (bytes.length < 2 || bytes[0] !== GOSSIP_WIRE_VERSION) return null;
  for (const [name, code] of Object.entries(FRAME_TYPE)) if (code === bytes[1]) return name as FrameTypeName;
  return null;
}

/**
 * A decoded message (every field a view into `m.bytes`, as {@link decodeFrame} returns them) as
 * views into one fresh copy of its bytes, for keeping after the input buffer is reused.
 */
export function copyMessage(m: SignedMessage): SignedMessage {
  const bytes = m.bytes.slice();
  const base = m.bytes.byteOffset;
  const view = (v: Uint8Array) => bytes.subarray(v.byteOffset - base, v.byteOffset - base + v.length);
  const payload: Payload =
    m.payload.kind === 'inline'
      ? { kind: 'inline', data: view(m.payload.data) }
      : { kind: 'blob', hash: view(m.payload.hash), size: m.payload.size };
  return {
    origin: view(m.origin),
    issuedAt: m.issuedAt,
    seq: m.seq,
    payload,
    signature: view(m.signature),
    body: bytes.subarray(0, m.body.length),
    bytes,
  };
}
