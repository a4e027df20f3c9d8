// The endpoint's event contract: a connection is announced ('connected') only while it is
// established, else its end is a dial's 'connect_failed' (CLOSED) or nothing; and it stays findable
// by id until its last event has been polled.

import { Network } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import type { EndpointEvent } from '../src/api.js';
import type { CoreConnection } from '../src/connection.js';
import { EndpointEvents } from '../src/endpoint-events.js';
import { ADDR_A, ADDR_B, SimEndpoint } from './helpers.js';

/** A node whose application does not poll its events until told to (a slow consumer). */
class HeldEvents extends SimEndpoint {
  held = true;
  override drain(): void {
    if (!this.held) super.drain();
  }
  /** The queued events, taken one by one; `each` runs right after each is taken. */
  takeAll(each: (e: EndpointEvent) => void): EndpointEvent[] {
    const out: EndpointEvent[] = [];
    for (let e = this.ep.pollEvent(); e !== null; e = this.ep.pollEvent()) {
      out.push(e);
      each(e);
    }
    return out;
  }
}

/** `a` and `b` 10 ms apart; `a` polls its events only when told to (`heldB`: `b` too). */
function pair(seed: string, heldB = false) {
  const net = new Network({ seed, defaultLink: { latencyMs: 10 } });
  const a = new HeldEvents('a');
  const b = heldB ? new HeldEvents('b') : new SimEndpoint('b');
  net.addHost('a', a, [{ ...ADDR_A }]);
  net.addHost('b', b, [{ ...ADDR_B }]);
  return { net, a, b };
}

/** `type:state` of each event with an id as it is taken (the connection's state then, or 'gone'). */
function takeSeen(node: HeldEvents): string[] {
  const seen: string[] = [];
  node.takeAll((e) => {
    if (!('id' in e)) return;
    const c = node.ep.connection(e.id);
    seen.push(`${e.type}:${c === undefined ? 'gone' : c.state}`);
  });
  return seen;
}

