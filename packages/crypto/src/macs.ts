import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { bytesKey, concatBytes, equalBytes, keyBytes, MAC_LENGTH } from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import { isZero } from './bytes.js';

/**
 * WireGuard's DoS protection (WireGuard paper §5.4.4 and §5.4.7), adapted:
 *  - mac1 = MAC(HASH(LABEL_MAC1 || S_receiver), packet[0 .. len-32]): every handshake packet
 *    carries it, keyed by the receiver's X25519 static public key, so a responder drops junk
 *    before any DH. When the sender does not know the receiver's key (Noise XX) the key is
 *    32 zero bytes: it then only filters corrupted or non-srmudp packets.
 *  - mac2 = MAC(cookie, packet[0 .. len-16]) where cookie = MAC(R, source address) and R is a
 *    responder secret rotated every 2 minutes: proof that the initiator can receive at its
 *    claimed address. Requested by a stateless cookie reply when the responder is under load.
 *  - cookie reply = XChaCha20-Poly1305(HASH(LABEL_COOKIE || S_responder), random 24-byte nonce,
 *    cookie, AD = mac1 of the initiation): only the real initiator (who knows mac1) can use it.
 * MAC is keyed BLAKE2s with a 16-byte output; HASH is BLAKE2s-256.
 */
const enc = new TextEncoder();
export const LABEL_MAC1 = enc.encode('mac1----');
export const LABEL_COOKIE = enc.encode('cookie--');
export const COOKIE_SECRET_LIFETIME_MS = 120_000;
/** An initiator uses a cookie for less than the responder keeps its secret (WireGuard: 120 s). */
export const COOKIE_USE_LIFETIME_MS = 115_000;
export const COOKIE_LENGTH = 16;
export const COOKIE_NONCE_LENGTH = 24;

const ZERO_KEY = new Uint8Array(32);

// The hot entries are our own key's and the zero key's (every incoming initiation, cookie replies),
// refreshed on each use so they stay; a peer's entry saves only one BLAKE2s (~3 µs) on its next
// handshake, and at 1,024 entries the cache held ~130 bytes of heap per connection of a busy node
// (issue 19): few are kept.
const DERIVED_CACHE_SIZE = 64;
/**
 * The derived keys of recent receivers, by label and key: each is a BLAKE2s of the receiver's
 * static key, asked for on every handshake packet sent to or received by it (the responder's own
 * key on every initiation). Bounded; least recently used forgotten. Values are kept as
 * one-byte-per-character strings (48 bytes of heap where a Uint8Array costs ~220: with one entry
 * per peer, that is per connection); each call returns a new array.
 */
const derived = new Map<string, string>();
/** The tag and the key of a lookup in {@link derived}, written into one array to name it. */
const lookup = new Uint8Array(33);

function derivedKey(
  label: Uint8Array,
  tag: string,
  receiverStatic: Uint8Array | null,
  backend: CryptoBackend | undefined,
): Uint8Array {
  const s = receiverStatic ?? ZERO_KEY;
  // one flat string (`tag + flat` would keep a two-node rope alive as the map key); a spread of
  // `s` would allocate an iterator result per byte on every handshake
  const named = s.length === 32 ? lookup : new Uint8Array(1 + s.length);
  named[0] = tag.charCodeAt(0);
  named.set(s, 1);
  const k = bytesKey(named);
  const hit = derived.get(k);
  if (hit !== undefined) {
    derived.delete(k); // re-inserted: most recently used last
    derived.set(k, hit);
    return keyBytes(hit);
  }
  // a new peer's key misses (a responder: once per new initiator): the backend's BLAKE2s-256
  const input = concatBytes(label, s);
  const hash = backend?.blake2s?.hash;
  const v = hash ? hash(input) : blake2s(input);
  if (derived.size >= DERIVED_CACHE_SIZE) derived.delete(derived.keys().next().value as string);
  derived.set(k, bytesKey(v));
  return v;
}

/** Key for mac1 of packets sent to the owner of `receiverStatic` (zero key when unknown).
 * `backend`: its BLAKE2s, when it has one, computes a key not cached (same bytes). */
export function mac1Key(receiverStatic: Uint8Array | null, backend?: CryptoBackend): Uint8Array {
  return derivedKey(LABEL_MAC1, 'm', receiverStatic, backend);
}

