// The small parts every rule rests on: timers, token buckets, the passive view, the message store.
import { Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { MessageStore } from '../src/message-store.js';
import { PassiveView } from '../src/passive-view.js';
import { RandomSource } from '../src/random.js';
import { TimerQueue } from '../src/timers.js';
import { TokenBucket } from '../src/token-bucket.js';

const entry = (i: number, source: number | null) => ({
  peer: new Uint8Array(32).fill(i),
  record: new Uint8Array([i]),
  introducer: source === null ? null : new Uint8Array(32).fill(source),
  source: source === null ? null : new Uint8Array(32).fill(source),
});

describe('TimerQueue', () => {
  it('fires due timers in time order, FIFO on ties, skipping cancelled ones', () => {
    const q = new TimerQueue();
    const fired: string[] = [];
    q.schedule(30, () => fired.push('c'));
    q.schedule(10, () => fired.push('a1'));
    const x = q.schedule(20, () => fired.push('x'));
    q.schedule(10, (now) => {
      fired.push('a2');
      q.schedule(now, () => fired.push('same-time')); // scheduled ≤ now by a callback: runs in this pass
    });
    q.cancel(x);
    expect(q.next()).toBe(10);
    q.runDue(25);
    expect(fired).toEqual(['a1', 'a2', 'same-time']);
    expect(q.next()).toBe(30);
    q.runDue(30);
    expect(fired.at(-1)).toBe('c');
    expect(q.next()).toBeNull();
  });
});

describe('TokenBucket', () => {
  it('allows the burst, then the rate', () => {
    const b = new TokenBucket(10, 5, 0);
    let n = 0;
    while (b.take(0)) n++;
    expect(n).toBe(5);
    expect(b.take(50)).toBe(false); // 0.5 token
    expect(b.take(100)).toBe(true); // 1 token after 100 ms at 10/s
    expect(b.isFull(100)).toBe(false);
    expect(b.isFull(1000)).toBe(true);
    expect(b.take(1000, 6)).toBe(false); // never above the burst
  });
});

describe('RandomSource', () => {
  it('draws uniform integers and distinct samples', () => {
    const rng = new Rng('random');
    const r = new RandomSource((n) => rng.bytes(n));
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[r.int(3)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    const s = r.sample([1, 2, 3, 4, 5], 3);
    expect(new Set(s).size).toBe(3);
    expect(r.sample([1, 2], 5).sort()).toEqual([1, 2]);
    expect(r.pick([])).toBeUndefined();
    expect(() => new RandomSource(() => new Uint8Array(3)).u32()).toThrow(TypeError);
  });
});

describe('PassiveView', () => {
  const view = (cap = 5, perSource = 2) =>
    new PassiveView(cap, perSource, new RandomSource((n) => new Rng('pv').bytes(n)));

  it('caps the entries one source may hold (eclipse guard)', () => {
    const v = view(10, 2);
    for (let i = 1; i <= 8; i++) v.add(`k${i}`, entry(i, 99), 's99');
    expect(v.size).toBe(2);
    expect(v.countFrom('s99')).toBe(2);
    // others still get in; the hostile source only rotates its own two slots
    v.add('k20', entry(20, 50), 's50');
    v.add('k21', entry(21, null), null);
    expect(v.size).toBe(4);
    v.add('k9', entry(9, 99), 's99');
    expect(v.countFrom('s99')).toBe(2);
    expect(v.has('k9')).toBe(true);
    expect(v.removeFromSource('s99')).toBe(2);
    expect(v.size).toBe(2);
  });

  it('evicts preferred entries first when full, and lets first-hand records win', () => {
    const v = view(3, 3);
    v.add('a', entry(1, 7), 's7');
    v.add('b', entry(2, 7), 's7');
    v.add('c', entry(3, 8), 's8');
    v.add('d', entry(4, 8), 's8', new Set(['b']));
    expect(v.keys().sort()).toEqual(['a', 'c', 'd']);
    // a third party cannot overwrite what we hold; the member itself can
    v.add('a', { ...entry(1, 9), record: new Uint8Array([0xee]) }, 's9');
    expect(v.get('a')!.record).toEqual(new Uint8Array([1]));
    v.add('a', { ...entry(1, null), record: new Uint8Array([0xff]) }, null);
    expect(v.get('a')!.record).toEqual(new Uint8Array([0xff]));
    expect(v.get('a')!.introducer).toBeNull();
    expect(v.countFrom('s7')).toBe(0);
  });
});

describe('MessageStore', () => {
  it('remembers ids longer than it keeps messages', () => {
    const s = new MessageStore(150_000, 30_000);
    s.markSeen('aa', 0);
    s.put(
      {
        id: new Uint8Array(32),
        idHex: 'aa',
        topicKey: 't',
        message: {} as never,
        round: 1,
        from: null,
        at: 0,
        complete: true,
        optimised: false,
      },
      0,
    );
    expect(s.recent('t', 10)).toHaveLength(1);
    expect(s.recent('other', 10)).toHaveLength(0);
    expect(s.sweep(29_999)).toEqual([]);
    expect(s.sweep(30_000)).toEqual(['aa']);
    expect(s.get('aa')).toBeUndefined();
    expect(s.isSeen('aa')).toBe(true);
    s.markSeen('aa', 100_000); // seen again later: the earlier expiry must not drop it
    s.sweep(150_000);
    expect(s.isSeen('aa')).toBe(true);
    s.sweep(250_000);
    expect(s.isSeen('aa')).toBe(false);
  });
});
