import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Candidate, PeerRecord } from '../src/index.js';
import {
  decodeRecord,
  encodeRecord,
  encodeRecordBody,
  isRendezvousError,
  MAX_RECORD_SIZE,
  nextSequence,
  RecordCache,
  RendezvousError,
  signRecord,
  verifyRecord,
} from '../src/index.js';

const RUNS = Number(process.env.SRMUDP_PROPERTY_RUNS ?? 300);
const secretKey = ed25519.utils.randomSecretKey(new Uint8Array(32).fill(1));
const peerId = ed25519.getPublicKey(secretKey);
const NOW = 1_764_000_000_000;

function base(seq = 5, extra: Partial<PeerRecord> = {}): PeerRecord {
  return {
    peerId,
    seq,
    issuedAt: NOW,
    expiresAt: NOW + 3_600_000,
    candidates: [
      { kind: 'host', family: 4, host: '192.168.1.20', port: 4000 },
      { kind: 'srflx', family: 6, host: '2001:db8::1', port: 4001 },
      { kind: 'relay', family: 4, host: '203.0.113.9', port: 3478 },
    ],
    ...extra,
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isRendezvousError(error)) return error.code;
    throw error;
  }
  return 'no error';
}

const candidateArb: fc.Arbitrary<Candidate> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('host', 'srflx', 'relay'),
    family: fc.constant(4 as const),
    host: fc.ipV4(),
    port: fc.integer({ min: 1, max: 65535 }),
  }),
  fc.record({
    kind: fc.constantFrom('host', 'srflx', 'relay'),
    family: fc.constant(6 as const),
    host: fc.ipV6(),
    port: fc.integer({ min: 1, max: 65535 }),
  }),
) as fc.Arbitrary<Candidate>;

