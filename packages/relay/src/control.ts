/**
 * Control messages of the relay protocol, exchanged between a client and its relay inside their
 * hop session (an ordinary srmudp session, which authenticated the client's key). Layout:
 *
 *   version (u8 = 1) | type (u8) | request id (varint) | body
 *
 * Every message has a request id in the same place so that a receiver can answer even a message
 * type it does not know (REJECT `unsupported`). The byte layouts of the bodies are in
 * docs/architecture/wire-format.md §9. The host must deliver control messages reliably, in order
 * and whole (see the README); the protocol is idempotent under duplicates.
 */
import { Reader, varintSize, WireDecodeError, writeVarint } from '@srmudp/wire';
import { isChannelNumber } from './channel-data.js';
import type { CircuitLimits } from './limits.js';
import {
  CLOSE_REASONS,
  type CloseReason,
  closeReasonOf,
  REJECT_REASONS,
  type RejectReason,
  rejectReasonOf,
  STATUS_CODES,
  statusCodeOf,
} from './reasons.js';

export const CONTROL_VERSION = 1;
export const PEER_KEY_LENGTH = 32;
/** Relay instance id length (random per relay process; a new one tells clients state was lost). */
export const INSTANCE_ID_LENGTH = 8;
/** Largest voucher a control message may carry (a v1 voucher is at most 259 bytes). */
export const MAX_VOUCHER_BYTES = 1024;

export const ControlType = {
  Connect: 0x01,
  Incoming: 0x02,
  Accept: 0x03,
  Reject: 0x04,
  Bound: 0x05,
  Close: 0x06,
  Status: 0x07,
  Refresh: 0x08,
} as const;

const FLAG_VOUCHER = 0x01;
const FLAG_FIRST_PACKET = 0x02;

/** client → relay: open a circuit to `target`. */
export interface ConnectMessage {
  readonly type: 'connect';
  readonly requestId: number;
  readonly target: Uint8Array;
  /** what the requester asks for (0 = no preference); the relay grants at most this */
  readonly limits: CircuitLimits;
  /** encoded voucher (see voucher.ts), required by connect-via relays */
  readonly voucher: Uint8Array | null;
  /** the first end-to-end packet (e.g. the Noise IK init), handed to the target with INCOMING */
  readonly firstPacket: Uint8Array | null;
}

/** relay → target: `requester` asks for a circuit. Answered by ACCEPT or REJECT (with this id). */
export interface IncomingMessage {
  readonly type: 'incoming';
  readonly requestId: number;
  readonly requester: Uint8Array;
  /** what the circuit will be limited to at most */
  readonly limits: CircuitLimits;
  readonly voucher: Uint8Array | null;
  readonly firstPacket: Uint8Array | null;
}

/** target → relay: accept INCOMING `incomingId` (a request of its own: answered by BOUND/REJECT). */
export interface AcceptMessage {
  readonly type: 'accept';
  readonly requestId: number;
  readonly incomingId: number;
  /** the target's own caps (0 = none) */
  readonly limits: CircuitLimits;
}

/** Turns down the request with this id (relay → client) or the INCOMING with this id (target → relay). */
export interface RejectMessage {
  readonly type: 'reject';
  readonly requestId: number;
  readonly reason: RejectReason;
}

/** relay → client: the answer to CONNECT, ACCEPT or REFRESH `requestId`: the circuit's channel on this hop. */
export interface BoundMessage {
  readonly type: 'bound';
  readonly requestId: number;
  readonly channel: number;
  /** the other end of the circuit */
  readonly peer: Uint8Array;
  readonly limits: CircuitLimits;
  /** this end's binding expires unless refreshed before */
  readonly expiresInMs: number;
}

/** Either direction (request id 0): the circuit on `channel` is closed. */
export interface CloseMessage {
  readonly type: 'close';
  readonly requestId: number;
  readonly channel: number;
  readonly reason: CloseReason;
}

/** client → relay: extend this end's binding of `channel` (answered by BOUND or REJECT). */
export interface RefreshMessage {
  readonly type: 'refresh';
  readonly requestId: number;
  readonly channel: number;
}

