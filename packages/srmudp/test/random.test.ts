import { describe, expect, it } from 'vitest';
import { secureRandom } from '../src/random.js';

describe('secureRandom (pooled node:crypto randomness)', () => {
  it('returns fresh arrays of the asked length, never the same bytes twice, across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const n = [4, 24, 32, 300][i % 4] as number; // 300: past the pooled size
      const r = secureRandom(n);
      expect(r.length).toBe(n);
      expect(r.buffer.byteLength).toBe(n); // its own buffer: zeroing or keeping it touches nothing else
      if (n >= 24) {
        const hex = Buffer.from(r).toString('hex');
        expect(seen.has(hex)).toBe(false);
        seen.add(hex);
        expect(r.some((b) => b !== 0)).toBe(true);
      }
    }
    expect(secureRandom(0).length).toBe(0);
  });
});
