/**
 * Broadcast messages: content-derived ids, origin signatures, topic ids, blob hashes.
 *
 * - id = SHA-256("srmudp/gossip/v1/message-id" ‖ topic ‖ body). The topic is inside the hash,
 *   so a message cannot be replayed into another topic under the same id.
 * - signature = Ed25519(origin, "srmudp/gossip/v1/signature" ‖ id): the domain prefix keeps a
 *   gossip signature from ever being valid as a rendezvous record, a voucher or anything else the
 *   same key signs.
 * - blob hash = SHA-256(data), the plain content address, so hosts may serve blobs from any store.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Identity, signWithIdentity, verifySignature } from '@srmudp/crypto';
import { assertBytes } from './bytes.js';
import { encodeMessageBody, type MessageFields, SIGNATURE_LENGTH, type SignedMessage } from './codec.js';

const encoder = new TextEncoder();
const ID_DOMAIN = encoder.encode('srmudp/gossip/v1/message-id');
const SIG_DOMAIN = encoder.encode('srmudp/gossip/v1/signature');
const TOPIC_DOMAIN = encoder.encode('srmudp/gossip/v1/topic');

/** Signs a message digest; `publicKey` is the signer's peer id. */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/**
 * Ed25519 verification; false for any malformed input, never a throw. All members of a group must
 * accept exactly the same signatures (see README, security notes): the default is @srmudp/crypto's
 * `verifySignature`.
 */
export type Verifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

export function identitySigner(identity: Identity): Signer {
  return { publicKey: identity.publicKey, sign: (m) => signWithIdentity(identity, m) };
}

export const defaultVerifier: Verifier = verifySignature;

/** The 32-byte topic id of a group name. */
export function topicId(name: string): Uint8Array {
  if (typeof name !== 'string') throw new TypeError(`"name" expected string, got ${typeof name}`);
  return sha256.create().update(TOPIC_DOMAIN).update(encoder.encode(name)).digest();
}

export function messageId(topic: Uint8Array, body: Uint8Array): Uint8Array {
  return sha256.create().update(ID_DOMAIN).update(topic).update(body).digest();
}

export function signatureInput(id: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIG_DOMAIN.length + id.length);
  out.set(SIG_DOMAIN);
  out.set(id, SIG_DOMAIN.length);
  return out;
}

export function blobHash(data: Uint8Array): Uint8Array {
  return sha256(data);
}

/** Builds and signs a message from `signer` for `topic`. */
export function createMessage(
  signer: Signer,
  topic: Uint8Array,
  fields: Omit<MessageFields, 'origin'>,
): { message: SignedMessage; id: Uint8Array } {
  const all: MessageFields = { ...fields, origin: signer.publicKey };
  const body = encodeMessageBody(all);
  const id = messageId(topic, body);
  const signature = signer.sign(signatureInput(id));
  assertBytes(signature, 'signature', SIGNATURE_LENGTH);
  const bytes = new Uint8Array(body.length + SIGNATURE_LENGTH);
  bytes.set(body);
  bytes.set(signature, body.length);
  return {
    message: { ...all, signature, body: bytes.subarray(0, body.length), bytes },
    id,
  };
}

/** Whether `message`'s signature is its origin's over its id in `topic`. */
export function verifyMessage(verify: Verifier, id: Uint8Array, message: SignedMessage): boolean {
  try {
    return verify(message.origin, signatureInput(id), message.signature) === true;
  } catch {
    return false;
  }
}
