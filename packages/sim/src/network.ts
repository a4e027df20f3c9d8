// Why one file of ~900 lines: the simulator's event loop, topology (hosts, NATs, realms),
// routing and link scheduling share the private realm and route tables; links, NAT models, the
// RNG, traces and stats are their own files. Splitting the class would expose those tables.
import { type Address, addressKey, checkAddress, sameAddress, TimerHeap } from '@srmudp/wire';
import { Link } from './link.js';
import type { LinkConfig } from './link-config.js';
import type { NatConfig } from './nat.js';
import { Nat } from './nat.js';
import { Rng } from './rng.js';
import { SimError } from './sim-error.js';
import type { SimNode } from './sim-node.js';
import type { DropCounts, NatStats, TrafficStats } from './stats.js';
import { cloneStats, emptyStats } from './stats.js';
import { Trace } from './trace.js';
import type { Transmit } from './transmit.js';

export interface NetworkOptions {
  seed: number | string;
  /** Virtual clock at creation, ms (default 0). */
  startTime?: number;
  /** Impairments of every link not configured with setLink/setPath/setRoute (default `{}`: ideal). */
  defaultLink?: LinkConfig;
  /**
   * How many readable trace lines to keep (a ring; see `trace()`); default 0 = none, which is
   * faster. `traceHash()` covers every event either way.
   */
  traceLimit?: number;
  /** A node emitting more datagrams than this in one poll is a bug: SimError (default 100000). */
  maxTransmitsPerPoll?: number;
}

export interface HostOptions {
  /** Name of the NAT this host sits behind (its addresses are then private); default: public internet. */
  nat?: string;
}

export interface DriveOptions {
  /** Stop as soon as this returns true (checked before every step). */
  until?: (net: Network) => boolean;
  /** Run for at most this much virtual time from now; the clock then ends at now + maxTimeMs. */
  maxTimeMs?: number;
  /** Absolute variant of maxTimeMs. */
  untilTime?: number;
  /** Throw a SimError after this many steps (default 1,000,000). */
  maxSteps?: number;
}

/** Why drive() returned. */
export type DriveResult = 'idle' | 'until' | 'time';

interface HostEntry {
  kind: 'host';
  /** Creation order, never reused: identifies the host in the trace hash. */
  id: number;
  name: string;
  node: SimNode;
  addresses: Address[];
  keys: Set<string>;
  realm: string;
  timer: number | null;
  stats: TrafficStats;
  removed: boolean;
}

interface NatEntry {
  kind: 'nat';
  name: string;
  nat: Nat;
  /** The realm its public IP lives in. */
  outer: string;
}

type Entity = HostEntry | NatEntry;

interface Realm {
  /** addressKey -> host */
  hosts: Map<string, HostEntry>;
  /** ips owned by hosts (a packet to a known ip but unknown port is not sent to the gateway) */
  hostIps: Map<string, number>;
  /** public ip -> NAT whose outside is this realm */
  nats: Map<string, NatEntry>;
  /** the NAT whose inside this realm is, or null for the internet */
  gateway: NatEntry | null;
}

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
interface LinkEvent {
  packet: Packet;
  links: Link[];
  hop: number;
  target: string;
}

const INTERNET = '';

// Event kinds mixed into the trace hash.
const EV_SEND = 1;
const EV_RECV = 2;
const EV_DROP = 3;
const EV_DUP = 4;
const EV_NAT = 5;
const EV_TIMER = 6;
const EV_TOPOLOGY = 7;
const EV_NOTE = 8;

/**
 * A deterministic network of sans-IO nodes on a virtual clock (quinn-proto's test `Pair`,
 * generalised to many hosts, links and NATs). Nothing happens between calls: `step()` advances
 * the clock to the next event (a link delivering a datagram, or a node timer) and processes it;
 * nodes are polled after every event.
 */
