import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesKey, keyBytes } from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import { assertBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import { peerIdToString } from './peer-id.js';

/**
 * A node's identity: one Ed25519 key pair. The public key is the peer id (see peer-id.ts); the
 * X25519 key pair used as the Noise static key is derived from it with the birational map
 * Edwards → Montgomery (RFC 7748 §4.1), so one key signs rendezvous records and authenticates
 * handshakes, as libsodium's crypto_sign_ed25519_*_to_curve25519 does.
 */
export interface Identity {
  /** 32-byte Ed25519 seed (RFC 8032 private key). Secret. */
  readonly secret: Uint8Array;
  /** 32-byte Ed25519 public key = the peer id. */
  readonly publicKey: Uint8Array;
  /** X25519 private key derived from the seed. Secret. */
  readonly x25519Private: Uint8Array;
  /** X25519 public key derived from `publicKey`. */
  readonly x25519Public: Uint8Array;
}

/** Derives the full identity from a 32-byte Ed25519 seed. */
export function identityFromSecret(secret: Uint8Array): Identity {
  assertBytes(secret, 'secret', 32);
  const seed = secret.slice();
  const publicKey = ed25519.getPublicKey(seed);
  const x25519Private = ed25519.utils.toMontgomerySecret(seed);
  const x25519Public = ed25519.utils.toMontgomery(publicKey);
  return { secret: seed, publicKey, x25519Private, x25519Public };
}

/** A fresh identity; `random(32)` must be a cryptographically secure source. */
export function generateIdentity(random: (n: number) => Uint8Array): Identity {
  const seed = random(32);
  assertBytes(seed, 'random(32)', 32);
  return identityFromSecret(seed);
}

/** Ed25519 signature (RFC 8032, 64 bytes) of `message` by the identity. */
export function signWithIdentity(identity: Identity, message: Uint8Array): Uint8Array {
  assertBytes(message, 'message');
  return ed25519.sign(message, identity.secret);
}

/** Verifies an Ed25519 signature; false (never a throw) for any malformed input. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!(message instanceof Uint8Array)) return false;
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

/**
 * X25519 images of the peer ids converted recently. The conversion decompresses the Edwards
 * point (a square root and an inversion mod 2^255-19: ~80 µs in noble, ~31 µs in libsodium, as
 * much as one or two native X25519), and a peer's key comes back on every reconnection, rekey
 * and retransmitted initiation: with the cache it is converted once per peer. Bounded (least
 * recently used goes first); only valid keys are kept. Results do not depend on the backend
 * (see CryptoBackend.ed25519ToX25519), so one process-wide cache serves all. Hits return a copy
 * (callers may zero what they get).
 */
const X25519_CACHE_SIZE = 1024;
/** Keys and values are {@link bytesKey} strings: 48 bytes of heap each, where a 32-byte
 * Uint8Array costs ~220 (view, buffer, store); with one entry per peer that is per connection. */
const x25519Cache = new Map<string, string>();

function toX25519(publicKey: Uint8Array, backend: CryptoBackend | undefined): Uint8Array {
  const k = bytesKey(publicKey);
  const hit = x25519Cache.get(k);
  if (hit !== undefined) {
    x25519Cache.delete(k); // re-inserted: most recently used last
    x25519Cache.set(k, hit);
    return keyBytes(hit);
  }
  // noble throws for a key that is not a curve point
  const x = backend?.ed25519ToX25519?.(publicKey) ?? ed25519.utils.toMontgomery(publicKey);
  if (x25519Cache.size >= X25519_CACHE_SIZE) {
    x25519Cache.delete(x25519Cache.keys().next().value as string);
  }
  x25519Cache.set(k, bytesKey(x));
  return x;
}

/** X25519 (Noise static) public key of a peer id. Throws SrmudpError('INVALID_PEER_ID') when the
 * bytes are not a valid Ed25519 point. A `backend` with a faster conversion speeds up the first
 * conversion of a key; the result is the same. */
export function peerIdToX25519(publicKey: Uint8Array, backend?: CryptoBackend): Uint8Array {
  assertBytes(publicKey, 'publicKey', 32);
  try {
    return toX25519(publicKey, backend);
  } catch (cause) {
    throw new CryptoError('INVALID_PEER_ID', 'not a valid Ed25519 public key', { cause });
  }
}

/** Same as {@link peerIdToX25519} but null instead of a throw (network input). */
export function tryPeerIdToX25519(publicKey: Uint8Array, backend?: CryptoBackend): Uint8Array | null {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return null;
  try {
    return toX25519(publicKey, backend);
  } catch {
    return null;
  }
}

/** The field of Curve25519 and Ed25519, integers mod 2^255 - 19 (noble's: its arithmetic, and
 * its decoding of 32 little-endian bytes, which refuses values ≥ p). */
const Fp = ed25519.Point.Fp;

/**
 * Whether `x25519`, the Noise static key (`rs`) a handshake has just authenticated, is the X25519
 * image of the peer id `publicKey`: the check of every handshake message that carries an identity,
 * as `equalBytes(tryPeerIdToX25519(publicKey), x25519)`, without the conversion's square root and
 * inversion (~80 µs in noble, ~60-90 µs in libsodium here, which also multiplies by the group
 * order; ~3 µs this way, issue 19).
 *
 * It checks the birational map itself, u·(1 − y) = 1 + y mod p (RFC 7748 §4.1, u = (1 + y) /
 * (1 − y)), in noble's field, on the canonical encodings the conversion accepts and returns: y
 * and u below p (so u's top bit clear), and not x = 0 with the sign bit set (RFC 8032's strict
 * decoding). It gives the conversion's answer for every input but one kind: a y with no x on the
 * curve, which the conversion refuses, and whose image u lies on the quadratic twist. Such a `rs`
 * never gets here: the handshake message was decrypted under a key that mixes in X25519 of one of
 * our secrets with `rs` (IK's ss, XX's se on message 3 and es on message 2), which its sender
 * cannot reproduce for a twist point: the twist's group has order 4 times a large prime, its
 * small-order points give the all-zero output (refused), and any other output is unpredictable
 * without our secret. So call it only with a `rs` that Noise authenticated; anything else
 * converts with {@link tryPeerIdToX25519}. It does not touch the conversion cache (which hands
 * out conversions, so holds only keys that convert): a channel's first rekey or redial converts
 * its peer's key, once.
 */
export function isAuthenticatedStaticOf(publicKey: Uint8Array, x25519: Uint8Array): boolean {
  if (publicKey.length !== 32 || x25519.length !== 32) return false;
  const sign = (publicKey[31] as number) & 0x80;
  const yBytes = publicKey.slice();
  yBytes[31] = (yBytes[31] as number) & 0x7f;
  let y: bigint;
  let u: bigint;
  try {
    y = Fp.fromBytes(yBytes);
    u = Fp.fromBytes(x25519);
  } catch {
    return false; // not canonical: ≥ p
  }
  // y = -1 is x = 0 (the point of order 2): its sign bit must be clear
  if (sign !== 0 && Fp.eql(y, Fp.neg(Fp.ONE))) return false;
  // y = 1 (the neutral point) has no image: 1 - y = 0, and 0 = 2 fails
  return Fp.eql(Fp.mul(u, Fp.sub(Fp.ONE, y)), Fp.add(Fp.ONE, y));
}

/** Short printable form of an identity (never shows the secret). */
export function describeIdentity(identity: Identity): string {
  return peerIdToString(identity.publicKey);
}

/** Zeroes the secret parts of an identity (after use, e.g. on shutdown). */
export function wipeIdentity(identity: Identity): void {
  identity.secret.fill(0);
  identity.x25519Private.fill(0);
}
