import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, equalBytes, type IpAddress } from '@srmudp/wire';
import { RendezvousError } from './errors.js';
import { formatIP, parseIPv4, parseIPv6 } from './ip.js';

/**
 * Signed peer record, binary layout version 1 or 2 (all integers big-endian):
 *
 * ```
 * off  size  field
 *   0     1  version = 0x01, or 0x02 when extensions follow the gates
 *   1    32  peer id (Ed25519 public key)
 *  33     8  seq        u64, strictly increasing per peer (see nextSequence)
 *  41     8  issuedAt   u64, milliseconds since the Unix epoch
 *  49     8  expiresAt  u64, milliseconds since the Unix epoch, >= issuedAt
 *  57     1  n = number of candidates
 *            n x { tag u8 = kind << 4 | (family === 6 ? 1 : 0)   kind: 0 host, 1 srflx, 2 relay
 *                  address 4 or 16 bytes, port u16 (1..65535) }
 *   .     1  m = number of gates
 *            m x { peer id 32, family u8 (4 or 6), address 4 or 16, port u16 }
 *   .     1  (version 2 only) e = number of extensions, 1..16
 *            e x { type u8, length u16, value (length bytes) }; types in increasing order, each
 *                once; unknown types are skipped (a later version's fields)
 *              type 1 home relay: { peer id 32, url length u8 (<= 200), url UTF-8 (ws:// or wss://) }
 *   .    64  Ed25519 signature over  "srmudp/rendezvous/record/v1" || 0x00 || bytes[0 .. sig)
 * ```
 *
 * The whole encoding is at most {@link MAX_RECORD_SIZE} = 999 bytes so that it fits a BEP 44
 * mutable item (1000 bytes of bencoded value). The domain prefix keeps a record signature from
 * ever being valid as a handshake or BEP 44 signature made with the same key.
 */
export const RECORD_VERSION = 1;
/** The layout with extensions (a home relay); a record without any is still written as version 1. */
export const RECORD_VERSION_EXTENDED = 2;
/** Extension type of the home relay. */
export const EXT_HOME_RELAY = 1;
/** Longest home relay URL, bytes of UTF-8. */
export const MAX_RELAY_URL_BYTES = 200;
const MAX_EXTENSIONS = 16;
export const MAX_RECORD_SIZE = 999;
export const SIGNATURE_SIZE = 64;
export const RECORD_SIGNATURE_DOMAIN = new TextEncoder().encode('srmudp/rendezvous/record/v1\0');

export type CandidateKind = 'host' | 'srflx' | 'relay';
/** A transport address where the peer may be reached (ICE's candidate types, RFC 8445 §5.1.1). */
export interface Candidate extends IpAddress {
  readonly kind: CandidateKind;
  /** IP literal; canonical text after decoding (RFC 5952 for IPv6). */
  readonly host: string;
}
/** A gate (DESIGN.md §6): a reachable peer willing to relay for this one. */
export interface Gate extends IpAddress {
  readonly peerId: Uint8Array;
}
/**
 * A home relay (issue 15): the WebSocket relay (`srmudp-relay`) this peer keeps a hop session
 * with, so that a sender without a direct path reaches it through that relay.
 */
export interface HomeRelay {
  /** `ws://` or `wss://` URL (no fragment, no credentials), at most 200 bytes of UTF-8 */
  readonly url: string;
  /** the relay's peer id */
  readonly peerId: Uint8Array;
}
export interface PeerRecord {
  readonly peerId: Uint8Array;
  readonly seq: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly candidates: readonly Candidate[];
  readonly gates?: readonly Gate[];
  /** the peer's home relay (record version 2) */
  readonly homeRelay?: HomeRelay;
}
/** Result of {@link decodeRecord}: the record, its signature and the exact signed bytes. */
export interface DecodedRecord {
  readonly record: PeerRecord;
  readonly signature: Uint8Array;
  /** bytes[0 .. length - 64): what the signature covers (after the domain prefix). */
  readonly body: Uint8Array;
  readonly bytes: Uint8Array;
}

const KINDS: readonly CandidateKind[] = ['host', 'srflx', 'relay'];
const MAX_U64_SAFE = Number.MAX_SAFE_INTEGER;

function checkUint(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TypeError(`"${name}" expected a non-negative safe integer, got ${String(v)}`);
  }
  return v;
}

function checkPort(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new RangeError(`"${name}" expected an integer port 1..65535, got ${String(v)}`);
  }
  return v;
}