describe("event contract: announced only while established ('connected' withheld otherwise)", () => {
  it("a dial whose connection the peer closed before its 'connected' was taken fails CLOSED: no 'connected', 'closed' or 'gone'", () => {
    const { net, a, b } = pair('contract-closed');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
    // b writes and closes; a receives it all, drains its closing period and is gone: all before a polls
    const bConn = b.ep.connection(b.connected()[0]!.id)!;
    bConn.sendMessage(Uint8Array.of(1, 2, 3));
    bConn.write(bConn.openStream(), Uint8Array.of(4));
    bConn.close(net.now, 7, 'bye');
    net.runFor(10_000);
    expect(conn.state).toBe('closed');
    // findable (closed) until its last event is taken, as any dial that failed
    expect(a.ep.connection(conn.id)).toBe(conn);
    const events = a.takeAll((e) => {
      if (e.type === 'connect_failed') expect(a.ep.connection(e.id)).toBeUndefined();
    });
    expect(events.map((e) => e.type)).toEqual(['connect_failed']);
    const failed = events[0] as Extract<EndpointEvent, { type: 'connect_failed' }>;
    expect(failed.id).toBe(conn.id);
    expect(failed.error.code).toBe('CLOSED');
    expect(failed.error.message).toMatch(/closed while connecting \(by the peer: bye\)/);
    expect(failed.error.cause).toEqual({ code: 7, reason: 'bye', remote: true, successor: null });
    expect(a.ep.connection(conn.id)).toBeUndefined();
  });

  it("a dial closed while its 'connected' is queued is withheld for good: its later 'gone' is not delivered either", () => {
    const { net, a, b } = pair('contract-closing');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => conn.state === 'established', maxTimeMs: 5000 });
    // the peer's CLOSE arrives in the turn that connected it (a has not polled in between)
    net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
    b.ep.connection(b.connected()[0]!.id)!.close(net.now, 7, 'bye');
    net.drive({ until: () => conn.state !== 'established', maxTimeMs: 5000 });
    expect(conn.state).toBe('closing');
    expect(takeSeen(a)).toEqual(['connect_failed:closing']);
    // its closing period ends: the consumer never saw it, so no 'gone' either
    net.runFor(10_000);
    expect(conn.state).toBe('closed');
    expect(takeSeen(a)).toEqual([]);
    // the next dial to that peer is an ordinary one
    a.held = false;
    const next = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    expect(a.connected().map((e) => e.id)).toEqual([next.id]);
  });

  it("a dial replaced by the restarted peer's new session before its 'connected' was taken fails CLOSED; the new one is announced", () => {
    const { net, a, b } = pair('contract-replaced');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => conn.state === 'established' && b.count('connected') > 0, maxTimeMs: 5000 });
    // b crashes and comes back with the same identity, dialling a: its session replaces a's
    // connection (closed: peer restarted) while a's 'connected' for it is still queued
    net.removeHost('b');
    const b2 = new SimEndpoint('b', { rngSeed: 'b-after-restart' });
    net.addHost('b2', b2, [{ ...ADDR_B }]);
    b2.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => b2.count('connected') > 0 && conn.state !== 'established', maxTimeMs: 10_000 });
    expect(conn.state).not.toBe('established');
    const events = a.takeAll(() => {});
    expect(events.map((e) => `${e.type}:${'id' in e ? e.id : ''}`)).toEqual([
      `connect_failed:${conn.id}`,
      `connected:${conn.id + 1}`,
    ]);
    const failed = events[0] as Extract<EndpointEvent, { type: 'connect_failed' }>;
    expect(failed.error.code).toBe('CLOSED');
    // the cause names the new session's connection, announced next: the dial's answer
    expect(failed.error.cause).toEqual({
      code: 0x13,
      reason: 'peer restarted',
      remote: true,
      successor: conn.id + 1,
    });
    expect(events[1]).toMatchObject({ outgoing: false });
    expect(a.ep.connection(conn.id + 1)?.state).toBe('established');
    net.runFor(10_000);
    // nothing more of the replaced one (its 'gone' included), the new one stays up
    const later = a.takeAll(() => {});
    expect(later.filter((e) => 'id' in e && e.id === conn.id)).toEqual([]);
    expect(later.filter((e) => e.type === 'closed')).toEqual([]);
  });

  it("a replaced dial's successor withheld too ends in a 'connect_failed' of its own (its dialler hears)", () => {
    // the queue alone, with both connections closed before anything is taken
    const closed = new Map<number, CoreConnection>([
      [1, { state: 'closed', outgoing: true } as CoreConnection],
      [2, { state: 'closed', outgoing: false } as CoreConnection],
      [3, { state: 'closed', outgoing: false } as CoreConnection],
    ]);
    const q = new EndpointEvents((id) => closed.get(id));
    const path = { kind: 'direct' as const, address: ADDR_B };
    const key = new Uint8Array(32);
    q.push({ type: 'connected', id: 1, remoteKey: key, outgoing: true, path });
    q.push({ type: 'closed', id: 1, code: 0x13, reason: 'peer restarted', remote: true });
    q.replaced(1, 2);
    q.push({ type: 'connected', id: 2, remoteKey: key, outgoing: false, path });
    q.push({ type: 'closed', id: 2, code: 7, reason: 'bye', remote: true });
    // an incoming connection closed as it connected, successor of nothing: silence
    q.push({ type: 'connected', id: 3, remoteKey: key, outgoing: false, path });
    q.push({ type: 'closed', id: 3, code: 7, reason: 'bye', remote: true });
    const seen: string[] = [];
    for (let e = q.take(); e !== null; e = q.take()) {
      seen.push(`${e.type}:${'id' in e ? e.id : ''}`);
      if (e.type === 'connect_failed') seen.push(JSON.stringify(e.error.cause));
    }
    expect(seen).toEqual([
      'connect_failed:1',
      JSON.stringify({ code: 0x13, reason: 'peer restarted', remote: true, successor: 2 }),
      'connect_failed:2',
      JSON.stringify({ code: 7, reason: 'bye', remote: true, successor: null }),
    ]);
  });

  it('an incoming connection closed before its events were taken is never announced: no event at all', () => {
    const { net, a, b } = pair('contract-incoming', true);
    a.held = false;
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    // a writes and closes at once: b connects, receives it all and the CLOSE before it polls
    conn.sendMessage(Uint8Array.of(1, 2, 3));
    conn.write(conn.openStream(), Uint8Array.of(4));
    conn.close(net.now, 7, 'bye');
    net.runFor(10_000);
    expect(a.count('closed')).toBe(1);
    expect(b.ep.stats().connections).toBe(0);
    expect(takeSeen(b as HeldEvents)).toEqual([]);
  });
});

