/**
 * Sans-IO connectivity checks for one remote peer (RFC 8445's idea, simplified): candidate pairs
 * probed in priority order with pacing, probes are opaque authenticated payloads from the caller,
 * success is whatever address an authenticated packet comes from (peer-reflexive), first working
 * pair is nominated, a better one found later replaces it, checks continue for a settle period
 * after the first success (early probes die in the other NAT's filter, NATLAB-NOTES §9), and the
 * birthday strategy for consistent × random NATs. Random × random fails fast.
 */
import {
  type BirthdayParams,
  RandomPortSampler,
  type ResolvedBirthdayParams,
  resolveBirthday,
} from './birthday.js';
import {
  type Candidate,
  type CandidatePair,
  comparePairs,
  formPairs,
  makeCandidate,
  pairId,
  pairPriority,
} from './candidate.js';
import {
  type Endpoint,
  endpointFamily,
  isPrivateAddress,
  normalizeAddress,
  sameEndpoint,
} from './endpoint.js';
import { inferMapping, type NatSummary, type PunchStrategy, punchStrategy } from './nat-type.js';
import { checkNow, checkRandom, type RandomBytes, type Transmit } from './transmit.js';

/** What the caller must turn into an authenticated datagram. */
export interface Probe {
  /** 'check': a candidate pair; 'birthday': a random-port probe or a birthday-socket send */
  readonly kind: 'check' | 'birthday';
  readonly socket: number;
  readonly to: Endpoint;
  /** the pair for checks; null for birthday random-port probes */
  readonly pair: CandidatePair | null;
}

export interface PuncherConfig {
  readonly random: RandomBytes;
  /** RFC 8445 role for pair priorities (e.g. the side with the lower peer id); both sides must differ */
  readonly controlling: boolean;
  readonly localCandidates: readonly Candidate[];
  readonly remoteCandidates?: readonly Candidate[];
  readonly localNat?: NatSummary;
  /** the peer's NAT type; when absent it is inferred from its candidates ({@link inferMapping}) */
  readonly remoteNat?: NatSummary;
  /**
   * Builds the payload of one probe: a Noise handshake initiation, an authenticated PATH_CHALLENGE…
   * Must be something only the real peer can answer. Return null to skip this probe.
   */
  readonly probeFactory: (probe: Probe) => Uint8Array | null;
  /** minimum gap between two check probes over all pairs (default 10 ms) */
  readonly pacingMs?: number;
  /** minimum gap between two probes on one pair (default 40 ms) */
  readonly pairIntervalMs?: number;
  /** keep probing (and so acking) this long after the first success (default 1000 ms) */
  readonly settleMs?: number;
  /** give up without any success after this long (default 10 s; birthday: birthdayTimeoutMs) */
  readonly timeoutMs?: number;
  /** overall limit when the birthday strategy runs (default 30 s) */
  readonly birthdayTimeoutMs?: number;
  /** random × random: host pairs (same LAN) get this long before PUNCH_IMPOSSIBLE (default 1500 ms) */
  readonly impossibleGraceMs?: number;
  /** after completion, switch to another address only if the selected one was silent this long (default 2000 ms) */
  readonly migrateAfterMs?: number;
  readonly birthday?: BirthdayParams;
  /** component logger (e.g. `debug('srmudp:punch')`); silent when absent. Never given secrets. */
  readonly log?: (message: string) => void;
}

export type PunchFailureCode = 'PUNCH_TIMEOUT' | 'PUNCH_IMPOSSIBLE';

