import { describe, expect, it } from 'vitest';
import { selfTimes } from '../src/profile.js';

describe('CPU profile reduction', () => {
  it("charges a native addon's samples to the JS wrapper that called it, not to V8's shared name", () => {
    const wrapper = 'file:///x/node_modules/sodium-native/index.js';
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 4, 6, 7, 9] },
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
        // our own addon (transport-node's recvmmsg) shares the name too
        {
          id: 7,
          callFrame: {
            functionName: '#read',
            url: 'file:///x/packages/transport-node/dist/batch-receive.js',
            lineNumber: 176,
          },
          children: [8],
        },
        { id: 8, callFrame: { functionName: 'crypto_shorthash', url: '', lineNumber: -1 } },
        // Node's own bindings, called from node:internal code, keep their names
        {
          id: 9,
          callFrame: { functionName: 'Hmac', url: 'node:internal/crypto/hash', lineNumber: 160 },
          children: [10],
        },
        { id: 10, callFrame: { functionName: 'init', url: '', lineNumber: -1 } },
      ],
      samples: [3, 3, 5, 6, 8, 10],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
    };
    const byFn = new Map([...selfTimes(profile).values()].map((e) => [e.fn, e]));
    expect(byFn.get('exports.crypto_scalarmult (native)')).toMatchObject({ ms: 2, line: 2012 });
    expect(byFn.get('exports.crypto_sign_ed25519_pk_to_curve25519 (native)')?.ms).toBe(1);
    expect(byFn.get('(garbage collector)')?.ms).toBe(1);
    expect(byFn.has('extension_pbkdf2_sha512_async')).toBe(false);
    expect(byFn.get('#read (native)')).toMatchObject({
      ms: 1,
      file: '/x/packages/transport-node/dist/batch-receive.js',
    });
    expect(byFn.has('crypto_shorthash')).toBe(false);
    expect(byFn.get('init')?.ms).toBe(1);
  });

  it("leaves out the profiler's own start (the samples under the worker's startProfile), and only those", () => {
    const channel = 'file:///x/apps/perf/dist/workers/channel.js';
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 5, 6] },
        { id: 2, callFrame: { functionName: 'startProfile', url: channel, lineNumber: 56 }, children: [3] },
        { id: 3, callFrame: { functionName: 'post', url: 'node:inspector', lineNumber: 110 }, children: [4] },
        { id: 4, callFrame: { functionName: 'dispatch', url: '', lineNumber: -1 } },
        // a function of the same name elsewhere is not the profiler's start
        { id: 5, callFrame: { functionName: 'startProfile', url: 'file:///x/app.js', lineNumber: 1 } },
        { id: 6, callFrame: { functionName: 'dispatch', url: '', lineNumber: -1 } },
      ],
      samples: [4, 4, 4, 3, 2, 5, 6],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000],
    };
    const byFn = new Map([...selfTimes(profile).values()].map((e) => [`${e.file}:${e.fn}`, e.ms]));
    expect(byFn).toEqual(
      new Map([
        ['/x/app.js:startProfile', 1],
        [':dispatch', 1],
      ]),
    );
  });
});
