// GenerationalMap: at least the `generation` most recently set keys, at most twice that, never a
// stale value; checked against a model (the full history) on random operation sequences.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GenerationalMap } from '../src/index.js';

type Op = { kind: 'set'; key: number; value: number } | { kind: 'delete'; key: number };

const ops = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat(40), value: fc.nat() }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(40) }) },
  ),
  { maxLength: 400 },
);

describe('GenerationalMap', () => {
  it('keeps the last `generation` keys set, at most twice that, and never a stale or deleted value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), ops, (generation, list: Op[]) => {
        const m = new GenerationalMap<number, number>(generation);
        const latest = new Map<number, number>(); // the model: every key's last value, unless deleted
        const order: number[] = []; // keys by their last set, newest last (deleted ones too)
        for (const op of list) {
          if (op.kind === 'set') {
            const i = order.indexOf(op.key);
            if (i >= 0) order.splice(i, 1);
            m.set(op.key, op.value);
            latest.set(op.key, op.value);
            order.push(op.key);
          } else {
            m.delete(op.key);
            latest.delete(op.key);
          }
          expect(m.size).toBeLessThanOrEqual(2 * generation);
          // the most recently set keys are all there with their last value, unless deleted since
          for (const k of order.slice(-generation)) expect(m.get(k)).toBe(latest.get(k));
          // whatever is there is the model's last value (forgetting is allowed, staleness is not)
          for (let k = 0; k <= 40; k++) {
            const v = m.get(k);
            expect(m.has(k)).toBe(v !== undefined);
            if (v !== undefined) expect(v).toBe(latest.get(k));
          }
        }
        const held: number[] = [];
        for (let k = 0; k <= 40; k++) if (m.has(k)) held.push(m.get(k) as number);
        expect(m.size).toBe(held.length);
        expect([...m.values()].sort()).toEqual(held.sort());
      }),
      { numRuns: 300 },
    );
  });

  it('drops the older generation whole when the newer one fills', () => {
    const m = new GenerationalMap<string, number>(2);
    m.set('a', 1).set('b', 2); // newer full: becomes the older
    m.set('c', 3);
    expect([m.has('a'), m.has('b'), m.has('c'), m.size]).toEqual([true, true, true, 3]);
    m.set('d', 4); // newer full again: a and b are forgotten together
    expect([m.has('a'), m.has('b'), m.has('c'), m.has('d'), m.size]).toEqual([false, false, true, true, 2]);
    m.set('c', 5); // set again: kept with its new value
    expect(m.get('c')).toBe(5);
    m.clear();
    expect(m.size).toBe(0);
  });

  it('refuses a generation that is not a positive integer', () => {
    for (const g of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new GenerationalMap(g)).toThrow(RangeError);
  });
});