describe('event contract: connection(id) until the last event is polled', () => {
  it('a dial that failed before its events were polled is found until its connect_failed is taken', () => {
    const { net, a } = pair('contract-failed');
    const nowhere = { host: '10.0.0.9', port: 9 };
    const conn = a.ep.connect(net.now, { addresses: [nowhere], remoteKey: new SimEndpoint('z').key });
    net.runFor(60_000);
    expect(conn.state).toBe('closed');
    expect(a.ep.connection(conn.id)).toBe(conn);
    const types = a.takeAll((e) => {
      if (e.type === 'connect_failed') expect(a.ep.connection(e.id)).toBeUndefined();
    });
    expect(types.map((e) => e.type)).toEqual(['connect_failed']);
  });

  it('a connection gone whose last event was already polled is not kept', () => {
    const { net, a, b } = pair('contract-polled');
    a.held = false;
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    b.ep.connection(b.connected()[0]!.id)!.close(net.now, 7, 'bye');
    net.drive({ until: () => a.count('closed') > 0, maxTimeMs: 5000 });
    // polled 'closed' while the connection drains its closing period: gone once it finishes
    expect(a.ep.connection(conn.id)).toBe(conn);
    net.runFor(10_000);
    expect(a.ep.connection(conn.id)).toBeUndefined();
  });

  it("'gone' follows 'closed' once the closing period is over; a dial that never connected has none", () => {
    const { net, a, b } = pair('contract-gone');
    a.held = false;
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    const bId = b.connected()[0]!.id;
    const closedAt: number[] = [];
    const goneAt: number[] = [];
    a.onEvent = (e) => {
      if (e.type === 'closed') closedAt.push(net.now);
      if (e.type === 'gone') {
        goneAt.push(net.now);
        expect(a.ep.connection(e.id)).toBeUndefined();
      }
    };
    b.ep.connection(bId)!.close(net.now, 7, 'bye');
    net.drive({ until: () => goneAt.length > 0, maxTimeMs: 10_000 });
    expect(a.events.filter((e) => e.type === 'closed' || e.type === 'gone').map((e) => e.type)).toEqual([
      'closed',
      'gone',
    ]);
    // a's closing period (3 PTO) separates them; b (closed here, graceful) has its 'gone' too
    expect(goneAt[0]! - closedAt[0]!).toBeGreaterThan(0);
    expect(a.find('gone')[0]!.id).toBe(conn.id);
    net.drive({ until: () => b.count('gone') > 0, maxTimeMs: 10_000 });
    expect(b.find('gone')[0]!.id).toBe(bId);

    const failed = a.ep.connect(net.now, {
      addresses: [{ host: '10.0.0.9', port: 9 }],
      remoteKey: new SimEndpoint('z').key,
    });
    net.drive({ until: () => a.count('connect_failed') > 0, maxTimeMs: 60_000 });
    net.runFor(10_000);
    expect(a.events.some((e) => e.type === 'gone' && e.id === failed.id)).toBe(false);
  });
});
