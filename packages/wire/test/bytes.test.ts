import { describe, expect, it } from 'vitest';
import { fromHex, keyToHex, toHex } from '../src/index.js';

describe('hex', () => {
  it('toHex and fromHex are inverse; keyToHex gives toHex of the key, every time', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
    expect(fromHex(toHex(key))).toEqual(key);
    expect(keyToHex(key)).toBe(toHex(key));
    expect(keyToHex(key)).toBe(keyToHex(key));
    expect(keyToHex(key.slice())).toBe(toHex(key)); // another object with the same bytes
    expect(keyToHex(new Uint8Array(0))).toBe('');
  });
  it('toHex is every byte value as two lower-case digits, for any length and view', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const expected = Array.from(all, (v) => v.toString(16).padStart(2, '0')).join('');
    expect(toHex(all)).toBe(expected);
    // longer than any key (the scratch grows), then a short one again (no digits left over)
    const long = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff);
    expect(toHex(long)).toBe(Buffer.from(long).toString('hex'));
    expect(toHex(Uint8Array.of(0xab))).toBe('ab');
    // a view into a larger buffer: only its bytes
    expect(toHex(all.subarray(250, 253))).toBe('fafbfc');
    expect(toHex(new Uint8Array(0))).toBe('');
  });
});