export class Network {
  readonly seed: string;
  /** Root generator of the run; nodes may fork it for their own randomness. Links and NATs use their own forks. */
  readonly rng: Rng;
  readonly #hosts = new Map<string, HostEntry>();
  readonly #hostList: HostEntry[] = [];
  readonly #nats = new Map<string, NatEntry>();
  readonly #realms = new Map<string, Realm>();
  readonly #links = new Map<string, Link>();
  readonly #routes = new Map<string, Link[]>();
  readonly #queue = new TimerHeap<LinkEvent>();
  readonly #trace: Trace;
  readonly #total: TrafficStats = emptyStats();
  readonly #maxTransmits: number;
  #defaultLink: LinkConfig;
  #now: number;
  #hostIds = 0;
  #packetIds = 0;
  #steps = 0;
  #inStep = false;

  constructor(opts: NetworkOptions) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('"opts" expected { seed }');
    this.rng = new Rng(opts.seed);
    this.seed = this.rng.seed;
    const t = opts.startTime ?? 0;
    if (!Number.isFinite(t)) throw new RangeError(`"startTime" expected a finite number, got ${t}`);
    this.#now = t;
    this.#defaultLink = opts.defaultLink ?? {};
    new Link('default', this.#defaultLink, this.rng); // validate early
    this.#trace = new Trace(opts.traceLimit ?? 0);
    this.#maxTransmits = opts.maxTransmitsPerPoll ?? 100_000;
    this.#realms.set(INTERNET, { hosts: new Map(), hostIps: new Map(), nats: new Map(), gateway: null });
  }

  /** Virtual time, ms. Never goes backwards. */
  get now(): number {
    return this.#now;
  }

  /** Events processed so far. */
  get steps(): number {
    return this.#steps;
  }

  // ---------------------------------------------------------------- topology

  /** Adds a host running `node` with sockets at `addresses` (the first is the primary). */
  addHost(name: string, node: SimNode, addresses: Address[], opts: HostOptions = {}): void {
    this.#checkNewName(name);
    if (typeof node?.handle !== 'function' || typeof node.pollTransmit !== 'function') {
      throw new TypeError(`"node" expected a SimNode (handle, handleTimeout, pollTransmit, pollTimeout)`);
    }
    const h: HostEntry = {
      kind: 'host',
      id: this.#hostIds++,
      name,
      node,
      addresses: [],
      keys: new Set(),
      realm: INTERNET,
      timer: null,
      stats: emptyStats(),
      removed: false,
    };
    this.#attach(h, addresses, opts);
    this.#hosts.set(name, h);
    this.#hostList.push(h);
    this.#readTimer(h);
  }

