/**
 * The node's view of its own NAT, kept current (DESIGN.md §5): one {@link Gatherer} per address
 * family on the main socket (socket 0), the STUN servers (resolved by the driver) plus reflectors
 * added at run time (connected peers, relays, gates: every srmudp node answers Binding requests),
 * the UDP-blocked and no-server verdicts, keepalives of the server-reflexive binding, and every
 * reason to gather again: periodic refresh, interface change, a lost path, a changed mapping (NAT
 * reboot), a new reflector while the mapping is unknown. Sans-IO; owned by {@link NatSession}.
 */
import { type Address, addressFamily, type IpAddress, type StunMessage } from '@srmudp/wire';
import {
  addressSetKey,
  canonicalKey,
  checkAddresses,
  equivalentAddress,
  isPrivateAddress,
  toIpAddress,
} from './address.js';
import type { Candidate } from './candidate.js';
import { type GatherEvent, Gatherer } from './gatherer.js';
import type { MappingObservation, NatType } from './nat-type.js';
import { StunClient } from './stun-client.js';
import type { RandomBytes, Transmit } from './transmit.js';

/** Timings of the NAT session (defaults in {@link DEFAULT_NAT_TIMING}); 0 disables a periodic one. */
export interface NatTiming {
  /** mapping phase deadline of a gathering: UDP_BLOCKED when no server answered by then */
  readonly gatherTimeoutMs: number;
  /** gather again this often (refreshes and re-classifies the mapping) */
  readonly refreshMs: number;
  /**
   * after a UDP_BLOCKED verdict, gather again this often (instead of `refreshMs`): a network
   * that unblocks UDP (a captive portal passed, a firewall rule lifted) is noticed within this
   * long; the verdict stands while such a retry gathers
   */
  readonly blockedRetryMs: number;
  /** a Binding request to one server per family this often keeps the server-reflexive binding */
  readonly bindingKeepaliveMs: number;
  /** gatherings triggered by a lost path, a failed keepalive or a new reflector are this far apart at least */
  readonly regatherMinGapMs: number;
  /** a dial judged impossible (or UDP blocked) still tries the peer's LAN addresses this long */
  readonly lanGraceMs: number;
  /** a dial that may need the birthday strategy keeps trying this long */
  readonly birthdayTimeoutMs: number;
  /** a failed last-resort birthday (mappings merely unknown) is not repeated for a peer this long */
  readonly lastResortCooldownMs: number;
}

/**
 * Defaults. `gatherTimeoutMs`, `refreshMs`, `lanGraceMs` and `birthdayTimeoutMs` are the façade
 * NAT module's (issue 6, measured in the NAT lab). `bindingKeepaliveMs` 25 s: Linux conntrack
 * forgets an unassured UDP flow after 30 s (NATLAB-NOTES §7), and a STUN exchange never becomes
 * assured, so the published srflx candidate would lapse on an idle node. `regatherMinGapMs` 5 s:
 * the façade polled interfaces every 5 s, so a burst of lost paths gathers no more often.
 * `lastResortCooldownMs` 10 min: new with the last-resort birthday (dials.ts). `blockedRetryMs`
 * 15 s (issue 15): a UDP-blocked node finds UDP again within ~20 s (15 s + the gather deadline)
 * at the cost of one Binding request per reflector (and its retransmissions) every 15 s.
 */
export const DEFAULT_NAT_TIMING: NatTiming = {
  gatherTimeoutMs: 5000,
  refreshMs: 120_000,
  blockedRetryMs: 15_000,
  bindingKeepaliveMs: 25_000,
  regatherMinGapMs: 5000,
  lanGraceMs: 2500,
  birthdayTimeoutMs: 30_000,
  lastResortCooldownMs: 600_000,
};

export type GatheringState =
  /** waiting for the driver to resolve the STUN server names (`resolve` event) */
  | 'resolving'
  /** gathering disabled (`stunServers: []`) */
  | 'off'
  | 'gathering'
  | 'ready'
  /** the last gathering failed: UDP_BLOCKED or NO_STUN_SERVER */
  | 'failed'
  | 'closed';

