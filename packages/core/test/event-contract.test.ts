// The endpoint's event contract: a connection stays findable by id until its last event has been
// polled, so a consumer routing a queued 'connected' always finds it (closed by then).

import { Network } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import type { EndpointEvent } from '../src/api.js';
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

function pair(seed: string) {
  const net = new Network({ seed, defaultLink: { latencyMs: 10 } });
  const a = new HeldEvents('a');
  const b = new SimEndpoint('b');
  net.addHost('a', a, [{ ...ADDR_A }]);
  net.addHost('b', b, [{ ...ADDR_B }]);
  return { net, a, b };
}

describe('event contract: connection(id) until the last event is polled', () => {
  it("a connection that connected and was gone before its events were polled is found (closed) at 'connected', and not after 'closed'", () => {
    const { net, a, b } = pair('contract-closed');
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
    // b closes; a receives CLOSE, drains its closing period and is gone: all before a polls
    b.ep.connection(b.connected()[0]!.id)!.close(net.now, 7, 'bye');
    net.runFor(10_000);
    expect(conn.state).toBe('closed');
    const seen: string[] = [];
    const events = a.takeAll((e) => {
      if (!('id' in e)) return;
      const c = a.ep.connection(e.id);
      seen.push(`${e.type}:${c === undefined ? 'gone' : c.state}`);
      if (e.type === 'connected') {
        // the closed connection answers calls without throwing a TypeError
        expect(c).toBe(conn);
        expect(c!.sendControl(Uint8Array.of(1))).toBe(false);
        expect(c!.write(0, Uint8Array.of(1))).toBe(0);
        expect(() => c!.sendMessage(Uint8Array.of(1))).toThrow(/closed/);
      }
    });
    expect(events.map((e) => e.type)).toContain('closed');
    expect(seen[0]).toBe('connected:closed');
    expect(seen.slice(-2)).toEqual(['closed:gone', 'gone:gone']);
    expect(a.ep.connection(conn.id)).toBeUndefined();
  });

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
