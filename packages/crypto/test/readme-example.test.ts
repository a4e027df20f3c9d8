import { describe, expect, it } from 'vitest';
import { generateIdentity, parsePeerId, peerIdToString, SecureEndpoint } from '../src/index.js';

describe('README example', () => {
  it('runs as written', () => {
    const random = (n: number) => crypto.getRandomValues(new Uint8Array(n)); // any CSPRNG
    const alice = new SecureEndpoint({ identity: generateIdentity(random), random });
    const bob = new SecureEndpoint({ identity: generateIdentity(random), random });
    const A = { host: '10.0.0.1', port: 4000 };
    const B = { host: '10.0.0.2', port: 4000 };

    const ch = alice.connect(0, { address: B, remoteKey: bob.identity.publicKey }); // Noise IK
    for (let i = 0; i < 2; i++) {
      for (let t = alice.pollTransmit(0); t; t = alice.pollTransmit(0)) bob.handle(0, A, t.data);
      for (let t = bob.pollTransmit(0); t; t = bob.pollTransmit(0)) alice.handle(0, B, t.data);
    }
    expect(alice.pollEvent()).toMatchObject({
      type: 'established',
      remoteKey: bob.identity.publicKey,
      initiator: true,
    });
    const datagram = ch.seal(0, new TextEncoder().encode('hi bob'));
    const r = bob.handle(1, A, datagram);
    expect(r).toMatchObject({ type: 'data', packetNumber: 0, plaintext: new TextEncoder().encode('hi bob') });
    // Bob reports the session only now, once Alice used the keys (key confirmation)
    expect(bob.pollEvent()).toMatchObject({ type: 'established', initiator: false });
    const id = peerIdToString(alice.identity.publicKey);
    expect(id).toHaveLength(58);
    expect(parsePeerId(id)).toEqual(alice.identity.publicKey);
  });
});