export type RelayStatus =
  | {
      readonly code: 'healthy';
      readonly instance: Uint8Array;
      /** hop session counter of this relay instance: a new value means the relay forgot older state */
      readonly epoch: number;
      readonly rateBytesPerSec: number;
      readonly burstBytes: number;
      readonly maxCircuits: number;
      readonly maxMessageSize: number;
    }
  | { readonly code: 'rate_limited'; readonly rateBytesPerSec: number; readonly burstBytes: number }
  | { readonly code: 'same_key_elsewhere' }
  | { readonly code: 'restarting'; readonly reconnectInMs: number; readonly tryForMs: number }
  | { readonly code: 'denied'; readonly reason: RejectReason };

/** relay → client (request id 0). */
export interface StatusMessage {
  readonly type: 'status';
  readonly requestId: number;
  readonly status: RelayStatus;
}

export type ControlMessage =
  | ConnectMessage
  | IncomingMessage
  | AcceptMessage
  | RejectMessage
  | BoundMessage
  | CloseMessage
  | RefreshMessage
  | StatusMessage;

/** The fixed part every control message starts with. */
export interface ControlHeader {
  readonly version: number;
  readonly type: number;
  readonly requestId: number;
}

/** Reads the header only (version, type byte, request id), or null when even that is not there. */
export function peekControlHeader(bytes: Uint8Array): ControlHeader | null {
  try {
    const r = new Reader(bytes);
    return { version: r.u8(), type: r.u8(), requestId: r.varint() };
  } catch {
    return null;
  }
}

function readKey(r: Reader, what: string): Uint8Array {
  return r.take(PEER_KEY_LENGTH, what);
}

function readLimits(r: Reader): CircuitLimits {
  return { durationMs: r.varint('limits.durationMs'), bytes: r.varint('limits.bytes') };
}

function readChannel(r: Reader): number {
  const ch = r.u16('channel');
  if (!isChannelNumber(ch))
    throw new WireDecodeError('BAD_VALUE', `channel 0x${ch.toString(16)} outside 0x4000-0x4fff`);
  return ch;
}

function readReject(r: Reader): RejectReason {
  const code = r.varint('reason');
  const reason = rejectReasonOf(code);
  if (reason === undefined) throw new WireDecodeError('BAD_VALUE', `unknown reject reason ${code}`);
  return reason;
}

function readOptional(r: Reader, present: boolean, max: number, what: string): Uint8Array | null {
  if (!present) return null;
  const len = r.varint(`${what} length`);
  if (len === 0 || len > max)
    throw new WireDecodeError('BAD_VALUE', `${what} length ${len} outside [1, ${max}]`);
  return r.take(len, what);
}

function readCircuitOffer(r: Reader): {
  peer: Uint8Array;
  limits: CircuitLimits;
  voucher: Uint8Array | null;
  firstPacket: Uint8Array | null;
} {
  const peer = readKey(r, 'peer');
  const limits = readLimits(r);
  const flags = r.u8('flags');
  if ((flags & ~(FLAG_VOUCHER | FLAG_FIRST_PACKET)) !== 0) {
    throw new WireDecodeError('BAD_VALUE', `unknown flags 0x${flags.toString(16)}`);
  }
  const voucher = readOptional(r, (flags & FLAG_VOUCHER) !== 0, MAX_VOUCHER_BYTES, 'voucher');
  const firstPacket = readOptional(r, (flags & FLAG_FIRST_PACKET) !== 0, 0xffff, 'first packet');
  return { peer, limits, voucher, firstPacket };
}

function readStatus(r: Reader): RelayStatus {
  const code = r.varint('status code');
  const name = statusCodeOf(code);
  switch (name) {
    case 'healthy':
      return {
        code: name,
        instance: r.take(INSTANCE_ID_LENGTH, 'instance'),
        epoch: r.varint('epoch'),
        rateBytesPerSec: r.varint('rate'),
        burstBytes: r.varint('burst'),
        maxCircuits: r.varint('max circuits'),
        maxMessageSize: r.varint('max message size'),
      };
    case 'rate_limited':
      return { code: name, rateBytesPerSec: r.varint('rate'), burstBytes: r.varint('burst') };
    case 'same_key_elsewhere':
      return { code: name };
    case 'restarting':
      return { code: name, reconnectInMs: r.varint('reconnect in'), tryForMs: r.varint('try for') };
    case 'denied':
      return { code: name, reason: readReject(r) };
    default:
      throw new WireDecodeError('BAD_VALUE', `unknown status code ${code}`);
  }
}

