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
});
