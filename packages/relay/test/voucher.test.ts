import { identityFromSecret, signWithIdentity } from '@srmudp/crypto';
import { Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import {
  connectViaPolicy,
  createVoucher,
  decodeVoucher,
  encodeControl,
  VOUCHER_DOMAIN,
  VoucherNonceCache,
  verifyVoucher,
} from '../src/index.js';
import { Local, lastOf } from './local.js';

const rng = new Rng('voucher');
const random = (n: number) => rng.bytes(n);
const requester = identityFromSecret(new Uint8Array(32).fill(1));
const mallory = identityFromSecret(new Uint8Array(32).fill(2));
const relay = identityFromSecret(new Uint8Array(32).fill(3)).publicKey;
const target = identityFromSecret(new Uint8Array(32).fill(4)).publicKey;
const NOW = 1_700_000_000_000;

function make(overrides: Partial<Parameters<typeof createVoucher>[1]> = {}, who = requester) {
  return createVoucher(
    who,
    {
      relay,
      target,
      expiresAt: NOW + 60_000,
      limits: { durationMs: 120_000, bytes: 1 << 22 },
      group: Uint8Array.of(7, 7),
      nonce: new Uint8Array(16).fill(9),
      ...overrides,
    },
    random,
  );
}

const expect0 = { relay, requester: requester.publicKey, target, unixNow: NOW };

describe('vouchers', () => {
  it('round-trips and verifies', () => {
    const bytes = make();
    const v = decodeVoucher(bytes);
    expect(v.relay).toEqual(relay);
    expect(v.requester).toEqual(requester.publicKey);
    expect(v.target).toEqual(target);
    expect(v.expiresAt).toBe(NOW + 60_000);
    expect(v.limits).toEqual({ durationMs: 120_000, bytes: 1 << 22 });
    expect(v.group).toEqual(Uint8Array.of(7, 7));
    expect(verifyVoucher(bytes, expect0)).toMatchObject({ ok: true });
    // known-answer: the layout is part of the wire format; a change must be deliberate
    expect(bytes.length).toBe(1 + 96 + 8 + 16 + 4 + 4 + 1 + 2 + 64);
  });

  it('refuses forged, altered, mis-addressed, expired and far-future vouchers', () => {
    const bytes = make();
    const flipSig = bytes.slice();
    flipSig[bytes.length - 1]! ^= 1;
    expect(verifyVoucher(flipSig, expect0)).toEqual({ ok: false, code: 'VOUCHER_BAD_SIGNATURE' });
    // any body byte: limits, expiry, group, nonce
    for (const i of [97, 110, 125, 130, bytes.length - 66]) {
      const b = bytes.slice();
      b[i]! ^= 0x01;
      const r = verifyVoucher(b, expect0);
      expect(r.ok).toBe(false);
    }
    // mallory signs a voucher claiming to be the requester
    const forged = make({}, mallory);
    forged.set(requester.publicKey, 33);
    expect(verifyVoucher(forged, expect0)).toEqual({ ok: false, code: 'VOUCHER_BAD_SIGNATURE' });
    expect(verifyVoucher(bytes, { ...expect0, relay: target })).toEqual({
      ok: false,
      code: 'VOUCHER_WRONG_RELAY',
    });
    expect(verifyVoucher(bytes, { ...expect0, target: relay })).toEqual({
      ok: false,
      code: 'VOUCHER_WRONG_TARGET',
    });
    expect(verifyVoucher(bytes, { ...expect0, requester: mallory.publicKey })).toEqual({
      ok: false,
      code: 'VOUCHER_WRONG_REQUESTER',
    });
    expect(verifyVoucher(bytes, { ...expect0, unixNow: NOW + 60_000 + 30_000 })).toMatchObject({ ok: true });
    expect(verifyVoucher(bytes, { ...expect0, unixNow: NOW + 60_001 + 30_000 })).toEqual({
      ok: false,
      code: 'VOUCHER_EXPIRED',
    });
    const far = make({ expiresAt: NOW + 11 * 60_000 });
    expect(verifyVoucher(far, expect0)).toEqual({ ok: false, code: 'VOUCHER_TOO_LONG' });
    expect(verifyVoucher(Uint8Array.of(1, 2, 3), expect0)).toEqual({ ok: false, code: 'VOUCHER_MALFORMED' });
  });

  it('is domain-separated: a signature of the same bytes without the domain does not verify', () => {
    const bytes = make();
    const body = bytes.subarray(0, bytes.length - 64);
    const plain = bytes.slice();
    plain.set(signWithIdentity(requester, body), body.length);
    expect(verifyVoucher(plain, expect0)).toEqual({ ok: false, code: 'VOUCHER_BAD_SIGNATURE' });
    expect(new TextDecoder().decode(VOUCHER_DOMAIN)).toBe('srmudp/relay/voucher/v1\0');
  });

  it('works once: the nonce cache refuses a replay until the voucher expired, and is bounded', () => {
    const cache = new VoucherNonceCache(2);
    const v1 = decodeVoucher(make({ nonce: new Uint8Array(16).fill(1) }));
    const v2 = decodeVoucher(make({ nonce: new Uint8Array(16).fill(2) }));
    const v3 = decodeVoucher(make({ nonce: new Uint8Array(16).fill(3), expiresAt: NOW + 600_000 }));
    expect(cache.remember(v1, NOW, 0)).toBe('ok');
    expect(cache.remember(v1, NOW, 0)).toBe('VOUCHER_REPLAYED');
    expect(cache.remember(v2, NOW, 0)).toBe('ok');
    expect(cache.remember(v3, NOW, 0)).toBe('VOUCHER_CACHE_FULL'); // never forgets a live nonce
    expect(cache.remember(v3, NOW + 60_001, 0)).toBe('ok'); // v1 and v2 expired: room again
    expect(cache.size).toBe(1);
  });

  it('rejects bad arguments with exact messages', () => {
    expect(() => make({ relay: new Uint8Array(31) })).toThrow(
      '"relay" expected Uint8Array of length 32, got length=31',
    );
    expect(() => make({ group: new Uint8Array(65) })).toThrow('"group" longer than 64 bytes');
    expect(() => make({ nonce: new Uint8Array(15) })).toThrow('"nonce" expected Uint8Array of length 16');
  });
});

describe('vouchers through a connect-via relay', () => {
  function setup() {
    const L = new Local({ seed: 'via', policy: connectViaPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const voucher = (o: Partial<Parameters<typeof createVoucher>[1]> = {}, who = A.identity) =>
      createVoucher(
        who,
        { relay: L.relayIdentity.publicKey, target: B.key, expiresAt: L.unixNow + 60_000, ...o },
        (n) => L.rng.bytes(n),
      );
    return { L, A, B, voucher };
  }

  it('a valid voucher reaches the target, which sees who asked and the limits', () => {
    const { L, A, B, voucher } = setup();
    A.client.connect(L.now, B.key, { voucher: voucher({ limits: { bytes: 1000 } }) });
    L.pump();
    const inc = lastOf(B.events, 'incoming');
    expect(inc?.voucher?.requester).toEqual(A.key);
    expect(inc?.limits).toEqual({ durationMs: 120_000, bytes: 1000 }); // voucher ∩ connect-via default
    B.client.accept(L.now, inc!.incomingId);
    L.pump();
    expect(lastOf(A.events, 'bound')?.limits).toEqual({ durationMs: 120_000, bytes: 1000 });
  });

  it('forged (signed by someone else), expired, wrong relay, wrong target and replayed vouchers are refused', () => {
    const { L, A, B, voucher } = setup();
    const C = L.add('c');
    const tries: [Uint8Array, string][] = [
      [voucher({}, C.identity), 'voucher_invalid'], // C signs, A presents
      [voucher({ expiresAt: L.unixNow - 31_000 }), 'voucher_expired'],
      [voucher({ relay: C.key }), 'voucher_invalid'],
      [voucher({ target: C.key }), 'voucher_invalid'],
    ];
    for (const [v, reason] of tries) {
      A.client.connect(L.now, B.key, { voucher: v });
      L.pump();
      expect(lastOf(A.events, 'rejected')?.reason).toBe(reason);
    }
    const once = voucher();
    A.client.connect(L.now, B.key, { voucher: once });
    L.pump();
    B.client.accept(L.now, lastOf(B.events, 'incoming')!.incomingId);
    L.pump();
    expect(lastOf(A.events, 'bound')).toBeDefined();
    A.client.connect(L.now, B.key, { voucher: once });
    L.pump();
    expect(lastOf(A.events, 'rejected')?.reason).toBe('voucher_replayed');
    expect(B.events.filter((e) => e.type === 'incoming')).toHaveLength(1);
  });

  it('the target checks the voucher itself: a lying relay cannot pass off a forged one', () => {
    const { L, A, B } = setup();
    // A hostile relay sends B an INCOMING claiming A asked, with a voucher A never signed.
    const forged = createVoucher(
      L.get('b').identity, // anyone's key but A's
      { relay: L.relayIdentity.publicKey, target: B.key, expiresAt: L.unixNow + 60_000 },
      (n) => L.rng.bytes(n),
    );
    forged.set(A.key, 33);
    B.client.handleControl(
      L.now,
      encodeControl({
        type: 'incoming',
        requestId: 100,
        requester: A.key,
        limits: { durationMs: 0, bytes: 0 },
        voucher: forged,
        firstPacket: null,
      }),
    );
    expect(B.client.pollEvent()).toBeNull(); // no incoming for the host
    expect(B.client.stats().dropped.incoming_voucher).toBe(1);
    const answer = B.client.pollTransmit(L.now)!;
    expect(answer[1]).toBe(0x04); // REJECT
  });
});
