import { identityFromSecret } from '@srmudp/crypto';
import { Rng } from '@srmudp/sim';
import { Gossip, type GossipEvent, type GossipOptions, topicId } from '../src/index.js';
import { GossipNet, type Member, type NetOptions } from './sim/network.js';
import { sample } from './sim/scenario.js';

/** A group of `n` members joined one by one (50 ms apart) through random members, then settled. */
export function group(
  n: number,
  seed: string,
  opts: Omit<NetOptions, 'seed'> = {},
  settleMs = 10_000,
): GossipNet {
  const net = new GossipNet({ sharedVerifyCache: true, ...opts, seed }, topicId(`group-${seed}`));
  const rng = net.rng.fork('group');
  for (let i = 0; i < n; i++) {
    net.at(i * 50, () => {
      const m = net.addMember();
      net.join(
        m,
        sample(
          rng,
          net.contacts().filter((x) => x !== m),
          3,
        ),
      );
    });
  }
  net.runUntil(n * 50 + settleMs);
  return net;
}

/** A bare instance for unit tests: deterministic identity and randomness from `seed`. */
export function instance(
  seed: string,
  options: Partial<GossipOptions> = {},
  record = new Uint8Array([1, 2, 3]),
) {
  const rng = new Rng(seed);
  const identity = identityFromSecret(rng.bytes(32));
  const gossip = new Gossip({
    identity,
    random: (n) => rng.bytes(n),
    record,
    wallClockOffsetMs: 1_750_000_000_000,
    options,
  });
  return { gossip, identity, rng };
}

export function drainEvents(g: Gossip): GossipEvent[] {
  const out: GossipEvent[] = [];
  for (let e = g.pollEvent(); e; e = g.pollEvent()) out.push(e);
  return out;
}

export function drainTransmits(g: Gossip): { to: Uint8Array; bytes: Uint8Array }[] {
  const out: { to: Uint8Array; bytes: Uint8Array }[] = [];
  for (let t = g.pollTransmit(); t; t = g.pollTransmit()) out.push(t);
  return out;
}

export function activeOf(net: GossipNet, m: Member): Member[] {
  return (m.gossip.topicView(net.topic)?.active ?? []).map((p) => net.byKey.get(hex(p))!);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Vitest failure messages name the seed that replays them. */
export function seeded(seed: string, what: string): string {
  return `${what} (seed ${JSON.stringify(seed)})`;
}
