// Connect via the introducer (issue 18), deterministically: a GroupHost over a scripted node whose
// direct dial of a new neighbour fails as hopeless. The real gossip machine asks for the
// neighbour (a FORWARD_JOIN naming its introducer); the host connects to the introducer (by the
// record its passive view holds), dials the neighbour again through it, keeps the introducer's
// connection as a hop while the relayed neighbour uses it, and closes it after.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { PathInfo } from '@srmudp/core';
import { generateIdentity, type Identity } from '@srmudp/crypto';
import { encodeFrame, topicId } from '@srmudp/gossip';
import { parseCard } from '@srmudp/rendezvous';
import { SrmudpError } from '@srmudp/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL } from '../src/channels.js';
import type { Connection } from '../src/connection.js';
import type { DrivenMachine } from '../src/driver.js';
import { GroupHost, type GroupNode } from '../src/group.js';
import { createNode, type SrmudpNode } from '../src/index.js';
import { waitFor } from './helpers.js';

/** A connection as the group host uses it: events, key, path, sendInternal, close. */
class FakeConnection extends EventEmitter {
  isClosed = false;
  sent: Uint8Array[] = [];
  constructor(
    readonly remoteKey: Uint8Array,
    readonly path: PathInfo,
  ) {
    super();
  }
  stats() {
    return { rttMeasured: true, rttMs: 5 };
  }
  sendInternal(_channel: number, body: Uint8Array): boolean {
    this.sent.push(body);
    return true;
  }
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.emit('close');
  }
}

const direct: PathInfo = { kind: 'direct', address: { host: '127.0.0.1', port: 1 } };
const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');

describe('group: a neighbour that cannot be punched is reached through its introducer', () => {
  // real cards (parsed and signature-checked by the host) of the contact C, introducer I, newcomer N
  const nodes: SrmudpNode[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) nodes.push(await createNode({ host: '127.0.0.1', stunServers: [] }));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('dials the introducer by its passive record, then the neighbour through it; the hop lives as long as the circuit', async () => {
    const [c, i, n] = nodes as [SrmudpNode, SrmudpNode, SrmudpNode];
    const key = (x: SrmudpNode) => (x as unknown as { identity: Identity }).identity.publicKey;
    const [cKey, iKey, nKey] = [key(c), key(i), key(n)];
    const live = new Map<string, FakeConnection>();
    const relays: Uint8Array[] = [];
    const dials: string[] = [];
    let machine: DrivenMachine | null = null;
    let pending = false;
    const driver = {
      clock: () => performance.now(),
      schedule: () => {
        if (pending) return;
        pending = true;
        queueMicrotask(() => {
          pending = false;
          machine?.flush(driver.clock());
        });
      },
      attach: (m: DrivenMachine) => {
        machine = m;
      },
      stopped: false,
      sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
      endpoint: { relays: () => relays },
    };
    const fake: GroupNode = {
      identity: generateIdentity((k) => new Uint8Array(randomBytes(k))),
      driver,
      liveConnection: (h) => live.get(h),
      contactCard: () => c.contactCard(),
      isNamedKey: () => false,
      on: () => undefined,
      async connect(card) {
        const peer = hex(parseCard(card).peerId);
        const who = peer === hex(iKey) ? 'I' : peer === hex(nKey) ? 'N' : '?';
        dials.push(who);
        if (who === 'I') {
          const conn = new FakeConnection(iKey, direct);
          live.set(hex(iKey), conn);
          // the introducer greets us as a relay (it serves connect-via) a moment later
          setTimeout(() => relays.push(iKey), 120);
          return conn as unknown as Connection;
        }
        // N: no punch between the two NATs; through a relay once the introducer is one
        if (!relays.some((r) => hex(r) === hex(iKey))) {
          throw new SrmudpError('PUNCH_IMPOSSIBLE', 'both NATs map per destination');
        }
        const conn = new FakeConnection(nKey, {
          kind: 'relayed',
          via: iKey,
          channel: 0x4000,
          address: { host: `relay.${hex(iKey)}`, port: 0x4000 },
        });
        live.set(hex(nKey), conn);
        return conn as unknown as Connection;
      },
    };
    // two neighbours at most, no periodic refill: I stays a passive entry (not dialled as a neighbour)
    const host = new GroupHost(fake, {
      dialTimeoutMs: 5000,
      gossip: { activeViewCapacity: 2, fillIntervalMs: 600_000 },
    });
    const group = host.group('room', {});
    const topic = topicId('room');
    const enc = new TextEncoder();
    // the contact C joins us (an incoming connection), then shuffles I's record to us
    const cConn = new FakeConnection(cKey, direct);
    live.set(hex(cKey), cConn);
    const frame = (f: Parameters<typeof encodeFrame>[0]) =>
      host.onInternal(cConn as unknown as Connection, CHANNEL.gossip, encodeFrame(f));
    frame({ type: 'join', topic, record: enc.encode(c.contactCard()) });
    await waitFor(() => group.neighbours().length === 1, 5000, 'C as a neighbour');
    frame({
      type: 'shuffle',
      topic,
      id: new Uint8Array(8).fill(7),
      ttl: 0,
      origin: cKey,
      record: enc.encode(c.contactCard()),
      entries: [{ peer: iKey, record: enc.encode(i.contactCard()) }],
    });
    await waitFor(() => group.members().includes(i.peerId), 5000, 'I in the passive view');
    // a forward-join walk ends here: N joined the group through I (I is N's introducer)
    frame({
      type: 'forward_join',
      topic,
      peer: nKey,
      ttl: 0,
      via: iKey,
      record: enc.encode(n.contactCard()),
    });
    await waitFor(() => host.stats().relayedNeighbours === 1, 10_000, 'N reached through I').catch((e) => {
      throw new Error(
        `${e.message}: dials ${dials} stats ${JSON.stringify(host.stats())} members ${group.members().length}`,
      );
    });
    expect(dials).toEqual(['N', 'I', 'N']);
    const nConn = live.get(hex(nKey)) as FakeConnection;
    // gossip asks N to be its neighbour on the relayed connection
    await waitFor(() => nConn.sent.length > 0, 5000, 'a NEIGHBOR request to N');
    expect(host.stats()).toMatchObject({ relayedNeighbours: 1, relayFailures: 0, hops: 1 });
    const iConn = live.get(hex(iKey)) as FakeConnection;
    expect(iConn.isClosed).toBe(false);
    // the relayed neighbour goes: the hop is no longer needed and is closed
    await nConn.close();
    await waitFor(() => iConn.isClosed, 5000, 'the hop closed');
    expect(host.stats().hops).toBe(0);
    host.close();
  }, 30_000);
});