export type PunchEvent =
  /** bind extra sockets 1..count (birthday strategy, random side); transmits use them by index */
  | { readonly type: 'open_sockets'; readonly count: number }
  /** a remote address not among the candidates sent an authenticated packet */
  | { readonly type: 'peer_reflexive'; readonly candidate: Candidate }
  /** first working pair: start using it */
  | { readonly type: 'nominated'; readonly pair: CandidatePair }
  /** a better pair works: switch to it */
  | { readonly type: 'upgraded'; readonly pair: CandidatePair; readonly previous: CandidatePair }
  /** after completion the peer's packets come from another address (NAT rebinding): switch */
  | { readonly type: 'migrated'; readonly pair: CandidatePair; readonly previous: CandidatePair }
  /** settle period over: checks stop, keepalives take over on `pair` */
  | { readonly type: 'completed'; readonly pair: CandidatePair }
  /** birthday sockets no longer needed: close every extra socket not in `keep` */
  | { readonly type: 'release_sockets'; readonly keep: readonly number[] }
  | { readonly type: 'failed'; readonly code: PunchFailureCode; readonly message: string };

export type PunchState = 'idle' | 'checking' | 'settling' | 'completed' | 'failed' | 'closed';

export interface PuncherStats {
  checksSent: number;
  birthdayProbesSent: number;
  birthdaySocketSends: number;
  successes: number;
  peerReflexive: number;
  /** probes the factory declined (returned null) */
  skipped: number;
  /** authenticated() reports ignored (wrong state) */
  ignored: number;
}

interface PairState {
  pair: CandidatePair;
  nextAt: number;
  probes: number;
  succeeded: boolean;
  lastRecv: number;
}

