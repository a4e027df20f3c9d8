// Plumtree broadcast: the tree, lazy announcements, grafts, the cache, history for newcomers, blobs.
import { identityFromSecret } from '@srmudp/crypto';
import { describe, expect, it } from 'vitest';
import {
  blobHash,
  createMessage,
  decodeFrame,
  encodeFrame,
  encodeGossipFrame,
  GossipError,
  identitySigner,
  topicId,
} from '../src/index.js';
import { activeOf, drainEvents, drainTransmits, group, hex, instance, seeded } from './helpers.js';
import { sample } from './sim/scenario.js';

const topic = topicId('broadcast');
const peer = (i: number) => new Uint8Array(32).fill(i);
const WALL = 1_750_000_000_000;
const originId = identityFromSecret(new Uint8Array(32).fill(77));

function signed(now: number, seq: number, payload: Parameters<typeof createMessage>[2]['payload']) {
  return createMessage(identitySigner(originId), topic, { issuedAt: WALL + now, seq, payload });
}

/** A member whose neighbours 101..100+n joined it. */
function hub(n: number, options = {}) {
  const h = instance('bcast-hub', options);
  h.gossip.joinTopic(0, topic);
  for (let i = 1; i <= n; i++) {
    h.gossip.neighbourUp(0, peer(100 + i));
    h.gossip.handleMessage(
      0,
      peer(100 + i),
      encodeFrame({ type: 'join', topic, record: new Uint8Array([i]) }),
    );
  }
  drainTransmits(h.gossip);
  drainEvents(h.gossip);
  return h.gossip;
}

describe('broadcast rules', () => {
  it('pushes to eager neighbours, prunes a duplicate sender, announces to lazy ones in one batch', () => {
    const g = hub(3, { ihaveIntervalMs: 10 });
    const m1 = signed(0, 1, { kind: 'inline', data: new Uint8Array([1]) });
    g.handleMessage(0, peer(101), encodeGossipFrame(topic, 1, m1.message.bytes));
    const first = drainTransmits(g).map((t) => ({ to: t.to[0], f: decodeFrame(t.bytes) }));
    // eager push to the two others, with the hop count one higher
    expect(
      first
        .filter((o) => o.f.type === 'gossip')
        .map((o) => o.to)
        .sort(),
    ).toEqual([102, 103]);
    expect(first.find((o) => o.f.type === 'gossip')!.f).toMatchObject({ round: 2 });
    expect(drainEvents(g)).toContainEqual(
      expect.objectContaining({ type: 'delivered', hops: 1, data: new Uint8Array([1]) }),
    );
    // the same message from 102: 102 is pruned and becomes lazy
    g.handleMessage(5, peer(102), encodeGossipFrame(topic, 3, m1.message.bytes));
    expect(drainTransmits(g).map((t) => [t.to[0], decodeFrame(t.bytes).type])).toEqual([[102, 'prune']]);
    expect(g.stats().duplicates).toBe(1);
    expect(drainEvents(g).filter((e) => e.type === 'delivered')).toEqual([]);
    // 102 and 103 prune us: the next messages reach them as ids, batched
    g.handleMessage(6, peer(103), encodeFrame({ type: 'prune', topic }));
    for (let i = 2; i <= 4; i++) {
      g.handleMessage(
        10,
        peer(101),
        encodeGossipFrame(
          topic,
          1,
          signed(10, i, { kind: 'inline', data: new Uint8Array([i]) }).message.bytes,
        ),
      );
    }
    expect(drainTransmits(g)).toEqual([]);
    g.handleTimeout(20);
    const batches = drainTransmits(g).map((t) => ({ to: t.to[0], f: decodeFrame(t.bytes) }));
    expect(batches.map((b) => b.to).sort()).toEqual([102, 103]);
    for (const b of batches)
      expect(b.f).toMatchObject({ type: 'ihave', items: [{ round: 1 }, { round: 1 }, { round: 1 }] });
  });

  it('grafts a message announced but not pushed, after max(80 ms, 2·srtt)', () => {
    const g = hub(2);
    g.setNeighbourRtt(peer(102), 70);
    const m = signed(0, 1, { kind: 'inline', data: new Uint8Array([9]) });
    g.handleMessage(0, peer(102), encodeFrame({ type: 'ihave', topic, items: [{ id: m.id, round: 4 }] }));
    g.handleTimeout(139);
    expect(drainTransmits(g)).toEqual([]);
    g.handleTimeout(140); // 2 × 70 ms
    const out = drainTransmits(g).map((t) => ({ to: t.to[0], f: decodeFrame(t.bytes) }));
    expect(out).toEqual([{ to: 102, f: { type: 'graft', topic, id: m.id, round: 4 } }]);
    // the answer is delivered once and the announcer stays eager
    g.handleMessage(200, peer(102), encodeGossipFrame(topic, 5, m.message.bytes));
    expect(drainEvents(g).filter((e) => e.type === 'delivered')).toHaveLength(1);
    expect(g.topicView(topic)!.eager.map((p) => p[0])).toContain(102);
  });

  it('answers grafts from the cache, and not after the cache time', () => {
    const g = hub(1, { messageCacheMs: 30_000 });
    const id = g.broadcast(0, topic, new Uint8Array([5]));
    drainTransmits(g);
    g.handleMessage(10, peer(101), encodeFrame({ type: 'graft', topic, id, round: 0 }));
    expect(drainTransmits(g).map((t) => decodeFrame(t.bytes))).toEqual([
      expect.objectContaining({ type: 'gossip', round: 1 }),
    ]);
    for (let t = 1000; t <= 31_000; t += 1000) g.handleTimeout(t);
    g.handleMessage(31_000, peer(101), encodeFrame({ type: 'graft', topic, id, round: 0 }));
    expect(drainTransmits(g).filter((t) => decodeFrame(t.bytes).type === 'gossip')).toEqual([]);
  });

  it('refuses broadcasts it cannot make, with typed errors', () => {
    const { gossip: g } = instance('errors', { maxBlobSize: 1000, originByteBurst: 4000, inlineLimit: 100 });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof GossipError ? e.code : String(e);
      }
      return 'no error';
    };
    expect(code(() => g.broadcast(0, topic, new Uint8Array(1)))).toBe('GOSSIP_NOT_JOINED');
    g.joinTopic(0, topic);
    expect(code(() => g.broadcast(0, topic, new Uint8Array(1001)))).toBe('GOSSIP_TOO_LARGE');
    expect(() => g.broadcast(0, new Uint8Array(3), new Uint8Array(1))).toThrow(RangeError);
    // own broadcasts get half the per-origin burst (50): the 26th at once is refused
    for (let i = 0; i < 25; i++) g.broadcast(0, topic, new Uint8Array([i]));
    expect(code(() => g.broadcast(0, topic, new Uint8Array([99])))).toBe('GOSSIP_RATE_LIMITED');
    expect(code(() => g.broadcast(1000, topic, new Uint8Array([99])))).toBe('no error'); // 20/s refill
  });
});

