import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../src/replay-window.js';

const RUNS = Number(process.env.SRMUDP_PROPERTY_RUNS ?? 200);

/** Obvious reference: remember everything, accept if new and within the window of the max. */
class Reference {
  seen = new Set<number>();
  top = -1;
  accept(pn: number): boolean {
    if (pn <= this.top - REPLAY_WINDOW_SIZE) return false;
    if (this.seen.has(pn)) return false;
    this.seen.add(pn);
    if (pn > this.top) this.top = pn;
    return true;
  }
}

/** Feeds `w` the packet numbers of a walk from `start` (each step minus `drift`, floored at 0) and
 * checks every verdict against the reference. */
function followsReference(w: ReplayWindow, start: number, steps: number[], drift: number): void {
  const ref = new Reference();
  let cur = start;
  for (const s of steps) {
    cur = Math.max(0, cur + s - drift);
    const expected = ref.accept(cur);
    expect(w.check(cur) === 'ok').toBe(expected);
    expect(w.update(cur)).toBe(expected);
  }
}

describe('replay window (RFC 6479)', () => {
  it('is at least 2048 packets wide', () => {
    expect(REPLAY_WINDOW_SIZE).toBeGreaterThanOrEqual(2048);
  });

  it('rejects duplicates and too-old numbers, accepts reordering inside the window', () => {
    const w = new ReplayWindow();
    expect(w.update(5)).toBe(true);
    expect(w.check(5)).toBe('duplicate');
    expect(w.update(5)).toBe(false);
    expect(w.update(3)).toBe(true);
    expect(w.update(10_000)).toBe(true);
    expect(w.check(3)).toBe('too_old');
    expect(w.check(10_000 - REPLAY_WINDOW_SIZE + 1)).toBe('ok');
    expect(w.check(10_000 - REPLAY_WINDOW_SIZE)).toBe('too_old');
    expect(w.update(9_999)).toBe(true);
    expect(w.check(9_999)).toBe('duplicate');
    expect(w.update(2 ** 53 - 1)).toBe(true);
    expect(w.check(2 ** 53 - 2)).toBe('ok');
    expect(w.check(2 ** 53 - 1)).toBe('duplicate');
  });

  it('matches the reference on random sequences (jumps, reorders, duplicates)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(200), fc.nat(6000), fc.integer({ min: -40, max: 40 })), {
          minLength: 1,
          maxLength: 400,
        }),
        fc.nat(2 ** 40),
        (steps, base) => {
          followsReference(new ReplayWindow(), base, steps, 60);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('matches the reference from packet 0 on, across the growth of the ring, and after reset', () => {
    // the first packet numbers (a new or idle session) are kept inline until one reaches 64
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(40), fc.integer({ min: -30, max: 30 }), fc.constant(0)), {
          minLength: 1,
          maxLength: 200,
        }),
        fc.boolean(),
        (steps, resetFirst) => {
          const w = new ReplayWindow();
          if (resetFirst) {
            for (let i = 0; i < 300; i += 7) w.update(i);
            w.reset();
            expect(w.highest()).toBe(-1);
          }
          followsReference(w, 0, steps, 5);
        },
      ),
      { numRuns: RUNS },
    );
    const w = new ReplayWindow();
    for (const pn of [0, 31, 32, 63]) expect(w.update(pn)).toBe(true);
    expect(w.update(64)).toBe(true); // the ring takes over here
    for (const pn of [0, 31, 32, 63, 64]) expect(w.check(pn)).toBe('duplicate');
    for (const pn of [1, 30, 33, 62, 65]) expect(w.check(pn)).toBe('ok');
  });
});