/** Key that seals cookie replies from the owner of `responderStatic` (zero key when unknown). */
export function cookieKey(responderStatic: Uint8Array | null, backend?: CryptoBackend): Uint8Array {
  return derivedKey(LABEL_COOKIE, 'c', responderStatic, backend);
}

export function mac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return blake2s(data, { key, dkLen: MAC_LENGTH });
}

/** Writes mac1 into the packet (its last 32 bytes are mac1 || mac2) and returns a copy of it. */
export function writeMac1(packet: Uint8Array, key: Uint8Array): Uint8Array {
  const end = packet.length - 2 * MAC_LENGTH;
  const m = mac(key, packet.subarray(0, end));
  packet.set(m, end);
  return m;
}

export function writeMac2(packet: Uint8Array, cookie: Uint8Array | null): void {
  const end = packet.length - MAC_LENGTH;
  if (cookie) packet.set(mac(cookie, packet.subarray(0, end)), end);
  else packet.fill(0, end);
}

export function verifyMac1(packet: Uint8Array, key: Uint8Array): boolean {
  if (packet.length < 2 * MAC_LENGTH) return false;
  const end = packet.length - 2 * MAC_LENGTH;
  return equalBytes(mac(key, packet.subarray(0, end)), packet.subarray(end, end + MAC_LENGTH));
}

export function mac1Of(packet: Uint8Array): Uint8Array {
  const end = packet.length - 2 * MAC_LENGTH;
  return packet.slice(end, end + MAC_LENGTH);
}

export function mac2IsZero(packet: Uint8Array): boolean {
  return isZero(packet.subarray(packet.length - MAC_LENGTH));
}

/** Responder side: rotating secret, cookie computation, mac2 check, cookie reply sealing. */
export class CookieChecker {
  private current: Uint8Array | null = null;
  private previous: Uint8Array | null = null;
  private rotatedAt = 0;

  constructor(
    private readonly random: (n: number) => Uint8Array,
    /** the backend's XChaCha20-Poly1305 seal, when it has one (else noble's) */
    private readonly backend: CryptoBackend | null = null,
  ) {}

  private rotate(now: number): void {
    if (this.current === null || now - this.rotatedAt >= COOKIE_SECRET_LIFETIME_MS) {
      // Keep one previous secret so a cookie handed out just before a rotation stays valid
      // for its whole use lifetime at the initiator.
      if (this.previous) this.previous.fill(0);
      this.previous =
        this.current !== null && now - this.rotatedAt < 2 * COOKIE_SECRET_LIFETIME_MS ? this.current : null;
      this.current = this.random(32).slice();
      this.rotatedAt = now;
    }
  }

  cookieFor(now: number, address: Uint8Array): Uint8Array {
    this.rotate(now);
    return mac(this.current as Uint8Array, address);
  }

  /** True if the packet's mac2 was made with a cookie this responder issued to `address`. */
  verifyMac2(now: number, packet: Uint8Array, address: Uint8Array): boolean {
    this.rotate(now);
    const end = packet.length - MAC_LENGTH;
    const got = packet.subarray(end);
    const body = packet.subarray(0, end);
    for (const secret of [this.current, this.previous]) {
      if (!secret) continue;
      const cookie = mac(secret, address);
      if (equalBytes(mac(cookie, body), got)) return true;
    }
    return false;
  }

  /** nonce(24) || sealed cookie(32) for a cookie reply. */
  sealCookie(
    now: number,
    address: Uint8Array,
    key: Uint8Array,
    initMac1: Uint8Array,
  ): { nonce: Uint8Array; sealed: Uint8Array } {
    const cookie = this.cookieFor(now, address);
    const nonce = this.random(COOKIE_NONCE_LENGTH).slice();
    const seal = this.backend?.xchachaSeal;
    const sealed = seal
      ? seal(key, nonce, initMac1, cookie)
      : xchacha20poly1305(key, nonce, initMac1).encrypt(cookie);
    cookie.fill(0);
    return { nonce, sealed };
  }

  clear(): void {
    this.current?.fill(0);
    this.previous?.fill(0);
    this.current = null;
    this.previous = null;
  }
}

/** Initiator side: opens a cookie reply; null when it does not authenticate. */
export function openCookie(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  initMac1: Uint8Array,
): Uint8Array | null {
  if (nonce.length !== COOKIE_NONCE_LENGTH || sealed.length !== COOKIE_LENGTH + 16) return null;
  try {
    return xchacha20poly1305(key, nonce, initMac1).decrypt(sealed);
  } catch {
    return null;
  }
}
