import { describe, expect, it } from 'vitest';
import { nobleBackend } from '../src/backend.js';
import { HandshakeState } from '../src/noise/handshake-state.js';
import { PATTERNS } from '../src/noise/patterns.js';
import { checkVector, keyPair, selectedVectors as selected, type Vector } from './noise-vectors.js';

const backend = nobleBackend();

describe('Noise vectors (cacophony)', () => {
  it('selects all six NN/IK/XX x BLAKE2s/SHA256 vectors', () => {
    expect(selected.map((v) => v.protocol_name).sort()).toEqual([
      'Noise_IK_25519_ChaChaPoly_BLAKE2s',
      'Noise_IK_25519_ChaChaPoly_SHA256',
      'Noise_NN_25519_ChaChaPoly_BLAKE2s',
      'Noise_NN_25519_ChaChaPoly_SHA256',
      'Noise_XX_25519_ChaChaPoly_BLAKE2s',
      'Noise_XX_25519_ChaChaPoly_SHA256',
    ]);
  });

  for (const v of selected) {
    it(v.protocol_name, () => checkVector(v, backend));
  }

  it('the same vectors again: the cached initial states (by name, prologue and pre-message key) are reused intact after handshakes erased their secrets', () => {
    for (let round = 0; round < 2; round++) for (const v of selected) checkVector(v, backend);
  });

  it('rejects a tampered handshake message and fails without throwing', () => {
    const v = selected.find((x) => x.protocol_name === 'Noise_IK_25519_ChaChaPoly_BLAKE2s') as Vector;
    const respS = keyPair(backend, v.resp_static) as { privateKey: Uint8Array; publicKey: Uint8Array };
    const mk = () => ({
      init: new HandshakeState({
        pattern: PATTERNS.IK,
        initiator: true,
        hash: 'BLAKE2s',
        backend,
        prologue: new Uint8Array(0),
        s: keyPair(backend, v.init_static) as { privateKey: Uint8Array; publicKey: Uint8Array },
        e: keyPair(backend, v.init_ephemeral) as { privateKey: Uint8Array; publicKey: Uint8Array },
        rs: respS.publicKey,
      }),
      resp: new HandshakeState({
        pattern: PATTERNS.IK,
        initiator: false,
        hash: 'BLAKE2s',
        backend,
        prologue: new Uint8Array(0),
        s: respS,
      }),
    });
    const { init } = mk();
    const msg = init.writeMessage(new Uint8Array(3));
    for (let pos = 0; pos < msg.length; pos++) {
      const bad = msg.slice();
      bad[pos] = (bad[pos] as number) ^ 0x01;
      const { resp } = mk();
      expect(resp.readMessage(bad)).toBeNull();
    }
    expect(mk().resp.readMessage(msg.subarray(0, 40))).toBeNull();
  });
});
