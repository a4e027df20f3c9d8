// A relay client's bindings: one per circuit we hold on the hop, with when it was bound and when it
// expires at the relay, whether it carried traffic since (only then is it refreshed: data alone
// never keeps a binding alive), and when to refresh or give it up. The data through them passes
// here too (wrap/unwrap), since that is what marks a binding used. The REFRESH requests
// themselves, like every request, are relay-client.ts's.
import { equalBytes } from '@srmudp/wire';
import {
  CHANNEL_HEADER_LENGTH,
  MAX_CHANNEL_PAYLOAD,
  peekChannel,
  writeChannelHeader,
} from './channel-data.js';
import type { CircuitLimits } from './limits.js';
import type { RelayClientStats } from './relay-metrics.js';

export interface Channel {
  readonly channel: number;
  readonly peer: Uint8Array;
  readonly role: 'requester' | 'target';
  readonly limits: CircuitLimits;
  boundAt: number;
  expiresAt: number;
  used: boolean;
  refreshing: boolean;
}

/** A circuit we hold on the hop, as `RelayClient.channels()` reports it. */
export interface ChannelInfo {
  readonly channel: number;
  readonly peer: Uint8Array;
  readonly role: 'requester' | 'target';
  readonly limits: CircuitLimits;
  readonly expiresAt: number;
}

/**
 * A binding the relay did not close by its expiry is given up this much later: the relay is
 * authoritative and its CLOSE (with the typed reason: expired, duration_limit) normally arrives
 * first.
 */
export const EXPIRY_GRACE_MS = 2_000;

/** When a used binding is refreshed: two thirds into its lifetime. */
export function refreshAt(c: Channel): number {
  return c.boundAt + ((c.expiresAt - c.boundAt) * 2) / 3;
}

export class ClientBindings {
  readonly #channels = new Map<number, Channel>();

  /** `stats`: the client's counters (packets and bytes in and out, unwrap drops are counted here) */
  constructor(private readonly stats: RelayClientStats) {}

  get(channel: number): Channel | undefined {
    return this.#channels.get(channel);
  }

  has(channel: number): boolean {
    return this.#channels.has(channel);
  }

  /** Forgets `channel`; false when it was not bound. */
  delete(channel: number): boolean {
    return this.#channels.delete(channel);
  }

  /** The channels bound now (a copy: safe to close them while iterating). */
  numbers(): number[] {
    return [...this.#channels.keys()];
  }

  /** The relay bound `channel` for us (BOUND to a CONNECT or ACCEPT), expiring `expiresInMs` from now. */
  bind(
    now: number,
    b: { channel: number; peer: Uint8Array; role: 'requester' | 'target'; limits: CircuitLimits },
    expiresInMs: number,
  ): Channel {
    const ch: Channel = { ...b, boundAt: now, expiresAt: now + expiresInMs, used: false, refreshing: false };
    this.#channels.set(b.channel, ch);
    return ch;
  }

  /** The relay answered our REFRESH: a new lifetime, unused again. */
  refreshed(now: number, ch: Channel, expiresInMs: number): void {
    ch.boundAt = now;
    ch.expiresAt = now + expiresInMs;
    ch.used = false;
    ch.refreshing = false;
  }

  list(): ChannelInfo[] {
    return [...this.#channels.values()].map((c) => ({
      channel: c.channel,
      peer: c.peer,
      role: c.role,
      limits: c.limits,
      expiresAt: c.expiresAt,
    }));
  }

  /** The channel of our circuit to `peer`, or -1. */
  channelOf(peer: Uint8Array): number {
    for (const c of this.#channels.values()) if (equalBytes(c.peer, peer)) return c.channel;
    return -1;
  }

  /** See RelayClient.wrap. */
  wrap(channel: number, packet: Uint8Array): Uint8Array | null {
    const ch = this.#channels.get(channel);
    if (!ch) return null;
    if (packet.length === 0 || packet.length > MAX_CHANNEL_PAYLOAD) {
      throw new RangeError(`"packet" length ${packet.length} outside [1, ${MAX_CHANNEL_PAYLOAD}]`);
    }
    const out = new Uint8Array(CHANNEL_HEADER_LENGTH + packet.length);
    writeChannelHeader(out, 0, channel, packet.length);
    out.set(packet, CHANNEL_HEADER_LENGTH);
    ch.used = true;
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.length;
    return out;
  }

  /** See RelayClient.unwrap. */
  unwrap(bytes: Uint8Array): { channel: number; peer: Uint8Array; packet: Uint8Array } | null {
    const channel = peekChannel(bytes);
    if (channel < 0) {
      this.stats.dropped.malformed++;
      return null;
    }
    const ch = this.#channels.get(channel);
    if (!ch) {
      this.stats.dropped.unknown_channel++;
      return null;
    }
    ch.used = true;
    this.stats.packetsIn++;
    this.stats.bytesIn += bytes.length - CHANNEL_HEADER_LENGTH;
    return { channel, peer: ch.peer, packet: bytes.subarray(CHANNEL_HEADER_LENGTH) };
  }

  /**
   * The earliest time a binding is given up (its expiry plus the grace) or, when `canRefresh`
   * (the relay greeted the session), a used one is due for its refresh; +Inf when none.
   */
  nextTimeout(canRefresh: boolean): number {
    let t = Number.POSITIVE_INFINITY;
    for (const c of this.#channels.values()) {
      if (c.expiresAt + EXPIRY_GRACE_MS < t) t = c.expiresAt + EXPIRY_GRACE_MS;
      if (c.used && !c.refreshing && canRefresh) t = Math.min(t, refreshAt(c));
    }
    return t;
  }

  /** The bindings whose time came at `now`: each one given up goes to `expire`, each one due for a refresh to `refresh`. */
  due(now: number, canRefresh: boolean, expire: (c: Channel) => void, refresh: (c: Channel) => void): void {
    for (const c of [...this.#channels.values()]) {
      if (c.expiresAt + EXPIRY_GRACE_MS <= now) expire(c);
      else if (c.used && !c.refreshing && canRefresh && refreshAt(c) <= now) refresh(c);
    }
  }
}
