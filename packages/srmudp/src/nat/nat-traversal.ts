/**
 * The façade's NAT module (DESIGN.md §5, issue 6): drives @srmudp/punch's sans-IO Gatherer on the
 * node's own UDP socket, so the server-reflexive candidates it learns are the mappings the node's
 * peers will see. STUN responses reach it through the endpoint's 'stun' events (core answers
 * Binding requests itself and surfaces everything else), its requests leave through the node's
 * transport. It classifies the NAT (mapping and, with an RFC 5780 server, filtering), re-gathers
 * when local interfaces change or on demand, and judges a dial before it starts: random × random
 * mappings fail fast with PUNCH_IMPOSSIBLE, a blocked UDP uplink with UDP_BLOCKED.
 */
import { EventEmitter } from 'node:events';
import {
  type Endpoint,
  endpointFamily,
  type GatherEvent,
  Gatherer,
  inferMapping,
  isPrivateAddress,
  makeCandidate,
  type NatType,
  normalizeAddress,
  type Candidate as PunchCandidate,
  type PunchStrategy,
  punchStrategy,
} from '@srmudp/punch';
import type { Candidate } from '@srmudp/rendezvous';
import { SrmudpError } from '@srmudp/wire';
import { type BirthdayOptions, Prober, SocketPool } from './birthday.js';

/** Abort reason of a dial attempt replaced because a birthday probe found the peer's port. */
const HIT = Symbol('birthday-hit');

export interface NatTraversalOptions {
  /** resolved STUN servers (IP literals); ≥ 2 with distinct IPs classify the mapping */
  stunServers: readonly Endpoint[];
  random: (n: number) => Uint8Array;
  /** sends one datagram from the node's socket */
  send: (data: Uint8Array, host: string, port: number) => void;
  /** the node's host candidates (bound address or interface addresses, with the bound port) */
  hostAddresses: () => Endpoint[];
  /** the bound port (port-preservation detection) */
  localPort: () => number;
  /** mapping phase deadline; UDP_BLOCKED after it when no server answered (default 5000) */
  timeoutMs?: number;
  /** re-gather this often to refresh the mapping and notice a changed one (default 120 000; 0 = never) */
  refreshMs?: number;
  /** how often local interfaces are compared for a change (default 5000; 0 = never) */
  interfacePollMs?: number;
  /** how long a dial that is judged impossible still tries LAN (private) addresses (default 2500) */
  lanGraceMs?: number;
  log?: (message: string) => void;
  /**
   * Hands datagrams received on the birthday sockets to the node's endpoint. Without it the
   * random side of a birthday pair cannot open extra sockets (BIRTHDAY_UNSUPPORTED).
   */
  deliver?: (data: Uint8Array, from: Endpoint) => void;
  /** address the birthday sockets bind to (default '0.0.0.0') */
  bindHost?: () => string;
  /** birthday parameters (punch's DEFAULT_BIRTHDAY) */
  birthday?: Omit<BirthdayOptions, 'random' | 'log'>;
  /** how long a birthday pair keeps trying (default 30 000 ms) */
  birthdayTimeoutMs?: number;
}

export type NatState = 'gathering' | 'ready' | 'failed' | 'closed';

/** What the node knows about its NAT right now (`node.nat.status()`). */
export interface NatStatus {
  state: NatState;
  /** mapping/filtering classification; null before the first result */
  nat: NatType | null;
  /** server-reflexive endpoints (one per distinct mapping the servers saw) */
  reflexive: Endpoint[];
  /** why gathering failed (UDP_BLOCKED) */
  error: { code: string; message: string } | null;
  /** completed gatherings (1 after start) */
  gatherings: number;
  /** last time (Date.now()) a gathering finished */
  gatheredAt: number | null;
}

/** The verdict on dialling a peer whose candidates are `addresses`. */
export interface DialVerdict {
  strategy: PunchStrategy;
  /** inferred from the peer's candidates (two reflexive ports on one IP = random) */
  remoteMapping: NatType['mapping'];
  /** set when a direct path cannot work: only LAN addresses are tried, for `lanGraceMs` */
  blocked: SrmudpError | null;
}

