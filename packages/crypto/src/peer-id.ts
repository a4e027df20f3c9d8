import { blake2s } from '@noble/hashes/blake2.js';
import { toHex } from '@srmudp/wire';
import { CryptoError } from './errors.js';

/**
 * Text form of a peer id (an Ed25519 public key):
 *   "pk" + base32(key[32] || checksum[3])   (RFC 4648 alphabet, lower case, no padding)
 * 35 bytes = 280 bits = exactly 56 base32 characters, so every id is 58 characters long.
 * checksum = BLAKE2s-256("srmudp-peer-id-v1" || key)[0..3]: a typo anywhere is caught with
 * probability 1 - 2^-24. Input is case-insensitive.
 */
export const PEER_ID_PREFIX = 'pk';
export const PEER_ID_TEXT_LENGTH = 58;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const DOMAIN = new TextEncoder().encode('srmudp-peer-id-v1');

function checksum(key: Uint8Array): Uint8Array {
  const input = new Uint8Array(DOMAIN.length + key.length);
  input.set(DOMAIN, 0);
  input.set(key, DOMAIN.length);
  return blake2s(input).subarray(0, 3);
}

function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

function base32Decode(text: string): Uint8Array | null {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[o++] = (buffer >>> (bits - 8)) & 0xff;
      bits -= 8;
      buffer &= (1 << bits) - 1;
    }
  }
  return out;
}

/** Formats a 32-byte Ed25519 public key as a peer id string. */
export function peerIdToString(key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError(`"key" expected Uint8Array of length 32, got length=${(key as Uint8Array)?.length}`);
  }
  const raw = new Uint8Array(35);
  raw.set(key, 0);
  raw.set(checksum(key), 32);
  return PEER_ID_PREFIX + base32Encode(raw);
}

/** Characters of a peer id's text that logs show: enough to tell peers apart, never a key. */
export const SHORT_PEER_ID_LENGTH = 12;

/** The first {@link SHORT_PEER_ID_LENGTH} characters of a peer id's text (for logs); '?' for null. */
export function shortPeerId(key: Uint8Array | null): string {
  return key === null ? '?' : peerIdToString(key).slice(0, SHORT_PEER_ID_LENGTH);
}

/** Parses a peer id string; throws SrmudpError('INVALID_PEER_ID') saying what is wrong. */
export function parsePeerId(text: string): Uint8Array {
  if (typeof text !== 'string') throw new CryptoError('INVALID_PEER_ID', 'peer id must be a string');
  const t = text.trim().toLowerCase();
  if (!t.startsWith(PEER_ID_PREFIX)) {
    throw new CryptoError('INVALID_PEER_ID', `peer id must start with "${PEER_ID_PREFIX}"`);
  }
  if (t.length !== PEER_ID_TEXT_LENGTH) {
    throw new CryptoError(
      'INVALID_PEER_ID',
      `peer id must be ${PEER_ID_TEXT_LENGTH} characters long, got ${t.length}`,
    );
  }
  const raw = base32Decode(t.slice(PEER_ID_PREFIX.length));
  if (raw === null) throw new CryptoError('INVALID_PEER_ID', 'peer id contains a character outside a-z, 2-7');
  const key = raw.slice(0, 32);
  const sum = checksum(key);
  if (sum[0] !== raw[32] || sum[1] !== raw[33] || sum[2] !== raw[34]) {
    throw new CryptoError('INVALID_PEER_ID', 'peer id checksum does not match (typo?)');
  }
  return key;
}

/** Byte 31's bits that are not the sign bit: what the two forms of one id share there. */
const WITHOUT_SIGN = 0x7f;

/**
 * Whether two peer ids name the same key holder. A peer id is an Ed25519 public key, and what a
 * handshake proves is that the peer holds the secret of its X25519 image (the Noise static key).
 * A key and its negation have the same image: their encodings differ only in the sign bit (the
 * top bit of the last byte), and whoever holds one holds the other. So a peer may present either
 * form of its id, and a check that compares ids byte for byte (a deny-list in an accept policy)
 * can be passed by the other form: compare with this, or key tables by {@link peerIdentityHex}.
 * An allow-list compared byte for byte only refuses more (the other form of an allowed id).
 */
export function samePeer(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== 32 || b.length !== 32) {
    return false;
  }
  for (let i = 0; i < 31; i++) if (a[i] !== b[i]) return false;
  return (((a[31] as number) ^ (b[31] as number)) & WITHOUT_SIGN) === 0;
}

/**
 * A text key that is the same for both forms of a peer id ({@link samePeer}) and differs for any
 * two key holders: lower-case hex of the 32 bytes with the sign bit cleared. For a `Set` or `Map`
 * of peers (a deny-list) that the other form of an id cannot pass.
 */
export function peerIdentityHex(key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError(`"key" expected Uint8Array of length 32, got length=${(key as Uint8Array)?.length}`);
  }
  const k = key.slice();
  k[31] = (k[31] as number) & WITHOUT_SIGN;
  return toHex(k);
}
