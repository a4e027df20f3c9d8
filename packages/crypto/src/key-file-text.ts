import { fromHex, toHex } from '@srmudp/wire';
import { type Identity, identityFromSecret } from './identity.js';
import { peerIdToString } from './peer-id.js';

/**
 * The key-file text of an identity, one JSON object on one line (UTF-8):
 *
 *   {"format":"srmudp-identity","version":1,"peerId":"pk…","secret":"<64 hex digits>"}
 *
 * `secret` is the 32-byte Ed25519 seed (RFC 8032), the only secret; `peerId` is its public key in
 * the text form of peer-id.ts and is checked on load, so a corrupted file is caught instead of
 * silently becoming another identity. Unknown extra fields are rejected (a file from a newer
 * version must not be half-understood). Where it is stored is the caller's: a 0600 file in
 * @srmudp/crypto-node, IndexedDB or a download in @srmudp/browser.
 */
export const KEY_FILE_FORMAT = 'srmudp-identity';
export const KEY_FILE_VERSION = 1;

/** The key-file text of `identity` (with a final newline). */
export function encodeKeyFileText(identity: Identity): string {
  return `${JSON.stringify({ format: KEY_FILE_FORMAT, version: KEY_FILE_VERSION, peerId: peerIdToString(identity.publicKey), secret: toHex(identity.secret) })}\n`;
}

/**
 * Parses key-file text. `fail(why, cause)` builds the error thrown for each problem (the caller's
 * typed error: crypto-node's KeyFileError with the path, the browser's SrmudpError).
 */
export function decodeKeyFileText(text: string, fail: (why: string, cause?: unknown) => Error): Identity {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw fail('invalid JSON', cause);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('expected a JSON object');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'format,peerId,secret,version')
    throw fail(`expected fields format, version, peerId, secret; got ${keys}`);
  if (o.format !== KEY_FILE_FORMAT) throw fail(`"format" must be "${KEY_FILE_FORMAT}"`);
  if (o.version !== KEY_FILE_VERSION) throw fail(`unsupported version ${JSON.stringify(o.version)}`);
  if (typeof o.secret !== 'string' || !/^[0-9a-f]{64}$/.test(o.secret))
    throw fail('"secret" must be 64 lower-case hex digits');
  const identity = identityFromSecret(fromHex(o.secret) as Uint8Array); // 64 hex digits: checked above
  if (o.peerId !== peerIdToString(identity.publicKey))
    throw fail('"peerId" does not match the secret (corrupted file?)');
  return identity;
}
