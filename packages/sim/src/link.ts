import type { LinkConfig, ResolvedLinkConfig } from './link-config.js';
import { resolveLinkConfig } from './link-config.js';
import type { Rng } from './rng.js';
import type { TrafficStats } from './stats.js';
import { emptyStats } from './stats.js';

/** Outcome of {@link Link.enter}: a drop reason, or how many copies leave the link. */
export type LinkVerdict = 'loss' | 'queue' | 'mtu' | 1 | 2;

/**
 * One directional link: MTU check, drop-tail queue in front of a serializer (fluid model: the
 * backlog at time t is what the serializer still has to send), random + Gilbert-Elliott loss
 * after serialization (a lost packet still used the bottleneck), then latency, jitter, reorder
 * delay and duplication.
 */
export class Link {
  readonly name: string;
  config: ResolvedLinkConfig;
  readonly stats: TrafficStats = emptyStats();
  /** Arrival times at the far end of the copies of the last accepted packet. */
  readonly arrivals: [number, number] = [0, 0];
  readonly #rng: Rng;
  #busyUntil = Number.NEGATIVE_INFINITY;
  #geBad = false;

  constructor(name: string, cfg: LinkConfig, rng: Rng) {
    this.name = name;
    this.config = resolveLinkConfig(cfg);
    this.#rng = rng;
  }

  /** Replaces the impairments; queue contents and counters carry over. */
  configure(cfg: LinkConfig): void {
    this.config = resolveLinkConfig(cfg);
  }

  /** Bytes waiting in (or being sent by) the serializer at time `now`. */
  backlogBytes(now: number): number {
    const c = this.config;
    if (c.bandwidthBps === Number.POSITIVE_INFINITY || this.#busyUntil <= now) return 0;
    return ((this.#busyUntil - now) * c.bandwidthBps) / 8000;
  }

  /** A packet of `size` bytes enters at `now`; fills `arrivals` when it is not dropped. */
  enter(now: number, size: number): LinkVerdict {
    const c = this.config;
    const s = this.stats;
    s.sent++;
    s.bytesSent += size;
    if (size > c.mtu) {
      s.dropped.mtu++;
      return 'mtu';
    }
    let depart = now;
    if (c.bandwidthBps !== Number.POSITIVE_INFINITY) {
      const backlog = this.backlogBytes(now);
      // An idle link always accepts one packet, even one larger than the queue.
      if (backlog > 0 && backlog + size > c.queueBytes) {
        s.dropped.queue++;
        return 'queue';
      }
      depart = Math.max(now, this.#busyUntil) + (size * 8000) / c.bandwidthBps;
      this.#busyUntil = depart;
    }
    const rng = this.#rng;
    let lost = c.loss > 0 && rng.next() < c.loss;
    const ge = c.gilbertElliott;
    if (ge !== null) {
      // One Markov transition per packet, then the loss draw in the new state.
      this.#geBad = this.#geBad ? !(rng.next() < ge.pBadToGood) : rng.next() < ge.pGoodToBad;
      const p = this.#geBad ? ge.lossInBad : ge.lossInGood;
      if (p > 0 && rng.next() < p) lost = true;
    }
    if (lost) {
      s.dropped.loss++;
      return 'loss';
    }
    let arrive = depart + c.latencyMs;
    if (c.jitterMs > 0) arrive += rng.next() * c.jitterMs;
    if (c.reorder > 0 && rng.next() < c.reorder) {
      arrive += c.reorderDelayMs;
      s.reordered++;
    }
    this.arrivals[0] = arrive;
    s.delivered++;
    s.bytesDelivered += size;
    if (c.duplicate > 0 && rng.next() < c.duplicate) {
      this.arrivals[1] = depart + c.latencyMs + (c.jitterMs > 0 ? rng.next() * c.jitterMs : 0);
      s.duplicated++;
      s.delivered++;
      s.bytesDelivered += size;
      return 2;
    }
    return 1;
  }
}
