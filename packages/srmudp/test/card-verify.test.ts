// connect(card) checks the card's record signature up to three times (card, resolve, cache);
// with noble the first check in a process cost 30-45 ms before the first handshake packet (P3).
// The façade checks with node:crypto's Ed25519 (recordVerify; noble decides what OpenSSL refuses).
import { randomBytes } from 'node:crypto';
import { generateIdentity } from '@srmudp/crypto';
import { type Candidate, encodeCard, Rendezvous, signRecord } from '@srmudp/rendezvous';
import { describe, expect, it } from 'vitest';
import { recordVerify, resolveTarget } from '../src/resolve.js';

function signedCard(tamper = false): { card: string; peerId: Uint8Array } {
  const { secret, publicKey: peerId } = generateIdentity((n) => new Uint8Array(randomBytes(n)));
  const issuedAt = Date.now();
  const host: Candidate = { kind: 'host', family: 4, host: '127.0.0.1', port: 4000 };
  const record = signRecord(
    { peerId, seq: 1, issuedAt, expiresAt: issuedAt + 3_600_000, candidates: [host] },
    secret,
  );
  if (tamper) record[record.length - 1] = (record[record.length - 1] ?? 0) ^ 1;
  return { card: encodeCard({ peerId, locators: [], record }), peerId };
}

describe('record verification in the façade', () => {
  it('recordVerify refuses malformed input without throwing', () => {
    expect(recordVerify(new Uint8Array(63), new Uint8Array(8), new Uint8Array(32))).toBe(false);
    expect(recordVerify(new Uint8Array(64), new Uint8Array(8), new Uint8Array(31))).toBe(false);
  });

  it('connect(card) resolution accepts a signed card and refuses a forged one', async () => {
    const rv = new Rendezvous({ backends: [], verify: recordVerify });
    try {
      const ok = signedCard();
      const r = await resolveTarget(ok.card, rv);
      expect(r.key).toEqual(ok.peerId);
      expect(r.addresses).toEqual([{ host: '127.0.0.1', port: 4000 }]);
      await expect(resolveTarget(signedCard(true).card, rv)).rejects.toThrow(/RECORD_FORGED|signature/);
    } finally {
      await rv.close();
    }
  });
});
