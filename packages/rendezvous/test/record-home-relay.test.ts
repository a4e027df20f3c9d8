import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerRecord } from '../src/index.js';
import {
  decodeRecord,
  encodeRecordBody,
  isRendezvousError,
  MAX_RECORD_SIZE,
  RECORD_VERSION,
  RECORD_VERSION_EXTENDED,
  signRecord,
  verifyRecord,
} from '../src/index.js';

const RUNS = Number(process.env.SRMUDP_PROPERTY_RUNS ?? 300);
const secretKey = ed25519.utils.randomSecretKey(new Uint8Array(32).fill(2));
const peerId = ed25519.getPublicKey(secretKey);
const relayId = new Uint8Array(32).fill(0xab);
const NOW = 1_764_000_000_000;

function base(extra: Partial<PeerRecord> = {}): PeerRecord {
  return {
    peerId,
    seq: 7,
    issuedAt: NOW,
    expiresAt: NOW + 3_600_000,
    candidates: [{ kind: 'host', family: 4, host: '192.168.1.20', port: 4000 }],
    ...extra,
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isRendezvousError(e) ? e.code : `${(e as Error).name}: ${(e as Error).message}`;
  }
  return 'no error';
}

/** A signed record with its body bytes replaced (re-signed, so only the layout is judged). */
function resign(body: Uint8Array): Uint8Array {
  const domain = new TextEncoder().encode('srmudp/rendezvous/record/v1\0');
  const msg = new Uint8Array(domain.length + body.length);
  msg.set(domain);
  msg.set(body, domain.length);
  const out = new Uint8Array(body.length + 64);
  out.set(body);
  out.set(ed25519.sign(msg, secretKey), body.length);
  return out;
}

