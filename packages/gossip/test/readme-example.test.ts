// The README's example, kept runnable: if this file changes, update the README (and vice versa).
import { randomBytes } from 'node:crypto';
import { generateIdentity } from '@srmudp/crypto';
import { expect, it } from 'vitest';
import { Gossip, topicId } from '../src/index.js';

it('README example runs', () => {
  const log: unknown[] = [];
  const console = { log: (...a: unknown[]) => log.push(a.length === 1 ? a[0] : a) };
  // --- example start
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const room = topicId('room');

  // Three members. `record` would be each one's signed rendezvous record (opaque to gossip).
  const members = ['ann', 'bob', 'cat'].map((name) => {
    const identity = generateIdentity(random);
    const record = new TextEncoder().encode(`card of ${name}`);
    return { name, gossip: new Gossip({ identity, random, record, wallClockOffsetMs: Date.now() }) };
  });
  const byId = new Map(members.map((m) => [Buffer.from(m.gossip.peerId).toString('hex'), m]));
  const [ann, bob, cat] = members as [(typeof members)[0], (typeof members)[0], (typeof members)[0]];

  // A toy host: "connections" are instant and in memory. The srmudp façade does this over real
  // connections: dial on 'neighbour_wanted', close on 'neighbour_dropped', frames as messages.
  let now = 0;
  const pump = () => {
    for (let busy = true; busy; ) {
      busy = false;
      for (const m of members) {
        for (let t = m.gossip.pollTransmit(); t; t = m.gossip.pollTransmit()) {
          byId.get(Buffer.from(t.to).toString('hex'))!.gossip.handleMessage(now, m.gossip.peerId, t.bytes);
          busy = true;
        }
        for (let e = m.gossip.pollEvent(); e; e = m.gossip.pollEvent()) {
          busy = true;
          if (e.type === 'neighbour_wanted') {
            const other = byId.get(Buffer.from(e.peer).toString('hex'))!;
            m.gossip.neighbourUp(now, other.gossip.peerId); // our side of the new connection
            other.gossip.neighbourUp(now, m.gossip.peerId); // and theirs
          } else if (e.type === 'delivered') {
            console.log(`${m.name} got "${new TextDecoder().decode(e.data)}" after ${e.hops} hop(s)`);
          }
        }
      }
    }
  };

  ann.gossip.joinTopic(now, room); // the first member waits to be joined
  bob.gossip.joinTopic(now, room, [
    { peer: ann.gossip.peerId, record: new TextEncoder().encode('card of ann') },
  ]);
  pump();
  // cat joins through bob; bob's forward-join walk reaches ann, who takes cat as a neighbour too
  cat.gossip.joinTopic(now, room, [
    { peer: bob.gossip.peerId, record: new TextEncoder().encode('card of bob') },
  ]);
  pump();

  bob.gossip.broadcast(now, room, new TextEncoder().encode('hello, room'));
  pump();
  // timers: IHave batches, grafts, shuffles, housekeeping
  now += 1000;
  for (const m of members) m.gossip.handleTimeout(now);
  pump();
  console.log(ann.gossip.topicView(room)!.active.length, ann.gossip.pollTimeout() !== null); // 2 true
  // --- example end
  expect(log).toContainEqual('ann got "hello, room" after 1 hop(s)');
  expect(log).toContainEqual('cat got "hello, room" after 1 hop(s)');
  expect(log.filter((l) => typeof l === 'string' && l.includes('hello'))).toHaveLength(2);
  expect(log.at(-1)).toEqual([2, true]);
});