export type RegatherReason =
  | 'start'
  | 'servers'
  | 'address_changed'
  | 'refresh'
  | 'requested'
  | 'path_lost'
  | 'mapping_changed'
  | 'keepalive_failed'
  | 'reflector'
  | 'udp_seen';

export type NatErrorCode = 'UDP_BLOCKED' | 'NO_STUN_SERVER';

/** What the node knows about its NAT right now. */
export interface NatStatus {
  readonly state: GatheringState;
  /** classification (IPv4's when both families have one); null before the first result */
  readonly nat: NatType | null;
  /** per address family: classification and failure */
  readonly families: readonly {
    readonly family: 4 | 6;
    readonly nat: NatType | null;
    readonly error: { readonly code: NatErrorCode; readonly message: string } | null;
  }[];
  /** server-reflexive endpoints (one per distinct mapping seen) */
  readonly reflexive: readonly Address[];
  /** why the last gathering failed */
  readonly error: { readonly code: NatErrorCode; readonly message: string } | null;
  /** resolved STUN servers and added reflectors in use */
  readonly servers: number;
  /** completed gatherings */
  readonly gatherings: number;
  /** `now` when the last gathering completed */
  readonly gatheredAt: number | null;
}

/** A reflexive candidate in the form of `@srmudp/rendezvous` records. */
export interface ReflexiveCandidate extends IpAddress {
  readonly kind: 'srflx';
}

export type GatheringEvent =
  | { readonly type: 'resolve' }
  | { readonly type: 'gathering'; readonly reason: RegatherReason }
  | { readonly type: 'gathered'; readonly status: NatStatus }
  | { readonly type: 'nat'; readonly status: NatStatus }
  | { readonly type: 'candidates'; readonly candidates: readonly ReflexiveCandidate[] }
  | { readonly type: 'no_server'; readonly message: string };

export interface GatheringConfig {
  readonly random: RandomBytes;
  readonly timing: NatTiming;
  /** resolved servers; undefined = the driver resolves names first (`resolve` event); [] = off */
  readonly stunServers?: readonly Address[];
  readonly hostAddresses?: readonly Address[];
  readonly localPort?: number;
  readonly software?: string;
  readonly log?: (message: string) => void;
}

/** send errors meaning "no route": the node is offline, not behind a UDP firewall */
const UNREACHABLE = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'EADDRNOTAVAIL']);

interface Family {
  readonly family: 4 | 6;
  readonly gatherer: Gatherer;
  readonly reflectors: readonly Address[];
  nat: NatType | null;
  candidates: readonly Candidate[];
  observations: readonly MappingObservation[];
  error: { code: NatErrorCode; message: string } | null;
  done: boolean;
  keepaliveAt: number | null;
  keepaliveTx: string | null;
  keepaliveNext: number;
}

export class Gathering {
  readonly #cfg: GatheringConfig;
  readonly #t: NatTiming;
  readonly #events: GatheringEvent[] = [];
  /** keepalive transactions (the gatherers own the gathering ones) */
  readonly #ka: StunClient;
  #state: GatheringState;
  #servers: Address[] = [];
  #reflectors: Address[] = [];
  #hosts: Address[];
  #hostKey: string;
  #families: Family[] = [];
  #previous = new Map<4 | 6, readonly Candidate[]>();
  #unreachable = new Set<string>();
  #gatherings = 0;
  #gatheredAt: number | null = null;
  #startedAt = Number.NEGATIVE_INFINITY;
  #refreshAt: number | null = null;
  #pendingAt: number | null = null;
  #pendingReason: RegatherReason = 'requested';
  #lastCandidates = '';
  #noServerSaid = false;
  #error: { code: NatErrorCode; message: string } | null = null;
  #udpSeen = false;