describe('record encoding', () => {
  it('has the documented layout', () => {
    const bytes = signRecord(base(0x0102030405), secretKey);
    expect(bytes[0]).toBe(1);
    expect(bytes.subarray(1, 33)).toEqual(peerId);
    expect(Array.from(bytes.subarray(33, 41))).toEqual([0, 0, 0, 1, 2, 3, 4, 5]);
    expect(bytes[57]).toBe(3);
    expect(Array.from(bytes.subarray(58, 65))).toEqual([0x00, 192, 168, 1, 20, 0x0f, 0xa0]);
    expect(bytes[65]).toBe(0x11); // srflx, IPv6
    expect(bytes.length).toBe(58 + 7 + 19 + 7 + 1 + 64);
  });

  it('decode(sign(x)) = x for any record (property)', () => {
    fc.assert(
      fc.property(
        fc.array(candidateArb, { maxLength: 20 }),
        fc.array(fc.record({ host: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 3 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (candidates, gates, seq) => {
          const record: PeerRecord = {
            ...base(seq),
            candidates,
            ...(gates.length ? { gates: gates.map((g) => ({ peerId, family: 4 as const, ...g })) } : {}),
          };
          const bytes = signRecord(record, secretKey);
          const d = verifyRecord(bytes, { expectedPeerId: peerId, now: NOW });
          expect(d.record.seq).toBe(seq);
          expect(d.record.candidates.length).toBe(candidates.length);
          // Hosts come back canonical; re-encoding the decoded record gives the same bytes.
          expect(encodeRecord(d.record, d.signature)).toEqual(bytes);
          d.record.candidates.forEach((c, i) => {
            expect(c.port).toBe(candidates[i]?.port);
            expect(c.kind).toBe(candidates[i]?.kind);
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('every byte string decodes to a record or a RendezvousError (fuzz)', () => {
    const valid = signRecord(base(), secretKey);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1100 }),
          // mutations of a valid record reach deeper into the decoder
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
            const b = valid.slice();
            b[i] = v;
            return b;
          }),
          fc.nat(valid.length).map((n) => valid.slice(0, n)),
        ),
        (bytes) => {
          try {
            verifyRecord(bytes, { now: NOW });
          } catch (error) {
            expect(error).toBeInstanceOf(RendezvousError);
          }
        },
      ),
      { numRuns: RUNS * 3 },
    );
  });

  it('rejects every truncation and any trailing byte as RECORD_MALFORMED or RECORD_FORGED', () => {
    const bytes = signRecord(base(), secretKey);
    for (let n = 0; n < bytes.length; n++) {
      expect(['RECORD_MALFORMED', 'RECORD_FORGED']).toContain(
        code(() => verifyRecord(bytes.slice(0, n), { now: NOW })),
      );
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(['RECORD_MALFORMED', 'RECORD_FORGED']).toContain(code(() => verifyRecord(longer, { now: NOW })));
  });

  it('refuses unknown versions, bad tags, port 0 and expiry before issue', () => {
    const bytes = signRecord(base(), secretKey);
    const v2 = bytes.slice();
    v2[0] = 2;
    expect(code(() => decodeRecord(v2))).toBe('RECORD_MALFORMED');
    const tag = bytes.slice();
    tag[58] = 0x30;
    expect(code(() => decodeRecord(tag))).toBe('RECORD_MALFORMED');
    const port0 = bytes.slice();
    port0[63] = 0;
    port0[64] = 0;
    expect(code(() => decodeRecord(port0))).toBe('RECORD_MALFORMED');
    expect(() => encodeRecordBody(base(1, { expiresAt: NOW - 1 }))).toThrow(RangeError);
  });

  it('enforces 999 bytes: RECORD_TOO_LARGE on encode and decode', () => {
    const many: Candidate[] = Array.from({ length: 47 }, (_, i) => ({
      kind: 'host',
      family: 6,
      host: `2001:db8::${i + 1}`,
      port: 1 + i,
    }));
    expect(code(() => signRecord(base(1, { candidates: many }), secretKey))).toBe('RECORD_TOO_LARGE');
    const fits = signRecord(base(1, { candidates: many.slice(0, 46) }), secretKey);
    expect(fits.length).toBe(997); // 58 head + 46 x 19 + 1 gate count + 64 signature
    expect(fits.length).toBeLessThanOrEqual(MAX_RECORD_SIZE);
    expect(code(() => decodeRecord(new Uint8Array(1000)))).toBe('RECORD_TOO_LARGE');
  });

  it('throws TypeError/RangeError with exact messages on API misuse', () => {
    expect(() => signRecord(base(), new Uint8Array(31))).toThrow(
      '"secretKey" expected Uint8Array of length 32, got length=31',
    );
    expect(() => signRecord(base(), new Uint8Array(32))).toThrow(
      '"secretKey" does not belong to "record.peerId"',
    );
    expect(() =>
      encodeRecordBody(base(1, { candidates: [{ kind: 'host', family: 4, host: '::1', port: 1 }] })),
    ).toThrow('"record.candidates[0].host" is not an IPv4 literal: "::1"');
    expect(() =>
      encodeRecordBody(base(1, { candidates: [{ kind: 'host', family: 4, host: '1.2.3.4', port: 0 }] })),
    ).toThrow('"record.candidates[0].port" expected an integer port 1..65535, got 0');
    expect(() => encodeRecordBody(base(-1))).toThrow(
      '"record.seq" expected a non-negative safe integer, got -1',
    );
  });
});

describe('record verification', () => {
  it('accepts a valid record', () => {
    const d = verifyRecord(signRecord(base(), secretKey), { expectedPeerId: peerId, now: NOW });
    expect(d.record.candidates[1]).toEqual({ kind: 'srflx', family: 6, host: '2001:db8::1', port: 4001 });
  });

  it('RECORD_FORGED: a flipped bit anywhere in the signed part or the signature', () => {
    const bytes = signRecord(base(), secretKey);
    for (const i of [1, 20, 40, 50, 60, bytes.length - 64, bytes.length - 1]) {
      const b = bytes.slice();
      b[i] = (b[i] as number) ^ 0x01;
      expect(['RECORD_FORGED', 'RECORD_MALFORMED']).toContain(code(() => verifyRecord(b, { now: NOW })));
    }
    const b = bytes.slice();
    b[bytes.length - 1] = (b[bytes.length - 1] as number) ^ 0x80;
    expect(code(() => verifyRecord(b, { now: NOW }))).toBe('RECORD_FORGED');
  });

  it('RECORD_FORGED: signed by another key, or a valid record of another peer than expected', () => {
    const other = ed25519.utils.randomSecretKey(new Uint8Array(32).fill(2));
    const otherId = ed25519.getPublicKey(other);
    const forged = signRecord({ ...base(), peerId: otherId }, other);
    // attacker re-labels its own record with the victim's id: signature no longer matches
    const relabeled = forged.slice();
    relabeled.set(peerId, 1);
    expect(code(() => verifyRecord(relabeled, { now: NOW }))).toBe('RECORD_FORGED');
    expect(code(() => verifyRecord(forged, { expectedPeerId: peerId, now: NOW }))).toBe('RECORD_FORGED');
  });

  it('RECORD_EXPIRED past expiry plus skew; RECORD_NOT_YET_VALID from the future', () => {
    const bytes = signRecord(base(), secretKey);
    expect(code(() => verifyRecord(bytes, { now: NOW + 3_600_000 + 119_000 }))).toBe('no error');
    expect(code(() => verifyRecord(bytes, { now: NOW + 3_600_000 + 121_000 }))).toBe('RECORD_EXPIRED');
    expect(code(() => verifyRecord(bytes, { now: NOW + 3_600_001, clockSkewMs: 0 }))).toBe('RECORD_EXPIRED');
    expect(code(() => verifyRecord(bytes, { now: NOW - 121_000 }))).toBe('RECORD_NOT_YET_VALID');
  });
});

describe('RecordCache and sequence numbers', () => {
  it('never goes back: STALE_RECORD for a replayed older record and for an equivocation', () => {
    const cache = new RecordCache();
    const r1 = signRecord(base(10), secretKey);
    const r2 = signRecord(base(20), secretKey);
    expect(cache.accept(r1, { now: NOW }).record.seq).toBe(10);
    expect(cache.accept(r2, { now: NOW }).record.seq).toBe(20);
    expect(cache.accept(r2, { now: NOW }).record.seq).toBe(20); // the same record again is fine
    expect(code(() => cache.accept(r1, { now: NOW }))).toBe('STALE_RECORD');
    const twin = signRecord(base(20, { candidates: [] }), secretKey);
    expect(code(() => cache.accept(twin, { now: NOW }))).toBe('STALE_RECORD');
    expect(cache.lastSeq(peerId)).toBe(20);
  });

  it('does not remember records that fail verification', () => {
    const cache = new RecordCache();
    const bad = signRecord(base(30), secretKey);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
    expect(code(() => cache.accept(bad, { now: NOW }))).toBe('RECORD_FORGED');
    expect(cache.lastSeq(peerId)).toBeUndefined();
  });

  it('nextSequence is time derived, strictly increasing and survives restarts', () => {
    expect(nextSequence(undefined, NOW)).toBe(NOW * 1000);
    expect(nextSequence(NOW * 1000, NOW)).toBe(NOW * 1000 + 1);
    expect(nextSequence(5, NOW)).toBe(NOW * 1000);
    // a restart a second later (no memory of lastSeq) is still above everything published before
    let last: number | undefined;
    for (let i = 0; i < 1000; i++) last = nextSequence(last, NOW);
    expect(nextSequence(undefined, NOW + 1000)).toBeGreaterThan(last as number);
  });
});
