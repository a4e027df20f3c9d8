// The simulator's event loop and public face: the clock, driving (step/drive), polling nodes and
// their timers, and argument checking for the topology API. What it delegates: who sits where
// (registry.ts), which links a hop crosses (routes.ts), a datagram's way through links and NATs
// (forwarding.ts); one link's impairments (link.ts), NAT translation (nat.ts).
import type { Address } from '@srmudp/wire';
import { addressKey } from '@srmudp/wire';
import { Forwarder } from './forwarding.js';
import type { LinkConfig } from './link-config.js';
import type { NatConfig } from './nat.js';
import { Nat } from './nat.js';
import { type HostEntry, INTERNET, Registry } from './registry.js';
import { Rng } from './rng.js';
import { Routes } from './routes.js';
import { nodeFailed, SimError } from './sim-error.js';
import type { SimNode } from './sim-node.js';
import type { NatStats, TrafficStats } from './stats.js';
import { cloneStats, emptyStats } from './stats.js';
import { EV_NOTE, EV_TIMER, EV_TOPOLOGY, Trace } from './trace.js';
import type { SendFilter, Transmit } from './transmit.js';

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
  readonly #registry = new Registry();
  readonly #routes: Routes;
  readonly #forwarder: Forwarder;
  readonly #trace: Trace;
  readonly #maxTransmits: number;
  #now: number;
  #hostIds = 0;
  #steps = 0;
  #inStep = false;

  constructor(opts: NetworkOptions) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('"opts" expected { seed }');
    this.rng = new Rng(opts.seed);
    this.seed = this.rng.seed;
    const t = opts.startTime ?? 0;
    if (!Number.isFinite(t)) throw new RangeError(`"startTime" expected a finite number, got ${t}`);
    this.#now = t;
    this.#routes = new Routes(this.rng, opts.defaultLink ?? {});
    this.#trace = new Trace(opts.traceLimit ?? 0);
    this.#maxTransmits = opts.maxTransmitsPerPoll ?? 100_000;
    this.#forwarder = new Forwarder(this.seed, this.#registry, this.#routes, this.#trace);
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
      filter: null,
    };
    this.#registry.attach(h, addresses, opts.nat);
    this.#registry.addHost(h);
    this.#readTimer(h);
  }

  /**
   * Moves a host to new addresses and/or behind another NAT (a network change: Wi-Fi to LTE).
   * Datagrams in flight to its old addresses are dropped as noRoute when they arrive.
   */
  moveHost(name: string, addresses: Address[], opts: HostOptions = {}): void {
    const r = this.#registry;
    const h = r.host(name);
    const before = { addresses: h.addresses, nat: h.realm === INTERNET ? undefined : h.realm };
    r.detach(h);
    try {
      r.attach(h, addresses, opts.nat);
    } catch (e) {
      r.attach(h, before.addresses, before.nat);
      throw e;
    }
    const text = `move ${name} ${h.addresses.map(addressKey).join(',')}`;
    this.#trace.begin(this.#now, EV_TOPOLOGY);
    this.#trace.mixString(text);
    if (this.#trace.limit > 0) this.#trace.line(this.#now, text);
  }

  /** Removes a host; its node is never called again. */
  removeHost(name: string): void {
    const h = this.#registry.host(name);
    this.#registry.detach(h);
    this.#registry.removeHost(h);
    this.#trace.begin(this.#now, EV_TOPOLOGY);
    this.#trace.mixString(`remove ${name}`);
    if (this.#trace.limit > 0) this.#trace.line(this.#now, `remove ${name}`);
  }

  /**
   * Drops each datagram host `name` sends for which `drop` returns true, before it enters a link
   * (counted in `stats().dropped.filter`, traced); null removes the filter. For tests that lose one
   * kind of packet, or every packet for a while: `net.setSendFilter('a', (t) => t.data[0] === 0x90)`.
   * An exception thrown by `drop` fails the step like a node's (SimError naming host and seed).
   */
  setSendFilter(name: string, drop: SendFilter | null): void {
    if (drop !== null && typeof drop !== 'function')
      throw new TypeError('"drop" expected a function or null');
    this.#registry.host(name).filter = drop;
  }

  /** The node of a host. */
  node(name: string): SimNode {
    return this.#registry.host(name).node;
  }

  /** The current addresses of a host (primary first). */
  addresses(name: string): Address[] {
    return this.#registry.host(name).addresses.map((a) => ({ ...a }));
  }

  /**
   * Adds a NAT. Its outside (public IP) lives on the internet, or inside `cfg.behind` (CGNAT);
   * hosts join its inside with `addHost(name, node, privateAddresses, { nat: name })`.
   */
  addNat(name: string, cfg: NatConfig): Nat {
    this.#checkNewName(name);
    const nat = new Nat(name, cfg, this.rng.fork(`nat:${name}`));
    this.#registry.addNat(name, nat, nat.behind ?? INTERNET);
    return nat;
  }

  /** The NAT object (translation table inspection: `nat(name).mappings(net.now)`). */
  nat(name: string): Nat {
    return this.#registry.nat(name).nat;
  }

  /**
   * Configures the directional link used between two adjacent hosts/NATs (`from` -> `to`), named
   * `"from->to"`. Adjacent means: two hosts or NATs on the same network, or a NAT and a host or
   * NAT on its inside. Reconfiguring keeps the link's queue and counters.
   */
  setLink(from: string, to: string, cfg: LinkConfig): void {
    this.#registry.checkAdjacent(from, to);
    this.#routes.setLink(from, to, cfg);
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
    if (this.#registry.hosts.has(name) || this.#registry.nats.has(name))
      throw new RangeError(`name "${name}" is a host or NAT`);
    this.#routes.addLink(name, cfg);
  }

  /** Datagrams from `from` to adjacent `to` cross these named links in order (each adds its delay). */
  setRoute(from: string, to: string, links: string[]): void {
    this.#registry.checkAdjacent(from, to);
    this.#routes.setRoute(from, to, links);
  }

  /** Impairments of links created implicitly from now on (existing ones keep theirs). */
  setDefaultLink(cfg: LinkConfig): void {
    this.#routes.setDefaultLink(cfg);
  }

  // ---------------------------------------------------------------- stats and trace

  /** Counters of a host, NAT or link by name; with no name, of the whole network. */
  stats(name?: string): TrafficStats | NatStats {
    if (name === undefined) return cloneStats(this.#forwarder.total);
    const h = this.#registry.hosts.get(name);
    if (h !== undefined) return cloneStats(h.stats);
    const n = this.#registry.nats.get(name);
    if (n !== undefined) return n.nat.statsAt(this.#now);
    const l = this.#routes.link(name);
    if (l !== undefined) return cloneStats(l.stats);
    throw new RangeError(`no host, NAT or link named "${name}"`);
  }

  /** Counters of a NAT. */
  natStats(name: string): NatStats {
    return this.nat(name).statsAt(this.#now);
  }

  /** Counters of the first link on the route `from` -> `to` (created with default impairments if unused). */
  linkStats(from: string, to: string): TrafficStats {
    this.#registry.checkAdjacent(from, to);
    return cloneStats(this.#routes.route(from, to)[0]!.stats);
  }

  /** Bytes queued at (or being serialized by) a named link now: watch a bottleneck's queue. */
  backlog(link: string): number {
    const l = this.#routes.link(link);
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
    const ev = this.#forwarder.queue.peek();
    const h = this.#earliestTimer();
    if (ev === undefined && h === null) return null;
    const t = Math.min(ev?.at ?? Number.POSITIVE_INFINITY, h?.timer ?? Number.POSITIVE_INFINITY);
    return Math.max(t, this.#now);
  }

  /** Processes the next event (nodes already polled), then polls every node. */
  #stepPolled(): boolean {
    const ev = this.#forwarder.queue.peek();
    const timerHost = this.#earliestTimer();
    if (ev === undefined && timerHost === null) return false;
    if (ev !== undefined && (timerHost === null || ev.at <= timerHost.timer!)) {
      this.#forwarder.queue.pop();
      if (ev.at > this.#now) this.#now = ev.at;
      this.#forwarder.hopDone(this.#now, ev.item);
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
        throw nodeFailed(this.seed, h.name, 'handleTimeout', this.#now, e);
      }
    }
    this.#steps++;
    this.#pollAll();
    return true;
  }

  #pollAll(): void {
    const list = this.#registry.hostList;
    for (let i = 0; i < list.length; i++) {
      const h = list[i]!;
      for (let n = 0; ; n++) {
        let t: Transmit | null;
        try {
          t = h.node.pollTransmit(this.#now);
        } catch (e) {
          throw nodeFailed(this.seed, h.name, 'pollTransmit', this.#now, e);
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
        this.#forwarder.send(this.#now, h, t);
      }
      this.#readTimer(h);
    }
  }

  #readTimer(h: HostEntry): void {
    let t: number | null;
    try {
      t = h.node.pollTimeout();
    } catch (e) {
      throw nodeFailed(this.seed, h.name, 'pollTimeout', this.#now, e);
    }
    if (t !== null && t !== undefined && !Number.isFinite(t)) {
      throw new SimError('SIM_NODE_FAILED', this.seed, `host "${h.name}" pollTimeout returned ${t}`);
    }
    h.timer = t ?? null;
  }

  #earliestTimer(): HostEntry | null {
    let best: HostEntry | null = null;
    for (const h of this.#registry.hostList)
      if (h.timer !== null && (best === null || h.timer < best.timer!)) best = h;
    return best;
  }

  #checkNewName(name: string): void {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('"name" expected a non-empty string');
    const r = this.#registry;
    if (r.hosts.has(name) || r.nats.has(name) || this.#routes.has(name)) {
      throw new RangeError(`name "${name}" is already used`);
    }
  }
}
