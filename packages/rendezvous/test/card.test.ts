import { ed25519 } from '@noble/curves/ed25519.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { peerIdToString } from '@srmudp/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeCard,
  fromBase64Url,
  isRendezvousError,
  parseCard,
  RendezvousError,
  signRecord,
  toBase64Url,
} from '../src/index.js';

const secretKey = ed25519.utils.randomSecretKey(new Uint8Array(32).fill(3));
const peerId = ed25519.getPublicKey(secretKey);
const NOW = 1_764_000_000_000;
const record = signRecord(
  {
    peerId,
    seq: 7,
    issuedAt: NOW,
    expiresAt: NOW + 1000,
    candidates: [{ kind: 'host', family: 4, host: '10.1.2.3', port: 9 }],
  },
  secretKey,
);

/** Builds a card text from an arbitrary JSON payload with a correct checksum. */
function rawCard(payload: unknown, version = 1): string {
  const json = new TextEncoder().encode(JSON.stringify(payload));
  const sum = blake2s(new Uint8Array([...new TextEncoder().encode('srmudp/card/v1\0'), ...json])).subarray(
    0,
    4,
  );
  return `srmudp${version}:${toBase64Url(new Uint8Array([...json, ...sum]))}`;
}

function problem(text: string): string {
  try {
    parseCard(text);
  } catch (error) {
    if (isRendezvousError(error, 'INVALID_CARD')) return error.message;
    throw error;
  }
  return 'parsed';
}

describe('contact cards', () => {
  it('round trips peer id, locators, embedded record and name', () => {
    const text = encodeCard({
      peerId,
      locators: [
        { backend: 'dht', salt: 'srmudp' },
        { backend: 'http', url: 'https://rv.example/' },
        { backend: 'manual' },
      ],
      record,
      name: 'alice',
    });
    expect(text.startsWith('srmudp1:')).toBe(true);
    const card = parseCard(text);
    expect(card.peerId).toEqual(peerId);
    expect(card.peerIdText).toBe(peerIdToString(peerId));
    expect(card.locators).toEqual([
      { backend: 'dht', salt: 'srmudp' },
      { backend: 'http', url: 'https://rv.example/' },
      { backend: 'manual' },
    ]);
    expect(card.record).toEqual(record);
    expect(card.embedded?.candidates).toEqual([{ kind: 'host', family: 4, host: '10.1.2.3', port: 9 }]);
    expect(card.name).toBe('alice');
  });

  it('tolerates whitespace and line wrapping from copy-paste', () => {
    const text = encodeCard({ peerId, locators: [{ backend: 'memory' }] });
    const wrapped = `  ${text.slice(0, 20)}\n${text.slice(20, 50)}\r\n ${text.slice(50)}\n`;
    expect(parseCard(wrapped).peerId).toEqual(peerId);
  });

  it('says what is wrong with every malformed card', () => {
    const good = encodeCard({ peerId, locators: [{ backend: 'memory' }] });
    expect(problem('')).toMatch(/empty/);
    expect(problem('hello')).toMatch(/must start with "srmudp1:"/);
    expect(problem('pk123:abc')).toMatch(/must start with "srmudp1:"/);
    expect(problem(good.replace('srmudp1:', 'srmudp:'))).toMatch(/missing version/);
    expect(problem(good.replace('srmudp1:', 'srmudp2:'))).toMatch(/unknown version 2/);
    expect(problem(`${good.slice(0, 20)}*${good.slice(21)}`)).toMatch(/not base64url/);
    expect(problem(good.slice(0, good.length - 3))).toMatch(/checksum mismatch|not base64url/);
    const flipped = good.slice(0, 15) + (good[15] === 'A' ? 'B' : 'A') + good.slice(16);
    expect(problem(flipped)).toMatch(/checksum mismatch/);
    expect(problem('srmudp1:AAAA')).toMatch(/too short/);
    expect(problem(`srmudp1:${'A'.repeat(9000)}`)).toMatch(/longer than 8192/);
    expect(problem(rawCard({ peer: peerIdToString(peerId) }))).toMatch(/field locators: /);
    expect(problem(rawCard({ peer: peerIdToString(peerId), locators: [{ backend: 'Bad Name' }] }))).toMatch(
      /field locators\[0\]\.backend: backend name must be lower-case/,
    );
    expect(
      problem(rawCard({ peer: peerIdToString(peerId), locators: [{ backend: 'x', n: { deep: 1 } }] })),
    ).toMatch(/field locators\[0\]\.n/);
    expect(problem(rawCard({ peer: peerIdToString(peerId), locators: [], extra: 1 }))).toMatch(
      /field card: .*extra/i,
    );
    expect(problem(rawCard({ peer: 'pkaaaa', locators: [] }))).toMatch(
      /field peer: peer id must be 58 characters/,
    );
    const otherId = ed25519.getPublicKey(ed25519.utils.randomSecretKey(new Uint8Array(32).fill(4)));
    expect(
      problem(rawCard({ peer: peerIdToString(otherId), locators: [], record: toBase64Url(record) })),
    ).toMatch(/field record: record is for another peer id .*RECORD_FORGED/);
    const tampered = record.slice();
    tampered[60] = (tampered[60] as number) ^ 1;
    expect(
      problem(rawCard({ peer: peerIdToString(peerId), locators: [], record: toBase64Url(tampered) })),
    ).toMatch(/field record: .*RECORD_FORGED/);
    expect(problem(rawCard({ peer: peerIdToString(peerId), locators: [], record: '***' }))).toMatch(
      /field record: not base64url/,
    );
    const notJson = new TextEncoder().encode('{not json');
    const sum = blake2s(
      new Uint8Array([...new TextEncoder().encode('srmudp/card/v1\0'), ...notJson]),
    ).subarray(0, 4);
    expect(problem(`srmudp1:${toBase64Url(new Uint8Array([...notJson, ...sum]))}`)).toMatch(/not valid JSON/);
  });

  it('any string gives a card or INVALID_CARD (fuzz)', () => {
    const good = encodeCard({ peerId, locators: [{ backend: 'dht', salt: 'x' }], record });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `srmudp1:${s}`),
          fc
            .tuple(fc.nat(good.length - 1), fc.string({ minLength: 1, maxLength: 1 }))
            .map(([i, c]) => good.slice(0, i) + c + good.slice(i + 1)),
        ),
        (text) => {
          try {
            parseCard(text);
          } catch (error) {
            expect(error).toBeInstanceOf(RendezvousError);
            expect((error as RendezvousError).code).toBe('INVALID_CARD');
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('base64url is canonical', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(fromBase64Url(toBase64Url(b))).toEqual(b);
      }),
    );
    expect(fromBase64Url('AB')).toBeNull(); // non-zero leftover bits
  });

  it('rejects API misuse when encoding', () => {
    expect(() => encodeCard({ peerId: new Uint8Array(3), locators: [] })).toThrow(TypeError);
    expect(() => encodeCard({ peerId, locators: [{ backend: '' }] })).toThrow(
      /"card.locators\[0\]" is invalid/,
    );
  });
});
