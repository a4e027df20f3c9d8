import { describe, expect, it } from 'vitest';
import { selfTimes } from '../src/profile.js';

describe('CPU profile reduction', () => {
  it("charges a native addon's samples to the JS wrapper that called it, not to V8's shared name", () => {
    const wrapper = 'file:///x/node_modules/sodium-native/index.js';
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 4, 6] },
        {
          id: 2,
          callFrame: { functionName: 'exports.crypto_scalarmult', url: wrapper, lineNumber: 2011 },
          children: [3],
        },
        { id: 3, callFrame: { functionName: 'extension_pbkdf2_sha512_async', url: '', lineNumber: -1 } },
        {
          id: 4,
          callFrame: {
            functionName: 'exports.crypto_sign_ed25519_pk_to_curve25519',
            url: wrapper,
            lineNumber: 317,
          },
          children: [5],
        },
        { id: 5, callFrame: { functionName: 'extension_pbkdf2_sha512_async', url: '', lineNumber: -1 } },
        { id: 6, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
      ],
      samples: [3, 3, 5, 6],
      timeDeltas: [1000, 1000, 1000, 1000],
    };
    const byFn = new Map([...selfTimes(profile).values()].map((e) => [e.fn, e]));
    expect(byFn.get('exports.crypto_scalarmult (native)')).toMatchObject({ ms: 2, line: 2012 });
    expect(byFn.get('exports.crypto_sign_ed25519_pk_to_curve25519 (native)')?.ms).toBe(1);
    expect(byFn.get('(garbage collector)')?.ms).toBe(1);
    expect(byFn.has('extension_pbkdf2_sha512_async')).toBe(false);
  });
});
