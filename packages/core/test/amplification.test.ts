// The anti-amplification table (amplification.ts): 3x what an address sent, and its bound. Every
// datagram from a new address inserts, spoofed ones included: the table stays bounded and keeps
// the addresses heard from most recently.
import { describe, expect, it } from 'vitest';
import { AMPLIFICATION_FACTOR, AmplificationGuard } from '../src/amplification.js';

const addr = (i: number) => ({ host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 9000 });

describe('AmplificationGuard', () => {
  it('lets an address get 3x what it sent, debits what we send, and forgets it once validated', () => {
    const g = new AmplificationGuard();
    expect(g.trySend(addr(1), 1)).toBe(false); // never heard from
    g.credit(addr(1), 100);
    expect(g.remaining(addr(1))).toBe(AMPLIFICATION_FACTOR * 100);
    expect(g.trySend(addr(1), 250)).toBe(true);
    expect(g.trySend(addr(1), 51)).toBe(false); // nothing debited
    expect(g.remaining(addr(1))).toBe(50);
    g.forget(addr(1));
    expect(g.remaining(addr(1))).toBe(0);
  });

  it('a flood of new addresses: bounded at maxEntries, the newest half always kept with its credit', () => {
    const g = new AmplificationGuard(1000);
    for (let i = 0; i < 10_000; i++) {
      g.credit(addr(i), 10);
      expect(g.size).toBeLessThanOrEqual(1000);
    }
    for (let i = 10_000 - 500; i < 10_000; i++) expect(g.remaining(addr(i))).toBe(30);
    expect(g.remaining(addr(0))).toBe(0); // forgotten: we only send less
  });
});
