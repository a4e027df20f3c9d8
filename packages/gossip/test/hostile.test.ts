// Hostile members: forged, replayed and malformed messages, flooding, a banned neighbour under
// the other form of its peer id, and input fuzzing.
import { identityFromSecret, samePeer } from '@srmudp/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createMessage,
  decodeFrame,
  encodeFrame,
  encodeGossipFrame,
  identitySigner,
  messageId,
  topicId,
} from '../src/index.js';
import { frameArb } from './arbitraries.js';
import { activeOf, drainEvents, group, hex, instance, seeded } from './helpers.js';
import type { GossipNet, Member } from './sim/network.js';

/** Captured GOSSIP frames the member `spy` received. */
function gossipFramesSeenBy(net: GossipNet, spy: Member) {
  return net.captured.filter((c) => c.to === spy.key && c.bytes[1] === 0x10);
}

/** The neighbours of `m` that penalised it, with the reasons. */
function penalisedBy(net: GossipNet, m: Member): Map<number, string> {
  const out = new Map<number, string>();
  for (const x of net.members) for (const p of x.penalised) if (p.peer === m.key) out.set(x.index, p.reason);
  return out;
}

describe('hostile members', () => {
  it('a forged message is dropped by every neighbour, which disconnects its sender', () => {
    const seed = 'forge';
    const net = group(20, seed, { sharedVerifyCache: false });
    const hostile = net.members[6]!;
    net.capture.add(hostile.key);
    const honest = net.members[2]!;
    const realId = net.broadcast(honest, new TextEncoder().encode('pay alice 10'));
    net.runUntil(net.now + 2000);
    const frame = gossipFramesSeenBy(net, hostile)[0]!.bytes.slice();
    // same origin and signature, changed payload
    const f = decodeFrame(frame);
    if (f.type !== 'gossip' || f.message.payload.kind !== 'inline') throw new Error('unexpected capture');
    const tamperedPayload = new TextEncoder().encode('pay mallory 99');
    const forged = createMessage(identitySigner(identityFromSecret(new Uint8Array(32).fill(66))), net.topic, {
      issuedAt: f.message.issuedAt,
      seq: f.message.seq,
      payload: { kind: 'inline', data: tamperedPayload },
    }).message;
    // graft the origin's identity onto a message signed by someone else
    const body = forged.bytes.slice();
    body.set(f.message.origin, 0);
    const forgedId = hex(messageId(net.topic, body.subarray(0, forged.body.length)));
    const neighbours = activeOf(net, hostile);
    expect(neighbours.length).toBeGreaterThan(0);
    for (const n of neighbours) net.inject(hostile, n, encodeGossipFrame(net.topic, 1, body));
    net.runUntil(net.now + 3000);
    const penalties = penalisedBy(net, hostile);
    expect([...penalties.keys()].sort(), seeded(seed, 'every neighbour penalised it')).toEqual(
      neighbours.map((n) => n.index).sort(),
    );
    expect(new Set(penalties.values())).toEqual(new Set(['FORGED']));
    for (const n of neighbours) expect(net.linkOpen(hostile, n)).toBe(false);
    for (const m of net.members) expect(m.deliveries.has(forgedId)).toBe(false);
    expect(realId).not.toBe(forgedId);
    // and the hostile member is refused if it comes back
    const n0 = neighbours[0]!;
    n0.gossip.neighbourUp(net.now, hostile.id);
    expect(drainEvents(n0.gossip)).toContainEqual({
      type: 'neighbour_dropped',
      peer: hostile.id,
      cause: 'penalised',
    });
  });

  it('an old message replayed is dropped and its sender disconnected', () => {
    const seed = 'replay-old';
    const net = group(20, seed);
    const hostile = net.members[9]!;
    net.capture.add(hostile.key);
    const id = net.broadcast(net.members[1]!, new Uint8Array([1, 2, 3]));
    net.runUntil(net.now + 2000);
    const captured = gossipFramesSeenBy(net, hostile)[0]!.bytes;
    const deliveredBefore = net.members.filter((m) => m.deliveries.has(id)).length;
    net.runUntil(net.now + 5 * 60_000); // beyond the replay window (120 s + 30 s skew)
    const neighbours = activeOf(net, hostile);
    for (const n of neighbours) net.inject(hostile, n, captured);
    net.runUntil(net.now + 2000);
    expect(new Set(penalisedBy(net, hostile).values()), seeded(seed, 'reasons')).toEqual(
      new Set(['REPLAYED']),
    );
    expect(penalisedBy(net, hostile).size).toBe(neighbours.length);
    expect(net.members.filter((m) => m.deliveries.has(id)).length).toBe(deliveredBefore);
    expect(net.members.reduce((a, m) => a + m.duplicateDeliveries, 0)).toBe(0);
    expect(net.members.reduce((a, m) => a + m.gossip.stats().drops.stale, 0)).toBeGreaterThanOrEqual(
      neighbours.length,
    );
  });

  it('recent messages replayed over and over get their sender disconnected, never delivered twice', () => {
    const seed = 'replay-recent';
    const net = group(20, seed);
    const hostile = net.members[4]!;
    net.capture.add(hostile.key);
    for (let i = 0; i < 5; i++) net.broadcast(net.members[10 + i]!, new Uint8Array([i]));
    net.runUntil(net.now + 2000);
    const frames = gossipFramesSeenBy(net, hostile).map((c) => c.bytes);
    const target = activeOf(net, hostile)[0]!;
    for (let i = 0; i < 200; i++) {
      net.at(net.now + i * 50, () => net.inject(hostile, target, frames[i % frames.length]!));
    }
    net.runUntil(net.now + 200 * 50 + 1000);
    expect(penalisedBy(net, hostile).get(target.index), seeded(seed, 'target penalised the replayer')).toBe(
      'REPLAYED',
    );
    expect(net.linkOpen(hostile, target)).toBe(false);
    expect(net.members.reduce((a, m) => a + m.duplicateDeliveries, 0)).toBe(0);
  });

  it('a flooding member is held to the per-origin rate, and disconnected by its neighbours', () => {
    const seed = 'flood';
    const net = group(20, seed);
    // a member that lifted its own limit (others keep theirs: 20 messages/s, burst 50)
    const flooder = net.addMember({ originRate: 100_000, originBurst: 100_000 });
    net.join(flooder, [net.members[0]!, net.members[1]!]);
    net.runUntil(net.now + 5000);
    const start = net.now;
    const ids = new Set<string>();
    for (let i = 0; i < 300; i++) {
      net.at(start + i * 3, () => {
        if (flooder.alive) ids.add(net.broadcast(flooder, new Uint8Array([i & 0xff, i >> 8])));
      });
    }
    const honest = net.members[3]!;
    let honestId = '';
    net.at(start + 2000, () => {
      honestId = net.broadcast(honest, new Uint8Array([7]));
    });
    net.runUntil(start + 6000);
    // Every member holds the flooder to its own bucket: at most 50 + 20/s over the time its
    // copies arrived (grafts may bring admitted messages later; a penalised flooder may reach a
    // few fresh neighbours, so the group as a whole sees more than one bucket's worth, each member
    // never more).
    const union = new Set<string>();
    for (const m of net.members) {
      if (m === flooder) continue;
      const got = [...m.deliveries].filter(([k]) => ids.has(k));
      for (const [k] of got) union.add(k);
      if (got.length > 0) {
        const window = (Math.max(...got.map(([, d]) => d.at)) - Math.min(...got.map(([, d]) => d.at))) / 1000;
        expect(got.length, seeded(seed, `member ${m.index}`)).toBeLessThanOrEqual(50 + 20 * window + 1);
      }
      if (m !== honest)
        expect(m.deliveries.has(honestId), seeded(seed, 'honest traffic still flows')).toBe(true);
    }
    expect(union.size, seeded(seed, 'flood messages carried')).toBeLessThan(150);
    const reasons = penalisedBy(net, flooder);
    expect(reasons.size, seeded(seed, 'neighbours disconnected the flooder')).toBeGreaterThan(0);
    expect(new Set(reasons.values())).toEqual(new Set(['FLOODING']));
    expect(net.members.reduce((a, m) => a + m.gossip.stats().drops.rate_limited, 0)).toBeGreaterThan(100);
  });

  it('malformed bytes get their sender penalised', () => {
    const seed = 'malformed';
    const net = group(10, seed);
    const hostile = net.members[3]!;
    const target = activeOf(net, hostile)[0]!;
    net.inject(hostile, target, new Uint8Array([1, 0x10, ...new Uint8Array(32), 0xff, 0xff]));
    net.runUntil(net.now + 500);
    expect(penalisedBy(net, hostile).get(target.index)).toBe('MALFORMED');
    // a frame of a future version is dropped without blame
    const other = net.members[5]!;
    const n = activeOf(net, other)[0]!;
    net.inject(other, n, new Uint8Array([2, 0x10, 1, 2, 3]));
    net.runUntil(net.now + 500);
    expect(penalisedBy(net, other).size).toBe(0);
    expect(n.gossip.stats().drops.unsupported_version).toBe(1);
  });

  it('a banned neighbour stays banned under the other form of its peer id (the sign bit flipped: the same key holder)', () => {
    const net = group(10, 'ban-other-form');
    const hostile = net.members[3]!;
    const target = activeOf(net, hostile)[0]!;
    net.inject(hostile, target, new Uint8Array([1, 0x10, ...new Uint8Array(32), 0xff, 0xff]));
    net.runUntil(net.now + 500);
    expect(penalisedBy(net, hostile).get(target.index)).toBe('MALFORMED');
    const other = hostile.id.slice();
    other[31] = (other[31] as number) ^ 0x80;
    expect(samePeer(other, hostile.id)).toBe(true);
    const before = target.gossip.stats().drops.banned;
    target.gossip.neighbourUp(net.now, other);
    expect(drainEvents(target.gossip).filter((e) => e.type === 'neighbour_dropped')).toEqual([
      expect.objectContaining({ peer: other, cause: 'penalised' }),
    ]);
    target.gossip.handleMessage(net.now, other, new Uint8Array([1, 0x10, 1, 2, 3]));
    expect(target.gossip.stats().drops.banned).toBe(before + 1);
    // another member is no neighbour it banned
    expect(penalisedBy(net, net.members[5]!).size).toBe(0);
  });

  it('survives any sequence of inputs from neighbours (fuzz)', () => {
    const topic = topicId('fuzz');
    const peers = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => new Uint8Array(32).fill(i));
    const origin = identityFromSecret(new Uint8Array(32).fill(42));
    const input = fc.oneof(
      frameArb.map((f) => ({ kind: 'frame' as const, f })),
      fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'bytes' as const, b })),
      fc.integer({ min: 0, max: 255 }).map((seq) => ({ kind: 'valid' as const, seq })),
      fc.constantFrom('up', 'down', 'timeout', 'broadcast').map((kind) => ({ kind })),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(8), fc.nat(2000), input), { maxLength: 60 }),
        fc.nat(),
        (steps, seed) => {
          const { gossip: g } = instance(`fuzz-${seed}`, { activeViewCapacity: 3, extraConnections: 2 });
          g.joinTopic(0, topic, [{ peer: peers[0]!, record: new Uint8Array([1]) }]);
          let now = 0;
          for (const [p, dt, x] of steps) {
            now += dt;
            const from = peers[p]!;
            switch (x.kind) {
              case 'frame':
                // half the frames on our topic, so they reach the state machine's rules
                g.handleMessage(now, from, encodeFrame(p % 2 === 0 ? { ...x.f, topic } : x.f));
                break;
              case 'bytes':
                g.handleMessage(now, from, x.b);
                break;
              case 'valid': {
                const m = createMessage(identitySigner(origin), topic, {
                  issuedAt: 1_750_000_000_000 + now,
                  seq: x.seq,
                  payload: { kind: 'inline', data: new Uint8Array([x.seq]) },
                });
                g.handleMessage(now, from, encodeGossipFrame(topic, 1, m.message.bytes));
                break;
              }
              case 'up':
                g.neighbourUp(now, from);
                break;
              case 'down':
                g.neighbourDown(now, from);
                break;
              case 'timeout':
                g.handleTimeout(now);
                break;
              case 'broadcast':
                try {
                  g.broadcast(now, topic, new Uint8Array([1]));
                } catch (e) {
                  if ((e as { code?: string }).code !== 'GOSSIP_RATE_LIMITED') throw e;
                }
                break;
            }
            while (g.pollTransmit());
            for (let e = g.pollEvent(); e; e = g.pollEvent());
            expect(g.stats().connections).toBeLessThanOrEqual(3 + 2);
            expect(g.topicView(topic)!.active.length).toBeLessThanOrEqual(3);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
