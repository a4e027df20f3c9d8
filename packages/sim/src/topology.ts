import type { Address } from '@srmudp/wire';
import type { LinkConfig } from './link-config.js';
import { Network } from './network.js';
import type { SimNode } from './sim-node.js';

/** Addresses {@link pair} gives its two hosts. */
export const PAIR_A: Readonly<Address> = Object.freeze({ host: '10.0.0.1', port: 4433 });
export const PAIR_B: Readonly<Address> = Object.freeze({ host: '10.0.0.2', port: 4433 });

export interface PairOptions<A extends SimNode, B extends SimNode> {
  seed: number | string;
  /** Builds host "a" (at {@link PAIR_A}); gets the network so it can fork `net.rng`. */
  a: (net: Network) => A;
  /** Builds host "b" (at {@link PAIR_B}). */
  b: (net: Network) => B;
  /** Impairments of both directions (default `{}`). */
  link?: LinkConfig;
  /** Overrides a -> b. */
  ab?: LinkConfig;
  /** Overrides b -> a. */
  ba?: LinkConfig;
  startTime?: number;
}

/** Two hosts on one path, quinn-proto's `Pair`: the usual shape of a protocol test. */
export function pair<A extends SimNode, B extends SimNode>(
  opts: PairOptions<A, B>,
): { net: Network; a: A; b: B; addrA: Address; addrB: Address } {
  const net = new Network(
    opts.startTime === undefined ? { seed: opts.seed } : { seed: opts.seed, startTime: opts.startTime },
  );
  const a = opts.a(net);
  const b = opts.b(net);
  net.addHost('a', a, [{ ...PAIR_A }]);
  net.addHost('b', b, [{ ...PAIR_B }]);
  net.setLink('a', 'b', opts.ab ?? opts.link ?? {});
  net.setLink('b', 'a', opts.ba ?? opts.link ?? {});
  return { net, a, b, addrA: { ...PAIR_A }, addrB: { ...PAIR_B } };
}

export interface DumbbellOptions {
  seed: number | string;
  /** Sender/receiver factories, one entry per flow. Flow i: sender `s<i>` -> receiver `r<i>`. */
  flows: {
    sender: (net: Network, to: Address) => SimNode;
    receiver: (net: Network, from: Address) => SimNode;
  }[];
  /** The shared forward link (senders -> receivers), e.g. `{ bandwidthBps: 10e6, latencyMs: 20 }`. */
  bottleneck: LinkConfig;
  /** The shared reverse link (receivers -> senders); default: the bottleneck's latency, no rate limit. */
  reverse?: LinkConfig;
  /** Per-flow access links in front of the bottleneck (forward only); one config or one per flow; default ideal. */
  access?: LinkConfig | LinkConfig[];
}

/**
 * The classic congestion-control topology: N senders and N receivers whose forward traffic
 * shares one bottleneck link (one queue, one rate) and whose reverse traffic shares another.
 * Sender i is host `s<i>` at 10.1.<i>.1:5000, receiver i is `r<i>` at 10.2.<i>.1:5000; the
 * links are named `bottleneck`, `reverse` and `access<i>`.
 */
export function dumbbell(opts: DumbbellOptions): { net: Network; senders: Address[]; receivers: Address[] } {
  const net = new Network({ seed: opts.seed });
  net.addLink('bottleneck', opts.bottleneck);
  net.addLink('reverse', opts.reverse ?? { latencyMs: opts.bottleneck.latencyMs ?? 0 });
  const senders: Address[] = [];
  const receivers: Address[] = [];
  opts.flows.forEach((f, i) => {
    const s = { host: `10.1.${i}.1`, port: 5000 };
    const r = { host: `10.2.${i}.1`, port: 5000 };
    senders.push(s);
    receivers.push(r);
    net.addHost(`s${i}`, f.sender(net, { ...r }), [s]);
    net.addHost(`r${i}`, f.receiver(net, { ...s }), [r]);
    const access = Array.isArray(opts.access) ? opts.access[i] : opts.access;
    if (access !== undefined) {
      net.addLink(`access${i}`, access);
      net.setRoute(`s${i}`, `r${i}`, [`access${i}`, 'bottleneck']);
    } else {
      net.setRoute(`s${i}`, `r${i}`, ['bottleneck']);
    }
    net.setRoute(`r${i}`, `s${i}`, ['reverse']);
  });
  return { net, senders, receivers };
}