/**
 * Decodes one control message. Total: returns a value or throws {@link WireDecodeError}
 * (`TRUNCATED`, `UNKNOWN_TYPE`, `BAD_VALUE`, `VARINT_RANGE`, `TRAILING_BYTES`,
 * `UNSUPPORTED_VERSION`). Byte fields are views into `bytes`.
 */
export function decodeControl(bytes: Uint8Array): ControlMessage {
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== CONTROL_VERSION) {
    throw new WireDecodeError('UNSUPPORTED_VERSION', `relay control version ${version}, expected 1`);
  }
  const type = r.u8('type');
  const requestId = r.varint('request id');
  let msg: ControlMessage;
  switch (type) {
    case ControlType.Connect: {
      const { peer, ...offer } = readCircuitOffer(r);
      msg = { type: 'connect', requestId, target: peer, ...offer };
      break;
    }
    case ControlType.Incoming: {
      const { peer, ...offer } = readCircuitOffer(r);
      msg = { type: 'incoming', requestId, requester: peer, ...offer };
      break;
    }
    case ControlType.Accept:
      msg = { type: 'accept', requestId, incomingId: r.varint('incoming id'), limits: readLimits(r) };
      break;
    case ControlType.Reject:
      msg = { type: 'reject', requestId, reason: readReject(r) };
      break;
    case ControlType.Bound:
      msg = {
        type: 'bound',
        requestId,
        channel: readChannel(r),
        peer: readKey(r, 'peer'),
        limits: readLimits(r),
        expiresInMs: r.varint('expires in'),
      };
      break;
    case ControlType.Close: {
      const channel = readChannel(r);
      const code = r.varint('reason');
      const reason = closeReasonOf(code);
      if (reason === undefined) throw new WireDecodeError('BAD_VALUE', `unknown close reason ${code}`);
      msg = { type: 'close', requestId, channel, reason };
      break;
    }
    case ControlType.Status:
      msg = { type: 'status', requestId, status: readStatus(r) };
      break;
    case ControlType.Refresh:
      msg = { type: 'refresh', requestId, channel: readChannel(r) };
      break;
    default:
      throw new WireDecodeError('UNKNOWN_TYPE', `unknown relay control type 0x${type.toString(16)}`);
  }
  if (r.remaining !== 0)
    throw new WireDecodeError('TRAILING_BYTES', `${r.remaining} bytes after ${msg.type}`);
  return msg;
}

// ---- encoding -------------------------------------------------------------------------------

/** Collects the fields of a message, then writes them in one buffer of the exact size. */
class Writer {
  private parts: (number | Uint8Array | { v: number })[] = [];
  private size = 0;
  u8(v: number): this {
    this.parts.push(v);
    this.size += 1;
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v & 0xff);
  }
  varint(name: string, v: number): this {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`"${name}" expected integer in [0, 2^53-1], got ${v}`);
    this.parts.push({ v });
    this.size += varintSize(v);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      if (typeof p === 'number') out[o++] = p;
      else if (p instanceof Uint8Array) {
        out.set(p, o);
        o += p.length;
      } else o = writeVarint(out, o, p.v);
    }
    return out;
  }
}

function checkKey(name: string, k: unknown): Uint8Array {
  if (!(k instanceof Uint8Array) || k.length !== PEER_KEY_LENGTH) {
    throw new TypeError(
      `"${name}" expected Uint8Array of length 32, got ${k instanceof Uint8Array ? `length=${k.length}` : typeof k}`,
    );
  }
  return k;
}

function checkChannel(ch: number): number {
  if (!isChannelNumber(ch)) throw new RangeError(`"channel" expected integer in [0x4000, 0x4fff], got ${ch}`);
  return ch;
}

function writeLimits(w: Writer, l: CircuitLimits): void {
  w.varint('limits.durationMs', l.durationMs).varint('limits.bytes', l.bytes);
}