function addressBytes(name: string, family: unknown, host: unknown): Uint8Array {
  if (family !== 4 && family !== 6)
    throw new TypeError(`"${name}.family" expected 4 or 6, got ${String(family)}`);
  if (typeof host !== 'string') throw new TypeError(`"${name}.host" expected an IP literal string`);
  const bytes = family === 4 ? parseIPv4(host) : parseIPv6(host);
  if (bytes === null)
    throw new TypeError(`"${name}.host" is not an IPv${family} literal: ${JSON.stringify(host)}`);
  return bytes;
}

function checkPeerId(name: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== 32) {
    throw new TypeError(
      `"${name}" expected Uint8Array of length 32, got length=${(v as Uint8Array | undefined)?.length}`,
    );
  }
  return v;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Why `url` cannot be a home relay URL, or null when it can. */
export function homeRelayUrlProblem(url: unknown): string | null {
  if (typeof url !== 'string') return 'expected a string';
  const n = utf8.encode(url).length;
  if (n > MAX_RELAY_URL_BYTES) return `is ${n} bytes, more than ${MAX_RELAY_URL_BYTES}`;
  if (!/^wss?:\/\/[^\s#]+$/.test(url)) return 'expected a ws:// or wss:// URL without fragment or spaces';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (u.host === '') return 'has no host';
  if (u.username !== '' || u.password !== '') return 'must not hold credentials';
  return null;
}

function encodeHomeRelay(h: HomeRelay): Uint8Array {
  checkPeerId('record.homeRelay.peerId', h.peerId);
  const problem = homeRelayUrlProblem(h.url);
  if (problem !== null) throw new TypeError(`"record.homeRelay.url" ${problem}`);
  const url = utf8.encode(h.url);
  const value = new Uint8Array(33 + url.length);
  value.set(h.peerId, 0);
  value[32] = url.length;
  value.set(url, 33);
  return value;
}

/** Encodes the signed part of a record (everything but the signature). Throws on API misuse. */
export function encodeRecordBody(record: PeerRecord): Uint8Array {
  checkPeerId('record.peerId', record.peerId);
  const seq = checkUint('record.seq', record.seq);
  const issuedAt = checkUint('record.issuedAt', record.issuedAt);
  const expiresAt = checkUint('record.expiresAt', record.expiresAt);
  if (expiresAt < issuedAt) throw new RangeError('"record.expiresAt" must not be before "record.issuedAt"');
  const candidates = record.candidates;
  const gates = record.gates ?? [];
  if (!Array.isArray(candidates)) throw new TypeError('"record.candidates" expected an array');
  if (candidates.length > 255)
    throw new RangeError(`"record.candidates" holds at most 255 entries, got ${candidates.length}`);
  if (gates.length > 255)
    throw new RangeError(`"record.gates" holds at most 255 entries, got ${gates.length}`);
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(58);
  const view = new DataView(head.buffer);
  head[0] = RECORD_VERSION;
  head.set(record.peerId, 1);
  view.setBigUint64(33, BigInt(seq));
  view.setBigUint64(41, BigInt(issuedAt));
  view.setBigUint64(49, BigInt(expiresAt));
  head[57] = candidates.length;
  parts.push(head);
  candidates.forEach((c, i) => {
    const kind = KINDS.indexOf(c.kind);
    if (kind < 0)
      throw new TypeError(
        `"record.candidates[${i}].kind" expected host, srflx or relay, got ${String(c.kind)}`,
      );
    const addr = addressBytes(`record.candidates[${i}]`, c.family, c.host);
    const port = checkPort(`record.candidates[${i}].port`, c.port);
    const out = new Uint8Array(1 + addr.length + 2);
    out[0] = (kind << 4) | (c.family === 6 ? 1 : 0);
    out.set(addr, 1);
    out[1 + addr.length] = port >> 8;
    out[2 + addr.length] = port & 0xff;
    parts.push(out);
  });
  parts.push(Uint8Array.of(gates.length));
  gates.forEach((g, i) => {
    checkPeerId(`record.gates[${i}].peerId`, g.peerId);
    const addr = addressBytes(`record.gates[${i}]`, g.family, g.host);
    const port = checkPort(`record.gates[${i}].port`, g.port);
    const out = new Uint8Array(33 + addr.length + 2);
    out.set(g.peerId, 0);
    out[32] = g.family;
    out.set(addr, 33);
    out[33 + addr.length] = port >> 8;
    out[34 + addr.length] = port & 0xff;
    parts.push(out);
  });
  if (record.homeRelay !== undefined) {
    head[0] = RECORD_VERSION_EXTENDED;
    const value = encodeHomeRelay(record.homeRelay);
    const ext = new Uint8Array(1 + 3 + value.length);
    ext[0] = 1; // one extension
    ext[1] = EXT_HOME_RELAY;
    ext[2] = value.length >> 8;
    ext[3] = value.length & 0xff;
    ext.set(value, 4);
    parts.push(ext);
  }
  const body = concatBytes(...parts);
  if (body.length + SIGNATURE_SIZE > MAX_RECORD_SIZE) {
    throw new RendezvousError(
      'RECORD_TOO_LARGE',
      `record encodes to ${body.length + SIGNATURE_SIZE} bytes, more than ${MAX_RECORD_SIZE}: publish fewer candidates or gates`,
    );
  }
  return body;
}

/** Appends a signature to an encoded body: the wire form of a signed record. */
export function encodeRecord(record: PeerRecord, signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_SIZE) {
    throw new TypeError(
      `"signature" expected Uint8Array of length 64, got length=${(signature as Uint8Array | undefined)?.length}`,
    );
  }
  return concatBytes(encodeRecordBody(record), signature);
}

function signedMessage(body: Uint8Array): Uint8Array {
  return concatBytes(RECORD_SIGNATURE_DOMAIN, body);
}

/** Signs a record with the peer's Ed25519 secret key (32-byte seed); returns the encoded record. */
export function signRecord(record: PeerRecord, secretKey: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TypeError(
      `"secretKey" expected Uint8Array of length 32, got length=${(secretKey as Uint8Array | undefined)?.length}`,
    );
  }
  const body = encodeRecordBody(record);
  if (!equalBytes(ed25519.getPublicKey(secretKey), record.peerId)) {
    throw new TypeError('"secretKey" does not belong to "record.peerId"');
  }
  return concatBytes(body, ed25519.sign(signedMessage(body), secretKey));
}

