// Owns a datagram's way from the sending node to the receiving node or a drop: the copy on send,
// the next hop in the sender's realm, each link of the hop's route (queued in the time heap at its
// arrival time), NAT translation, delivery, and the counters and trace events of each step. The
// Network owns the clock and passes `now` to every call; it pops the heap and hands each arrival
// back to {@link Forwarder.hopDone}.
import { type Address, addressKey, checkAddress, sameAddress, TimerHeap } from '@srmudp/wire';
import type { Link } from './link.js';
import type { Entity, HostEntry, NatEntry, Registry } from './registry.js';
import type { Routes } from './routes.js';
import { nodeFailed, SimError } from './sim-error.js';
import type { DropCounts, TrafficStats } from './stats.js';
import { emptyStats } from './stats.js';
import { EV_DROP, EV_DUP, EV_NAT, EV_RECV, EV_SEND, type Trace } from './trace.js';
import type { Transmit } from './transmit.js';

interface Packet {
  /** Send order (copies get their own): identifies the datagram in the trace hash. */
  id: number;
  src: Address;
  dst: Address;
  data: Uint8Array;
  /** Realm the packet currently travels in. */
  realm: string;
  origin: HostEntry;
}

/** A datagram arriving at the end of a link hop (queued in the time heap at its arrival time). */
export interface LinkEvent {
  packet: Packet;
  links: Link[];
  hop: number;
  target: string;
}

/** Moves datagrams across realms, links and NATs; counts and traces every step. */
export class Forwarder {
  /** Link arrivals by time (equal times in send order). */
  readonly queue = new TimerHeap<LinkEvent>();
  /** Counters of the whole network. */
  readonly total: TrafficStats = emptyStats();
  readonly #seed: string;
  readonly #registry: Registry;
  readonly #routes: Routes;
  readonly #trace: Trace;
  #packetIds = 0;

  constructor(seed: string, registry: Registry, routes: Routes, trace: Trace) {
    this.#seed = seed;
    this.#registry = registry;
    this.#routes = routes;
    this.#trace = trace;
  }

  /** Host `h` emitted `t` at `now`: copy it and put it on its first hop. */
  send(now: number, h: HostEntry, t: Transmit): void {
    checkAddress(t.to, 'transmit.to');
    let src = h.addresses[0]!;
    if (t.from !== undefined) {
      checkAddress(t.from, 'transmit.from');
      const own = h.addresses.find((a) => sameAddress(a, t.from!));
      if (own === undefined) {
        throw new SimError(
          'SIM_NODE_FAILED',
          this.#seed,
          `host "${h.name}" sent from ${addressKey(t.from)}, which is not one of its addresses`,
        );
      }
      src = own;
    }
    // A fresh object: receivers get it as `from` and may keep or mutate it.
    src = { host: src.host, port: src.port };
    // Copy: nodes may reuse their transmit buffer, and receivers may decrypt in place.
    const data = t.data.slice();
    const size = data.length;
    h.stats.sent++;
    h.stats.bytesSent += size;
    this.total.sent++;
    this.total.bytesSent += size;
    const p: Packet = {
      id: this.#packetIds++,
      src,
      dst: { host: t.to.host, port: t.to.port },
      data,
      realm: h.realm,
      origin: h,
    };
    const tr = this.#trace;
    tr.begin(now, EV_SEND);
    tr.mix(p.id);
    tr.mix(h.id);
    tr.mixString(src.host);
    tr.mix(src.port);
    tr.mixString(p.dst.host);
    tr.mix(p.dst.port);
    tr.mix(size);
    tr.mix(digest(data));
    if (tr.limit > 0) {
      tr.line(
        now,
        `send ${h.name} #${p.id} ${addressKey(src)}>${addressKey(p.dst)} ${size} ${digest(data).toString(16)}`,
      );
    }
    const filter = h.filter;
    if (filter !== null) {
      let drop: boolean;
      try {
        drop = filter({ from: p.src, to: p.dst, data: p.data }, now);
      } catch (e) {
        throw nodeFailed(this.#seed, h.name, 'send filter', now, e);
      }
      if (drop) {
        this.#drop(now, p, 'filter', h.name, null);
        return;
      }
    }
    this.#forward(now, p, h);
  }

  /** A datagram reached the end of a link (popped from {@link queue} at `now`): next link, or the hop's target. */
  hopDone(now: number, ev: LinkEvent): void {
    const p = ev.packet;
    if (ev.hop + 1 < ev.links.length) {
      this.#enterLinks(now, p, ev.links, ev.hop + 1, ev.target);
      return;
    }
    const h = this.#registry.hosts.get(ev.target);
    if (h !== undefined) {
      this.#deliver(now, h, p);
      return;
    }
    const n = this.#registry.nats.get(ev.target);
    if (n !== undefined) {
      this.#natArrive(now, n, p);
      return;
    }
    this.#drop(now, p, 'noRoute', ev.target, null);
  }

  /** Picks the next entity for `p` in its realm and puts it on the route from `at` to it. */
  #forward(now: number, p: Packet, at: Entity): void {
    const realm = this.#registry.realms.get(p.realm)!;
    let next: Entity | undefined = realm.hosts.get(addressKey(p.dst));
    if (next === undefined && !realm.hostIps.has(p.dst.host)) {
      next = realm.nats.get(p.dst.host);
      if (next === undefined && realm.gateway !== null && at !== realm.gateway) next = realm.gateway;
    }
    if (next === undefined) {
      this.#drop(now, p, 'noRoute', at.name, null);
      return;
    }
    this.#enterLinks(now, p, this.#routes.route(at.name, next.name), 0, next.name);
  }

