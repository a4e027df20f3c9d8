// The peer directory against core's event sequence for a dial that a restarted peer's new
// session replaced (endpoint-events.ts): 'connect_failed' CLOSED naming the successor, then the
// successor's 'connected' or, withheld too, its own 'connect_failed'. Deterministic: a fake route
// (the relay link) counts the dials, fake timers stand in for the retry backoff.

import type { ClosedWhileConnecting, ConnectionApi } from '@srmudp/core';
import { generateIdentity, type Identity, peerIdToString } from '@srmudp/crypto';
import { randomBytes } from '@srmudp/crypto-node';
import { compareBytes, SrmudpError } from '@srmudp/wire';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PeerDirectory } from '../src/peers.js';

const PEER_RESTARTED_CLOSE = { code: 0, reason: 'peer restarted', remote: false };

function setup() {
  const [me, them] = [generateIdentity(randomBytes), generateIdentity(randomBytes)].sort((p, q) =>
    compareBytes(p.publicKey, q.publicKey),
  ) as [Identity, Identity];
  const dials: number[] = []; // the connection ids the route's connect() returned
  let nextId = 1;
  const route = {
    up: true,
    connect: () => {
      dials.push(nextId);
      return nextId++;
    },
  };
  const host = { now: () => 0, kick: () => {}, closed: () => false };
  const dir = new PeerDirectory(me.publicKey, {}, route, host, { duplicate_sessions: 0 });
  /** a core connection as the directory sees it */
  const stats = { rttMeasured: false, rttMs: 0, lossRate: 0, bytesSent: 0, bytesReceived: 0 };
  const api = (id: number) => ({ id, close: vi.fn(), stats: () => stats }) as unknown as ConnectionApi;
  const replaced = (successor: number | null) =>
    new SrmudpError('CLOSED', 'the connection closed while connecting (here: peer restarted)', {
      cause: { ...PEER_RESTARTED_CLOSE, successor } satisfies ClosedWhileConnecting,
    });
  return { me, them, dir, dials, api, replaced };
}

describe('a dial replaced by the restarted peer’s new session', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('follows the successor: the peer connects through it, no retry timer, no second dial', async () => {
    const { them, dir, dials, api, replaced } = setup();
    dir.add({ b: peerIdToString(them.publicKey) });
    expect(dials).toEqual([1]);
    const ready = dir.ready('b', {});

    dir.dialFailed(1, replaced(7));
    // still the same dial: connecting, no error, no backoff armed
    const s = dir.status({ url: 'ws://relay', peerId: 'relay' }).b;
    expect(s?.state).toBe('connecting');
    expect(s?.lastError).toBeNull();
    expect(vi.getTimerCount()).toBe(0);

    // the successor is the restarted peer's session: incoming here, yet it is our dial's answer
    const r = dir.connected(api(7), them.publicKey, false);
    expect(r?.conn.api.id).toBe(7);
    await expect(ready).resolves.toBe(r?.conn);
    expect(dir.connection('b')).toBe(r?.conn);

    await vi.advanceTimersByTimeAsync(30_000);
    expect(dials).toEqual([1]);
    expect(dir.status({ url: 'ws://relay', peerId: 'relay' }).b?.state).toBe('established');
    dir.close();
  });

  it('a withheld successor fails the dial at once (its own error), then the usual retry', async () => {
    const { them, dir, dials, replaced } = setup();
    dir.add({ b: peerIdToString(them.publicKey) });
    dir.dialFailed(1, replaced(7));
    expect(vi.getTimerCount()).toBe(0);

    // core withheld the successor too: it ends as a dial would
    dir.dialFailed(7, replaced(null));
    const s = dir.status({ url: 'ws://relay', peerId: 'relay' }).b;
    expect(s?.state).toBe('reconnecting');
    expect(s?.lastError?.code).toBe('CLOSED');
    expect(vi.getTimerCount()).toBe(1);

    await vi.advanceTimersByTimeAsync(1_000);
    expect(dials).toEqual([1, 2]); // the retry, once
    // a late event of the first dial's successor changes nothing
    dir.dialFailed(7, replaced(null));
    expect(dir.status({ url: 'ws://relay', peerId: 'relay' }).b?.state).toBe('connecting');
    dir.close();
  });
});
