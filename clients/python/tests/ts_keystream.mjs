// The deterministic test data both sides generate: AES-128-CTR keystream, key = sha256(seed)[0:16].
import { createCipheriv, createHash } from 'node:crypto';

export function keystream(seed, n) {
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}