export class Puncher {
  readonly #cfg: PuncherConfig;
  readonly #bd: ResolvedBirthdayParams;
  readonly #pacing: number;
  readonly #pairInterval: number;
  readonly #settle: number;
  readonly #local: Candidate[];
  #remote: Candidate[];
  #remoteNat: NatSummary;
  #remoteNatGiven: boolean;
  #localNat: NatSummary;
  #pairs: PairState[] = [];
  readonly #byId = new Map<string, PairState>();
  readonly #events: PunchEvent[] = [];
  #state: PunchState = 'idle';
  #strategy: PunchStrategy = { kind: 'direct' };
  #startedAt = 0;
  #deadline = 0;
  #settleEnd = 0;
  #nextCheckAt = 0;
  #selected: PairState | null = null;
  // birthday
  #bdStartAt: number | null = null;
  #bdActive = false;
  /** set once the birthday phase began: its start time is no longer a timer */
  #bdStarted = false;
  #bdSocketsOpened = 0;
  #bdNextSocket = 1;
  #bdNextAt = 0;
  #bdSampler: RandomPortSampler | null = null;
  #bdTargetIndex = 0;
  #bdProbes = 0;
  readonly #stats: PuncherStats = {
    checksSent: 0,
    birthdayProbesSent: 0,
    birthdaySocketSends: 0,
    successes: 0,
    peerReflexive: 0,
    skipped: 0,
    ignored: 0,
  };

  constructor(config: PuncherConfig) {
    checkRandom(config?.random);
    if (typeof config.probeFactory !== 'function') throw new TypeError('"probeFactory" expected function');
    if (!Array.isArray(config.localCandidates)) throw new TypeError('"localCandidates" expected array');
    this.#cfg = config;
    this.#bd = resolveBirthday(config.birthday);
    this.#pacing = nonNegative('pacingMs', config.pacingMs ?? 10);
    this.#pairInterval = nonNegative('pairIntervalMs', config.pairIntervalMs ?? 40);
    this.#settle = nonNegative('settleMs', config.settleMs ?? 1000);
    this.#local = config.localCandidates.slice();
    this.#remote = (config.remoteCandidates ?? []).slice();
    this.#remoteNatGiven = config.remoteNat !== undefined;
    this.#remoteNat = config.remoteNat ?? { mapping: inferMapping(this.#remote) };
    this.#localNat = config.localNat ?? { mapping: 'unknown' };
  }

  get state(): PunchState {
    return this.#state;
  }

  get strategy(): PunchStrategy {
    return this.#strategy;
  }

  /** The pair in use (after 'nominated'), else null. */
  selected(): CandidatePair | null {
    return this.#selected?.pair ?? null;
  }

  pairs(): readonly CandidatePair[] {
    return this.#pairs.map((p) => p.pair);
  }

  stats(): Readonly<PuncherStats> {
    return { ...this.#stats };
  }

  start(now: number): void {
    checkNow(now);
    if (this.#state !== 'idle') throw new TypeError(`Puncher.start called in state "${this.#state}"`);
    this.#state = 'checking';
    this.#startedAt = now;
    this.#nextCheckAt = now;
    this.#rebuildPairs(now);
    this.#planStrategy(now);
  }

  /** Adds remote candidates (trickled from rendezvous) and optionally the remote NAT type. */
  addRemoteCandidates(now: number, candidates: readonly Candidate[], remoteNat?: NatSummary): void {
    checkNow(now);
    for (const c of candidates) {
      if (!this.#remote.some((r) => sameEndpoint(r.address, c.address))) this.#remote.push(c);
    }
    if (remoteNat !== undefined) {
      this.#remoteNat = remoteNat;
      this.#remoteNatGiven = true;
    } else if (!this.#remoteNatGiven) {
      this.#remoteNat = { mapping: inferMapping(this.#remote) };
    }
    if (this.#state === 'checking' || this.#state === 'settling') {
      this.#rebuildPairs(now);
      if (this.#state === 'checking') this.#planStrategy(now);
    }
  }

  /** Updates our own NAT type (e.g. the gatherer's later 'nat' event with the filtering result). */
  setLocalNat(now: number, nat: NatSummary): void {
    checkNow(now);
    this.#localNat = nat;
    if (this.#state === 'checking') this.#planStrategy(now);
  }

  /**
   * Reports an authenticated packet from the peer, received from `from` on local socket `socket`
   * (alias: {@link probeSucceeded}). The peer is accepted at whatever address its authenticated
   * packets come from. Cheap enough to call for every authenticated datagram.
   */
  authenticated(now: number, from: Endpoint, socket = 0): void {
    if (this.#state === 'idle' || this.#state === 'failed' || this.#state === 'closed') {
      this.#stats.ignored++;
      return;
    }
    const ps = this.#byId.get(pairId(socket, from)) ?? this.#learn(now, from, socket);
    if (ps === null) {
      this.#stats.ignored++;
      return;
    }
    ps.lastRecv = now;
    if (!ps.succeeded) {
      ps.succeeded = true;
      this.#stats.successes++;
    }
    const sel = this.#selected;
    if (sel === null) {
      this.#selected = ps;
      this.#state = 'settling';
      this.#settleEnd = now + this.#settle;
      this.#bdActive = false;
      this.#events.push({ type: 'nominated', pair: ps.pair });
      this.#cfg.log?.(`nominated ${ps.pair.id} (${ps.pair.remote.type}) after ${now - this.#startedAt} ms`);
      return;
    }
    if (sel === ps) return;
    // After completion an address never seen before takes over only when the selected one went
    // silent (migration); while checking, priority alone decides (RFC 8445 §7.2.5.3.4 idea).
    const unknownAfterCompletion = this.#state === 'completed' && ps.pair.remote.type === 'prflx';
    if (ps.pair.priority > sel.pair.priority && !unknownAfterCompletion) {
      this.#selected = ps;
      this.#events.push({ type: 'upgraded', pair: ps.pair, previous: sel.pair });
      this.#cfg.log?.(`upgraded ${sel.pair.id} -> ${ps.pair.id}`);
    } else if (this.#state === 'completed' && now - sel.lastRecv >= (this.#cfg.migrateAfterMs ?? 2000)) {
      this.#selected = ps;
      this.#events.push({ type: 'migrated', pair: ps.pair, previous: sel.pair });
      this.#cfg.log?.(`migrated ${sel.pair.id} -> ${ps.pair.id}`);
    }
  }

  /** Same as {@link authenticated}; also takes the pair a reply was matched to. */
  probeSucceeded(now: number, target: Endpoint | CandidatePair, socket = 0): void {
    if ('remote' in target) this.authenticated(now, target.remote.address, target.local.socket);
    else this.authenticated(now, target, socket);
  }

  handleTimeout(now: number): void {
    if (this.#state === 'checking') {
      if (now >= this.#deadline) {
        if (this.#strategy.kind === 'impossible') this.#fail('PUNCH_IMPOSSIBLE', this.#impossibleMessage());
        else this.#fail('PUNCH_TIMEOUT', this.#timeoutMessage(now));
        return;
      }
      if (this.#bdStartAt !== null && !this.#bdStarted && now >= this.#bdStartAt) this.#startBirthday(now);
    } else if (this.#state === 'settling' && now >= this.#settleEnd) {
      this.#state = 'completed';
      this.#events.push({ type: 'completed', pair: this.#selected!.pair });
      if (this.#bdSocketsOpened > 0)
        this.#events.push({ type: 'release_sockets', keep: this.#keepSockets() });
    }
  }

  pollTransmit(now: number): Transmit | null {
    if (this.#state !== 'checking' && this.#state !== 'settling') return null;
    if (this.#state === 'checking' && now >= this.#deadline) return null;
    if (this.#state === 'settling' && now >= this.#settleEnd) return null;
    if (now >= this.#nextCheckAt) {
      const t = this.#nextCheck(now);
      if (t !== null) return t;
    }
    if (this.#bdActive && now >= this.#bdNextAt) return this.#nextBirthday(now);
    return null;
  }

  pollTimeout(): number | null {
    let t: number | null = null;
    const min = (v: number) => {
      t = t === null || v < t ? v : t;
    };
    if (this.#state === 'checking') {
      min(this.#deadline);
      if (this.#bdStartAt !== null && !this.#bdStarted) min(this.#bdStartAt);
    } else if (this.#state === 'settling') {
      min(this.#settleEnd);
    } else {
      return null;
    }
    let pairDue: number | null = null;
    for (const p of this.#pairs) if (pairDue === null || p.nextAt < pairDue) pairDue = p.nextAt;
    if (pairDue !== null) min(Math.max(pairDue, this.#nextCheckAt));
    if (this.#bdActive) min(this.#bdNextAt);
    return t;
  }

  pollEvent(): PunchEvent | null {
    return this.#events.shift() ?? null;
  }

  /** Stops everything; extra sockets may be released. */
  close(): void {
    if (this.#state === 'closed') return;
    const hadSockets = this.#bdSocketsOpened > 0;
    this.#state = 'closed';
    this.#bdActive = false;
    if (hadSockets) this.#events.push({ type: 'release_sockets', keep: this.#keepSockets() });
  }

  // -------------------------------------------------------------------------------------------

  #rebuildPairs(now: number): void {
    const fresh = formPairs(this.#local, this.#remote, this.#cfg.controlling);
    for (const pair of fresh) {
      if (this.#byId.has(pair.id)) continue;
      const ps: PairState = { pair, nextAt: now, probes: 0, succeeded: false, lastRecv: -1 };
      this.#byId.set(pair.id, ps);
      this.#pairs.push(ps);
    }
    this.#pairs.sort((a, b) => comparePairs(a.pair, b.pair));
  }

  #planStrategy(now: number): void {
    this.#strategy = punchStrategy(this.#localNat, this.#remoteNat);
    const s = this.#strategy;
    if (s.kind !== 'birthday') {
      // a NAT update can take the birthday strategy away again
      this.#bdActive = false;
      if (!this.#bdStarted) this.#bdStartAt = null;
    }
    if (s.kind === 'impossible') {
      const hostPairs = this.#pairs.some(
        (p) => p.pair.local.type === 'host' && p.pair.remote.type === 'host',
      );
      if (this.#remote.length > 0 && !hostPairs) {
        this.#fail('PUNCH_IMPOSSIBLE', this.#impossibleMessage());
        return;
      }
      this.#deadline = this.#startedAt + (this.#cfg.impossibleGraceMs ?? 1500);
      return;
    }
    if (s.kind === 'birthday') {
      this.#deadline = this.#startedAt + (this.#cfg.birthdayTimeoutMs ?? 30_000);
      if (this.#remote.length > 0 && !this.#bdStarted) {
        const at = s.certain ? now : this.#startedAt + this.#bd.fallbackDelayMs;
        this.#bdStartAt = this.#bdStartAt === null ? at : Math.min(this.#bdStartAt, at);
      }
      if (this.#bdStartAt !== null && !this.#bdActive && now >= this.#bdStartAt) this.#startBirthday(now);
      return;
    }
    this.#deadline = this.#startedAt + (this.#cfg.timeoutMs ?? 10_000);
  }

  #nextCheck(now: number): Transmit | null {
    // Highest-priority due pair first (the list is sorted). In settling, keep probing every pair:
    // it acks the peer's probes and lets a better pair still be found.
    for (const ps of this.#pairs) {
      if (ps.nextAt > now) continue;
      ps.nextAt = now + this.#pairInterval;
      const probe: Probe = {
        kind: 'check',
        socket: ps.pair.local.socket,
        to: ps.pair.remote.address,
        pair: ps.pair,
      };
      const data = this.#cfg.probeFactory(probe);
      if (data === null) {
        this.#stats.skipped++;
        continue;
      }
      ps.probes++;
      this.#stats.checksSent++;
      this.#nextCheckAt = now + this.#pacing;
      return { to: probe.to, data, socket: probe.socket };
    }
    return null;
  }

  #startBirthday(now: number): void {
    const s = this.#strategy;
    if (s.kind !== 'birthday') {
      this.#bdStartAt = null;
      return;
    }
    this.#bdActive = true;
    this.#bdStarted = true;
    this.#bdNextAt = now;
    this.#cfg.log?.(`birthday strategy started as ${s.localRole}`);
    if (s.localRole === 'sockets') {
      if (this.#bdSocketsOpened === 0) {
        this.#bdSocketsOpened = this.#bd.sockets;
        this.#events.push({ type: 'open_sockets', count: this.#bd.sockets });
      }
      this.#bdNextSocket = 1;
    } else {
      this.#bdSampler ??= new RandomPortSampler(this.#cfg.random, this.#bd.portRange);
    }
  }

  /** The consistent side's public endpoints (targets of the birthday sockets). */
  #consistentTargets(): Endpoint[] {
    const srflx = this.#remote.filter((c) => c.type === 'srflx' || c.type === 'prflx').map((c) => c.address);
    if (srflx.length > 0) return srflx;
    return this.#remote
      .filter((c) => c.type === 'host' && !isPrivateAddress(c.address.host))
      .map((c) => c.address);
  }

  /** The random side's public IPs (targets of random-port probes). */
  #randomSideIps(): string[] {
    const ips: string[] = [];
    for (const c of this.#remote) {
      if (c.type !== 'srflx' && c.type !== 'prflx') continue;
      const ip = normalizeAddress(c.address.host);
      if (!ips.includes(ip)) ips.push(ip);
    }
    return ips;
  }

  #nextBirthday(now: number): Transmit | null {
    const s = this.#strategy;
    if (s.kind !== 'birthday') return null;
    if (s.localRole === 'sockets') {
      const targets = this.#consistentTargets();
      if (targets.length === 0) {
        this.#bdActive = false;
        return null;
      }
      const socket = this.#bdNextSocket;
      // one send per (socket, target): with one target (the usual case) the index is the socket
      const target = targets[this.#bdTargetIndex % targets.length]!;
      this.#bdTargetIndex++;
      if (this.#bdTargetIndex >= targets.length) {
        this.#bdTargetIndex = 0;
        this.#bdNextSocket++;
      }
      if (this.#bdNextSocket > this.#bdSocketsOpened) {
        this.#bdNextSocket = 1;
        this.#bdNextAt = now + this.#bd.resendMs; // next round refreshes the mappings
      } else {
        this.#bdNextAt = now + this.#bd.socketPacingMs;
      }
      const local = this.#local.find(
        (c) => c.socket === 0 && endpointFamily(c.address) === endpointFamily(target),
      );
      const pair = local === undefined ? null : this.#syntheticPair(local, socket, target);
      const probe: Probe = { kind: 'birthday', socket, to: target, pair };
      const data = this.#cfg.probeFactory(probe);
      if (data === null) {
        this.#stats.skipped++;
        return null;
      }
      this.#stats.birthdaySocketSends++;
      return { to: target, data, socket };
    }
    // prober: random ports of the random side's public IP(s), bounded by maxProbes
    const ips = this.#randomSideIps();
    if (ips.length === 0 || this.#bdProbes >= this.#bd.maxProbes) {
      this.#bdActive = false;
      return null;
    }
    const port = this.#bdSampler!.next();
    if (port === null) {
      this.#bdActive = false;
      return null;
    }
    const to = { host: ips[this.#bdProbes % ips.length]!, port };
    this.#bdProbes++;
    this.#bdNextAt = now + this.#bd.probeIntervalMs;
    const probe: Probe = { kind: 'birthday', socket: 0, to, pair: null };
    const data = this.#cfg.probeFactory(probe);
    if (data === null) {
      this.#stats.skipped++;
      return null;
    }
    this.#stats.birthdayProbesSent++;
    return { to, data, socket: 0 };
  }

  #syntheticPair(local: Candidate, socket: number, to: Endpoint): CandidatePair {
    const remote = this.#remote.find((r) => sameEndpoint(r.address, to)) ?? makeCandidate('prflx', to);
    const l = socket === local.socket ? local : { ...local, socket };
    const priority = this.#cfg.controlling
      ? pairPriority(l.priority, remote.priority)
      : pairPriority(remote.priority, l.priority);
    return { id: pairId(socket, to), local: l, remote, priority };
  }

  /** An authenticated packet from an unknown (socket, address): a peer-reflexive remote candidate. */
  #learn(now: number, from: Endpoint, socket: number): PairState | null {
    const fam = endpointFamily(from);
    const local =
      this.#local.find(
        (c) => c.socket === socket && c.type === 'host' && endpointFamily(c.address) === fam,
      ) ??
      this.#local.find((c) => c.socket === 0 && c.type === 'host' && endpointFamily(c.address) === fam) ??
      this.#local.find((c) => endpointFamily(c.address) === fam);
    if (local === undefined) return null;
    let remote = this.#remote.find((r) => sameEndpoint(r.address, from));
    if (remote === undefined) {
      remote = makeCandidate('prflx', from);
      this.#remote.push(remote);
      this.#stats.peerReflexive++;
      this.#events.push({ type: 'peer_reflexive', candidate: remote });
    }
    const pair = this.#syntheticPair(local, socket, from);
    const ps: PairState = {
      pair: { ...pair, remote },
      nextAt: now + this.#pairInterval,
      probes: 0,
      succeeded: false,
      lastRecv: now,
    };
    this.#byId.set(ps.pair.id, ps);
    this.#pairs.push(ps);
    this.#pairs.sort((a, b) => comparePairs(a.pair, b.pair));
    return ps;
  }

  #keepSockets(): number[] {
    const sel = this.#selected;
    return sel === null || sel.pair.local.socket === 0 ? [0] : [0, sel.pair.local.socket];
  }

  #fail(code: 'PUNCH_TIMEOUT' | 'PUNCH_IMPOSSIBLE', message: string): void {
    this.#state = 'failed';
    this.#bdActive = false;
    this.#events.push({ type: 'failed', code, message });
    this.#cfg.log?.(`failed ${code}: ${message}`);
    if (this.#bdSocketsOpened > 0) this.#events.push({ type: 'release_sockets', keep: [0] });
  }

  #impossibleMessage(): string {
    const s = this.#strategy;
    return `direct connection impossible: ${s.kind === 'impossible' ? s.reason : 'unknown'}; a relay is needed`;
  }

  #timeoutMessage(now: number): string {
    return (
      `no candidate pair worked within ${now - this.#startedAt} ms ` +
      `(${this.#pairs.length} pairs, ${this.#stats.checksSent} checks, ${this.#stats.birthdayProbesSent} birthday probes)`
    );
  }
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`"${name}" expected non-negative finite number, got ${String(v)}`);
  }
  return v;
}
