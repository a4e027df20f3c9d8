import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { verifySignature } from '@srmudp/crypto';

/**
 * Ed25519 signature check with OpenSSL first: ~0.1 ms against @noble/curves' ~1.3 ms, which
 * made signature checks most of a gossip group's CPU (every member checks every message once).
 *
 * Same answers as `verifySignature` (@noble/curves with ZIP-215 rules, the reference): OpenSSL
 * checks RFC 8032's cofactorless equation on canonical encodings, and everything it accepts is
 * valid under ZIP-215's cofactored, more permissive rules, so its `true` is final. Its `false`
 * (or a key it refuses to import) is confirmed by noble, so a signature only noble accepts (a
 * non-canonical encoding, a small-order component: crafted by the key's owner) gets noble's
 * answer, as on every other srmudp host. A forgery costs both checks; gossip disconnects and
 * bans the neighbour that sent it at the first one.
 *
 * Public key objects are cached (the last 1,024 keys: a group's active origins).
 */
export function nodeVerifySignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!(message instanceof Uint8Array)) return false;
  const key = keyObject(publicKey);
  try {
    if (key !== null && verify(null, message, key, signature)) return true;
  } catch {
    // OpenSSL refused the input: the reference decides
  }
  return verifySignature(publicKey, message, signature);
}

const CACHE_SIZE = 1024;
/** base64url of the key → its KeyObject, or null when OpenSSL does not import it; oldest first */
const cache = new Map<string, KeyObject | null>();

function keyObject(publicKey: Uint8Array): KeyObject | null {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  let k = cache.get(x);
  if (k !== undefined) return k;
  try {
    k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  } catch {
    k = null;
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(x, k);
  return k;
}
