import { ed25519 } from '@noble/curves/ed25519.js';
import { SrmudpError } from '@srmudp/wire';
import { assertBytes } from './bytes.js';
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

/** X25519 (Noise static) public key of a peer id. Throws SrmudpError('INVALID_PEER_ID') when the
 * bytes are not a valid Ed25519 point. */
export function peerIdToX25519(publicKey: Uint8Array): Uint8Array {
  assertBytes(publicKey, 'publicKey', 32);
  try {
    return ed25519.utils.toMontgomery(publicKey);
  } catch (cause) {
    throw new SrmudpError('INVALID_PEER_ID', 'not a valid Ed25519 public key', { cause });
  }
}

/** Same as {@link peerIdToX25519} but null instead of a throw (network input). */
export function tryPeerIdToX25519(publicKey: Uint8Array): Uint8Array | null {
  try {
    return ed25519.utils.toMontgomery(publicKey);
  } catch {
    return null;
  }
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
