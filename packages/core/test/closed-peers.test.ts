import { describe, expect, it } from 'vitest';
import { CLOSED_PEER_MS, ClosedPeers } from '../src/closed-peers.js';

const key = (n: number) => new Uint8Array(32).fill(n);
const boot = (n: number) => new Uint8Array(8).fill(n);
const text = (b: Uint8Array) => String.fromCharCode(...b);

describe('ClosedPeers: peers that may continue a connection we ended', () => {
  it('a session numbered above the old connection continues it; one numbered from the start, or of a restarted peer, does not', () => {
    const c = new ClosedPeers();
    c.remember(0, key(1), text(boot(7)), 41);
    expect(c.continues(1000, key(1), boot(7), 42)).toBe(true);
    expect(c.continues(1000, key(1), boot(7), 41)).toBe(false);
    expect(c.continues(1000, key(1), boot(7), 0)).toBe(false);
    expect(c.continues(1000, key(1), boot(8), 500)).toBe(false); // new boot id: restarted
    expect(c.continues(1000, key(1), null, 500)).toBe(false);
    expect(c.continues(1000, key(2), boot(7), 500)).toBe(false);
  });

  it('remembers a peer for CLOSED_PEER_MS, not one without a boot id or a packet, and forgets it on a new connection', () => {
    const c = new ClosedPeers();
    c.remember(0, key(1), text(boot(1)), 10);
    c.remember(0, key(2), null, 10);
    c.remember(0, key(3), text(boot(3)), -1);
    expect(c.continues(1, key(2), boot(2), 11)).toBe(false);
    expect(c.continues(1, key(3), boot(3), 11)).toBe(false);
    expect(c.continues(CLOSED_PEER_MS - 1, key(1), boot(1), 11)).toBe(true);
    expect(c.continues(CLOSED_PEER_MS, key(1), boot(1), 11)).toBe(false);
    expect(c.size).toBe(0);
    c.remember(0, key(1), text(boot(1)), 10);
    c.forget(key(1));
    expect(c.continues(1, key(1), boot(1), 11)).toBe(false);
  });

  it('holds at most its bound, the oldest leaving first; remembering a peer again renews it', () => {
    const c = new ClosedPeers(1000, 3);
    for (let i = 1; i <= 3; i++) c.remember(i, key(i), text(boot(i)), 5);
    c.remember(4, key(1), text(boot(1)), 6); // renewed: now the newest
    c.remember(5, key(4), text(boot(4)), 5); // evicts key 2
    expect(c.size).toBe(3);
    expect(c.continues(6, key(2), boot(2), 9)).toBe(false);
    expect(c.continues(6, key(1), boot(1), 7)).toBe(true);
    expect(c.continues(6, key(1), boot(1), 6)).toBe(false);
    expect(c.continues(6, key(3), boot(3), 9)).toBe(true);
    expect(c.continues(1003, key(3), boot(3), 9)).toBe(false); // expired (remembered at 3)
    expect(c.continues(1003, key(4), boot(4), 9)).toBe(true);
  });
});
