import { bytesKey, keyBytes } from '@srmudp/wire';
import { isAuthenticatedStaticOf } from './identity.js';
import { TIMESTAMP_LENGTH } from './timestamp.js';

/**
 * Handshake payload: a small extensible TLV list, `type(1) length(1) value(length)`, sorted by
 * nothing, each type at most once. Types 0x00-0x0f belong to @srmudp/crypto (listed below);
 * 0x10-0xff are application options passed to the caller untouched (core defines them).
 * Unknown crypto types are ignored (forward compatibility); known ones with a wrong length, a
 * duplicate type or a truncated entry make the whole payload invalid.
 */
export const OptionType = {
  /** u32 big-endian: the sender's session index, repeated from the (unauthenticated) header. */
  SenderIndex: 0x01,
  /** 32 bytes: the sender's Ed25519 public key (peer id); its X25519 image must equal the
   * Noise static key the handshake authenticated. */
  IdentityKey: 0x02,
  /** 1 byte (0 or 1): key phase of the session this handshake creates (initiator decides). */
  KeyPhase: 0x03,
  /** 12 bytes TAI64N (timestamp.ts): when the initiator made this handshake. Required in IK
   * message 1 (replay protection), sent in XX message 3; never in clear. */
  Timestamp: 0x04,
} as const;

export const FIRST_APP_OPTION = 0x10;
const MAX_VALUE = 255;

export type HandshakeOptions = ReadonlyMap<number, Uint8Array>;

export interface ParsedPayload {
  senderIndex: number | null;
  identityKey: Uint8Array | null;
  keyPhase: 0 | 1 | null;
  timestamp: Uint8Array | null;
  app: Map<number, Uint8Array>;
}

const FIXED_LENGTH: Record<number, number> = {
  [OptionType.SenderIndex]: 4,
  [OptionType.IdentityKey]: 32,
  [OptionType.KeyPhase]: 1,
  [OptionType.Timestamp]: TIMESTAMP_LENGTH,
};

/** Validates application options given by the caller (API misuse throws). */
export function checkAppOptions(options: HandshakeOptions | undefined): void {
  if (!options) return;
  for (const [t, v] of options) {
    if (!Number.isInteger(t) || t < FIRST_APP_OPTION || t > 0xff) {
      throw new RangeError(`option type must be an integer in [${FIRST_APP_OPTION}, 255], got ${t}`);
    }
    if (!(v instanceof Uint8Array) || v.length > MAX_VALUE) {
      throw new RangeError(`option ${t} value must be a Uint8Array of at most ${MAX_VALUE} bytes`);
    }
  }
}

export function encodePayload(fields: {
  senderIndex?: number;
  identityKey?: Uint8Array;
  keyPhase?: 0 | 1;
  timestamp?: Uint8Array;
  app?: HandshakeOptions | undefined;
}): Uint8Array {
  // sized first, then written in place: no list of entries or temporary arrays (one per handshake
  // message and side)
  const { senderIndex, identityKey, keyPhase, timestamp, app } = fields;
  let len = 0;
  if (senderIndex !== undefined) len += 2 + 4;
  if (identityKey) len += 2 + identityKey.length;
  if (keyPhase !== undefined) len += 2 + 1;
  if (timestamp) len += 2 + timestamp.length;
  if (app) for (const v of app.values()) len += 2 + v.length;
  const out = new Uint8Array(len);
  let o = 0;
  if (senderIndex !== undefined) {
    out[o++] = OptionType.SenderIndex;
    out[o++] = 4;
    out[o++] = senderIndex >>> 24;
    out[o++] = (senderIndex >>> 16) & 0xff;
    out[o++] = (senderIndex >>> 8) & 0xff;
    out[o++] = senderIndex & 0xff;
  }
  if (identityKey) o = writeEntry(out, o, OptionType.IdentityKey, identityKey);
  if (keyPhase !== undefined) {
    out[o++] = OptionType.KeyPhase;
    out[o++] = 1;
    out[o++] = keyPhase;
  }
  if (timestamp) o = writeEntry(out, o, OptionType.Timestamp, timestamp);
  if (app) for (const [t, v] of app) o = writeEntry(out, o, t, v);
  return out;
}

