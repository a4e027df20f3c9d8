/**
 * The churn experiment behind the README's tables (and the simulation tests):
 *
 * 1. members join one by one (`joinSpacingMs` apart), each through up to 3 random earlier members;
 * 2. the overlay settles, then `warmupMessages` broadcasts build the Plumtree trees;
 * 3. measurement: `messages` broadcasts from random live members, `intervalMs` apart, while
 *    `churn` × members are replaced (half crash silently, half leave; each replaced by a newcomer
 *    joining through random live members);
 * 4. drain, then count.
 *
 * Delivery is checked for every member that had joined before a message was sent and was still
 * alive at the end. RMR (relative message redundancy, Plumtree's metric) = full-message frames
 * received / deliveries − 1 over the measurement phase: 0 means every member got each message
 * exactly once. LDH = hops of the last member to deliver a message.
 */

import type { Rng } from '@srmudp/sim';
import { topicId } from '../../src/index.js';
import { GossipNet, type Member, type NetOptions } from './network.js';

export function pick<T>(rng: Rng, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[rng.int(items.length)];
}

export function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  const a = items.slice();
  const n = Math.min(k, a.length);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(a.length - i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

export interface ScenarioOptions {
  seed: string;
  members: number;
  /** share of members replaced during the measurement (0.2 = 20 %) */
  churn?: number;
  messages?: number;
  warmupMessages?: number;
  intervalMs?: number;
  joinSpacingMs?: number;
  settleMs?: number;
  drainMs?: number;
  payloadBytes?: number;
  net?: Omit<NetOptions, 'seed'>;
  /** called at the start and end of the measurement (debugging) */
  inspect?: (net: GossipNet, phase: 'start' | 'end') => void;
}

export interface ScenarioResult {
  seed: string;
  members: number;
  replaced: number;
  messages: number;
  expected: number;
  delivered: number;
  /** (member index, message index) pairs that were expected and not delivered */
  missing: { member: number; message: number }[];
  duplicateDeliveries: number;
  rmr: number;
  /** last-delivery hop count (as latency: members in the group for 5 s or more), mean and max over messages */
  ldhMean: number;
  ldhMax: number;
  hopsMean: number;
  /** ms from broadcast to delivery, mean over deliveries to members in the group for 5 s or more */
  latencyMean: number;
  /** ms from broadcast to the last such delivery of a message, mean and max over messages */
  lastDeliveryMean: number;
  lastDeliveryMax: number;
  /** deliveries to members that joined less than 5 s before the message (they catch up from history) */
  newcomerDeliveries: number;
  /** ms from broadcast to delivery for those, max */
  newcomerLatencyMax: number;
  /** connections held per live member (gossip's table: up + dialling), sampled every 250 ms */
  connMax: number;
  connMean: number;
  connLimit: number;
  activeMean: number;
  controlFramesPerDelivery: number;
  bytesPerDelivery: number;
  penalties: number;
  /** connected components of the active views at the end (1 = one overlay) */
  components: number;
  simSeconds: number;
}

export function runScenario(s: ScenarioOptions): ScenarioResult {
  const churn = s.churn ?? 0.2;
  const messages = s.messages ?? 50;
  const warmup = s.warmupMessages ?? 10;
  const interval = s.intervalMs ?? 200;
  const spacing = s.joinSpacingMs ?? 50;
  const settle = s.settleMs ?? 10_000;
  const drain = s.drainMs ?? 15_000;
  const payload = s.payloadBytes ?? 64;
  const net = new GossipNet({ ...s.net, seed: s.seed }, topicId(`sim-${s.seed}`));
  const rng = net.rng.fork('scenario');
  const o = net.options;
  const connLimit = o.activeViewCapacity + o.extraConnections;

  let connMax = 0;
  let connSum = 0;
  let activeSum = 0;
  let samples = 0;
  const sampleConnections = () => {
    for (const m of net.members) {
      if (!m.alive || m.joinedAt === null) continue;
      const c = m.gossip.stats().connections;
      connMax = Math.max(connMax, c);
      connSum += c;
      activeSum += m.gossip.topicView(net.topic)!.active.length;
      samples++;
    }
  };

  const joinWith = (m: Member) => {
    net.join(
      m,
      sample(
        rng,
        net.contacts().filter((x) => x !== m),
        3,
      ),
    );
  };

  // 1. joins
  for (let i = 0; i < s.members; i++) {
    net.at(i * spacing, () => joinWith(net.addMember()));
  }
  const joinEnd = s.members * spacing;
  for (let t = 250; t < joinEnd + settle; t += 250) net.at(t, sampleConnections);
  net.runUntil(joinEnd + settle);

  // 2. warm-up broadcasts
  const payloadOf = (i: number) => {
    const d = new Uint8Array(payload);
    d[0] = i & 0xff;
    d[1] = i >> 8;
    return d;
  };
  let t = net.now;
  for (let i = 0; i < warmup; i++) {
    net.at(t + i * interval, () => {
      const origin = pick(rng, net.live(2000))!;
      net.broadcast(origin, payloadOf(60000 + i));
    });
  }
  net.runUntil(t + warmup * interval + 3000);

  // 3. measurement with churn
  net.measuring = true;
  s.inspect?.(net, 'start');
  t = net.now;
  const measureMs = messages * interval;
  const sent: { id: string; at: number; origin: Member }[] = [];
  const lastSentBy = new Map<Member, number>();
  for (let i = 0; i < messages; i++) {
    net.at(t + i * interval, () => {
      const origin = pick(rng, net.live(2000))!;
      lastSentBy.set(origin, net.now);
      sent.push({ id: net.broadcast(origin, payloadOf(i)), at: net.now, origin });
    });
  }
  const replace = Math.round(churn * s.members);
  for (let i = 0; i < replace; i++) {
    const at = t + ((i + 0.5) * measureMs) / replace;
    net.at(at, () => {
      // A member that broadcast in the last 2 s is spared, so every message has a live origin
      // while it spreads (an origin that dies at once takes its message with it).
      const victims = net.live(0).filter((m) => net.now - (lastSentBy.get(m) ?? -Infinity) > 2000);
      const victim = pick(rng, victims);
      if (victim) {
        if (rng.chance(0.5)) net.crash(victim);
        else net.leave(victim);
      }
      joinWith(net.addMember());
    });
  }
  for (let x = t + 250; x < t + measureMs + drain; x += 250) net.at(x, sampleConnections);
  net.runUntil(t + measureMs + drain);
  net.measuring = false;
  s.inspect?.(net, 'end');

  // 4. count
  let expected = 0;
  let delivered = 0;
  let hopSum = 0;
  let ldhSum = 0;
  let ldhMax = 0;
  let latSum = 0;
  let latCount = 0;
  let ldtSum = 0;
  let ldtMax = 0;
  let newcomers = 0;
  let newcomerMax = 0;
  const missing: ScenarioResult['missing'] = [];
  for (const [mi, msg] of sent.entries()) {
    let ldh = 0;
    let ldt = 0;
    for (const m of net.members) {
      if (m === msg.origin || m.joinedAt === null || m.joinedAt > msg.at || m.leftAt !== null) continue;
      expected++;
      const d = m.deliveries.get(msg.id);
      if (!d) {
        missing.push({ member: m.index, message: mi });
        continue;
      }
      delivered++;
      if (msg.at - m.joinedAt < 5000) {
        newcomers++;
        newcomerMax = Math.max(newcomerMax, d.at - msg.at);
        continue;
      }
      hopSum += d.hops;
      ldh = Math.max(ldh, d.hops);
      latSum += d.at - msg.at;
      latCount++;
      ldt = Math.max(ldt, d.at - msg.at);
    }
    ldtSum += ldt;
    ldtMax = Math.max(ldtMax, ldt);
    ldhSum += ldh;
    ldhMax = Math.max(ldhMax, ldh);
  }
  const c = net.counters;
  return {
    seed: s.seed,
    members: s.members,
    replaced: replace,
    messages,
    expected,
    delivered,
    missing,
    duplicateDeliveries: net.members.reduce((a, m) => a + m.duplicateDeliveries, 0),
    rmr: c.gossipFrames / Math.max(1, c.deliveries) - 1,
    ldhMean: ldhSum / Math.max(1, sent.length),
    ldhMax,
    hopsMean: hopSum / Math.max(1, latCount),
    latencyMean: latSum / Math.max(1, latCount),
    lastDeliveryMean: ldtSum / Math.max(1, sent.length),
    lastDeliveryMax: ldtMax,
    newcomerDeliveries: newcomers,
    newcomerLatencyMax: newcomerMax,
    connMax,
    connMean: connSum / Math.max(1, samples),
    connLimit,
    activeMean: activeSum / Math.max(1, samples),
    controlFramesPerDelivery: c.controlFrames / Math.max(1, c.deliveries),
    bytesPerDelivery: c.bytes / Math.max(1, c.deliveries),
    penalties: net.members.reduce((a, m) => a + m.penalised.length, 0),
    components: net.components().length,
    simSeconds: net.now / 1000,
  };
}