function writeOffer(
  w: Writer,
  peerName: string,
  peer: Uint8Array,
  limits: CircuitLimits,
  voucher: Uint8Array | null,
  firstPacket: Uint8Array | null,
): void {
  w.bytes(checkKey(peerName, peer));
  writeLimits(w, limits);
  if (voucher !== null && (voucher.length === 0 || voucher.length > MAX_VOUCHER_BYTES)) {
    throw new RangeError(`"voucher" length ${voucher.length} outside [1, ${MAX_VOUCHER_BYTES}]`);
  }
  if (firstPacket !== null && (firstPacket.length === 0 || firstPacket.length > 0xffff)) {
    throw new RangeError(`"firstPacket" length ${firstPacket.length} outside [1, 65535]`);
  }
  w.u8((voucher ? FLAG_VOUCHER : 0) | (firstPacket ? FLAG_FIRST_PACKET : 0));
  if (voucher) w.varint('voucher length', voucher.length).bytes(voucher);
  if (firstPacket) w.varint('first packet length', firstPacket.length).bytes(firstPacket);
}

function writeStatus(w: Writer, s: RelayStatus): void {
  const code = STATUS_CODES[s.code];
  if (code === undefined) throw new RangeError(`unknown status code ${String(s.code)}`);
  w.varint('status code', code);
  switch (s.code) {
    case 'healthy':
      if (!(s.instance instanceof Uint8Array) || s.instance.length !== INSTANCE_ID_LENGTH) {
        throw new TypeError('"instance" expected Uint8Array of length 8');
      }
      w.bytes(s.instance)
        .varint('epoch', s.epoch)
        .varint('rateBytesPerSec', s.rateBytesPerSec)
        .varint('burstBytes', s.burstBytes)
        .varint('maxCircuits', s.maxCircuits)
        .varint('maxMessageSize', s.maxMessageSize);
      return;
    case 'rate_limited':
      w.varint('rateBytesPerSec', s.rateBytesPerSec).varint('burstBytes', s.burstBytes);
      return;
    case 'same_key_elsewhere':
      return;
    case 'restarting':
      w.varint('reconnectInMs', s.reconnectInMs).varint('tryForMs', s.tryForMs);
      return;
    case 'denied':
      w.varint('reason', rejectCode(s.reason));
      return;
  }
}

function rejectCode(reason: RejectReason): number {
  const code = REJECT_REASONS[reason];
  if (code === undefined) throw new RangeError(`unknown reject reason ${String(reason)}`);
  return code;
}

/** Encodes a control message; TypeError/RangeError for anything the decoder would reject. */
export function encodeControl(msg: ControlMessage): Uint8Array {
  const w = new Writer().u8(CONTROL_VERSION);
  switch (msg.type) {
    case 'connect':
      w.u8(ControlType.Connect).varint('requestId', msg.requestId);
      writeOffer(w, 'target', msg.target, msg.limits, msg.voucher, msg.firstPacket);
      break;
    case 'incoming':
      w.u8(ControlType.Incoming).varint('requestId', msg.requestId);
      writeOffer(w, 'requester', msg.requester, msg.limits, msg.voucher, msg.firstPacket);
      break;
    case 'accept':
      w.u8(ControlType.Accept).varint('requestId', msg.requestId).varint('incomingId', msg.incomingId);
      writeLimits(w, msg.limits);
      break;
    case 'reject':
      w.u8(ControlType.Reject).varint('requestId', msg.requestId).varint('reason', rejectCode(msg.reason));
      break;
    case 'bound':
      w.u8(ControlType.Bound).varint('requestId', msg.requestId).u16(checkChannel(msg.channel));
      w.bytes(checkKey('peer', msg.peer));
      writeLimits(w, msg.limits);
      w.varint('expiresInMs', msg.expiresInMs);
      break;
    case 'close': {
      const code = CLOSE_REASONS[msg.reason];
      if (code === undefined) throw new RangeError(`unknown close reason ${String(msg.reason)}`);
      w.u8(ControlType.Close)
        .varint('requestId', msg.requestId)
        .u16(checkChannel(msg.channel))
        .varint('reason', code);
      break;
    }
    case 'refresh':
      w.u8(ControlType.Refresh).varint('requestId', msg.requestId).u16(checkChannel(msg.channel));
      break;
    case 'status':
      w.u8(ControlType.Status).varint('requestId', msg.requestId);
      writeStatus(w, msg.status);
      break;
    default:
      throw new TypeError(`unknown control message type ${String((msg as { type: unknown }).type)}`);
  }
  return w.finish();
}