function writeEntry(out: Uint8Array, o: number, t: number, v: Uint8Array): number {
  out[o] = t;
  out[o + 1] = v.length;
  out.set(v, o + 2);
  return o + 2 + v.length;
}

/** Parses a payload; null if malformed. Never throws. */
export function decodePayload(bytes: Uint8Array): ParsedPayload | null {
  const out: ParsedPayload = {
    senderIndex: null,
    identityKey: null,
    keyPhase: null,
    timestamp: null,
    app: new Map(),
  };
  // each type at most once: the types below 32 (crypto's and the first application options) in
  // a bit mask, a set only when a payload carries others
  let seenLow = 0;
  let seenHigh: Set<number> | null = null;
  let o = 0;
  while (o < bytes.length) {
    if (bytes.length - o < 2) return null;
    const t = bytes[o] as number;
    const len = bytes[o + 1] as number;
    o += 2;
    if (bytes.length - o < len) return null;
    if (t < 32) {
      if ((seenLow >>> t) & 1) return null;
      seenLow |= 1 << t;
    } else {
      seenHigh ??= new Set();
      if (seenHigh.has(t)) return null;
      seenHigh.add(t);
    }
    const v = bytes.subarray(o, o + len);
    o += len;
    const fixed = FIXED_LENGTH[t];
    if (fixed !== undefined && len !== fixed) return null;
    switch (t) {
      case OptionType.SenderIndex:
        out.senderIndex =
          ((v[0] as number) * 0x1000000 +
            ((v[1] as number) << 16) +
            ((v[2] as number) << 8) +
            (v[3] as number)) >>>
          0;
        break;
      case OptionType.IdentityKey:
        out.identityKey = v.slice();
        break;
      case OptionType.KeyPhase:
        if ((v[0] as number) > 1) return null;
        out.keyPhase = v[0] as 0 | 1;
        break;
      case OptionType.Timestamp:
        out.timestamp = v.slice();
        break;
      default:
        if (t >= FIRST_APP_OPTION) out.app.set(t, v.slice());
      // unknown crypto-reserved types: ignored
    }
  }
  return out;
}

/** The sender of a handshake message that carries its identity (see {@link identifiedSender}). */
export interface IdentifiedSender {
  readonly payload: ParsedPayload;
  /** its Ed25519 identity key, from the payload */
  readonly identityKey: Uint8Array;
  /** the Noise static key the message proved, which `identityKey` is authenticated as */
  readonly remoteStatic: Uint8Array;
}

/**
 * The sender of a handshake message that carries its identity (an IK initiation, an XX final):
 * its payload is well formed and names the packet's `senderIndex`, and the Ed25519 identity key
 * it carries is the one `rs`, the Noise static key the message proved, is authenticated as
 * (identity.ts). Null for anything else. Never throws.
 */
export function identifiedSender(
  bytes: Uint8Array,
  senderIndex: number,
  rs: Uint8Array | null,
): IdentifiedSender | null {
  const payload = decodePayload(bytes);
  const id = payload?.identityKey ?? null;
  if (!payload || payload.senderIndex !== senderIndex || !rs || !id || !isAuthenticatedStaticOf(id, rs))
    return null;
  return { payload, identityKey: id, remoteStatic: rs };
}

/**
 * Options as a string of their TLV bytes ({@link encodePayload}, one char per byte: {@link bytesKey}),
 * or null when there are none: how a channel keeps the peer's options after the handshake. A
 * 1-entry Map is ~180 bytes and its value's buffer ~180 more; the string is ~40 (the heap of an
 * idle connection, issue 19).
 */
export function packOptions(options: HandshakeOptions): string | null {
  return options.size === 0 ? null : bytesKey(encodePayload({ app: options }));
}

/** The map {@link packOptions} packed (a new one each call; {@link decodePayload} of its bytes). */
export function unpackOptions(packed: string | null): Map<number, Uint8Array> {
  if (packed === null) return new Map();
  // packed from options a handshake already decoded: they decode again
  return (decodePayload(keyBytes(packed)) as ParsedPayload).app;
}
