// HyParView membership: unit rules on one instance driven by hand, then whole groups in the simulator.
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, type GossipFrame, topicId } from '../src/index.js';
import { activeOf, drainEvents, drainTransmits, group, hex, instance, seeded } from './helpers.js';

const topic = topicId('members');
const peer = (i: number) => new Uint8Array(32).fill(i);
const rec = (i: number) => new Uint8Array([0x52, i]);

function framesTo(g: ReturnType<typeof instance>['gossip'], to?: Uint8Array): GossipFrame[] {
  return drainTransmits(g)
    .filter((t) => to === undefined || hex(t.to) === hex(to))
    .map((t) => decodeFrame(t.bytes));
}

/** A member with `n` active neighbours 101..100+n that joined it. */
function hub(n: number, options = {}) {
  const h = instance('hub', options);
  const g = h.gossip;
  g.joinTopic(0, topic);
  for (let i = 1; i <= n; i++) {
    g.neighbourUp(0, peer(100 + i));
    g.handleMessage(0, peer(100 + i), encodeFrame({ type: 'join', topic, record: rec(100 + i) }));
  }
  drainTransmits(g);
  drainEvents(g);
  return g;
}

describe('membership rules', () => {
  it('a contact takes a joiner and sends forward-join walks to its other neighbours', () => {
    const g = hub(2);
    g.neighbourUp(1, peer(7));
    g.handleMessage(1, peer(7), encodeFrame({ type: 'join', topic, record: rec(7) }));
    const out = drainTransmits(g).map((t) => ({ to: t.to[0], f: decodeFrame(t.bytes) }));
    expect(out.find((o) => o.to === 7)?.f).toMatchObject({ type: 'neighbor_reply', accepted: true });
    const walks = out.filter((o) => o.f.type === 'forward_join');
    expect(walks.map((w) => w.to).sort()).toEqual([101, 102]);
    for (const w of walks)
      expect(w.f).toMatchObject({ peer: peer(7), ttl: 6, via: g.peerId, record: rec(7) });
    expect(g.topicView(topic)!.active).toHaveLength(3);
  });

  it('a full active view refuses low priority and makes room for high priority', () => {
    const g = hub(5);
    g.neighbourUp(1, peer(8));
    g.handleMessage(1, peer(8), encodeFrame({ type: 'neighbor', topic, high: false, record: rec(8) }));
    expect(framesTo(g, peer(8))).toEqual([
      expect.objectContaining({ type: 'neighbor_reply', accepted: false }),
    ]);
    expect(drainEvents(g)).toContainEqual(
      expect.objectContaining({ type: 'neighbour_dropped', cause: 'unneeded' }),
    );
    g.neighbourUp(2, peer(9));
    g.handleMessage(2, peer(9), encodeFrame({ type: 'neighbor', topic, high: true, record: rec(9) }));
    const out = drainTransmits(g).map((t) => ({ to: t.to[0], f: decodeFrame(t.bytes) }));
    expect(out).toContainEqual({
      to: 9,
      f: expect.objectContaining({ type: 'neighbor_reply', accepted: true }),
    });
    const evicted = out.find((o) => o.f.type === 'disconnect');
    expect(evicted?.f).toMatchObject({ alive: true });
    const view = g.topicView(topic)!;
    expect(view.active).toHaveLength(5);
    expect(view.active.map((p) => p[0])).toContain(9);
    // the evicted neighbour is alive: it stays a candidate, first-hand
    expect(view.passive.map((e) => e.peer[0])).toContain(evicted!.to);
  });

  it('gives up on a neighbour that does not come up within the neighbour timeout, then tries again', () => {
    const { gossip: g } = instance('lonely', { neighbourTimeoutMs: 8000, fillIntervalMs: 5000 });
    g.joinTopic(0, topic, [{ peer: peer(1), record: rec(1) }]);
    expect(drainEvents(g)).toEqual([
      { type: 'neighbour_wanted', peer: peer(1), record: rec(1), introducer: null },
    ]);
    // the host is still punching at 7.9 s: nothing happens
    g.handleTimeout(7900);
    expect(drainEvents(g).filter((e) => e.type === 'neighbour_dropped')).toEqual([]);
    g.handleTimeout(8000);
    expect(drainEvents(g)).toContainEqual({ type: 'neighbour_dropped', peer: peer(1), cause: 'timeout' });
    // the periodic check re-joins through the bootstrap member
    for (let t = 8000; t <= 16_000; t += 100) g.handleTimeout(t);
    expect(drainEvents(g)).toContainEqual(
      expect.objectContaining({ type: 'neighbour_wanted', peer: peer(1) }),
    );
  });

  it('never holds more than active view + extra connections', () => {
    const { gossip: g } = instance('busy', {
      activeViewCapacity: 5,
      extraConnections: 2,
      neighbourTimeoutMs: 3000,
    });
    g.joinTopic(0, topic);
    for (let i = 1; i <= 9; i++) g.neighbourUp(0, peer(i));
    const ev = drainEvents(g);
    expect(
      ev
        .filter((e) => e.type === 'neighbour_dropped' && e.cause === 'busy')
        .map((e) => (e as { peer: Uint8Array }).peer[0]),
    ).toEqual([8, 9]);
    expect(g.stats().connections).toBe(7);
    // connections no topic claims are let go after the neighbour timeout
    g.handleTimeout(3000);
    expect(
      drainEvents(g).filter((e) => e.type === 'neighbour_dropped' && e.cause === 'timeout'),
    ).toHaveLength(7);
    expect(g.stats().connections).toBe(0);
  });

  it('caps the passive entries one neighbour can plant (eclipse guard)', () => {
    const g = hub(2, { maxPassivePerIntroducer: 6, passiveViewCapacity: 30 });
    const hostile = peer(101);
    for (let round = 0; round < 10; round++) {
      const entries = Array.from({ length: 8 }, (_, i) => ({
        peer: peer(200 - round * 8 - i),
        record: rec(1),
      }));
      g.handleMessage(
        round,
        hostile,
        encodeFrame({
          type: 'shuffle',
          topic,
          id: new Uint8Array(8).fill(round),
          ttl: 0,
          origin: peer(50 + round),
          record: rec(50),
          entries,
        }),
      );
    }
    const passive = g.topicView(topic)!.passive;
    const fromHostile = passive.filter((e) => e.source && hex(e.source) === hex(hostile));
    expect(fromHostile.length).toBe(6); // 10 shuffles × 9 members offered, 6 kept
    expect(passive.length).toBe(fromHostile.length);
    // every accepted shuffle is answered along the way it came
    expect(framesTo(g, hostile).filter((f) => f.type === 'shuffle_reply').length).toBe(10);
  });

  it('drops membership frames from non-neighbours and over the per-neighbour budget', () => {
    const g = hub(1, { membershipBurst: 3, membershipRate: 0.001 });
    g.neighbourUp(0, peer(55));
    const shuffle = (i: number) =>
      encodeFrame({
        type: 'shuffle',
        topic,
        id: new Uint8Array(8).fill(i),
        ttl: 0,
        origin: peer(60 + i),
        record: rec(1),
        entries: [],
      });
    g.handleMessage(0, peer(55), shuffle(1));
    expect(g.stats().drops.not_neighbour).toBe(1);
    for (let i = 0; i < 5; i++) g.handleMessage(0, peer(101), shuffle(i));
    expect(g.stats().drops.budget).toBe(2);
  });
});

