import { describe, expect, it } from 'vitest';
import { ByteSlab } from '../src/index.js';

describe('ByteSlab', () => {
  it('hands out distinct, zero-filled, non-overlapping arrays across slabs', () => {
    const slab = new ByteSlab(4096);
    const views: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const v = slab.take(1 + ((i * 37) % 1000));
      expect(v.every((b) => b === 0)).toBe(true);
      v.fill(i & 0xff);
      views.push(v);
    }
    // every view still holds what was written into it: no byte was handed out twice
    views.forEach((v, i) => {
      expect(v.every((b) => b === (i & 0xff))).toBe(true);
    });
    const slabs = new Set(views.map((v) => v.buffer));
    expect(slabs.size).toBeGreaterThan(10);
  });

  it('trim gives back the tail of the last array only', () => {
    const slab = new ByteSlab(4096);
    const a = slab.take(1000);
    const a2 = slab.trim(a, 10);
    expect(a2.length).toBe(10);
    const b = slab.take(100);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 16); // 10 rounded up to 8-byte alignment
    // trimming an older array does not move the cursor back over b
    slab.trim(a2, 5);
    const c = slab.take(8);
    expect(c.byteOffset).toBeGreaterThanOrEqual(b.byteOffset + 100);
    b.fill(7);
    c.fill(9);
    expect(b.every((x) => x === 7)).toBe(true);
  });

  it('large requests get their own array; bad arguments throw', () => {
    const slab = new ByteSlab(4096);
    const big = slab.take(2000);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(2000);
    expect(() => new ByteSlab(10)).toThrow(RangeError);
    expect(() => slab.trim(slab.take(4), 5)).toThrow(RangeError);
  });

  it('trim of a fully used array returns that array (no new view per full packet)', () => {
    const slab = new ByteSlab(4096);
    const v = slab.take(100);
    expect(slab.trim(v, 100)).toBe(v);
    expect(slab.take(8).byteOffset).toBe(104); // the cursor stays after it (8-byte aligned)
  });
});