  #enterLinks(now: number, p: Packet, links: Link[], hop: number, target: string): void {
    const link = links[hop]!;
    const v = link.enter(now, p.data.length);
    if (typeof v === 'string') {
      this.#drop(now, p, v, link.name, null);
      return;
    }
    this.queue.push(link.arrivals[0], { packet: p, links, hop, target });
    if (v === 2) {
      const copy: Packet = { ...p, id: this.#packetIds++, data: p.data.slice() };
      this.total.duplicated++;
      p.origin.stats.duplicated++;
      this.#trace.begin(now, EV_DUP);
      this.#trace.mix(p.id);
      this.#trace.mix(copy.id);
      if (this.#trace.limit > 0) this.#trace.line(now, `dup ${link.name} #${p.id} as #${copy.id}`);
      this.queue.push(link.arrivals[1], { packet: copy, links, hop, target });
    }
  }

  #deliver(now: number, h: HostEntry, p: Packet): void {
    if (h.realm !== p.realm || !h.keys.has(addressKey(p.dst))) {
      this.#drop(now, p, 'noRoute', h.name, null);
      return;
    }
    const size = p.data.length;
    h.stats.delivered++;
    h.stats.bytesDelivered += size;
    this.total.delivered++;
    this.total.bytesDelivered += size;
    this.#trace.begin(now, EV_RECV);
    this.#trace.mix(p.id);
    this.#trace.mix(h.id);
    if (this.#trace.limit > 0) {
      this.#trace.line(now, `recv ${h.name} #${p.id} ${addressKey(p.src)}>${addressKey(p.dst)} ${size}`);
    }
    try {
      h.node.handle(now, p.src, p.dst, p.data);
    } catch (e) {
      throw nodeFailed(this.#seed, h.name, 'handle', now, e);
    }
  }

  #natArrive(now: number, e: NatEntry, p: Packet): void {
    const nat = e.nat;
    const s = nat.stats;
    s.sent++;
    s.bytesSent += p.data.length;
    if (p.realm === e.name) {
      // From the inside: translate the source (RFC 4787 §4), maybe hairpin (§6).
      const port = nat.outbound(now, p.src, p.dst);
      if (port === null) {
        this.#drop(now, p, 'nat', e.name, 'no free port');
        return;
      }
      const from = { host: nat.publicIp, port };
      if (p.dst.host === nat.publicIp) {
        if (!nat.hairpin) {
          s.natDrops.hairpin++;
          this.#drop(now, p, 'nat', e.name, 'hairpin off');
          return;
        }
        p.src = from;
        this.#natInbound(now, e, p);
        return;
      }
      p.src = from;
      p.realm = e.outer;
      this.#natForwarded(now, e, p);
      return;
    }
    this.#natInbound(now, e, p);
  }

  #natInbound(now: number, e: NatEntry, p: Packet): void {
    const nat = e.nat;
    const r = nat.inbound(now, p.src, p.dst.port);
    if (typeof r === 'string') {
      nat.stats.natDrops[r]++;
      this.#drop(now, p, 'nat', e.name, r);
      return;
    }
    p.dst = { host: r.host, port: r.port };
    p.realm = e.name;
    this.#natForwarded(now, e, p);
  }

  #natForwarded(now: number, e: NatEntry, p: Packet): void {
    e.nat.stats.delivered++;
    e.nat.stats.bytesDelivered += p.data.length;
    const tr = this.#trace;
    tr.begin(now, EV_NAT);
    tr.mix(p.id);
    tr.mixString(p.src.host);
    tr.mix(p.src.port);
    tr.mixString(p.dst.host);
    tr.mix(p.dst.port);
    if (tr.limit > 0) tr.line(now, `nat ${e.name} #${p.id} ${addressKey(p.src)}>${addressKey(p.dst)}`);
    this.#forward(now, p, e);
  }

  #drop(now: number, p: Packet, reason: keyof DropCounts, where: string, detail: string | null): void {
    this.total.dropped[reason]++;
    p.origin.stats.dropped[reason]++;
    const nats = this.#registry.nats;
    if (reason === 'nat' || (reason === 'noRoute' && nats.has(where))) {
      const n = nats.get(where);
      if (n !== undefined) n.nat.stats.dropped[reason]++;
    }
    const tr = this.#trace;
    tr.begin(now, EV_DROP);
    tr.mix(p.id);
    tr.mixString(reason);
    tr.mixString(where);
    if (tr.limit > 0) {
      tr.line(
        now,
        `drop ${reason}${detail === null ? '' : `(${detail})`} ${where} #${p.id} ${addressKey(p.src)}>${addressKey(p.dst)} ${p.data.length}`,
      );
    }
  }
}

/** Short content digest for the trace: FNV-1a of up to the first 32 bytes. */
function digest(d: Uint8Array): number {
  let h = 0x811c9dc5;
  const n = Math.min(d.length, 32);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return h >>> 0;
}
