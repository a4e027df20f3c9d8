import { type CryptoBackend, nobleBackend } from '@srmudp/crypto';
import { describe, expect, it } from 'vitest';
import { autoBackend, chooseBackend, createSodiumBackend, nodeBackend, sodiumBackend } from '../src/index.js';

describe('backend selection', () => {
  it('picks libsodium when sodium-native loads (it does here)', () => {
    expect(autoBackend().name).toBe('sodium');
    expect(autoBackend()).toBe(sodiumBackend());
  });

  it('falls back to node:crypto without a sodium prebuild, then to noble', () => {
    const node = nodeBackend();
    const noble = nobleBackend();
    const calls: string[] = [];
    const tried = <T>(name: string, result: T): T => {
      calls.push(name);
      return result;
    };
    const pick = (sodium: CryptoBackend | null, nodeOk: boolean) =>
      chooseBackend({
        sodium: () => tried('sodium', sodium),
        node: () => tried('node', nodeOk ? node : null),
        noble: () => tried('noble', noble),
      });
    expect(pick(null, true)).toBe(node);
    expect(calls).toEqual(['sodium', 'node']);
    calls.length = 0;
    expect(pick(null, false)).toBe(noble);
    expect(calls).toEqual(['sodium', 'node', 'noble']);
    const sodium = sodiumBackend() as CryptoBackend;
    expect(pick(sodium, true)).toBe(sodium);
  });

  it('a sodium backend over a broken module fails loudly, never silently wrong', () => {
    const broken = createSodiumBackend({
      crypto_aead_chacha20poly1305_ietf_encrypt: () => {
        throw new Error('no such function in this build');
      },
      crypto_aead_chacha20poly1305_ietf_decrypt: () => {
        throw new Error('could not verify data');
      },
      crypto_scalarmult: () => {
        throw new Error('status: -1');
      },
      crypto_scalarmult_base: () => {},
    });
    const k = new Uint8Array(32);
    expect(() => broken.aeadSeal(k, 0, new Uint8Array(0), new Uint8Array(3))).toThrow(/no such function/);
    expect(broken.aeadOpen(k, 0, new Uint8Array(0), new Uint8Array(20))).toBeNull();
    expect(() => broken.x25519(k, k)).toThrow(RangeError);
    expect(() => broken.x25519Public(new Uint8Array(31))).toThrow(TypeError);
  });
});
