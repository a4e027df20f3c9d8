// The README example, verbatim apart from the assertions at the end.
import { identityFromSecret } from '@srmudp/crypto';
import { type Address, Network, Rng, type SimNode } from '@srmudp/sim';
import { expect, it } from 'vitest';
import { CoreEndpoint, type EndpointEvent } from '../src/index.js';

it('README example runs as written', () => {
  // --- README example start
  const rng = new Rng('readme');
  const random = (n: number) => rng.bytes(n);

  /** A CoreEndpoint as a @srmudp/sim node: the sim drives handle/handleTimeout/pollTransmit. */
  class Peer implements SimNode {
    readonly events: EndpointEvent[] = [];
    constructor(readonly ep: CoreEndpoint) {}
    handle(now: number, from: Address, _to: Address, data: Uint8Array) {
      this.ep.handle(now, from, data);
      this.drain();
    }
    handleTimeout(now: number) {
      this.ep.handleTimeout(now);
      this.drain();
    }
    pollTransmit(now: number) {
      return this.ep.pollTransmit(now);
    }
    pollTimeout() {
      return this.ep.pollTimeout();
    }
    private drain() {
      for (let e = this.ep.pollEvent(); e !== null; e = this.ep.pollEvent()) this.events.push(e);
    }
  }

  const aliceId = identityFromSecret(rng.bytes(32));
  const bobId = identityFromSecret(rng.bytes(32));
  const net = new Network({ seed: 'readme', defaultLink: { latencyMs: 20, loss: 0.02 } });
  const alice = new Peer(new CoreEndpoint({ identity: aliceId, random }, net.now));
  const bob = new Peer(new CoreEndpoint({ identity: bobId, random }, net.now));
  const bobAddr = { host: '10.0.0.2', port: 4433 };
  net.addHost('alice', alice, [{ host: '10.0.0.1', port: 4433 }]);
  net.addHost('bob', bob, [bobAddr]);

  // Noise IK (we know bob's key); without remoteKey it would be XX (trust on first use)
  const conn = alice.ep.connect(net.now, { addresses: [bobAddr], remoteKey: bobId.publicKey });
  net.drive({ until: () => conn.state === 'established', maxTimeMs: 5000 });

  conn.sendMessage(new TextEncoder().encode('hello bob'));
  const stream = conn.openStream();
  conn.write(stream, new TextEncoder().encode('a reliable, ordered byte stream'));
  conn.finish(stream);

  net.drive({ until: () => bob.events.some((e) => e.type === 'stream_finished'), maxTimeMs: 10_000 });
  for (const e of bob.events) {
    if (e.type === 'message') console.log('message:', new TextDecoder().decode(e.data));
    if (e.type === 'readable') {
      const c = bob.ep.connection(e.id);
      const bytes = c?.read(net.now, e.streamId);
      if (bytes) console.log('stream:', new TextDecoder().decode(bytes));
    }
  }
  console.log(conn.stats()); // rtt, cwnd, loss, bytes, path, drops by reason
  // --- README example end

  expect(bob.events.filter((e) => e.type === 'connected')).toHaveLength(1);
  expect(bob.events.some((e) => e.type === 'message')).toBe(true);
  expect(conn.stats().state).toBe('established');
});
