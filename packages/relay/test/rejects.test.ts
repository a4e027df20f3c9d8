/** Every reject reason of the protocol, each produced the way it happens in practice. */
import { describe, expect, it } from 'vitest';
import {
  allowListPolicy,
  connectViaPolicy,
  createVoucher,
  decodeControl,
  encodeControl,
  openPolicy,
  predicatePolicy,
  REJECT_REASONS,
  type RejectReason,
} from '../src/index.js';
import { allOf, Local, lastOf } from './local.js';

function rejectedWith(L: Local, name: string): RejectReason | undefined {
  return lastOf(L.get(name).events, 'rejected')?.reason as RejectReason | undefined;
}

/** The reason of the last REJECT the relay sent `name` (raw requests get no event). */
function rawReject(L: Local, name: string): unknown {
  const last = L.get(name).controlIn.at(-1);
  const m = last ? decodeControl(last) : undefined;
  return m?.type === 'reject' ? m.reason : m;
}

const seen = new Set<RejectReason>();
function check(L: Local, name: string, reason: RejectReason): void {
  expect(rejectedWith(L, name)).toBe(reason);
  expect(L.service.stats().rejected[reason]).toBeGreaterThan(0);
  seen.add(reason);
}

describe('reject reasons', () => {
  it('refused: the target says no', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    A.client.connect(L.now, B.key);
    L.pump();
    B.client.reject(L.now, lastOf(B.events, 'incoming')!.incomingId);
    L.pump();
    check(L, 'a', 'refused');
    expect(allOf(L.relayEvents, 'circuit_rejected')[0]).toMatchObject({ reason: 'refused' });
  });

  it('resource_limit: circuits per client', () => {
    const L = new Local({ policy: openPolicy(), limits: { maxCircuitsPerClient: 1 } });
    const A = L.add('a');
    L.add('b');
    const C = L.add('c');
    L.circuit('a', 'b');
    A.client.connect(L.now, C.key);
    L.pump();
    check(L, 'a', 'resource_limit');
    expect(C.events.some((e) => e.type === 'incoming')).toBe(false);
  });

  it('permission_denied: the admission policy (allow-list) leaves the requester out', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const C = L.add('c');
    const L2 = new Local({ seed: 'local', policy: allowListPolicy([B.key, C.key]) });
    const A2 = L2.add('a', { identity: A.identity });
    L2.add('b', { identity: B.identity });
    expect(lastOf(A2.events, 'denied')).toEqual({ type: 'denied', reason: 'permission_denied' });
    // a client that was denied may not even ask
    A2.client.hopUp(L2.now);
    L2.service.clientUp(L2.now, A2.key, A2.hop);
    L2.raw(
      'a',
      encodeControl({
        type: 'connect',
        requestId: 1,
        target: B.key,
        limits: { durationMs: 0, bytes: 0 },
        voucher: null,
        firstPacket: null,
      }),
    );
    expect(rawReject(L2, 'a')).toBe('permission_denied');
    expect(L2.service.stats().rejected.permission_denied).toBe(1);
    seen.add('permission_denied');
  });

  it('permission_denied: a predicate policy refuses the pair', () => {
    const L = new Local({ policy: predicatePolicy({ circuit: () => false }) });
    const A = L.add('a');
    const B = L.add('b');
    A.client.connect(L.now, B.key);
    L.pump();
    check(L, 'a', 'permission_denied');
  });

  it('target_unavailable: the target has no hop session', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    L.down('b');
    A.client.connect(L.now, B.key);
    L.pump();
    check(L, 'a', 'target_unavailable');
  });

  it('target_unavailable: the target goes away while it is being asked', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    A.client.connect(L.now, B.key);
    L.pump();
    L.down('b');
    check(L, 'a', 'target_unavailable');
  });

  it('malformed: a circuit to oneself, and a request whose body does not decode', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const self = encodeControl({
      type: 'connect',
      requestId: 1,
      target: A.key,
      limits: { durationMs: 0, bytes: 0 },
      voucher: null,
      firstPacket: null,
    });
    L.raw('a', self);
    expect(rawReject(L, 'a')).toBe('malformed');
    // version 1, CONNECT, request id 2, then a truncated target key
    L.raw('a', Uint8Array.of(1, 1, 2, 9, 9, 9));
    expect(rawReject(L, 'a')).toBe('malformed');
    expect(decodeControl(L.get('a').controlIn.at(-1)!).requestId).toBe(2); // answered with its own id
    expect(L.service.stats().dropped.control_malformed).toBe(1);
    seen.add('malformed');
  });

  it('unexpected: ACCEPT of an INCOMING that does not exist, REFRESH of an unknown channel', () => {
    const L = new Local({ policy: openPolicy() });
    L.add('a');
    L.raw(
      'a',
      encodeControl({ type: 'accept', requestId: 5, incomingId: 77, limits: { durationMs: 0, bytes: 0 } }),
    );
    expect(rawReject(L, 'a')).toBe('unexpected');
    L.raw('a', encodeControl({ type: 'refresh', requestId: 6, channel: 0x4123 }));
    expect(rawReject(L, 'a')).toBe('unexpected');
    expect(L.service.stats().dropped.control_unexpected).toBe(2);
    seen.add('unexpected');
  });

  it('voucher_invalid: a connect-via relay without a voucher, or with a voucher for another relay', () => {
    const L = new Local({ policy: connectViaPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    A.client.connect(L.now, B.key);
    L.pump();
    check(L, 'a', 'voucher_invalid');
    const other = createVoucher(
      A.identity,
      { relay: B.key, target: B.key, expiresAt: L.unixNow + 60_000 },
      (n) => L.rng.bytes(n),
    );
    A.client.connect(L.now, B.key, { voucher: other });
    L.pump();
    check(L, 'a', 'voucher_invalid');
  });

  it('voucher_expired and voucher_replayed', () => {
    const L = new Local({ policy: connectViaPolicy(), limits: { clockSkewMs: 0 } });
    const A = L.add('a');
    const B = L.add('b');
    const random = (n: number) => L.rng.bytes(n);
    const stale = createVoucher(
      A.identity,
      { relay: L.relayIdentity.publicKey, target: B.key, expiresAt: L.unixNow - 1 },
      random,
    );
    A.client.connect(L.now, B.key, { voucher: stale });
    L.pump();
    check(L, 'a', 'voucher_expired');
    const good = createVoucher(
      A.identity,
      { relay: L.relayIdentity.publicKey, target: B.key, expiresAt: L.unixNow + 60_000 },
      random,
    );
    A.client.connect(L.now, B.key, { voucher: good });
    L.pump();
    B.client.reject(L.now, lastOf(B.events, 'incoming')!.incomingId);
    L.pump();
    A.client.connect(L.now, B.key, { voucher: good });
    L.pump();
    check(L, 'a', 'voucher_replayed');
  });

  it('relay_chain: a requester or target whose hop is itself relayed', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a', { relayed: true });
    const B = L.add('b');
    A.client.connect(L.now, B.key);
    L.pump();
    check(L, 'a', 'relay_chain');
    B.client.connect(L.now, A.key);
    L.pump();
    check(L, 'b', 'relay_chain');
  });

  it('timeout: the target never answers', () => {
    const L = new Local({ policy: openPolicy(), limits: { incomingTimeoutMs: 5_000 } });
    const A = L.add('a');
    const B = L.add('b');
    A.client.connect(L.now, B.key);
    L.pump();
    L.advance(4_999);
    expect(rejectedWith(L, 'a')).toBeUndefined();
    L.advance(1);
    check(L, 'a', 'timeout');
    // the target's late accept is answered `unexpected` so it does not wait for a circuit
    B.client.accept(L.now, lastOf(B.events, 'incoming')!.incomingId);
    L.pump();
    expect(lastOf(B.events, 'rejected')).toMatchObject({ kind: 'accept', reason: 'unexpected' });
  });

  it('unsupported: a message type or version this relay does not speak', () => {
    const L = new Local({ policy: openPolicy() });
    L.add('a');
    L.raw('a', Uint8Array.of(1, 0x7f, 3, 1, 2, 3));
    expect(rawReject(L, 'a')).toBe('unsupported');
    L.raw('a', Uint8Array.of(2, 0x01, 4));
    expect(rawReject(L, 'a')).toBe('unsupported');
    seen.add('unsupported');
  });

  it('covered every reason', () => {
    expect([...seen].sort()).toEqual((Object.keys(REJECT_REASONS) as RejectReason[]).sort());
  });
});
