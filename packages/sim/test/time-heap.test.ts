import { TimerHeap } from '@srmudp/wire';
import { expect, it } from 'vitest';
import { Rng } from '../src/index.js';

it('the time heap (@srmudp/wire TimerHeap) pops in (time, seq) order under random interleavings of push and pop', () => {
  const rng = new Rng('heap');
  for (let round = 0; round < 50; round++) {
    const q = new TimerHeap<{ time: number; seq: number }>();
    const popped: { time: number; seq: number }[] = [];
    const pushed: { time: number; seq: number }[] = [];
    let seq = 0;
    let floor = 0; // like the network: nothing is pushed before the last popped time
    for (let i = 0; i < 400; i++) {
      if (q.size > 0 && rng.chance(0.4)) {
        const e = q.pop()!.item;
        floor = e.time;
        popped.push(e);
      } else {
        const e = { time: floor + rng.int(10), seq: seq++ };
        pushed.push(e);
        q.push(e.time, e);
      }
    }
    while (q.size > 0) popped.push(q.pop()!.item);
    expect(q.pop()).toBeUndefined();
    expect(popped).toHaveLength(pushed.length);
    for (let i = 1; i < popped.length; i++) {
      const a = popped[i - 1]!;
      const b = popped[i]!;
      expect(a.time < b.time || (a.time === b.time && a.seq < b.seq)).toBe(true);
    }
  }
});