interface FamilyGatherer {
  family: 4 | 6;
  gatherer: Gatherer;
  nat: NatType | null;
  candidates: PunchCandidate[];
  failed: { code: string; message: string } | null;
}

/**
 * Events: 'gathered' (NatStatus) after every gathering, 'nat' (NatStatus) when the filtering tests
 * refined the classification, 'changed' (NatStatus) when the reflexive candidates differ from the
 * previous gathering (republish), 'failed' (NatStatus) on UDP_BLOCKED.
 */
export class NatTraversal extends EventEmitter {
  private readonly o: Required<Omit<NatTraversalOptions, 'log' | 'deliver'>> &
    Pick<NatTraversalOptions, 'log' | 'deliver'>;
  private readonly pools = new Set<SocketPool>();
  private readonly probers = new Set<Prober>();
  private gatherers: FamilyGatherer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private refreshTimer: NodeJS.Timeout | null = null;
  private ifaceTimer: NodeJS.Timeout | null = null;
  private ifaceKey = '';
  private stateValue: NatState = 'gathering';
  private gatherings = 0;
  private gatheredAt: number | null = null;
  private lastReflexiveKey = '';
  private waiters: Array<() => void> = [];

  constructor(options: NatTraversalOptions) {
    super();
    if (!Array.isArray(options.stunServers) || options.stunServers.length === 0) {
      throw new TypeError('"stunServers" expected a non-empty array of endpoints');
    }
    this.o = {
      timeoutMs: 5000,
      refreshMs: 120_000,
      interfacePollMs: 5000,
      lanGraceMs: 2500,
      bindHost: () => '0.0.0.0',
      birthday: {},
      birthdayTimeoutMs: 30_000,
      ...options,
    };
  }

  /** Starts gathering; resolves when the mapping is known or gathering failed (≤ timeoutMs + 1 RTT). */
  start(): Promise<NatStatus> {
    this.ifaceKey = this.interfaceKey();
    this.regatherNow('start');
    if (this.o.interfacePollMs > 0) {
      this.ifaceTimer = setInterval(() => {
        const k = this.interfaceKey();
        if (k !== this.ifaceKey) {
          this.ifaceKey = k;
          this.regatherNow('address_changed');
        }
      }, this.o.interfacePollMs);
      this.ifaceTimer.unref();
    }
    return this.ready();
  }

  /** Resolves once the current gathering has a result (mapping known or failed). */
  ready(): Promise<NatStatus> {
    if (this.stateValue !== 'gathering') return Promise.resolve(this.status());
    return new Promise((resolve) => this.waiters.push(() => resolve(this.status())));
  }

  /**
   * Gathers again (new mapping after a NAT reboot or a network change). Resolves like `ready()`.
   * `reason` is only logged.
   */
  regather(reason = 'requested'): Promise<NatStatus> {
    if (this.stateValue === 'closed') return Promise.resolve(this.status());
    this.regatherNow(reason);
    return this.ready();
  }

  status(): NatStatus {
    let nat: NatType | null = null;
    let error: NatStatus['error'] = null;
    const reflexive: Endpoint[] = [];
    for (const g of this.gatherers) {
      if (g.nat && (nat === null || g.family === 4)) nat = g.nat;
      if (g.failed && error === null) error = g.failed;
      for (const c of g.candidates) if (c.type === 'srflx') reflexive.push({ ...c.address });
    }
    return {
      state: this.stateValue,
      nat,
      reflexive,
      error: this.stateValue === 'failed' ? error : null,
      gatherings: this.gatherings,
      gatheredAt: this.gatheredAt,
    };
  }

  /**
   * Server-reflexive candidates in rendezvous form (every one: the peer infers a random mapping
   * from two ports on one IP, punch README "Candidates in records").
   */
  candidates(): Candidate[] {
    const out: Candidate[] = [];
    for (const g of this.gatherers) {
      for (const c of g.candidates) {
        if (c.type !== 'srflx' && c.type !== 'prflx') continue;
        if (out.some((o) => o.host === c.address.host && o.port === c.address.port)) continue;
        out.push({ kind: 'srflx', family: g.family, host: c.address.host, port: c.address.port });
      }
    }
    return out;
  }