  constructor(config: GatheringConfig, now: number) {
    this.#cfg = config;
    this.#t = config.timing;
    this.#ka = new StunClient({
      random: config.random,
      rtoMs: 500,
      rc: 3,
      rm: 4,
      ...(config.software !== undefined ? { software: config.software } : {}),
    });
    this.#hosts = usableHosts(config.hostAddresses ?? []);
    this.#hostKey = addressSetKey(this.#hosts);
    if (config.stunServers === undefined) {
      this.#state = 'resolving';
      this.#events.push({ type: 'resolve' });
    } else if (config.stunServers.length === 0) {
      this.#state = 'off';
    } else {
      this.#state = 'ready';
      this.#servers = checkServers(config.stunServers);
      this.#regather(now, 'start');
    }
  }

  get state(): GatheringState {
    return this.#state;
  }

  // ---------------------------------------------------------------- inputs

  /** Resolved servers; ignored when gathering is off (`stunServers: []` is the user's choice). */
  setStunServers(now: number, servers: readonly Address[]): void {
    if (this.#state === 'closed' || this.#state === 'off') return;
    const list = checkServers(servers);
    const same =
      list.length === this.#servers.length && list.every((s, i) => equivalentAddress(s, this.#servers[i]!));
    this.#servers = list;
    if (list.length === 0 && this.#reflectors.length === 0) {
      this.#stopFamilies();
      this.#fail(now, 'NO_STUN_SERVER', 'gathering found no STUN server (none resolved)');
      return;
    }
    if (!same || this.#state === 'resolving') this.#regather(now, 'servers');
  }

  setHostAddresses(now: number, addresses: readonly Address[]): void {
    if (this.#state === 'closed') return;
    const hosts = usableHosts(addresses);
    const key = addressSetKey(hosts);
    if (key === this.#hostKey) return;
    this.#hosts = hosts;
    this.#hostKey = key;
    this.#unreachable.clear();
    this.#udpSeen = false;
    // a new network: names may resolve now (or to other servers), and the mapping is new
    if (this.#cfg.stunServers === undefined) this.#events.push({ type: 'resolve' });
    this.#regather(now, 'address_changed');
  }

  /** Adds a reflector (a connected peer, relay or gate). Private addresses are ignored. */
  addReflector(now: number, reflector: Address): boolean {
    if (this.#state === 'closed' || this.#state === 'off') return false;
    const ip = toIpAddress(reflector);
    // a peer on our LAN sees our host address: it would make any NAT look "open"
    if (ip === null || isPrivateAddress(ip.host)) return false;
    const r = { host: ip.host, port: ip.port };
    if ([...this.#servers, ...this.#reflectors].some((s) => equivalentAddress(s, r))) return false;
    this.#reflectors.push(r);
    const fam = this.#families.find((f) => f.family === ip.family);
    const unknown = fam === undefined || fam.nat === null || fam.nat.mapping === 'unknown';
    if (unknown && this.#state !== 'gathering' && this.#state !== 'resolving') {
      this.#request(now, 'reflector');
    }
    return true;
  }

  removeReflector(reflector: Address): void {
    const i = this.#reflectors.findIndex((r) => equivalentAddress(r, reflector));
    if (i >= 0) this.#reflectors.splice(i, 1);
  }

  /** Gathers again; `path_lost` and the like are rate limited (`regatherMinGapMs`). */
  regather(now: number, reason: RegatherReason): void {
    if (reason === 'requested' || reason === 'address_changed' || reason === 'mapping_changed') {
      this.#regather(now, reason);
    } else {
      this.#request(now, reason);
    }
  }

  /** A send from socket 0 failed: an unreachable server means offline, not UDP blocked. */
  sendFailed(to: Address, code: string): void {
    if (UNREACHABLE.has(code)) this.#unreachable.add(canonicalKey(to));
  }

  /**
   * A datagram from a public address on any socket: UDP works on this network (until an interface
   * change). Lifts a UDP_BLOCKED verdict once and gathers again; a gathering that still finds no
   * server then says NO_STUN_SERVER instead.
   */
  heardPublic(now: number): void {
    if (this.#udpSeen) return;
    this.#udpSeen = true;
    if (this.#error?.code === 'UDP_BLOCKED') this.#request(now, 'udp_seen');
  }

  /** Offers a decoded STUN success/error received on socket 0; true when it was ours. */
  handleMessage(now: number, from: Address, msg: StunMessage): boolean {
    for (const f of this.#families) {
      if (f.gatherer.handleMessage(now, from, msg, 0)) {
        this.#drain(now);
        return true;
      }
    }
    if (this.#ka.handleMessage(now, from, msg, 0)) {
      this.#drainKeepalive(now);
      return true;
    }
    return false;
  }

  handleTimeout(now: number): void {
    if (this.#state === 'closed') return;
    for (const f of this.#families) {
      const due = f.gatherer.pollTimeout();
      if (due !== null && due <= now) f.gatherer.handleTimeout(now);
    }
    this.#drain(now);
    const kd = this.#ka.pollTimeout();
    if (kd !== null && kd <= now) {
      this.#ka.handleTimeout(now);
      this.#drainKeepalive(now);
    }
    if (this.#pendingAt !== null && now >= this.#pendingAt) {
      this.#pendingAt = null;
      this.#regather(now, this.#pendingReason);
    }
    if (this.#refreshAt !== null && now >= this.#refreshAt) {
      this.#refreshAt = null;
      if (this.#servers.length === 0 && this.#cfg.stunServers === undefined) {
        this.#events.push({ type: 'resolve' });
      }
      this.#regather(now, 'refresh');
    }
    for (const f of this.#families) {
      if (f.keepaliveAt === null || now < f.keepaliveAt || f.keepaliveTx !== null) continue;
      f.keepaliveAt = null;
      const o = f.observations[f.keepaliveNext++ % Math.max(1, f.observations.length)];
      if (o !== undefined) f.keepaliveTx = this.#ka.request(now, o.reflector);
    }
  }

  pollTransmit(now: number): Transmit | null {
    for (const f of this.#families) {
      const t = f.gatherer.pollTransmit(now);
      if (t !== null) return t;
    }
    return this.#ka.pollTransmit(now);
  }

  pollTimeout(): number | null {
    let t = minOf(this.#ka.pollTimeout(), this.#pendingAt, this.#refreshAt);
    for (const f of this.#families)
      t = minOf(t, f.gatherer.pollTimeout(), f.keepaliveTx === null ? f.keepaliveAt : null);
    return t;
  }

  pollEvent(): GatheringEvent | null {
    return this.#events.shift() ?? null;
  }

  close(): void {
    this.#state = 'closed';
    this.#stopFamilies();
    this.#refreshAt = null;
    this.#pendingAt = null;
  }

  // ---------------------------------------------------------------- queries

  /** The local mapping for dial verdicts: the family of the peer's addresses, else IPv4's. */
  nat(family?: 4 | 6): NatType | null {
    const pick = (fam: 4 | 6) => this.#families.find((f) => f.family === fam)?.nat ?? null;
    if (family !== undefined) return pick(family);
    return pick(4) ?? pick(6);
  }

  /**
   * True while the verdict "UDP is blocked" stands (and nothing has proved otherwise since): also
   * while a gathering that follows it runs (the retry every `blockedRetryMs`), until it succeeds.
   */
  udpBlocked(): { code: 'UDP_BLOCKED'; message: string } | null {
    if (this.#state !== 'failed' && this.#state !== 'gathering') return null;
    if (this.#error?.code !== 'UDP_BLOCKED' || this.#udpSeen) return null;
    return { code: 'UDP_BLOCKED', message: this.#error.message };
  }

  candidates(): ReflexiveCandidate[] {
    const out: ReflexiveCandidate[] = [];
    for (const f of this.#families) {
      for (const c of f.candidates) {
        if (c.type !== 'srflx' && c.type !== 'prflx') continue;
        if (out.some((o) => o.host === c.address.host && o.port === c.address.port)) continue;
        out.push({ kind: 'srflx', family: f.family, host: c.address.host, port: c.address.port });
      }
    }
    return out;
  }

  status(): NatStatus {
    const reflexive: Address[] = [];
    for (const c of this.candidates()) reflexive.push({ host: c.host, port: c.port });
    return {
      state: this.#state,
      nat: this.nat(),
      families: this.#families.map((f) => ({ family: f.family, nat: f.nat, error: f.error })),
      reflexive,
      error: this.#state === 'failed' ? this.#error : null,
      servers: this.#servers.length + this.#reflectors.length,
      gatherings: this.#gatherings,
      gatheredAt: this.#gatheredAt,
    };
  }

  // ---------------------------------------------------------------- internals

  /** A rate-limited regather: at once when the last one is old enough, else coalesced later. */
  #request(now: number, reason: RegatherReason): void {
    if (this.#state === 'gathering' || this.#state === 'closed' || this.#state === 'off') return;
    const at = this.#startedAt + this.#t.regatherMinGapMs;
    if (now >= at) {
      this.#regather(now, reason);
    } else if (this.#pendingAt === null) {
      this.#pendingAt = at;
      this.#pendingReason = reason;
    }
  }

  #regather(now: number, reason: RegatherReason): void {
    if (this.#state === 'closed' || this.#state === 'off') return;
    if (this.#state === 'resolving' && reason !== 'servers') return;
    const reflectors = [...this.#servers, ...this.#reflectors];
    for (const f of this.#families) this.#previous.set(f.family, f.candidates);
    this.#stopFamilies();
    this.#pendingAt = null;
    this.#refreshAt = null;
    this.#startedAt = now;
    if (reflectors.length === 0) {
      this.#fail(now, 'NO_STUN_SERVER', 'gathering found no STUN server (none resolved)');
      return;
    }
    const families: Family[] = [];
    for (const family of [4, 6] as const) {
      const rs = reflectors.filter((r) => addressFamily(r) === family);
      if (rs.length === 0) continue;
      const hosts = this.#hosts.filter((h) => addressFamily(h) === family);
      // a socket bound to one family only cannot reach the other family's servers
      if (this.#hosts.length > 0 && hosts.length === 0) continue;
      const gatherer = new Gatherer({
        random: this.#cfg.random,
        hostAddresses: hosts,
        reflectors: rs,
        timeoutMs: this.#t.gatherTimeoutMs,
        ...(this.#cfg.localPort !== undefined ? { localPort: this.#cfg.localPort } : {}),
        ...(this.#cfg.software !== undefined ? { software: this.#cfg.software } : {}),
        ...(this.#cfg.log !== undefined ? { log: this.#cfg.log } : {}),
      });
      families.push({
        family,
        gatherer,
        reflectors: rs,
        nat: null,
        // keep the previous candidates until the new mapping is known (cards made meanwhile)
        candidates: this.#previous.get(family) ?? [],
        observations: [],
        error: null,
        done: false,
        keepaliveAt: null,
        keepaliveTx: null,
        keepaliveNext: 0,
      });
    }
    if (families.length === 0) {
      this.#fail(now, 'NO_STUN_SERVER', 'no STUN server of an address family this node has an address of');
      return;
    }
    this.#families = families;
    this.#state = 'gathering';
    this.#events.push({ type: 'gathering', reason });
    this.#cfg.log?.(`gathering (${reason}) with ${reflectors.length} reflector(s)`);
    for (const f of families) f.gatherer.start(now);
    this.#drain(now);
  }

  #stopFamilies(): void {
    for (const f of this.#families) if (f.keepaliveTx !== null) this.#ka.cancel(f.keepaliveTx);
    while (this.#ka.pollEvent() !== null) {
      /* cancellations */
    }
    this.#families = [];
  }

  #fail(now: number, code: NatErrorCode, message: string): void {
    this.#state = 'failed';
    this.#error = { code, message };
    this.#gatherings++;
    this.#gatheredAt = now;
    if (code === 'NO_STUN_SERVER' && !this.#noServerSaid) {
      this.#noServerSaid = true;
      this.#events.push({ type: 'no_server', message });
    }
    this.#events.push({ type: 'gathered', status: this.status() });
    this.#noteCandidates();
    this.#scheduleRefresh(now);
    // UDP blocked: look again sooner than the refresh (the network may unblock it)
    const retry = this.#t.blockedRetryMs;
    if (code === 'UDP_BLOCKED' && retry > 0 && (this.#refreshAt === null || now + retry < this.#refreshAt))
      this.#refreshAt = now + retry;
  }

  #drain(now: number): void {
    for (const f of this.#families) {
      for (let e = f.gatherer.pollEvent(); e !== null; e = f.gatherer.pollEvent()) this.#onEvent(now, f, e);
    }
  }

  #onEvent(now: number, f: Family, e: GatherEvent): void {
    switch (e.type) {
      case 'candidate':
        return;
      case 'gathered':
        f.nat = e.nat;
        f.candidates = e.candidates;
        f.observations = f.gatherer.observations();
        f.done = true;
        this.#cfg.log?.(`IPv${f.family}: mapping ${e.nat.mapping}, ${e.candidates.length} candidates`);
        if (this.#t.bindingKeepaliveMs > 0 && f.observations.length > 0) {
          f.keepaliveAt = now + this.#t.bindingKeepaliveMs;
        }
        break;
      case 'nat':
        f.nat = e.nat;
        if (this.#state !== 'gathering') this.#events.push({ type: 'nat', status: this.status() });
        return;
      case 'failed': {
        f.done = true;
        const offline = f.reflectors.every((r) => this.#unreachable.has(canonicalKey(r)));
        f.error = offline
          ? {
              code: 'NO_STUN_SERVER',
              message: 'gathering found no reachable STUN server (network unreachable)',
            }
          : { code: e.code, message: e.message };
        this.#cfg.log?.(`IPv${f.family}: ${f.error.code}`);
        break;
      }
    }
    this.#settle(now);
  }

  /** A family finished its mapping phase: when all did, the gathering has a result. */
  #settle(now: number): void {
    if (this.#state !== 'gathering') {
      this.#noteCandidates();
      return;
    }
    if (this.#families.some((f) => !f.done)) return;
    const ok = this.#families.some((f) => f.nat !== null);
    if (!ok) {
      const errors = this.#families.map((f) => f.error!);
      const blocked = errors.find((e) => e.code === 'UDP_BLOCKED');
      const e = blocked ?? errors[0]!;
      if (e.code === 'UDP_BLOCKED' && this.#udpSeen) {
        this.#fail(
          now,
          'NO_STUN_SERVER',
          'no STUN server answered, though UDP works (datagrams from the internet arrive)',
        );
        return;
      }
      this.#fail(now, e.code, e.message);
      return;
    }
    this.#state = 'ready';
    this.#error = null;
    this.#gatherings++;
    this.#gatheredAt = now;
    this.#events.push({ type: 'gathered', status: this.status() });
    this.#noteCandidates();
    this.#scheduleRefresh(now);
  }

  #scheduleRefresh(now: number): void {
    this.#refreshAt = this.#t.refreshMs > 0 ? now + this.#t.refreshMs : null;
  }

  #noteCandidates(): void {
    const list = this.candidates();
    const key = addressSetKey(list);
    if (key === this.#lastCandidates) return;
    this.#lastCandidates = key;
    this.#events.push({ type: 'candidates', candidates: list });
  }

  #drainKeepalive(now: number): void {
    for (let ev = this.#ka.pollEvent(); ev !== null; ev = this.#ka.pollEvent()) {
      const f = this.#families.find((x) => x.keepaliveTx === ev.id);
      if (f === undefined) continue;
      f.keepaliveTx = null;
      if (ev.type === 'response') {
        const seen = f.observations.find((o) => equivalentAddress(o.reflector, ev.server));
        if (seen !== undefined && !equivalentAddress(seen.mapped, ev.mapped)) {
          // the NAT gave us another public endpoint: it rebooted or dropped the binding
          this.#cfg.log?.(
            `IPv${f.family}: mapping changed ${canonicalKey(seen.mapped)} -> ${canonicalKey(ev.mapped)}`,
          );
          this.#regather(now, 'mapping_changed');
          return;
        }
        f.keepaliveAt = now + this.#t.bindingKeepaliveMs;
      } else {
        f.keepaliveAt = now + this.#t.bindingKeepaliveMs;
        if (ev.code === 'STUN_TIMEOUT') this.#request(now, 'keepalive_failed');
      }
    }
  }
}

function usableHosts(addresses: readonly Address[]): Address[] {
  // loopback never reaches a reflector
  return checkAddresses(addresses, 'hostAddresses', true)
    .map((a) => ({ host: a.host, port: a.port }))
    .filter((a) => a.host !== '::1' && !a.host.startsWith('127.'));
}

function checkServers(servers: readonly Address[]): Address[] {
  // names are resolved by the driver: the session takes IP endpoints only
  return checkAddresses(servers, 'stunServers').map((s) => ({ host: s.host, port: s.port }));
}

function minOf(a: number | null, ...rest: (number | null)[]): number | null {
  let m = a;
  for (const v of rest) if (v !== null && (m === null || v < m)) m = v;
  return m;
}