  /**
   * Moves a host to new addresses and/or behind another NAT (a network change: Wi-Fi to LTE).
   * Datagrams in flight to its old addresses are dropped as noRoute when they arrive.
   */
  moveHost(name: string, addresses: Address[], opts: HostOptions = {}): void {
    const h = this.#host(name);
    const before = { addresses: h.addresses, nat: h.realm === INTERNET ? undefined : h.realm };
    this.#detach(h);
    try {
      this.#attach(h, addresses, opts);
    } catch (e) {
      this.#attach(h, before.addresses, before.nat === undefined ? {} : { nat: before.nat });
      throw e;
    }
    const text = `move ${name} ${h.addresses.map(addressKey).join(',')}`;
    this.#trace.begin(this.#now, EV_TOPOLOGY);
    this.#trace.mixString(text);
    if (this.#trace.limit > 0) this.#trace.line(this.#now, text);
  }

  /** Removes a host; its node is never called again. */
  removeHost(name: string): void {
    const h = this.#host(name);
    this.#detach(h);
    h.removed = true;
    this.#hosts.delete(name);
    this.#hostList.splice(this.#hostList.indexOf(h), 1);
    this.#trace.begin(this.#now, EV_TOPOLOGY);
    this.#trace.mixString(`remove ${name}`);
    if (this.#trace.limit > 0) this.#trace.line(this.#now, `remove ${name}`);
  }

  /** The node of a host. */
  node(name: string): SimNode {
    return this.#host(name).node;
  }

  /** The current addresses of a host (primary first). */
  addresses(name: string): Address[] {
    return this.#host(name).addresses.map((a) => ({ ...a }));
  }

  /**
   * Adds a NAT. Its outside (public IP) lives on the internet, or inside `cfg.behind` (CGNAT);
   * hosts join its inside with `addHost(name, node, privateAddresses, { nat: name })`.
   */
  addNat(name: string, cfg: NatConfig): Nat {
    this.#checkNewName(name);
    const nat = new Nat(name, cfg, this.rng.fork(`nat:${name}`));
    const outer = nat.behind ?? INTERNET;
    const realm = this.#realm(outer, `"behind" names no NAT: ${String(nat.behind)}`);
    if (realm.nats.has(nat.publicIp) || realm.hostIps.has(nat.publicIp)) {
      throw new RangeError(`address ${nat.publicIp} is already used in that network`);
    }
    const e: NatEntry = { kind: 'nat', name, nat, outer };
    realm.nats.set(nat.publicIp, e);
    this.#nats.set(name, e);
    this.#realms.set(name, { hosts: new Map(), hostIps: new Map(), nats: new Map(), gateway: e });
    return nat;
  }

  /** The NAT object (translation table inspection: `nat(name).mappings(net.now)`). */
  nat(name: string): Nat {
    const e = this.#nats.get(name);
    if (e === undefined) throw new RangeError(`no NAT named "${name}"`);
    return e.nat;
  }

  /**
   * Configures the directional link used between two adjacent hosts/NATs (`from` -> `to`), named
   * `"from->to"`. Adjacent means: two hosts or NATs on the same network, or a NAT and a host or
   * NAT on its inside. Reconfiguring keeps the link's queue and counters.
   */
  setLink(from: string, to: string, cfg: LinkConfig): void {
    this.#checkAdjacent(from, to);
    const name = `${from}->${to}`;
    const link = this.#links.get(name);
    if (link === undefined) this.#links.set(name, new Link(name, cfg, this.rng.fork(`link:${name}`)));
    else link.configure(cfg);
    this.#routes.set(routeKey(from, to), [this.#links.get(name)!]);
  }

  /** setLink in both directions with the same impairments (two independent links). */
  setPath(a: string, b: string, cfg: LinkConfig): void {
    this.setLink(a, b, cfg);
    this.setLink(b, a, cfg);
  }

  /**
   * Adds (or reconfigures) a named link that several routes can share, e.g. a bottleneck: every
   * datagram of every route through it waits in its one queue.
   */
  addLink(name: string, cfg: LinkConfig): void {
    if (this.#hosts.has(name) || this.#nats.has(name))
      throw new RangeError(`name "${name}" is a host or NAT`);
    const link = this.#links.get(name);
    if (link === undefined) this.#links.set(name, new Link(name, cfg, this.rng.fork(`link:${name}`)));
    else link.configure(cfg);
  }

  /** Datagrams from `from` to adjacent `to` cross these named links in order (each adds its delay). */
  setRoute(from: string, to: string, links: string[]): void {
    this.#checkAdjacent(from, to);
    if (!Array.isArray(links) || links.length === 0)
      throw new RangeError('"links" expected a non-empty array');
    this.#routes.set(
      routeKey(from, to),
      links.map((n) => {
        const l = this.#links.get(n);
        if (l === undefined) throw new RangeError(`no link named "${n}"`);
        return l;
      }),
    );
  }

  /** Impairments of links created implicitly from now on (existing ones keep theirs). */
  setDefaultLink(cfg: LinkConfig): void {
    new Link('default', cfg, this.rng); // validate
    this.#defaultLink = cfg;
  }

  // ---------------------------------------------------------------- stats and trace

  /** Counters of a host, NAT or link by name; with no name, of the whole network. */
  stats(name?: string): TrafficStats | NatStats {
    if (name === undefined) return cloneStats(this.#total);
    const h = this.#hosts.get(name);
    if (h !== undefined) return cloneStats(h.stats);
    const n = this.#nats.get(name);
    if (n !== undefined) return n.nat.statsAt(this.#now);
    const l = this.#links.get(name);
    if (l !== undefined) return cloneStats(l.stats);
    throw new RangeError(`no host, NAT or link named "${name}"`);
  }

  /** Counters of a NAT. */
  natStats(name: string): NatStats {
    return this.nat(name).statsAt(this.#now);
  }

  /** Counters of the first link on the route `from` -> `to` (created with default impairments if unused). */
  linkStats(from: string, to: string): TrafficStats {
    this.#checkAdjacent(from, to);
    return cloneStats(this.#route(from, to)[0]!.stats);
  }

  /** Bytes queued at (or being serialized by) a named link now: watch a bottleneck's queue. */
  backlog(link: string): number {
    const l = this.#links.get(link);
    if (l === undefined) throw new RangeError(`no link named "${link}"`);
    return l.backlogBytes(this.#now);
  }

  /** The last `traceLimit` trace lines, oldest first. */
  trace(): string[] {
    return this.#trace.lines();
  }

  /** A 64-bit hex digest of every trace line ever recorded: equal seeds and inputs give equal hashes. */
  traceHash(): string {
    return this.#trace.hash();
  }

  /** Adds a line of your own to the trace (and its hash). */
  note(text: string): void {
    this.#trace.begin(this.#now, EV_NOTE);
    this.#trace.mixString(text);
    if (this.#trace.limit > 0) this.#trace.line(this.#now, `note ${text}`);
  }

  // ---------------------------------------------------------------- driving

  /**
   * Polls every node, then advances to the next event (a datagram arriving at the end of a link,
   * or the earliest node timer; ties: datagrams in send order, then timers in host order) and
   * processes it, then polls every node again. Returns false when nothing is pending.
   */
  step(): boolean {
    if (this.#inStep) throw new TypeError('Network.step() called re-entrantly from a node');
    this.#inStep = true;
    try {
      this.#pollAll();
      return this.#stepPolled();
    } finally {
      this.#inStep = false;
    }
  }

  /** Time of the next event after polling, or null when idle. */
  nextEventTime(): number | null {
    this.#pollAll();
    return this.#peekTime();
  }

  /**
   * Steps until idle, `until` holds, or the time limit; throws a SimError (naming the seed)
   * after `maxSteps` (default 1,000,000). With a time limit the clock ends exactly at it.
   */
  drive(opts: DriveOptions = {}): DriveResult {
    const maxSteps = opts.maxSteps ?? 1_000_000;
    let deadline = Number.POSITIVE_INFINITY;
    if (opts.maxTimeMs !== undefined) deadline = this.#now + opts.maxTimeMs;
    if (opts.untilTime !== undefined) deadline = Math.min(deadline, opts.untilTime);
    if (this.#inStep) throw new TypeError('Network.drive() called re-entrantly from a node');
    this.#inStep = true;
    try {
      // Nodes are polled after every event; poll again only when user code (`until`) ran since.
      let fresh = false;
      for (let n = 0; ; n++) {
        if (opts.until !== undefined) {
          if (opts.until(this)) return 'until';
          fresh = false;
        }
        if (!fresh) this.#pollAll();
        const next = this.#peekTime();
        if (next === null || next > deadline) {
          if (deadline === Number.POSITIVE_INFINITY) return 'idle';
          if (deadline > this.#now) this.#now = deadline;
          return 'time';
        }
        if (n >= maxSteps) {
          throw new SimError(
            'SIM_BOUND_EXCEEDED',
            this.seed,
            `drive: still busy after ${maxSteps} steps at t=${this.#now}ms`,
          );
        }
        this.#stepPolled();
        fresh = true;
      }
    } finally {
      this.#inStep = false;
    }
  }

  /** Advances the clock by `ms`, processing every event due until then. */
  runFor(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`"ms" expected a number >= 0, got ${ms}`);
    this.drive({ maxTimeMs: ms, maxSteps: Number.POSITIVE_INFINITY });
  }

  /**
   * Steps until `until` holds (or, without `until`, until idle) and returns the number of steps.
   * Throws a SimError naming the seed when that takes more than `maxSteps` steps, or when the
   * network goes idle before `until` holds.
   */
  driveBounded(maxSteps: number, until?: (net: Network) => boolean): number {
    if (!(maxSteps >= 0)) throw new RangeError(`"maxSteps" expected a number >= 0, got ${maxSteps}`);
    if (this.#inStep) throw new TypeError('Network.driveBounded() called re-entrantly from a node');
    this.#inStep = true;
    try {
      let fresh = false;
      for (let n = 0; ; n++) {
        if (until !== undefined) {
          if (until(this)) return n;
          fresh = false;
        }
        if (!fresh) this.#pollAll();
        if (this.#peekTime() === null) {
          if (until === undefined) return n;
          throw new SimError(
            'SIM_BOUND_EXCEEDED',
            this.seed,
            `driveBounded: network idle after ${n} steps at t=${this.#now}ms and the condition is not met`,
          );
        }
        if (n >= maxSteps) {
          throw new SimError(
            'SIM_BOUND_EXCEEDED',
            this.seed,
            `driveBounded: ${until ? 'condition not met' : 'not idle'} after ${maxSteps} steps at t=${this.#now}ms`,
          );
        }
        this.#stepPolled();
        fresh = true;
      }
    } finally {
      this.#inStep = false;
    }
  }

  // ---------------------------------------------------------------- internals

  /** Earliest pending event time (clamped to now), or null; nodes must have been polled. */
  #peekTime(): number | null {
    const ev = this.#queue.peek();
    const h = this.#earliestTimer();
    if (ev === undefined && h === null) return null;
    const t = Math.min(ev?.at ?? Number.POSITIVE_INFINITY, h?.timer ?? Number.POSITIVE_INFINITY);
    return Math.max(t, this.#now);
  }

  /** Processes the next event (nodes already polled), then polls every node. */
  #stepPolled(): boolean {
    const ev = this.#queue.peek();
    const timerHost = this.#earliestTimer();
    if (ev === undefined && timerHost === null) return false;
    if (ev !== undefined && (timerHost === null || ev.at <= timerHost.timer!)) {
      this.#queue.pop();
      if (ev.at > this.#now) this.#now = ev.at;
      this.#hopDone(ev.item);
    } else {
      const h = timerHost!;
      if (h.timer! > this.#now) this.#now = h.timer!;
      h.timer = null;
      this.#trace.begin(this.#now, EV_TIMER);
      this.#trace.mix(h.id);
      if (this.#trace.limit > 0) this.#trace.line(this.#now, `timer ${h.name}`);
      try {
        h.node.handleTimeout(this.#now);
      } catch (e) {
        throw this.#nodeFailed(h, 'handleTimeout', e);
      }
    }
    this.#steps++;
    this.#pollAll();
    return true;
  }

  #pollAll(): void {
    const list = this.#hostList;
    for (let i = 0; i < list.length; i++) {
      const h = list[i]!;
      for (let n = 0; ; n++) {
        let t: Transmit | null;
        try {
          t = h.node.pollTransmit(this.#now);
        } catch (e) {
          throw this.#nodeFailed(h, 'pollTransmit', e);
        }
        if (t === null || t === undefined) break;
        if (n >= this.#maxTransmits) {
          throw new SimError(
            'SIM_NODE_FAILED',
            this.seed,
            `host "${h.name}" emitted more than ${this.#maxTransmits} datagrams in one poll`,
          );
        }
        if (h.removed) continue;
        this.#send(h, t);
      }
      this.#readTimer(h);
    }
  }

  #readTimer(h: HostEntry): void {
    let t: number | null;
    try {
      t = h.node.pollTimeout();
    } catch (e) {
      throw this.#nodeFailed(h, 'pollTimeout', e);
    }
    if (t !== null && t !== undefined && !Number.isFinite(t)) {
      throw new SimError('SIM_NODE_FAILED', this.seed, `host "${h.name}" pollTimeout returned ${t}`);
    }
    h.timer = t ?? null;
  }

  #earliestTimer(): HostEntry | null {
    let best: HostEntry | null = null;
    for (const h of this.#hostList)
      if (h.timer !== null && (best === null || h.timer < best.timer!)) best = h;
    return best;
  }

  #send(h: HostEntry, t: Transmit): void {
    checkAddress(t.to, 'transmit.to');
    let src = h.addresses[0]!;
    if (t.from !== undefined) {
      checkAddress(t.from, 'transmit.from');
      const own = h.addresses.find((a) => sameAddress(a, t.from!));
      if (own === undefined) {
        throw new SimError(
          'SIM_NODE_FAILED',
          this.seed,
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
    this.#total.sent++;
    this.#total.bytesSent += size;
    const p: Packet = {
      id: this.#packetIds++,
      src,
      dst: { host: t.to.host, port: t.to.port },
      data,
      realm: h.realm,
      origin: h,
    };
    const tr = this.#trace;
    tr.begin(this.#now, EV_SEND);
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
        this.#now,
        `send ${h.name} #${p.id} ${addressKey(src)}>${addressKey(p.dst)} ${size} ${digest(data).toString(16)}`,
      );
    }
    this.#forward(p, h);
  }

  /** Picks the next entity for `p` in its realm and puts it on the route from `at` to it. */
  #forward(p: Packet, at: Entity): void {
    const realm = this.#realms.get(p.realm)!;
    let next: Entity | undefined = realm.hosts.get(addressKey(p.dst));
    if (next === undefined && !realm.hostIps.has(p.dst.host)) {
      next = realm.nats.get(p.dst.host);
      if (next === undefined && realm.gateway !== null && at !== realm.gateway) next = realm.gateway;
    }
    if (next === undefined) {
      this.#drop(p, 'noRoute', at.name, null);
      return;
    }
    this.#enterLinks(p, this.#route(at.name, next.name), 0, next.name);
  }

  #enterLinks(p: Packet, links: Link[], hop: number, target: string): void {
    const link = links[hop]!;
    const v = link.enter(this.#now, p.data.length);
    if (typeof v === 'string') {
      this.#drop(p, v, link.name, null);
      return;
    }
    this.#queue.push(link.arrivals[0], { packet: p, links, hop, target });
    if (v === 2) {
      const copy: Packet = { ...p, id: this.#packetIds++, data: p.data.slice() };
      this.#total.duplicated++;
      p.origin.stats.duplicated++;
      this.#trace.begin(this.#now, EV_DUP);
      this.#trace.mix(p.id);
      this.#trace.mix(copy.id);
      if (this.#trace.limit > 0) this.#trace.line(this.#now, `dup ${link.name} #${p.id} as #${copy.id}`);
      this.#queue.push(link.arrivals[1], { packet: copy, links, hop, target });
    }
  }

  #hopDone(ev: LinkEvent): void {
    const p = ev.packet;
    if (ev.hop + 1 < ev.links.length) {
      this.#enterLinks(p, ev.links, ev.hop + 1, ev.target);
      return;
    }
    const h = this.#hosts.get(ev.target);
    if (h !== undefined) {
      this.#deliver(h, p);
      return;
    }
    const n = this.#nats.get(ev.target);
    if (n !== undefined) {
      this.#natArrive(n, p);
      return;
    }
    this.#drop(p, 'noRoute', ev.target, null);
  }

  #deliver(h: HostEntry, p: Packet): void {
    if (h.realm !== p.realm || !h.keys.has(addressKey(p.dst))) {
      this.#drop(p, 'noRoute', h.name, null);
      return;
    }
    const size = p.data.length;
    h.stats.delivered++;
    h.stats.bytesDelivered += size;
    this.#total.delivered++;
    this.#total.bytesDelivered += size;
    this.#trace.begin(this.#now, EV_RECV);
    this.#trace.mix(p.id);
    this.#trace.mix(h.id);
    if (this.#trace.limit > 0) {
      this.#trace.line(
        this.#now,
        `recv ${h.name} #${p.id} ${addressKey(p.src)}>${addressKey(p.dst)} ${size}`,
      );
    }
    try {
      h.node.handle(this.#now, p.src, p.dst, p.data);
    } catch (e) {
      throw this.#nodeFailed(h, 'handle', e);
    }
  }

  #natArrive(e: NatEntry, p: Packet): void {
    const nat = e.nat;
    const s = nat.stats;
    s.sent++;
    s.bytesSent += p.data.length;
    if (p.realm === e.name) {
      // From the inside: translate the source (RFC 4787 §4), maybe hairpin (§6).
      const port = nat.outbound(this.#now, p.src, p.dst);
      if (port === null) {
        this.#drop(p, 'nat', e.name, 'no free port');
        return;
      }
      const from = { host: nat.publicIp, port };
      if (p.dst.host === nat.publicIp) {
        if (!nat.hairpin) {
          s.natDrops.hairpin++;
          this.#drop(p, 'nat', e.name, 'hairpin off');
          return;
        }
        p.src = from;
        this.#natInbound(e, p);
        return;
      }
      p.src = from;
      p.realm = e.outer;
      this.#natForwarded(e, p);
      return;
    }
    this.#natInbound(e, p);
  }

  #natInbound(e: NatEntry, p: Packet): void {
    const nat = e.nat;
    const r = nat.inbound(this.#now, p.src, p.dst.port);
    if (typeof r === 'string') {
      nat.stats.natDrops[r]++;
      this.#drop(p, 'nat', e.name, r);
      return;
    }
    p.dst = { host: r.host, port: r.port };
    p.realm = e.name;
    this.#natForwarded(e, p);
  }

  #natForwarded(e: NatEntry, p: Packet): void {
    e.nat.stats.delivered++;
    e.nat.stats.bytesDelivered += p.data.length;
    const tr = this.#trace;
    tr.begin(this.#now, EV_NAT);
    tr.mix(p.id);
    tr.mixString(p.src.host);
    tr.mix(p.src.port);
    tr.mixString(p.dst.host);
    tr.mix(p.dst.port);
    if (tr.limit > 0) tr.line(this.#now, `nat ${e.name} #${p.id} ${addressKey(p.src)}>${addressKey(p.dst)}`);
    this.#forward(p, e);
  }

  #drop(p: Packet, reason: keyof DropCounts, where: string, detail: string | null): void {
    this.#total.dropped[reason]++;
    p.origin.stats.dropped[reason]++;
    if (reason === 'nat' || (reason === 'noRoute' && this.#nats.has(where))) {
      const n = this.#nats.get(where);
      if (n !== undefined) n.nat.stats.dropped[reason]++;
    }
    const tr = this.#trace;
    tr.begin(this.#now, EV_DROP);
    tr.mix(p.id);
    tr.mixString(reason);
    tr.mixString(where);
    if (tr.limit > 0) {
      tr.line(
        this.#now,
        `drop ${reason}${detail === null ? '' : `(${detail})`} ${where} #${p.id} ${addressKey(p.src)}>${addressKey(p.dst)} ${p.data.length}`,
      );
    }
  }

  #route(from: string, to: string): Link[] {
    const k = routeKey(from, to);
    let r = this.#routes.get(k);
    if (r === undefined) {
      const name = `${from}->${to}`;
      let l = this.#links.get(name);
      if (l === undefined) {
        l = new Link(name, this.#defaultLink, this.rng.fork(`link:${name}`));
        this.#links.set(name, l);
      }
      r = [l];
      this.#routes.set(k, r);
    }
    return r;
  }

  #attach(h: HostEntry, addresses: Address[], opts: HostOptions): void {
    if (!Array.isArray(addresses) || addresses.length === 0) {
      throw new RangeError(`"addresses" expected a non-empty array of addresses`);
    }
    const realmName = opts.nat ?? INTERNET;
    const realm = this.#realm(realmName, `"nat" names no NAT: ${String(opts.nat)}`);
    const keys = new Set<string>();
    for (const a of addresses) {
      checkAddress(a, 'address');
      const k = addressKey(a);
      if (realm.hosts.has(k) || keys.has(k))
        throw new RangeError(`address ${k} is already used in that network`);
      if (realm.nats.has(a.host))
        throw new RangeError(`address ${a.host} is a NAT's public IP in that network`);
      keys.add(k);
    }
    h.addresses = addresses.map((a) => ({ host: a.host, port: a.port }));
    h.keys = keys;
    h.realm = realmName;
    for (const a of h.addresses) {
      realm.hosts.set(addressKey(a), h);
      realm.hostIps.set(a.host, (realm.hostIps.get(a.host) ?? 0) + 1);
    }
  }

  #detach(h: HostEntry): void {
    const realm = this.#realms.get(h.realm)!;
    for (const a of h.addresses) {
      realm.hosts.delete(addressKey(a));
      const c = (realm.hostIps.get(a.host) ?? 1) - 1;
      if (c === 0) realm.hostIps.delete(a.host);
      else realm.hostIps.set(a.host, c);
    }
    h.keys = new Set();
  }

  #realm(name: string, msg: string): Realm {
    const r = this.#realms.get(name);
    if (r === undefined) throw new RangeError(msg);
    return r;
  }

  #host(name: string): HostEntry {
    const h = this.#hosts.get(name);
    if (h === undefined) throw new RangeError(`no host named "${name}"`);
    return h;
  }

  /** The networks an entity sits on: a host its own; a NAT its outside and its inside. */
  #networksOf(name: string): string[] {
    const h = this.#hosts.get(name);
    if (h !== undefined) return [h.realm];
    const n = this.#nats.get(name);
    if (n !== undefined) return [n.outer, n.name];
    throw new RangeError(`no host or NAT named "${name}"`);
  }

  /**
   * Datagrams only ever hop between entities on a common network, so a link between two others
   * would silently never be used: refuse it and say which hops exist.
   */
  #checkAdjacent(from: string, to: string): void {
    const a = this.#networksOf(from);
    const b = this.#networksOf(to);
    if (a.some((r) => b.includes(r))) return;
    const where = (name: string, r: string[]) =>
      this.#hosts.has(name) ? (r[0] === INTERNET ? 'on the internet' : `behind NAT "${r[0]}"`) : 'a NAT';
    throw new RangeError(
      `"${from}" (${where(from, a)}) and "${to}" (${where(to, b)}) are not adjacent: configure the hops between them (e.g. the host and its NAT)`,
    );
  }

  #checkNewName(name: string): void {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('"name" expected a non-empty string');
    if (this.#hosts.has(name) || this.#nats.has(name) || this.#links.has(name)) {
      throw new RangeError(`name "${name}" is already used`);
    }
  }

  #nodeFailed(h: HostEntry, what: string, e: unknown): SimError {
    if (e instanceof SimError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new SimError(
      'SIM_NODE_FAILED',
      this.seed,
      `host "${h.name}" ${what} threw at t=${this.#now}ms: ${msg}`,
      {
        cause: e,
      },
    );
  }
}

function routeKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

/** Short content digest for the trace: FNV-1a of up to the first 32 bytes. */
function digest(d: Uint8Array): number {
  let h = 0x811c9dc5;
  const n = Math.min(d.length, 32);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return h >>> 0;
}
