import { ed25519 } from '@noble/curves/ed25519.js';
import { bench, describe } from 'vitest';
import type { PeerRecord } from '../src/index.js';
import { decodeRecord, encodeCard, parseCard, RecordCache, signRecord, verifyRecord } from '../src/index.js';

const secretKey = ed25519.utils.randomSecretKey(new Uint8Array(32).fill(9));
const peerId = ed25519.getPublicKey(secretKey);
const now = Date.now();
const record: PeerRecord = {
  peerId,
  seq: now * 1000,
  issuedAt: now,
  expiresAt: now + 3_600_000,
  candidates: [
    { kind: 'host', family: 4, host: '192.168.1.20', port: 4000 },
    { kind: 'host', family: 6, host: 'fe80::1', port: 4000 },
    { kind: 'srflx', family: 4, host: '198.51.100.7', port: 62000 },
    { kind: 'relay', family: 4, host: '203.0.113.9', port: 3478 },
  ],
};
const bytes = signRecord(record, secretKey);
const card = encodeCard({
  peerId,
  locators: [{ backend: 'dht', salt: 'srmudp/rendezvous/v1' }],
  record: bytes,
});

describe('records (4 candidates)', () => {
  bench('signRecord', () => {
    signRecord(record, secretKey);
  });
  bench('decodeRecord (no signature check)', () => {
    decodeRecord(bytes);
  });
  bench('verifyRecord', () => {
    verifyRecord(bytes, { now });
  });
  bench('RecordCache.accept (same record again)', () => {
    const cache = new RecordCache();
    cache.accept(bytes, { now });
  });
});

describe('contact cards', () => {
  bench('encodeCard with record', () => {
    encodeCard({ peerId, locators: [{ backend: 'dht', salt: 'srmudp/rendezvous/v1' }], record: bytes });
  });
  bench('parseCard with record (verifies it)', () => {
    parseCard(card);
  });
});