function malformed(message: string): RendezvousError {
  return new RendezvousError('RECORD_MALFORMED', message);
}

/**
 * Decodes a signed record without verifying it. Total: every byte string gives a DecodedRecord or
 * a RendezvousError (RECORD_TOO_LARGE or RECORD_MALFORMED), never another exception.
 */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  if (!(bytes instanceof Uint8Array)) throw malformed('record must be a Uint8Array');
  if (bytes.length > MAX_RECORD_SIZE) {
    throw new RendezvousError(
      'RECORD_TOO_LARGE',
      `record is ${bytes.length} bytes, more than ${MAX_RECORD_SIZE}`,
    );
  }
  if (bytes.length < 1) throw malformed('record is empty');
  const version = bytes[0];
  if (version !== RECORD_VERSION && version !== RECORD_VERSION_EXTENDED)
    throw malformed(
      `unknown record version ${version} (this library reads ${RECORD_VERSION} and ${RECORD_VERSION_EXTENDED})`,
    );
  if (bytes.length < 58 + 1 + SIGNATURE_SIZE) throw malformed(`record truncated: ${bytes.length} bytes`);
  const end = bytes.length - SIGNATURE_SIZE;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (off: number, name: string): number => {
    const v = view.getBigUint64(off);
    if (v > BigInt(MAX_U64_SAFE)) throw malformed(`${name} ${v} is above 2^53 - 1`);
    return Number(v);
  };
  const peerId = bytes.slice(1, 33);
  const seq = u64(33, 'seq');
  const issuedAt = u64(41, 'issuedAt');
  const expiresAt = u64(49, 'expiresAt');
  if (expiresAt < issuedAt) throw malformed('expiresAt is before issuedAt');
  let off = 57;
  const need = (n: number, what: string) => {
    if (off + n > end) throw malformed(`record truncated inside ${what}`);
  };
  need(1, 'candidate count');
  const n = bytes[off++] as number;
  const candidates: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    need(1, `candidate ${i}`);
    const tag = bytes[off++] as number;
    const kind = KINDS[tag >> 4];
    if (kind === undefined || (tag & 0x0e) !== 0)
      throw malformed(`candidate ${i} has an unknown tag 0x${tag.toString(16)}`);
    const family: 4 | 6 = tag & 1 ? 6 : 4;
    const len = family === 4 ? 4 : 16;
    need(len + 2, `candidate ${i}`);
    const host = formatIP(bytes.subarray(off, off + len));
    off += len;
    const port = ((bytes[off] as number) << 8) | (bytes[off + 1] as number);
    off += 2;
    if (port === 0) throw malformed(`candidate ${i} has port 0`);
    candidates.push({ kind, family, host, port });
  }
  need(1, 'gate count');
  const m = bytes[off++] as number;
  const gates: Gate[] = [];
  for (let i = 0; i < m; i++) {
    need(33, `gate ${i}`);
    const gatePeer = bytes.slice(off, off + 32);
    const fam = bytes[off + 32];
    off += 33;
    if (fam !== 4 && fam !== 6) throw malformed(`gate ${i} has an unknown address family ${fam}`);
    const len = fam === 4 ? 4 : 16;
    need(len + 2, `gate ${i}`);
    const host = formatIP(bytes.subarray(off, off + len));
    off += len;
    const port = ((bytes[off] as number) << 8) | (bytes[off + 1] as number);
    off += 2;
    if (port === 0) throw malformed(`gate ${i} has port 0`);
    gates.push({ peerId: gatePeer, family: fam, host, port });
  }
  let homeRelay: HomeRelay | undefined;
  if (version === RECORD_VERSION_EXTENDED) {
    need(1, 'extension count');
    const e = bytes[off++] as number;
    if (e < 1 || e > MAX_EXTENSIONS) throw malformed(`record version 2 with ${e} extensions (1..16)`);
    let lastType = 0;
    for (let i = 0; i < e; i++) {
      need(3, `extension ${i}`);
      const type = bytes[off] as number;
      const len = ((bytes[off + 1] as number) << 8) | (bytes[off + 2] as number);
      off += 3;
      if (type <= lastType) throw malformed(`extension ${i}: type ${type} out of order or repeated`);
      lastType = type;
      need(len, `extension ${i}`);
      const value = bytes.subarray(off, off + len);
      off += len;
      if (type === EXT_HOME_RELAY) homeRelay = decodeHomeRelay(value);
      // other types: a later version's field, skipped
    }
  }
  if (off !== end) throw malformed(`record has ${end - off} unexpected bytes before the signature`);
  const record: PeerRecord = {
    peerId,
    seq,
    issuedAt,
    expiresAt,
    candidates,
    ...(m > 0 ? { gates } : {}),
    ...(homeRelay !== undefined ? { homeRelay } : {}),
  };
  return { record, signature: bytes.slice(end), body: bytes.slice(0, end), bytes: bytes.slice() };
}

