import { describe, expect, it } from 'vitest';
import { ContainedCount } from '../src/contained.js';

describe('ContainedCount', () => {
  it('counts every throw and logs the first three, then every 1,000th', () => {
    const c = new ContainedCount();
    const logged: number[] = [];
    for (let i = 0; i < 5_000; i++) if (c.add()) logged.push(c.count);
    expect(c.count).toBe(5_000);
    expect(logged).toEqual([1, 2, 3, 1_000, 2_000, 3_000, 4_000, 5_000]);
  });
});