describe('blobs', () => {
  it('fetches an announced blob from the announcer, checks it, then delivers and announces it on', () => {
    const g = hub(3);
    const data = new Uint8Array(50_000).map((_, i) => i * 7);
    const hash = blobHash(data);
    const m = signed(0, 1, { kind: 'blob', hash, size: data.length });
    g.handleMessage(0, peer(101), encodeGossipFrame(topic, 1, m.message.bytes));
    // nothing is forwarded before the bytes are here (store and forward)
    expect(drainTransmits(g)).toEqual([]);
    const [fetch1] = drainEvents(g).filter((e) => e.type === 'fetch');
    expect(fetch1).toMatchObject({ peer: peer(101), hash, size: data.length });
    // 102 has it too (its IHAVE makes it a second source)
    g.handleMessage(1, peer(102), encodeFrame({ type: 'ihave', topic, items: [{ id: m.id, round: 1 }] }));
    // 101 serves wrong bytes: penalised, and 102 is asked
    const bad = data.slice();
    bad[10] ^= 1;
    g.handleFetchResult(5, (fetch1 as { requestId: number }).requestId, bad);
    const ev = drainEvents(g);
    expect(ev).toContainEqual(
      expect.objectContaining({ type: 'penalised', peer: peer(101), reason: 'BAD_BLOB' }),
    );
    const fetch2 = ev.find((e) => e.type === 'fetch') as { requestId: number; peer: Uint8Array };
    expect(fetch2.peer).toEqual(peer(102));
    g.handleFetchResult(9, fetch2.requestId, data.slice());
    const delivered = drainEvents(g).filter((e) => e.type === 'delivered');
    expect(delivered).toHaveLength(1);
    expect((delivered[0] as { data: Uint8Array }).data).toEqual(data);
    // announced on to the remaining eager neighbour, and servable
    expect(drainTransmits(g).map((t) => [t.to[0], decodeFrame(t.bytes).type])).toContainEqual([
      103,
      'gossip',
    ]);
    expect(g.blob(10, hash)).toEqual(data);
  });

  it('tries the next source when a fetch fails or times out', () => {
    const g = hub(3, { fetchTimeoutMs: 1000 });
    const data = new Uint8Array(20_000).fill(3);
    const m = signed(0, 1, { kind: 'blob', hash: blobHash(data), size: data.length });
    for (const i of [101, 102, 103])
      g.handleMessage(0, peer(i), encodeGossipFrame(topic, 1, m.message.bytes));
    const f1 = drainEvents(g).find((e) => e.type === 'fetch') as { requestId: number; peer: Uint8Array };
    expect(f1.peer).toEqual(peer(101));
    g.handleFetchResult(1, f1.requestId, null);
    const f2 = drainEvents(g).find((e) => e.type === 'fetch') as { requestId: number; peer: Uint8Array };
    expect(f2.peer).toEqual(peer(102));
    g.handleTimeout(1001);
    const f3 = drainEvents(g).find((e) => e.type === 'fetch') as { requestId: number; peer: Uint8Array };
    expect(f3.peer).toEqual(peer(103));
    g.handleFetchResult(1002, f2.requestId, data.slice()); // late answer of a superseded request
    expect(g.stats().drops.unknown_fetch).toBe(1);
    g.handleFetchResult(1003, f3.requestId, data.slice());
    expect(drainEvents(g).filter((e) => e.type === 'delivered')).toHaveLength(1);
  });

  it('spread through a group: every member gets the same bytes', () => {
    const seed = 'blob-group';
    const net = group(15, seed);
    const data = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
    const id = net.broadcast(net.members[3]!, data);
    net.runUntil(net.now + 15_000);
    for (const m of net.members) {
      if (m.index === 3) continue;
      expect(m.deliveries.has(id), seeded(seed, `member ${m.index}`)).toBe(true);
    }
    const fetches = net.members.reduce((a, m) => a + m.gossip.stats().framesReceived.gossip, 0);
    expect(fetches).toBeGreaterThanOrEqual(14); // announcements: the bytes travel by fetch only
  });
});

