import { Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { birthdayHitProbability, birthdayProbesFor, RandomPortSampler } from '../src/index.js';
import { rngRandom } from './harness.js';

describe('birthday math', () => {
  it('matches the closed form 1 - (1 - k/N)^n closely and the exact product', () => {
    for (const [k, n] of [
      [256, 100],
      [256, 1000],
      [64, 2000],
    ] as const) {
      const approx = 1 - (1 - k / 64512) ** n;
      expect(Math.abs(birthdayHitProbability(k, n) - approx)).toBeLessThan(0.01);
    }
    expect(birthdayHitProbability(0, 100)).toBe(0);
    expect(birthdayHitProbability(10, 0)).toBe(0);
    expect(birthdayHitProbability(100, 64500)).toBe(1);
    // exact: 1 socket, n probes over N ports without repetition = n / N
    expect(birthdayHitProbability(1, 100, 1000)).toBeCloseTo(0.1, 10);
  });

  it('probes needed for a target probability', () => {
    const n = birthdayProbesFor(0.99, 256)!;
    expect(birthdayHitProbability(256, n)).toBeGreaterThanOrEqual(0.99);
    expect(birthdayHitProbability(256, n - 1)).toBeLessThan(0.99);
    expect(n).toBeGreaterThan(1000);
    expect(n).toBeLessThan(1300);
    expect(() => birthdayProbesFor(1, 256)).toThrow(RangeError);
  });
});

describe('RandomPortSampler', () => {
  it('draws distinct ports in range until the range is exhausted, then null', () => {
    const s = new RandomPortSampler(rngRandom(new Rng(1)), [1000, 1099], [1050]);
    const seen = new Set<number>();
    for (let i = 0; i < 99; i++) {
      const p = s.next()!;
      expect(p).toBeGreaterThanOrEqual(1000);
      expect(p).toBeLessThanOrEqual(1099);
      expect(p).not.toBe(1050);
      seen.add(p);
    }
    expect(seen.size).toBe(99);
    expect(s.next()).toBeNull();
  });

  it('is roughly uniform over the full port range', () => {
    const s = new RandomPortSampler(rngRandom(new Rng(2)), [1024, 65535]);
    const buckets = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) buckets[Math.floor((s.next()! - 1024) / 8064)]!++;
    for (const b of buckets) expect(Math.abs(b - 1000)).toBeLessThan(150);
  });
});
