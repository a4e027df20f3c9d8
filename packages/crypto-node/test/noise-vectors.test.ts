// The cacophony Noise vectors (packages/crypto/test/vectors) on the node:crypto and libsodium
// backends: the same runner @srmudp/crypto uses for noble.
import { describe, expect, it } from 'vitest';
import { checkVector, selectedVectors } from '../../crypto/test/noise-vectors.js';
import { nodeBackend, sodiumBackend } from '../src/index.js';

describe('Noise vectors on the platform backends', () => {
  it('runs all six NN/IK/XX x BLAKE2s/SHA256 vectors', () => {
    expect(selectedVectors).toHaveLength(6);
  });
  for (const backend of [nodeBackend(), sodiumBackend()]) {
    if (backend === null) throw new Error('sodium-native must load on this platform');
    for (const v of selectedVectors) {
      it(`${backend.name}: ${v.protocol_name}`, () => checkVector(v, backend));
    }
  }
});
