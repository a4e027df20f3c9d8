import { type CryptoBackend, generateIdentity, nobleBackend, SecureEndpoint } from '@srmudp/crypto';
import type { Address } from '@srmudp/wire';
import { bench, describe } from 'vitest';
import { nodeBackend, randomBytes, sodiumBackend } from '../src/index.js';

const sodium = sodiumBackend();
const backends: CryptoBackend[] = [nobleBackend(), nodeBackend(), ...(sodium ? [sodium] : [])];
const PAYLOAD = 1200;

function establishedPair(backend: CryptoBackend) {
  const a = new SecureEndpoint({ identity: generateIdentity(randomBytes), random: randomBytes, backend });
  const b = new SecureEndpoint({ identity: generateIdentity(randomBytes), random: randomBytes, backend });
  const addrA: Address = { host: 'a', port: 1 };
  const addrB: Address = { host: 'b', port: 1 };
  const ch = a.connect(0, { address: addrB, remoteKey: b.identity.publicKey });
  handshake(a, b, addrA, addrB);
  return { a, b, ch, addrA, addrB };
}

function handshake(a: SecureEndpoint, b: SecureEndpoint, addrA: Address, addrB: Address): void {
  for (let i = 0; i < 3; i++) {
    for (let t = a.pollTransmit(0); t; t = a.pollTransmit(0)) b.handle(0, addrA, t.data);
    for (let t = b.pollTransmit(0); t; t = b.pollTransmit(0)) a.handle(0, addrB, t.data);
  }
}

describe('seal one 1200-byte packet', () => {
  for (const backend of backends) {
    const { ch } = establishedPair(backend);
    const plaintext = new Uint8Array(PAYLOAD).fill(1);
    const out = new Uint8Array(PAYLOAD + 29);
    let pn = 0;
    bench(`${backend.name}: seal`, () => {
      ch.seal(pn++, plaintext, out);
    });
  }
});

describe('open one 1200-byte packet', () => {
  // Each packet opens once (the replay window drops a second copy, which would measure nothing):
  // a fixed number of iterations over a ring of pre-sealed packets that is never wrapped.
  const OPENS = 40_000;
  const WARMUP = 2_000;
  for (const backend of backends) {
    const { b, ch, addrA } = establishedPair(backend);
    const plaintext = new Uint8Array(PAYLOAD).fill(1);
    const ring = Array.from({ length: OPENS + WARMUP + 1_000 }, (_, i) => ch.seal(i, plaintext));
    let i = 0;
    bench(
      `${backend.name}: open`,
      () => {
        const r = b.handle(0, addrA, ring[i++] as Uint8Array);
        if (r.type !== 'data') throw new Error(`open failed: ${JSON.stringify(r)}`);
      },
      { time: 0, iterations: OPENS, warmupTime: 0, warmupIterations: WARMUP },
    );
  }
});

describe('full IK handshake (both sides, 1 round trip)', () => {
  for (const backend of backends) {
    const idA = generateIdentity(randomBytes);
    const idB = generateIdentity(randomBytes);
    const addrA: Address = { host: 'a', port: 1 };
    const addrB: Address = { host: 'b', port: 1 };
    bench(`${backend.name}: IK handshake`, () => {
      const a = new SecureEndpoint({ identity: idA, random: randomBytes, backend });
      const b = new SecureEndpoint({ identity: idB, random: randomBytes, backend });
      const ch = a.connect(0, { address: addrB, remoteKey: idB.publicKey });
      handshake(a, b, addrA, addrB);
      if (!ch.isEstablished) throw new Error('handshake failed');
    });
  }
});

describe('X25519', () => {
  for (const backend of backends) {
    const priv = randomBytes(32);
    const pub = backend.x25519Public(randomBytes(32));
    bench(`${backend.name}: x25519 (static key cached)`, () => {
      backend.x25519(priv, pub);
    });
  }
});
