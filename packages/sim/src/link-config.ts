/** Gilbert-Elliott two-state bursty loss (Gilbert 1960, Elliott 1963), one transition per packet. */
export interface GilbertElliott {
  /** P(good -> bad) per packet. */
  pGoodToBad: number;
  /** P(bad -> good) per packet. */
  pBadToGood: number;
  /** Loss probability while in the bad state. */
  lossInBad: number;
  /** Loss probability while in the good state (default 0). */
  lossInGood?: number;
}

/** Impairments of one directional link. Every field is optional; `{}` is an ideal wire. */
export interface LinkConfig {
  /** One-way propagation delay, ms (default 0). */
  latencyMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs] per packet; may reorder packets (default 0). */
  jitterMs?: number;
  /** Serialization rate, bits per second (default: unlimited, no queue). */
  bandwidthBps?: number;
  /**
   * Drop-tail queue capacity in bytes in front of the serializer, counting the packet being sent.
   * Default: max(3000, bandwidth x 2 x latencyMs), about one bandwidth-delay product of a symmetric
   * path, so a single flow can fill the pipe and a congestion controller sees queueing, then loss.
   */
  queueBytes?: number;
  /** Independent random loss probability 0..1 (default 0). */
  loss?: number;
  /** Bursty loss model, applied in addition to `loss`. */
  gilbertElliott?: GilbertElliott;
  /** Probability a packet gets `reorderDelayMs` of extra delay, so later packets overtake it. */
  reorder?: number;
  /** Extra delay of a reordered packet, ms (default 10). */
  reorderDelayMs?: number;
  /** Probability a packet is delivered twice (the copy gets its own jitter draw). */
  duplicate?: number;
  /** Largest UDP payload in bytes that fits; larger datagrams are dropped and counted (default: none). */
  mtu?: number;
}

/** A LinkConfig with every default filled in. */
export interface ResolvedLinkConfig {
  latencyMs: number;
  jitterMs: number;
  bandwidthBps: number; // Infinity = unlimited
  queueBytes: number; // Infinity when unlimited
  loss: number;
  gilbertElliott: Required<GilbertElliott> | null;
  reorder: number;
  reorderDelayMs: number;
  duplicate: number;
  mtu: number; // Infinity = none
}

function prob(v: number | undefined, name: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new RangeError(`"${name}" expected a probability in 0..1, got ${v}`);
  }
  return v;
}

function nonNeg(v: number | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`"${name}" expected a number >= 0, got ${v}`);
  return v;
}

/** Validates `cfg` (RangeError with the field name on misuse) and fills defaults. */
export function resolveLinkConfig(cfg: LinkConfig): ResolvedLinkConfig {
  const latencyMs = nonNeg(cfg.latencyMs, 'latencyMs', 0);
  const bandwidthBps = cfg.bandwidthBps === undefined ? Number.POSITIVE_INFINITY : cfg.bandwidthBps;
  if (!(bandwidthBps > 0)) throw new RangeError(`"bandwidthBps" expected a number > 0, got ${bandwidthBps}`);
  let queueBytes: number;
  if (cfg.queueBytes !== undefined) {
    queueBytes = nonNeg(cfg.queueBytes, 'queueBytes', 0);
  } else if (bandwidthBps === Number.POSITIVE_INFINITY) {
    queueBytes = Number.POSITIVE_INFINITY;
  } else {
    // One BDP of the link's own one-way delay, doubled to approximate a round trip over a
    // symmetric path, but at least two full-size packets so a tiny-latency link still queues.
    queueBytes = Math.max(3000, Math.ceil(((bandwidthBps / 8) * 2 * latencyMs) / 1000));
  }
  const ge = cfg.gilbertElliott;
  const mtu = cfg.mtu === undefined ? Number.POSITIVE_INFINITY : cfg.mtu;
  if (!(Number.isInteger(mtu) || mtu === Number.POSITIVE_INFINITY) || mtu < 0) {
    throw new RangeError(`"mtu" expected a non-negative integer, got ${mtu}`);
  }
  return {
    latencyMs,
    jitterMs: nonNeg(cfg.jitterMs, 'jitterMs', 0),
    bandwidthBps,
    queueBytes,
    loss: prob(cfg.loss, 'loss'),
    gilbertElliott:
      ge === undefined
        ? null
        : {
            pGoodToBad: prob(ge.pGoodToBad, 'gilbertElliott.pGoodToBad'),
            pBadToGood: prob(ge.pBadToGood, 'gilbertElliott.pBadToGood'),
            lossInBad: prob(ge.lossInBad, 'gilbertElliott.lossInBad'),
            lossInGood: prob(ge.lossInGood, 'gilbertElliott.lossInGood'),
          },
    reorder: prob(cfg.reorder, 'reorder'),
    reorderDelayMs: nonNeg(cfg.reorderDelayMs, 'reorderDelayMs', 10),
    duplicate: prob(cfg.duplicate, 'duplicate'),
    mtu,
  };
}

/**
 * Long-run loss rate of a Gilbert-Elliott chain: stationary P(bad) = p/(p+r) with p = P(G->B),
 * r = P(B->G); loss = P(good)·lossInGood + P(bad)·lossInBad.
 */
export function gilbertElliottLossRate(ge: GilbertElliott): number {
  const p = ge.pGoodToBad;
  const r = ge.pBadToGood;
  const pBad = p + r === 0 ? 0 : p / (p + r);
  return (1 - pBad) * (ge.lossInGood ?? 0) + pBad * ge.lossInBad;
}
