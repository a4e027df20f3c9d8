import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Schedule } from '../src/schedule.js';

class Item {
  polls = 0;
  timeoutCalls = 0;
  constructor(
    readonly name: string,
    public at: number | null,
    public outbox: number = 0,
  ) {}
  pollTimeout(): number | null {
    this.timeoutCalls++;
    return this.at;
  }
  poll(): string | null {
    this.polls++;
    if (this.outbox === 0) return null;
    this.outbox--;
    return this.name;
  }
}

function drain(s: Schedule<Item>, now: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 100; i++) {
    const r = s.pollTransmit(now, (it) => it.poll());
    if (r === null) break;
    out.push(r);
  }
  return out;
}

describe('Schedule (timer heap + ready set)', () => {
  it('keeps the earliest deadline of many items and returns the due ones earliest first', () => {
    const s = new Schedule<Item>();
    const items = Array.from({ length: 50 }, (_, i) => new Item(`i${i}`, ((i * 37) % 50) * 10));
    for (const it of items) s.add(it);
    expect(s.nextTimeout()).toBe(0);
    const due = s.due(95);
    expect(due.map((d) => d.at)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    // handled: their deadlines moved far away
    for (const d of due) d.at = 10_000 + (d.at as number);
    expect(s.nextTimeout()).toBe(100);
    s.remove(items.find((i) => i.at === 100) as Item);
    expect(s.nextTimeout()).toBe(110);
    expect(s.size).toBe(49);
  });

  it('recomputes only the touched items (an idle item costs nothing)', () => {
    const s = new Schedule<Item>();
    const items = Array.from({ length: 100 }, (_, i) => new Item(`i${i}`, 1000 + i));
    for (const it of items) s.add(it);
    expect(s.nextTimeout()).toBe(1000);
    expect(drain(s, 0)).toEqual([]);
    // polled items are recomputed once (building may arm timers), then left alone
    expect(s.nextTimeout()).toBe(1000);
    for (const it of items) {
      it.timeoutCalls = 0;
      it.polls = 0;
    }
    const busy = items[42] as Item;
    busy.at = 5;
    busy.outbox = 2;
    s.touch(busy);
    expect(s.nextTimeout()).toBe(5);
    expect(drain(s, 1)).toEqual(['i42', 'i42']);
    expect(s.nextTimeout()).toBe(5);
    const others = items.filter((i) => i !== busy);
    expect(others.every((i) => i.timeoutCalls === 0 && i.polls === 0)).toBe(true);
  });

  it('serves ready items round robin and polls an item again when its timer falls due', () => {
    const s = new Schedule<Item>();
    const a = new Item('a', null, 2);
    const b = new Item('b', null, 2);
    s.add(a);
    s.add(b);
    expect(drain(s, 0)).toEqual(['a', 'b', 'a', 'b']);
    // nothing to send until the pacing timer: not polled before, polled once it is due
    a.at = 50;
    s.touch(a);
    expect(drain(s, 10)).toEqual([]);
    expect(s.nextTimeout()).toBe(50);
    const polls = a.polls;
    expect(drain(s, 20)).toEqual([]);
    expect(a.polls).toBe(polls);
    a.outbox = 1;
    expect(drain(s, 50)).toEqual(['a']);
  });

  it('an item touched while it is polled (a drain ending in CLOSE) is polled again', () => {
    const s = new Schedule<Item>();
    const a = new Item('a', null, 0);
    s.add(a);
    let closed = false;
    const r = s.pollTransmit(0, (it) => {
      if (!closed) {
        closed = true;
        it.outbox = 1;
        s.touch(it);
        return null;
      }
      return it.poll();
    });
    expect(r).toBe('a');
  });

  it('ignores touches of items it does not hold and removes cleanly', () => {
    const s = new Schedule<Item>();
    const a = new Item('a', 5, 1);
    s.touch(a);
    expect(s.nextTimeout()).toBe(Number.POSITIVE_INFINITY);
    s.add(a);
    s.remove(a);
    expect(drain(s, 10)).toEqual([]);
    expect(s.due(10)).toEqual([]);
    expect(s.size).toBe(0);
  });

  it('agrees with a plain model under any sequence of adds, removes, deadline moves and due() (property)', () => {
    const op = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          k: fc.constant('add' as const),
          i: fc.nat(15),
          at: fc.option(fc.integer({ min: 0, max: 60 })),
        }),
      },
      fc.record({ k: fc.constant('remove' as const), i: fc.nat(15) }),
      fc.record({
        k: fc.constant('move' as const),
        i: fc.nat(15),
        at: fc.option(fc.integer({ min: 0, max: 60 })),
      }),
      fc.record({
        k: fc.constant('moveAll' as const),
        i: fc.nat(15),
        at: fc.option(fc.integer({ min: 0, max: 60 })),
      }),
      fc.record({ k: fc.constant('due' as const), now: fc.integer({ min: 0, max: 60 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const s = new Schedule<Item>();
        const items = Array.from({ length: 16 }, (_, i) => new Item(`i${i}`, null));
        const held = new Set<Item>();
        for (const o of ops) {
          if (o.k === 'add') {
            const it = items[o.i] as Item;
            if (!held.has(it)) it.at = o.at;
            held.add(it);
            s.add(it);
          } else if (o.k === 'remove') {
            held.delete(items[o.i] as Item);
            s.remove(items[o.i] as Item);
          } else if (o.k === 'move' || o.k === 'moveAll') {
            const it = items[o.i] as Item;
            it.at = o.at;
            if (o.k === 'move') s.touchTimer(it);
            else s.touchAllTimers();
          } else {
            // the model: every held item with a deadline at or before now, earliest first
            const want = [...held].filter((it) => it.at !== null && it.at <= o.now).map((it) => it.at);
            want.sort((a, b) => (a as number) - (b as number));
            const got = s.due(o.now);
            expect(got.map((it) => it.at)).toEqual(want);
            for (const it of got) expect(held.has(it)).toBe(true);
            // handled: a due item's deadline moves past every `now` of this run
            for (const it of got) it.at = 100 + (it.at as number);
          }
          const ats = [...held].map((it) => it.at ?? Number.POSITIVE_INFINITY);
          expect(s.nextTimeout()).toBe(Math.min(Number.POSITIVE_INFINITY, ...ats));
          expect(s.size).toBe(held.size);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a timers-only schedule (transmit: false) keeps its timers and refuses pollTransmit', () => {
    const s = new Schedule<Item>({ transmit: false });
    const a = new Item('a', 30, 1);
    const b = new Item('b', 10, 1);
    s.add(a);
    s.add(b);
    s.touch(a);
    expect(s.nextTimeout()).toBe(10);
    expect(s.due(20)).toEqual([b]);
    b.at = null;
    expect(s.nextTimeout()).toBe(30);
    expect(() => s.pollTransmit(0, (it) => it.poll())).toThrow(TypeError);
    expect(a.polls + b.polls).toBe(0);
  });
});