describe('membership in a group', () => {
  it('builds symmetric, bounded, connected views and fills passive views by shuffles', () => {
    const seed = 'views-30';
    const net = group(30, seed, {}, 20_000);
    const cap = net.options.activeViewCapacity;
    expect(net.components(), seeded(seed, 'one overlay')).toEqual([30]);
    for (const m of net.members) {
      const active = activeOf(net, m);
      expect(active.length).toBeGreaterThan(0);
      expect(active.length).toBeLessThanOrEqual(cap);
      for (const n of active) expect(activeOf(net, n), seeded(seed, 'symmetric')).toContain(m);
      expect(m.gossip.stats().connections).toBeLessThanOrEqual(cap + net.options.extraConnections);
    }
    const passive = net.members.map((m) => m.gossip.topicView(net.topic)!.passive.length);
    expect(passive.reduce((a, b) => a + b, 0) / passive.length).toBeGreaterThan(8);
    // every passive entry carries the member's record and who introduced it
    for (const m of net.members) {
      for (const e of m.gossip.topicView(net.topic)!.passive) {
        const member = net.byKey.get(hex(e.peer))!;
        expect(e.record).toEqual(net.recordOf(member));
      }
    }
  });

  it('replaces a failed neighbour from the passive view', () => {
    const seed = 'replace';
    const net = group(30, seed);
    const victim = net.members[7]!;
    const neighbours = activeOf(net, victim);
    expect(neighbours.length).toBeGreaterThan(1);
    net.crash(victim);
    net.runUntil(net.now + 20_000); // detection (≤ 5 s) + requests
    for (const n of neighbours) {
      const active = activeOf(net, n);
      expect(active).not.toContain(victim);
      expect(active.length, seeded(seed, `member ${n.index} refilled`)).toBeGreaterThanOrEqual(3);
      expect(n.gossip.topicView(net.topic)!.passive.map((e) => hex(e.peer))).not.toContain(victim.key);
    }
    expect(net.components()).toEqual([29]);
  });

  it('tells neighbours when leaving, and they forget the member', () => {
    const seed = 'leave';
    const net = group(20, seed);
    const leaver = net.members[5]!;
    const neighbours = activeOf(net, leaver);
    net.leave(leaver);
    net.runUntil(net.now + 1000); // one-way latency at most 50 ms: no failure detection involved
    for (const n of neighbours) {
      expect(activeOf(net, n)).not.toContain(leaver);
      expect(n.gossip.topicView(net.topic)!.passive.map((e) => hex(e.peer))).not.toContain(leaver.key);
    }
  });
});