function decodeHomeRelay(value: Uint8Array): HomeRelay {
  if (value.length < 34) throw malformed(`home relay extension of ${value.length} bytes is too short`);
  const n = value[32] as number;
  if (value.length !== 33 + n)
    throw malformed(`home relay extension: url length ${n} does not match ${value.length - 33} bytes`);
  let url: string;
  try {
    url = utf8Strict.decode(value.subarray(33));
  } catch {
    throw malformed('home relay url is not UTF-8');
  }
  const problem = homeRelayUrlProblem(url);
  if (problem !== null) throw malformed(`home relay url ${problem}`);
  return { peerId: value.slice(0, 32), url };
}

export interface VerifyOptions {
  /** The peer id the caller expects (from the contact card); a record of another peer is RECORD_FORGED. */
  readonly expectedPeerId?: Uint8Array;
  /** Current time, ms since the Unix epoch. Default Date.now(). */
  readonly now?: number;
  /** Tolerated clock difference for expiry and issue time, ms. Default {@link DEFAULT_CLOCK_SKEW_MS}. */
  readonly clockSkewMs?: number;
  /**
   * Ed25519 verification (signature, message, public key) to use instead of @noble/curves, e.g.
   * node:crypto's, about 5x faster where many records are checked (the HTTP server). It must
   * return false, not throw, for a malformed key or signature. Default: noble's ed25519.verify.
   */
  readonly verify?: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;
}
export const DEFAULT_CLOCK_SKEW_MS = 120_000;

/**
 * Decodes and checks a record: format, signature, expected peer id, expiry and issue time.
 * Sequence freshness needs history; use {@link RecordCache} for that.
 */
export function verifyRecord(bytes: Uint8Array, options: VerifyOptions = {}): DecodedRecord {
  const decoded = decodeRecord(bytes);
  const { record } = decoded;
  if (
    options.expectedPeerId !== undefined &&
    !equalBytes(checkPeerId('expectedPeerId', options.expectedPeerId), record.peerId)
  ) {
    throw new RendezvousError('RECORD_FORGED', 'record is for another peer id than the one expected');
  }
  let valid = false;
  try {
    valid = (options.verify ?? ed25519.verify)(decoded.signature, signedMessage(decoded.body), record.peerId);
  } catch {
    valid = false; // a peer id that is not a curve point, or a non-canonical signature
  }
  if (!valid) throw new RendezvousError('RECORD_FORGED', 'record signature does not verify');
  const now = options.now ?? Date.now();
  const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (now > record.expiresAt + skew) {
    throw new RendezvousError(
      'RECORD_EXPIRED',
      `record expired at ${new Date(record.expiresAt).toISOString()}`,
    );
  }
  if (record.issuedAt > now + skew) {
    throw new RendezvousError(
      'RECORD_NOT_YET_VALID',
      `record issued at ${new Date(record.issuedAt).toISOString()}, more than ${skew} ms in the future`,
    );
  }
  return decoded;
}

/** Derives an Ed25519 public key (the peer id) from a 32-byte secret key. */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey);
}