describe('record: home relay (version 2)', () => {
  const homeRelay = { url: 'wss://relay.example/srmudp', peerId: relayId };

  it('round-trips and verifies; version byte 2', () => {
    const bytes = signRecord(base({ homeRelay }), secretKey);
    expect(bytes[0]).toBe(RECORD_VERSION_EXTENDED);
    const { record } = verifyRecord(bytes, { now: NOW, expectedPeerId: peerId });
    expect(record.homeRelay?.url).toBe(homeRelay.url);
    expect(Array.from(record.homeRelay?.peerId ?? [])).toEqual(Array.from(relayId));
    expect(record.candidates).toHaveLength(1);
  });

  it('a record without a home relay is still version 1, byte for byte as before', () => {
    const bytes = signRecord(base(), secretKey);
    expect(bytes[0]).toBe(RECORD_VERSION);
    expect(decodeRecord(bytes).record.homeRelay).toBeUndefined();
    // the version 1 layout: candidates, gate count 0, signature: nothing else
    expect(bytes.length).toBe(58 + 1 + 4 + 2 + 1 + 64);
  });

  it('a home relay with gates and no candidates', () => {
    const gates = [{ peerId: relayId, family: 4 as const, host: '203.0.113.5', port: 7000 }];
    const bytes = signRecord(
      base({ candidates: [], gates, homeRelay: { url: 'ws://10.0.0.1:8080/', peerId: relayId } }),
      secretKey,
    );
    const { record } = decodeRecord(bytes);
    expect(record.gates).toHaveLength(1);
    expect(record.homeRelay?.url).toBe('ws://10.0.0.1:8080/');
  });

  it('refuses bad home relays when encoding (TypeError naming the field)', () => {
    for (const url of [
      'https://x/',
      'ws://x/#frag',
      'ws://u:p@x/',
      `wss://${'a'.repeat(200)}/`,
      'ws://',
      'ws://a b/',
    ]) {
      expect(code(() => encodeRecordBody(base({ homeRelay: { url, peerId: relayId } })))).toMatch(
        /TypeError: "record.homeRelay.url"/,
      );
    }
    expect(
      code(() => encodeRecordBody(base({ homeRelay: { url: 'wss://x/', peerId: new Uint8Array(31) } }))),
    ).toMatch(/homeRelay.peerId/);
  });

  it('stays within the 999-byte cap: too many candidates with a home relay is RECORD_TOO_LARGE', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({
      kind: 'host' as const,
      family: 6 as const,
      host: `2001:db8::${i + 1}`,
      port: 4000,
    }));
    expect(
      code(() =>
        encodeRecordBody(
          base({ candidates: many, homeRelay: { url: `wss://${'r'.repeat(180)}/`, peerId: relayId } }),
        ),
      ),
    ).toBe('RECORD_TOO_LARGE');
  });

  const good = () => encodeRecordBody(base({ homeRelay }));
  const extStart = (body: Uint8Array) =>
    body.length - (1 + 3 + 33 + new TextEncoder().encode(homeRelay.url).length);

  it('malformed extension sections are RECORD_MALFORMED', () => {
    const body = good();
    const at = extStart(body);
    const variants: Array<[string, (b: Uint8Array) => Uint8Array]> = [
      [
        'zero extensions',
        (b) => {
          const c = b.slice(0, at + 1);
          c[at] = 0;
          return c;
        },
      ],
      [
        '17 extensions',
        (b) => {
          const c = b.slice();
          c[at] = 17;
          return c;
        },
      ],
      [
        'length past the end',
        (b) => {
          const c = b.slice();
          c[at + 2] = 0xff;
          return c;
        },
      ],
      [
        'url length mismatch',
        (b) => {
          const c = b.slice();
          c[at + 4 + 32] = (c[at + 4 + 32] as number) + 1;
          return c;
        },
      ],
      [
        'truncated value',
        (b) => {
          const c = b.slice(0, b.length - 3);
          c[at + 3] = (c[at + 3] as number) - 3;
          return c;
        },
      ],
      [
        'not ws url',
        (b) => {
          const c = b.slice();
          c[at + 4 + 33] = 0x68;
          return c;
        },
      ],
      [
        'bad UTF-8',
        (b) => {
          const c = b.slice();
          c[at + 4 + 33 + 8] = 0xff;
          return c;
        },
      ],
      ['version 2 without extension count', (b) => b.slice(0, at)],
      [
        'version 3',
        (b) => {
          const c = b.slice();
          c[0] = 3;
          return c;
        },
      ],
      [
        'trailing byte',
        (b) => {
          const c = new Uint8Array(b.length + 1);
          c.set(b);
          return c;
        },
      ],
    ];
    for (const [name, f] of variants) {
      expect([name, code(() => decodeRecord(resign(f(body))))]).toEqual([name, 'RECORD_MALFORMED']);
    }
  });

  it('unknown extension types are skipped; repeated or unordered types are refused', () => {
    const body = good();
    const at = extStart(body);
    const ext = body.slice(at + 1);
    const unknown = Uint8Array.of(9, 0, 2, 0xaa, 0xbb);
    const two = new Uint8Array(at + 1 + ext.length + unknown.length);
    two.set(body.slice(0, at));
    two[at] = 2;
    two.set(ext, at + 1);
    two.set(unknown, at + 1 + ext.length);
    expect(decodeRecord(resign(two)).record.homeRelay?.url).toBe(homeRelay.url);
    const swapped = new Uint8Array(two.length);
    swapped.set(body.slice(0, at));
    swapped[at] = 2;
    swapped.set(unknown, at + 1);
    swapped.set(ext, at + 1 + unknown.length);
    expect(code(() => decodeRecord(resign(swapped)))).toBe('RECORD_MALFORMED');
    const repeated = new Uint8Array(at + 1 + 2 * ext.length);
    repeated.set(body.slice(0, at));
    repeated[at] = 2;
    repeated.set(ext, at + 1);
    repeated.set(ext, at + 1 + ext.length);
    expect(code(() => decodeRecord(resign(repeated)))).toBe('RECORD_MALFORMED');
  });

  it('property: every byte string is a record or a RendezvousError (never another exception)', () => {
    const seed = signRecord(base({ homeRelay }), secretKey);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(MAX_RECORD_SIZE),
        (edits, cut) => {
          const b = seed.slice(0, Math.max(1, Math.min(seed.length, cut + 60)));
          for (const [i, v] of edits) if (i < b.length) b[i] = v;
          try {
            decodeRecord(b);
          } catch (e) {
            expect(isRendezvousError(e)).toBe(true);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