  /** Offers a STUN message the endpoint did not consume; true when it was one of our responses. */
  handleStun(from: Endpoint, data: Uint8Array): boolean {
    if (this.stateValue === 'closed') return false;
    const now = performance.now();
    const f = { host: normalizeAddress(from.host), port: from.port };
    for (const p of this.probers) if (p.handle(f, data)) return true;
    for (const g of this.gatherers) {
      if (g.gatherer.handle(now, f, data)) {
        this.drive(now);
        return true;
      }
    }
    return false;
  }

  /**
   * Judges a dial to a peer with these candidate addresses (host candidates are the private ones,
   * reflexive the public ones: records give both, the resolver keeps only addresses).
   */
  verdict(addresses: readonly Endpoint[]): DialVerdict {
    const remote = addresses.map((a) =>
      makeCandidate(isPrivateAddress(a.host) ? 'host' : 'srflx', {
        host: normalizeAddress(a.host),
        port: a.port,
      }),
    );
    const remoteMapping = inferMapping(remote);
    const st = this.status();
    const localMapping = st.nat?.mapping ?? 'unknown';
    const strategy = punchStrategy(
      { mapping: localMapping, ...(st.nat ? { filtering: st.nat.filtering } : {}) },
      { mapping: remoteMapping },
    );
    let blocked: SrmudpError | null = null;
    if (st.state === 'failed' && st.error?.code === 'UDP_BLOCKED') {
      blocked = new SrmudpError(
        'UDP_BLOCKED',
        `outbound UDP is blocked on this network: ${st.error.message} (a TCP/WebSocket relay is needed)`,
      );
    } else if (strategy.kind === 'impossible') {
      blocked = new SrmudpError(
        'PUNCH_IMPOSSIBLE',
        `no direct path can be punched: ${strategy.reason} (a relay is needed)`,
      );
    }
    return { strategy, remoteMapping, blocked };
  }

