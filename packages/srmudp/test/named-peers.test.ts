// Named peers' refusal of a removed peer (src/named-peers.ts), with a stand-in node: whichever form
// of its peer id the removed peer presents (crypto's samePeer: the sign bit flipped).
import { randomBytes } from 'node:crypto';
import { generateIdentity, samePeer } from '@srmudp/crypto';
import type { Rendezvous } from '@srmudp/rendezvous';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../src/connection.js';
import { NamedPeers, type NamedPeersHost, type PeerEvent } from '../src/named-peers.js';
import type { Timer } from '../src/timer-queue.js';

const random = (n: number) => new Uint8Array(randomBytes(n));

/** A node whose dials never finish and whose timers never fire: only the tables move. */
function standIn(events: PeerEvent[]): NamedPeersHost {
  return {
    closing: false,
    rendezvous: {} as Rendezvous,
    reconnectDelayMs: 500,
    after: () => ({ cancel() {} }) as unknown as Timer,
    assertOpen() {},
    refuseOwnKey() {},
    liveConnection: () => undefined,
    dial: () => new Promise<Connection>(() => {}),
    emitPeer: (e) => events.push(e),
  };
}

describe('a removed peer', () => {
  it('is refused under either form of its peer id until it is added again', () => {
    const events: PeerEvent[] = [];
    const named = new NamedPeers(standIn(events));
    const bob = generateIdentity(random).publicKey;
    const other = bob.slice();
    other[31] = (other[31] as number) ^ 0x80;
    expect(samePeer(bob, other)).toBe(true);
    const stranger = generateIdentity(random).publicKey;
    named.add('bob', { host: '127.0.0.1', port: 9, peerId: bob });
    expect(named.isRemoved(bob)).toBe(false);
    named.remove('bob');
    expect(named.isRemoved(bob)).toBe(true);
    expect(named.isRemoved(other)).toBe(true); // before: a byte-for-byte set let this form in
    expect(named.isRemoved(stranger)).toBe(false);
    // added again (under the other form): refused no more, under either
    named.add('bob', { host: '127.0.0.1', port: 9, peerId: other });
    expect(named.isRemoved(bob)).toBe(false);
    expect(named.isRemoved(other)).toBe(false);
  });
});
