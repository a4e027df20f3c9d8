import { sha256 } from '@noble/hashes/sha2.js';
import { identityFromSecret, signWithIdentity, verifySignature } from '@srmudp/crypto';
import { describe, expect, it } from 'vitest';
import {
  blobHash,
  createMessage,
  decodeFrame,
  defaultVerifier,
  encodeFrame,
  identitySigner,
  messageId,
  signatureInput,
  topicId,
  verifyMessage,
} from '../src/index.js';

const alice = identityFromSecret(new Uint8Array(32).fill(1));
const bob = identityFromSecret(new Uint8Array(32).fill(2));
const topic = topicId('room');
const fields = {
  issuedAt: 1_750_000_000_000,
  seq: 1,
  payload: { kind: 'inline' as const, data: new Uint8Array([1, 2, 3]) },
};

describe('messages', () => {
  it('are signed by their origin over a content id', () => {
    const { message, id } = createMessage(identitySigner(alice), topic, fields);
    expect(message.origin).toEqual(alice.publicKey);
    expect(id).toEqual(messageId(topic, message.body));
    expect(verifyMessage(defaultVerifier, id, message)).toBe(true);
    // the id is a hash of the content: same content, same id; any change, another id
    expect(createMessage(identitySigner(alice), topic, fields).id).toEqual(id);
    expect(createMessage(identitySigner(alice), topic, { ...fields, seq: 2 }).id).not.toEqual(id);
  });

  it('do not verify once changed, moved to another topic, or claimed by another origin', () => {
    const { message, id } = createMessage(identitySigner(alice), topic, fields);
    const frame = encodeFrame({ type: 'gossip', topic, round: 1, message });
    const tampered = frame.slice();
    tampered[tampered.length - 65] ^= 1; // last payload byte
    const t = decodeFrame(tampered);
    if (t.type !== 'gossip') throw new Error('unreachable');
    const tid = messageId(topic, t.message.body);
    expect(tid).not.toEqual(id);
    expect(verifyMessage(defaultVerifier, tid, t.message)).toBe(false);
    // replayed into another topic: another id, which the signature does not cover
    const other = messageId(topicId('other room'), message.body);
    expect(verifyMessage(defaultVerifier, other, message)).toBe(false);
    // bob's key in the origin field with alice's signature
    const forged = { ...message, origin: bob.publicKey };
    expect(verifyMessage(defaultVerifier, messageId(topic, forged.body), forged)).toBe(false);
  });

  it('separate the gossip signature domain from anything else the key signs', () => {
    const { message, id } = createMessage(identitySigner(alice), topic, fields);
    // a signature over the bare id (as another protocol might make) is not a gossip signature
    const bare = signWithIdentity(alice, id);
    expect(verifyMessage(defaultVerifier, id, { ...message, signature: bare })).toBe(false);
    expect(verifySignature(alice.publicKey, signatureInput(id), message.signature)).toBe(true);
    expect(new TextDecoder().decode(signatureInput(id).subarray(0, 26))).toBe('srmudp/gossip/v1/signature');
  });

  it('treat a throwing verifier as a failed check', () => {
    const { message, id } = createMessage(identitySigner(alice), topic, fields);
    expect(
      verifyMessage(
        () => {
          throw new Error('backend down');
        },
        id,
        message,
      ),
    ).toBe(false);
  });

  it('name topics and blobs by SHA-256', () => {
    expect(topicId('room')).toEqual(topicId('room'));
    expect(topicId('room')).not.toEqual(topicId('Room'));
    expect(topicId('room')).toEqual(
      sha256(
        new Uint8Array([
          ...new TextEncoder().encode('srmudp/gossip/v1/topic'),
          ...new TextEncoder().encode('room'),
        ]),
      ),
    );
    const data = new Uint8Array(100_000).fill(7);
    expect(blobHash(data)).toEqual(sha256(data));
  });
});