  /**
   * Runs `dial` under the verdict for `addresses`: when a direct path is impossible, only the
   * peer's LAN (private) addresses are tried, for `lanGraceMs`, and the dial fails with the
   * verdict's typed error (at once when there is no LAN address). When the pair needs the birthday
   * strategy, a handshake timeout is reported as BIRTHDAY_UNSUPPORTED (core sends from one socket).
   */
  async guardDial<T>(
    addresses: readonly Endpoint[],
    dial: (addresses: Endpoint[], signal?: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (this.stateValue === 'gathering') await this.ready();
    const v = this.verdict(addresses);
    if (v.blocked) {
      const lan = addresses.filter((a) => isPrivateAddress(a.host));
      if (lan.length === 0) throw v.blocked;
      const ac = new AbortController();
      const onAbort = () => ac.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => ac.abort(v.blocked), this.o.lanGraceMs);
      try {
        return await dial(lan, ac.signal);
      } catch (e) {
        if (signal?.aborted) throw e;
        throw v.blocked;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
    }
    if (v.strategy.kind === 'birthday' && this.o.deliver !== undefined) {
      return this.birthdayDial(addresses, v.strategy, dial, signal);
    }
    try {
      return await dial([...addresses], signal);
    } catch (e) {
      if (v.strategy.kind === 'birthday' && e instanceof SrmudpError && e.code === 'HANDSHAKE_TIMEOUT') {
        throw new SrmudpError(
          'BIRTHDAY_UNSUPPORTED',
          `no direct path found: local mapping ${this.status().nat?.mapping ?? 'unknown'} × remote mapping ${v.remoteMapping} needs the birthday strategy (many sockets on the random side), which core cannot send from yet`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /** Sends through a birthday socket when `host:port` was heard on one (the driver's send hook). */
  route(data: Uint8Array, host: string, port: number): boolean {
    if (this.pools.size === 0) return false;
    for (const p of this.pools) if (p.route(data, host, port)) return true;
    return false;
  }

  /**
   * A birthday pair (random × port-dependent consistent): the random side opens `sockets` extra
   * sockets, the consistent side probes random ports; dial attempts repeat (core's handshake
   * timeout is shorter) until `birthdayTimeoutMs`. On a hit the prober restarts its dial with the
   * port that answered first in line.
   */
  private async birthdayDial<T>(
    addresses: readonly Endpoint[],
    strategy: Extract<PunchStrategy, { kind: 'birthday' }>,
    dial: (addresses: Endpoint[], signal?: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const deadline = performance.now() + this.o.birthdayTimeoutMs;
    const publics = addresses.filter((a) => !isPrivateAddress(a.host));
    const params = { ...this.o.birthday, random: this.o.random, ...(this.o.log ? { log: this.o.log } : {}) };
    const delay = strategy.certain ? 0 : (this.o.birthday.fallbackDelayMs ?? 1500);
    let hitAt: Endpoint | null = null;
    let current: AbortController | null = null;
    let pool: SocketPool | null = null;
    let prober: Prober | null = null;
    let connected = false;
    let starter: NodeJS.Timeout | null = null;
    if (strategy.localRole === 'sockets' && publics.length > 0 && this.o.deliver) {
      const p = new SocketPool({ ...params, bindHost: this.o.bindHost() }, this.o.deliver);
      pool = p;
      this.pools.add(p);
      starter = setTimeout(() => {
        p.open(publics).catch(() => {});
      }, delay);
    } else if (strategy.localRole === 'prober' && publics.length > 0) {
      // every srflx candidate of a random NAT carries its one public IP
      const ip = (publics[0] as Endpoint).host;
      const p = new Prober(params, this.o.send, (at) => {
        if (hitAt !== null) return;
        hitAt = at;
        p.stop();
        current?.abort(HIT);
      });
      prober = p;
      this.probers.add(p);
      starter = setTimeout(
        () =>
          p.start(
            ip,
            publics.filter((a) => a.host === ip).map((a) => a.port),
          ),
        delay,
      );
    }
    starter?.unref();
    try {
      for (;;) {
        const ac = new AbortController();
        current = ac;
        const onAbort = () => ac.abort(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        const hit: Endpoint | null = hitAt;
        try {
          const r = await dial(hit ? [hit, ...addresses] : [...addresses], ac.signal);
          connected = true;
          return r;
        } catch (e) {
          if (signal?.aborted) throw e;
          if (ac.signal.aborted && ac.signal.reason === HIT) continue;
          const timeout = e instanceof SrmudpError && e.code === 'HANDSHAKE_TIMEOUT';
          if (!timeout) throw e;
          if (performance.now() >= deadline - 1000) {
            throw new SrmudpError(
              'PUNCH_TIMEOUT',
              `no direct path within ${this.o.birthdayTimeoutMs} ms: birthday strategy as the ${strategy.localRole === 'sockets' ? `random side (${pool?.size ?? 0} sockets, ${pool?.hits ?? 0} hits)` : `consistent side (${prober?.probes ?? 0} probes, ${hitAt ? 'hit' : 'no hit'})`}`,
              { cause: e },
            );
          }
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      }
    } finally {
      if (starter) clearTimeout(starter);
      if (prober) {
        prober.stop();
        this.probers.delete(prober);
      }
      if (pool) {
        if (connected)
          pool.release(); // keep the socket(s) the connection runs over
        else {
          pool.close();
          this.pools.delete(pool);
        }
      }
    }
  }

  close(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    for (const p of this.probers) p.stop();
    this.probers.clear();
    for (const p of this.pools) p.close();
    this.pools.clear();
    if (this.timer) clearTimeout(this.timer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.ifaceTimer) clearInterval(this.ifaceTimer);
    this.timer = this.refreshTimer = this.ifaceTimer = null;
    this.wake();
    this.removeAllListeners();
  }

  // --- internals

  private interfaceKey(): string {
    return this.o
      .hostAddresses()
      .map((a) => a.host)
      .sort()
      .join(',');
  }

  private regatherNow(reason: string): void {
    if (this.stateValue === 'closed') return;
    this.o.log?.(`gathering (${reason})`);
    const hosts = this.o
      .hostAddresses()
      .filter((h) => !isLoopback(h.host))
      .map((h) => ({ host: normalizeAddress(h.host), port: h.port }));
    const now = performance.now();
    const port = this.o.localPort();
    const families = new Set<4 | 6>();
    for (const s of this.o.stunServers) families.add(endpointFamily(s));
    const previous = this.gatherers;
    this.gatherers = [];
    for (const family of [4, 6] as const) {
      if (!families.has(family)) continue;
      const fh = hosts.filter((h) => endpointFamily(h) === family);
      // a socket bound to one family only cannot reach the other family's servers
      if (hosts.length > 0 && fh.length === 0) continue;
      const gatherer = new Gatherer({
        random: this.o.random,
        hostAddresses: fh,
        reflectors: this.o.stunServers.filter((s) => endpointFamily(s) === family),
        localPort: port,
        timeoutMs: this.o.timeoutMs,
        ...(this.o.log ? { log: this.o.log } : {}),
      });
      // keep the previous candidates until the new mapping is known (cards made meanwhile)
      const before = previous.find((p) => p.family === family)?.candidates ?? [];
      this.gatherers.push({ family, gatherer, nat: null, candidates: before, failed: null });
      gatherer.start(now);
    }
    this.stateValue = 'gathering';
    if (this.gatherers.length === 0) {
      this.stateValue = 'failed';
      this.wake();
      return;
    }
    this.drive(now);
  }

  /** Drains every gatherer (transmits, events) and re-arms the one timer. */
  private drive(now: number): void {
    for (const g of this.gatherers) {
      const due = g.gatherer.pollTimeout();
      if (due !== null && due <= now) g.gatherer.handleTimeout(now);
      for (let t = g.gatherer.pollTransmit(now); t !== null; t = g.gatherer.pollTransmit(now)) {
        this.o.send(t.data, t.to.host, t.to.port);
      }
      for (let e = g.gatherer.pollEvent(); e !== null; e = g.gatherer.pollEvent()) this.onEvent(g, e);
    }
    this.arm(now);
  }

  private onEvent(g: FamilyGatherer, e: GatherEvent): void {
    switch (e.type) {
      case 'candidate':
        return;
      case 'gathered':
        g.nat = e.nat;
        g.candidates = [...e.candidates];
        g.failed = null;
        this.o.log?.(`gathered IPv${g.family}: mapping ${e.nat.mapping}, ${e.candidates.length} candidates`);
        break;
      case 'nat':
        g.nat = e.nat;
        this.emit('nat', this.status());
        return;
      case 'failed':
        g.failed = { code: e.code, message: e.message };
        this.o.log?.(`gathering IPv${g.family} failed: ${e.code}`);
        break;
    }
    this.settle();
  }

  /** A gatherer finished its mapping phase: when all did, publish the result. */
  private settle(): void {
    if (this.stateValue !== 'gathering') {
      // a later family finished: candidates may have grown
      this.noteReflexive();
      return;
    }
    if (this.gatherers.some((g) => g.nat === null && g.failed === null)) return;
    const ok = this.gatherers.some((g) => g.nat !== null);
    this.stateValue = ok ? 'ready' : 'failed';
    this.gatherings++;
    this.gatheredAt = Date.now();
    const st = this.status();
    if (ok) this.emit('gathered', st);
    else this.emit('failed', st);
    this.noteReflexive();
    this.wake();
    this.scheduleRefresh();
  }

  private noteReflexive(): void {
    const key = this.candidates()
      .map((c) => `${c.host}:${c.port}`)
      .sort()
      .join(',');
    if (key !== this.lastReflexiveKey) {
      const first = this.lastReflexiveKey === '' && this.gatherings <= 1;
      this.lastReflexiveKey = key;
      if (!first) this.emit('changed', this.status());
    }
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (this.o.refreshMs <= 0 || this.stateValue === 'closed') return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.regatherNow('refresh');
    }, this.o.refreshMs);
    this.refreshTimer.unref();
  }

  private wake(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }

  private arm(now: number): void {
    let at = Number.POSITIVE_INFINITY;
    for (const g of this.gatherers) {
      const t = g.gatherer.pollTimeout();
      if (t !== null && t < at) at = t;
    }
    if (at === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at === Number.POSITIVE_INFINITY || this.stateValue === 'closed') return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Number.POSITIVE_INFINITY;
        if (this.stateValue !== 'closed') this.drive(performance.now());
      },
      Math.max(1, Math.ceil(at - now)),
    );
    this.timer.unref();
  }
}

function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.');
}
