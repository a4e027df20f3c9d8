import { describe, expect, it } from 'vitest';
import { TimerQueue } from '../src/timer-queue.js';

describe('TimerQueue (the driver’s own deadlines)', () => {
  it('runs due callbacks in deadline order, equal deadlines first come first served', () => {
    const q = new TimerQueue();
    const ran: string[] = [];
    q.add(30, () => ran.push('c'));
    q.add(10, () => ran.push('a1'));
    q.add(20, () => ran.push('b'));
    q.add(10, () => ran.push('a2'));
    expect(q.next()).toBe(10);
    for (const fn of q.due(5)) fn();
    expect(ran).toEqual([]);
    for (const fn of q.due(20)) fn();
    expect(ran).toEqual(['a1', 'a2', 'b']);
    expect(q.next()).toBe(30);
    expect(q.size).toBe(1);
  });

  it('cancel is idempotent and skips the entry; a callback adding a due timer runs on the next call', () => {
    const q = new TimerQueue();
    const ran: string[] = [];
    const t = q.add(10, () => ran.push('cancelled'));
    q.add(15, () => {
      ran.push('first');
      q.add(0, () => ran.push('added'));
    });
    t.cancel();
    t.cancel();
    expect(q.size).toBe(1);
    expect(q.next()).toBe(15);
    for (const fn of q.due(100)) fn();
    expect(ran).toEqual(['first']);
    for (const fn of q.due(100)) fn();
    expect(ran).toEqual(['first', 'added']);
    expect(q.next()).toBeNull();
    expect(() => q.add(Number.NaN, () => {})).toThrow('"at" expected a finite number, got NaN');
  });

  it('many cancelled timers (receive() with long timeouts in a loop) do not pile up', () => {
    const q = new TimerQueue();
    const live = Array.from({ length: 10 }, (_, i) => q.add(1000 + i, () => {}));
    for (let i = 0; i < 100_000; i++) {
      q.add(60_000 + i, () => {}).cancel();
      expect(q.held).toBeLessThanOrEqual(2 * q.size + 65);
    }
    expect(q.size).toBe(10);
    expect(q.next()).toBe(1000);
    for (const t of live) t.cancel();
    expect(q.next()).toBeNull();
    expect(q.held).toBeLessThanOrEqual(65);
  });
});
