import { describe, expect, it } from 'vitest';
import { bytesKey, fromHex, keyBytes, keyToHex, toHex } from '../src/index.js';

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

describe('bytesKey', () => {
  it('is one character per byte, keyBytes its inverse, for every byte value and for views', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const text = bytesKey(all);
    expect(text).toHaveLength(256);
    for (let i = 0; i < 256; i++) expect(text.charCodeAt(i)).toBe(i);
    expect(keyBytes(text)).toEqual(all);
    expect(bytesKey(all.subarray(65, 68))).toBe('ABC');
    expect(bytesKey(new Uint8Array(0))).toBe('');
    expect(keyBytes('')).toEqual(new Uint8Array(0));
    // equal exactly when the bytes are equal (a map key by contents)
    expect(bytesKey(Uint8Array.of(1, 2))).not.toBe(bytesKey(Uint8Array.of(1, 2, 0)));
    expect(bytesKey(Uint8Array.of(1, 2))).toBe(bytesKey(Uint8Array.of(1, 2)));
  });
});