describe('broadcast in a group', () => {
  it('delivers every message once to every member over a sparse eager graph', () => {
    const seed = 'tree-20';
    const net = group(20, seed, { loss: 0 });
    const rng = net.rng.fork('test');
    const ids: { id: string; origin: number }[] = [];
    const send = (i: number) => {
      const o = sample(rng, net.live(), 1)[0]!;
      ids.push({ id: net.broadcast(o, new Uint8Array([i])), origin: o.index });
    };
    for (let i = 0; i < 20; i++) net.at(net.now + i * 100, () => send(i));
    net.runUntil(net.now + 20 * 100 + 3000);
    net.measuring = true; // after warm-up: what the tree costs per delivery
    for (let i = 20; i < 60; i++) net.at(net.now + (i - 20) * 100, () => send(i));
    net.runUntil(net.now + 40 * 100 + 3000);
    net.measuring = false;
    for (const m of net.members) {
      expect(m.duplicateDeliveries).toBe(0);
      for (const { id, origin } of ids)
        if (m.index !== origin) expect(m.deliveries.has(id), seeded(seed, `member ${m.index}`)).toBe(true);
    }
    // Flooding would send every message over every link (RMR ≈ mean degree − 1 ≈ 3.5); the
    // tree sends it about once per member. Eager links stay near a spanning tree's n − 1 = 19.
    const rmr = net.counters.gossipFrames / net.counters.deliveries - 1;
    expect(rmr, seeded(seed, 'RMR')).toBeLessThan(0.6);
    let eager = 0;
    for (const m of net.members) eager += m.gossip.topicView(net.topic)!.eager.length;
    expect(eager / 2, seeded(seed, 'eager links')).toBeLessThanOrEqual(19 + 6);
  });

  it('repairs the tree by graft when a member dies silently', () => {
    const seed = 'graft-repair';
    const net = group(25, seed, { loss: 0, detectMs: [60_000, 60_000] });
    for (let i = 0; i < 5; i++) net.broadcast(net.members[i]!, new Uint8Array([i]));
    net.runUntil(net.now + 3000);
    // the member with the most eager links, as good a tree node as any to lose
    const victim = [...net.members].sort(
      (a, b) => b.gossip.topicView(net.topic)!.eager.length - a.gossip.topicView(net.topic)!.eager.length,
    )[0]!;
    const graftsBefore = net.members.reduce((a, m) => a + m.gossip.stats().framesSent.graft, 0);
    net.crash(victim); // its neighbours will not notice for 60 s
    const origin = net.members.find((m) => m !== victim && !activeOf(net, m).includes(victim))!;
    const id = net.broadcast(origin, new Uint8Array([42]));
    net.runUntil(net.now + 3000);
    for (const m of net.members) {
      if (m === victim || m === origin) continue;
      expect(m.deliveries.has(id), seeded(seed, `member ${m.index}`)).toBe(true);
    }
    expect(net.members.reduce((a, m) => a + m.gossip.stats().framesSent.graft, 0)).toBeGreaterThan(
      graftsBefore,
    );
  });

  it('gives a newcomer the messages of the last cache period, not older ones', () => {
    const seed = 'history';
    const net = group(12, seed, { options: { messageCacheMs: 30_000 } });
    const old = net.broadcast(net.members[0]!, new Uint8Array([1]));
    net.runUntil(net.now + 35_000);
    const recent = net.broadcast(net.members[1]!, new Uint8Array([2]));
    net.runUntil(net.now + 2000);
    const newcomer = net.addMember();
    net.join(newcomer, [net.members[4]!]);
    net.runUntil(net.now + 5000);
    expect(newcomer.deliveries.has(recent), seeded(seed, 'recent')).toBe(true);
    expect(newcomer.deliveries.has(old)).toBe(false);
    expect(hex(newcomer.id)).toBe(newcomer.key);
  });
});
