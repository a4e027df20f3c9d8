/** Why datagrams were dropped. */
export interface DropCounts {
  /** Random or Gilbert-Elliott loss on a link. */
  loss: number;
  /** Drop-tail queue overflow at a bandwidth-limited link. */
  queue: number;
  /** Larger than a link's MTU. */
  mtu: number;
  /** Dropped by a NAT (unsolicited, filtered, no hairpinning, no free port). */
  nat: number;
  /** No host or NAT owns the destination address (or the host was removed). */
  noRoute: number;
  /** Refused by the sending host's filter (`Network.setSendFilter`). */
  filter: number;
}

/** Counters of a host, a link, a NAT or the whole network. */
export interface TrafficStats {
  /** Datagrams sent (host: emitted by the node; link: entered the link; NAT: arrived at it). */
  sent: number;
  /** Datagrams delivered (host: handed to the node; link: left the far end; NAT: forwarded). */
  delivered: number;
  /** Extra copies made by link duplication. */
  duplicated: number;
  /** Packets given the reorder delay. */
  reordered: number;
  bytesSent: number;
  bytesDelivered: number;
  dropped: DropCounts;
}

/** NAT-specific counters on top of {@link TrafficStats}. */
export interface NatStats extends TrafficStats {
  /** Mappings currently alive. */
  mappings: number;
  /** Mappings ever created. */
  mappingsCreated: number;
  /** Mappings that timed out. */
  mappingsExpired: number;
  natDrops: {
    /** Inbound to a public port with no live mapping. */
    unsolicited: number;
    /** A mapping exists but its filtering rule refuses the remote. */
    filtered: number;
    /** Sent by an inside host to the NAT's own public address while hairpinning is off. */
    hairpin: number;
    /** No free public port. */
    portExhausted: number;
  };
}

export function emptyStats(): TrafficStats {
  return {
    sent: 0,
    delivered: 0,
    duplicated: 0,
    reordered: 0,
    bytesSent: 0,
    bytesDelivered: 0,
    dropped: { loss: 0, queue: 0, mtu: 0, nat: 0, noRoute: 0, filter: 0 },
  };
}

export function cloneStats<T extends TrafficStats>(s: T): T {
  return { ...s, dropped: { ...s.dropped } };
}

/** Sum of all drop reasons. */
export function totalDropped(s: TrafficStats): number {
  const d = s.dropped;
  return d.loss + d.queue + d.mtu + d.nat + d.noRoute + d.filter;
}
