/**
 * Dial attempts as the NAT session judges and helps them (DESIGN.md §5). Core still sends the
 * handshakes, to every candidate at once, and accepts the peer wherever its authenticated packets
 * come from; this file decides, per peer, what core should dial and what else must happen:
 *
 * - the verdict: `direct`, `birthday` (which roles; at once when certain, after
 *   `fallbackDelayMs` without success when one side is known random, after a failed plain dial
 *   when the mappings are merely unknown), or `impossible` / UDP blocked: only the peer's LAN
 *   addresses are dialled, for `lanGraceMs`, then the typed error;
 * - the birthday roles (birthday-roles.ts) with the socket pool (socket-pool.ts): sockets are
 *   asked for (`open_sockets`), probes sent, a hit reported (`dial_addresses`), sockets given back
 *   (`close_sockets`) when the attempt ends, except the one a connection runs over;
 * - after a failed core dial: retry while the birthday window lasts, else the final error.
 */
import { type Address, addressFamily, canonicalHost, SrmudpError, type StunMessage } from '@srmudp/wire';
import {
  addressSetKey,
  canonicalKey,
  checkAddresses,
  equivalentAddress,
  isPrivateAddress,
} from './address.js';
import type { ResolvedBirthdayParams } from './birthday.js';
import { BirthdayProber, BirthdaySockets } from './birthday-roles.js';
import { makeCandidate } from './candidate.js';
import type { NatTiming } from './gathering.js';
import { inferMapping, type MappingBehavior, type NatType, type PunchPlan, planPunch } from './nat-type.js';
import { SocketPool } from './socket-pool.js';
import { handleStunRequest } from './stun-responder.js';
import type { RandomBytes, Transmit } from './transmit.js';

/**
 * A peer's candidate address as its record gives it (`kind` absent: private = host, public =
 * srflx). `mapped`: a port its router forwards to it (UPnP-IGD, NAT-PMP, PCP), reachable
 * unsolicited: the peer is judged a full cone (EIM, endpoint-independent filtering) and the mapping
 * is dialled before its other public addresses.
 */
export interface RemoteCandidate extends Address {
  readonly kind?: 'host' | 'srflx' | 'relay' | 'mapped';
}

/** The verdict on dialling a peer. */
export interface DialVerdict {
  readonly plan: PunchPlan;
  readonly localMapping: MappingBehavior;
  /** inferred from the peer's candidates (two reflexive ports on one IP = random) */
  readonly remoteMapping: MappingBehavior;
  /** UDP_BLOCKED / PUNCH_IMPOSSIBLE: only LAN addresses are dialled, for `lanGraceMs` */
  readonly error: SrmudpError | null;
}

/** What core should dial now. No addresses and an error: fail at once. */
export interface DialPlan {
  readonly addresses: readonly Address[];
  readonly verdict: DialVerdict;
}

/** How core's dial ended (`code`: core's error code, e.g. HANDSHAKE_TIMEOUT). */
export type DialOutcome =
  | { readonly connected: true; readonly remote: Address }
  | { readonly connected: false; readonly code: string };

/** What to do after a dial ended: nothing, dial again, or fail (null: with core's own error). */
export type DialNext =
  | { readonly kind: 'done' }
  | { readonly kind: 'retry'; readonly addresses: readonly Address[] }
  | { readonly kind: 'fail'; readonly error: SrmudpError | null };

export type DialEvent =
  /** bind `count` pool sockets (ephemeral ports, IPv4), answer with `socketsOpened(now, request, …)` */
  | { readonly type: 'open_sockets'; readonly request: number; readonly count: number }
  /** close these pool sockets */
  | { readonly type: 'close_sockets'; readonly ids: readonly number[] }
  /** add these addresses to the running dial of `peer` (a birthday hit) */
  | { readonly type: 'dial_addresses'; readonly peer: string; readonly addresses: readonly Address[] }
  /** end the dial of `peer` with this error (LAN grace over, or the pair turned out impossible) */
  | { readonly type: 'dial_failed'; readonly peer: string; readonly error: SrmudpError };

/** What the dial rules need to know about this node. */
export interface LocalView {
  readonly nat: NatType | null;
  readonly blocked: { readonly message: string } | null;
  /** our public IPs (a peer behind the same NAT is reached by LAN addresses, never by birthday) */
  readonly publicIps: readonly string[];
  /**
   * the router maps a port to our main socket (UPnP-IGD, NAT-PMP, PCP): anyone reaches us there
   * unsolicited, so we count as a full cone (EIM, endpoint-independent filtering) whatever the
   * NAT does for other flows
   */
  readonly mapped?: boolean;
}

export interface DialsConfig {
  readonly random: RandomBytes;
  readonly timing: NatTiming;
  readonly birthday: ResolvedBirthdayParams;
  readonly software?: string;
  readonly log?: (message: string) => void;
  readonly emit: (event: DialEvent) => void;
}

export interface DialStats {
  attempts: number;
  birthdays: number;
  probesSent: number;
  poolSends: number;
  /** probes of the other side answered by our pool sockets */
  poolHits: number;
  /** our probes answered: the peer's port found */
  probeHits: number;
  /** requests on pool sockets from addresses that are not the peer's */
  poolRefused: number;
}

interface Attempt {
  readonly peer: string;
  candidates: RemoteCandidate[];
  readonly startedAt: number;
  verdict: DialVerdict;
  failAt: number | null;
  rolesAt: number | null;
  deadline: number | null;
  rolesStarted: boolean;
  birthdayOver: boolean;
  prober: BirthdayProber | null;
  sockets: BirthdaySockets | null;
  hit: Address | null;
  poolHits: number;
}

export class Dials {
  readonly pool = new SocketPool();
  readonly #cfg: DialsConfig;
  readonly #attempts = new Map<string, Attempt>();
  readonly #replies: Transmit[] = [];
  /** peers whose last-resort birthday failed: when, and with which candidates */
  readonly #lastResort = new Map<string, { at: number; key: string }>();
  readonly #stats: DialStats = {
    attempts: 0,
    birthdays: 0,
    probesSent: 0,
    poolSends: 0,
    poolHits: 0,
    probeHits: 0,
    poolRefused: 0,
  };

  constructor(config: DialsConfig) {
    this.#cfg = config;
  }

  stats(): Readonly<DialStats> {
    return { ...this.#stats };
  }

  /** Judges a dial without starting anything. */
  judge(local: LocalView, candidates: readonly RemoteCandidate[]): DialVerdict {
    const remote = candidates.filter((c) => c.kind !== 'relay').map((c) => makeCandidate(kindOf(c), c));
    const remoteMapped = candidates.some((c) => c.kind === 'mapped');
    const remoteMapping = remoteMapped ? 'consistent' : inferMapping(remote);
    const localMapping = local.mapped === true ? 'consistent' : (local.nat?.mapping ?? 'unknown');
    const localFiltering = local.mapped === true ? 'endpoint-independent' : local.nat?.filtering;
    let plan = planPunch(
      { mapping: localMapping, ...(localFiltering !== undefined ? { filtering: localFiltering } : {}) },
      remoteMapped
        ? { mapping: remoteMapping, filtering: 'endpoint-independent' }
        : { mapping: remoteMapping },
      { unknownFallback: true },
    );
    if (plan.kind === 'birthday') {
      const t = targetsOf(candidates);
      const sameNat = t.ips.some((ip) => local.publicIps.includes(ip));
      const sockets = plan.sockets && t.endpoints.length > 0 && !sameNat;
      const prober = plan.prober && t.ips.length > 0 && !sameNat;
      plan = sockets || prober ? { ...plan, sockets, prober } : { kind: 'direct' };
    }
    let error: SrmudpError | null = null;
    if (local.blocked !== null) {
      error = new SrmudpError(
        'UDP_BLOCKED',
        `outbound UDP is blocked on this network: ${local.blocked.message} (a TCP/WebSocket relay is needed)`,
      );
    } else if (plan.kind === 'impossible') {
      error = new SrmudpError(
        'PUNCH_IMPOSSIBLE',
        `no direct path can be punched: ${plan.reason} (a relay is needed)`,
      );
    }
    return { plan, localMapping, remoteMapping, error };
  }

  dial(now: number, peer: string, candidates: readonly RemoteCandidate[], local: LocalView): DialPlan {
    if (typeof peer !== 'string' || peer.length === 0)
      throw new TypeError('"peer" expected a non-empty string');
    const list = checkCandidates(candidates);
    let a = this.#attempts.get(peer);
    if (a === undefined) {
      const verdict = this.judge(local, list);
      if (verdict.error !== null && lanOf(list).length === 0) return { addresses: [], verdict };
      a = {
        peer,
        candidates: list,
        startedAt: now,
        verdict,
        failAt: null,
        rolesAt: null,
        deadline: null,
        rolesStarted: false,
        birthdayOver: false,
        prober: null,
        sockets: null,
        hit: null,
        poolHits: 0,
      };
      this.#attempts.set(peer, a);
      this.#stats.attempts++;
    } else {
      for (const c of list) if (!a.candidates.some((x) => equivalentAddress(x, c))) a.candidates.push(c);
    }
    this.#plan(now, a, local, true);
    const cur = this.#attempts.get(peer);
    const addresses = cur === undefined ? [] : this.#addresses(cur);
    return { addresses, verdict: a.verdict };
  }

  /** Our NAT classification changed: attempts whose roles have not started are judged again. */
  replan(now: number, local: LocalView): void {
    for (const a of [...this.#attempts.values()]) this.#plan(now, a, local, false);
  }

  ended(now: number, peer: string, outcome: DialOutcome): DialNext {
    const a = this.#attempts.get(peer);
    if (outcome.connected) {
      if (a !== undefined) this.#finish(a, outcome.remote);
      return { kind: 'done' };
    }
    if (a === undefined) return { kind: 'fail', error: null };
    if (a.verdict.error !== null) {
      this.#finish(a, null);
      return { kind: 'fail', error: a.verdict.error };
    }
    // core's handshake timeout (10 s) is shorter than the birthday window: dial again (a
    // last-resort birthday starts now: the plain dial failed)
    if (outcome.code === 'HANDSHAKE_TIMEOUT' && a.deadline !== null && now < a.deadline - 1000) {
      if (!a.rolesStarted) this.#startRoles(now, a);
      return { kind: 'retry', addresses: this.#addresses(a) };
    }
    this.#finish(a, null);
    if (!a.rolesStarted) return { kind: 'fail', error: null };
    if (a.verdict.plan.kind === 'birthday' && a.verdict.plan.start === 'last_resort') {
      this.#lastResort.set(a.peer, { at: now, key: addressSetKey(a.candidates) });
    }
    return { kind: 'fail', error: new SrmudpError('PUNCH_TIMEOUT', this.#timeoutMessage(a)) };
  }

  cancel(peer: string): void {
    const a = this.#attempts.get(peer);
    if (a !== undefined) this.#finish(a, null);
  }

  socketsOpened(now: number, request: number, ids: readonly number[], localPorts: readonly number[]): void {
    const owner = this.pool.opened(request, ids, localPorts);
    const a = owner === null ? undefined : this.#attempts.get(owner);
    if (a === undefined || a.sockets === null || a.birthdayOver) {
      const close = owner === null ? ids.slice() : this.pool.release(owner, null);
      if (close.length > 0) this.#cfg.emit({ type: 'close_sockets', ids: close });
      return;
    }
    this.#cfg.log?.(`birthday ${a.peer}: ${ids.length} sockets`);
    const all = a.sockets.sockets.concat(ids);
    a.sockets.setSockets(now, all);
  }

  /** A STUN Binding request on pool socket `socket`: answered when it comes from the peer. */
  answer(socket: number, from: Address, bytes: Uint8Array): void {
    const owner = this.pool.ownerOf(socket);
    const a = owner === null || owner === undefined ? undefined : this.#attempts.get(owner);
    const allowed =
      a !== undefined
        ? peerIps(a.candidates).includes(canonicalHost(from.host))
        : owner === null && this.pool.route(from) === socket;
    if (!allowed) {
      this.#stats.poolRefused++;
      return;
    }
    const reply = handleStunRequest(bytes, from, null);
    if (reply === null) return;
    this.#replies.push({ socket, to: { host: from.host, port: from.port }, data: reply });
    if (this.pool.setRoute(from, socket) && a !== undefined) {
      a.poolHits++;
      this.#stats.poolHits++;
      const port = this.pool.localPort(socket);
      this.#cfg.log?.(
        `birthday ${a.peer}: probe from ${canonicalKey(from)} hit socket ${socket} (port ${port})`,
      );
    }
  }

  /** Anything else received on a pool socket: datagrams to its sender now leave from it. */
  noteRoute(from: Address, socket: number): void {
    if (this.pool.has(socket)) this.pool.setRoute(from, socket);
  }

  /** A STUN success on socket 0: an answer to one of our probes is a hit. */
  response(from: Address, msg: StunMessage): boolean {
    for (const a of this.#attempts.values()) {
      if (a.prober === null || !a.prober.matches(msg)) continue;
      if (a.hit === null) {
        a.hit = { host: canonicalHost(from.host), port: from.port };
        a.prober.stop();
        this.#stats.probeHits++;
        this.#cfg.log?.(`birthday ${a.peer}: hit ${canonicalKey(from)} after ${a.prober.probes} probes`);
        this.#cfg.emit({ type: 'dial_addresses', peer: a.peer, addresses: [a.hit] });
      }
      return true;
    }
    return false;
  }

  /** A connection over a pool socket ended: the socket is closed. */
  releaseRoute(remote: Address): void {
    const ids = this.pool.releaseRoute(remote);
    if (ids.length > 0) this.#cfg.emit({ type: 'close_sockets', ids });
  }

  handleTimeout(now: number): void {
    for (const a of [...this.#attempts.values()]) {
      if (a.failAt !== null && now >= a.failAt) {
        this.#finish(a, null);
        this.#cfg.emit({ type: 'dial_failed', peer: a.peer, error: a.verdict.error! });
        continue;
      }
      if (!a.rolesStarted && a.rolesAt !== null && now >= a.rolesAt) this.#startRoles(now, a);
      if (!a.birthdayOver && a.deadline !== null && now >= a.deadline) {
        // stop sending; the sockets stay until core's dial ends (a handshake may be under way)
        a.birthdayOver = true;
        a.prober?.stop();
        a.sockets?.stop();
      }
    }
  }

  pollTransmit(now: number): Transmit | null {
    const r = this.#replies.shift();
    if (r !== undefined) return r;
    for (const a of this.#attempts.values()) {
      const p = a.prober?.poll(now) ?? null;
      if (p !== null) {
        this.#stats.probesSent++;
        return p;
      }
      const s = a.sockets?.poll(now, (id) => this.pool.routed(id)) ?? null;
      if (s !== null) {
        this.#stats.poolSends++;
        return s;
      }
    }
    return null;
  }

  pollTimeout(): number | null {
    let t: number | null = null;
    const min = (v: number | null) => {
      if (v !== null && (t === null || v < t)) t = v;
    };
    for (const a of this.#attempts.values()) {
      min(a.failAt);
      if (!a.rolesStarted) min(a.rolesAt);
      if (!a.birthdayOver) {
        min(a.deadline);
        min(a.prober?.pollTimeout() ?? null);
        min(a.sockets?.pollTimeout() ?? null);
      }
    }
    return t;
  }

  close(): void {
    for (const a of [...this.#attempts.values()]) this.#finish(a, null);
    const ids = this.pool.closeAll();
    if (ids.length > 0) this.#cfg.emit({ type: 'close_sockets', ids });
    this.#replies.length = 0;
  }

  // ---------------------------------------------------------------- internals

  /** (Re)judges an attempt; `fromDial`: the caller gets the verdict back, so no event. */
  #plan(now: number, a: Attempt, local: LocalView, fromDial: boolean): void {
    const v = this.judge(local, a.candidates);
    a.verdict = v;
    const t = this.#cfg.timing;
    if (v.error !== null) {
      a.prober?.stop();
      a.sockets?.stop();
      if (lanOf(a.candidates).length === 0) {
        this.#finish(a, null);
        if (!fromDial) this.#cfg.emit({ type: 'dial_failed', peer: a.peer, error: v.error });
        return;
      }
      a.failAt = Math.max(now, a.startedAt + t.lanGraceMs);
      return;
    }
    a.failAt = null;
    if (a.rolesStarted) return;
    if (v.plan.kind === 'birthday' && !this.#coolingDown(now, a, v.plan.start)) {
      a.deadline ??= a.startedAt + t.birthdayTimeoutMs;
      if (v.plan.start === 'last_resort') return; // started by ended(): the plain dial failed
      const at = v.plan.start === 'now' ? now : a.startedAt + this.#cfg.birthday.fallbackDelayMs;
      a.rolesAt = a.rolesAt === null ? at : Math.min(a.rolesAt, at);
      if (now >= a.rolesAt) this.#startRoles(now, a);
    } else {
      a.rolesAt = null;
      a.deadline = null;
    }
  }

  /**
   * A last-resort birthday that failed is not repeated for the same candidates within
   * `lastResortCooldownMs`: an offline peer redialled by the façade's backoff would otherwise get
   * 256 sockets and thousands of probes every minute.
   */
  #coolingDown(now: number, a: Attempt, start: 'now' | 'fallback' | 'last_resort'): boolean {
    if (start !== 'last_resort') return false;
    const f = this.#lastResort.get(a.peer);
    return (
      f !== undefined &&
      f.key === addressSetKey(a.candidates) &&
      now < f.at + this.#cfg.timing.lastResortCooldownMs
    );
  }

  #startRoles(now: number, a: Attempt): void {
    const p = a.verdict.plan;
    if (p.kind !== 'birthday' || a.rolesStarted) return;
    a.rolesStarted = true;
    this.#stats.birthdays++;
    const t = targetsOf(a.candidates);
    const bd = this.#cfg.birthday;
    const roles = [p.sockets ? 'sockets' : '', p.prober ? 'prober' : ''].filter((r) => r !== '').join('+');
    this.#cfg.log?.(`birthday ${a.peer}: ${roles} (${p.start})`);
    if (p.sockets) {
      a.sockets = new BirthdaySockets(this.#cfg.random, bd, t.endpoints, this.#cfg.software);
      const request = this.pool.request(a.peer);
      this.#cfg.emit({ type: 'open_sockets', request, count: bd.sockets });
    }
    if (p.prober) {
      const first = t.ips[0]!;
      const known = t.endpoints.filter((e) => e.host === first).map((e) => e.port);
      a.prober = new BirthdayProber(this.#cfg.random, bd, t.ips, known, now, this.#cfg.software);
    }
  }

  #finish(a: Attempt, keepFor: Address | null): void {
    this.#attempts.delete(a.peer);
    a.prober?.stop();
    a.sockets?.stop();
    a.failAt = null;
    const ids = this.pool.release(a.peer, keepFor);
    if (ids.length > 0) this.#cfg.emit({ type: 'close_sockets', ids });
  }

  /** Addresses for core: the hit first, then LAN ones, then the rest; LAN only under an error verdict. */
  #addresses(a: Attempt): Address[] {
    const lan = lanOf(a.candidates);
    const mapped = a.candidates.filter((c) => c.kind === 'mapped' && !lan.includes(c));
    const rest = a.candidates.filter((c) => !lan.includes(c) && !mapped.includes(c));
    const base = a.verdict.error !== null ? lan : [...lan, ...mapped, ...rest];
    const out: Address[] = a.hit !== null ? [a.hit] : [];
    for (const c of base) {
      if (c.kind === 'relay' || out.some((o) => equivalentAddress(o, c))) continue;
      out.push({ host: c.host, port: c.port });
    }
    return out;
  }

  #timeoutMessage(a: Attempt): string {
    const p = a.verdict.plan;
    const parts: string[] = [];
    if (p.kind === 'birthday' && p.sockets) {
      parts.push(`random side (${a.sockets?.sockets.length ?? 0} sockets, ${a.poolHits} hits)`);
    }
    if (p.kind === 'birthday' && p.prober) {
      parts.push(`consistent side (${a.prober?.probes ?? 0} probes, ${a.hit ? 'hit' : 'no hit'})`);
    }
    return `no direct path within ${this.#cfg.timing.birthdayTimeoutMs} ms: birthday strategy as the ${parts.join(' and the ')} (local mapping ${a.verdict.localMapping}, remote mapping ${a.verdict.remoteMapping})`;
  }
}

function kindOf(c: RemoteCandidate): 'host' | 'srflx' {
  if (c.kind === 'host' || c.kind === 'srflx') return c.kind;
  return isPrivateAddress(c.host) ? 'host' : 'srflx';
}

function lanOf(cs: readonly RemoteCandidate[]): RemoteCandidate[] {
  return cs.filter((c) => c.kind !== 'relay' && isPrivateAddress(c.host));
}

/** Public IPs of the peer (who may probe our pool sockets). */
function peerIps(cs: readonly RemoteCandidate[]): string[] {
  const out: string[] = [];
  for (const c of cs) {
    if (c.kind === 'relay' || isPrivateAddress(c.host)) continue;
    const ip = canonicalHost(c.host);
    if (!out.includes(ip)) out.push(ip);
  }
  return out;
}

/**
 * Birthday targets (IPv4: the pool sockets are IPv4): the peer's reflexive endpoints, else its
 * public host endpoints, and their IPs (where the random side's mappings are).
 */
function targetsOf(cs: readonly RemoteCandidate[]): { endpoints: Address[]; ips: string[] } {
  const pub = cs.filter((c) => c.kind !== 'relay' && !isPrivateAddress(c.host) && addressFamily(c) === 4);
  const srflx = pub.filter((c) => kindOf(c) === 'srflx');
  const use = srflx.length > 0 ? srflx : pub;
  const endpoints: Address[] = [];
  const ips: string[] = [];
  for (const c of use) {
    if (!endpoints.some((e) => equivalentAddress(e, c))) endpoints.push({ host: c.host, port: c.port });
    if (!ips.includes(c.host)) ips.push(c.host);
  }
  return { endpoints, ips };
}

function checkCandidates(candidates: readonly RemoteCandidate[]): RemoteCandidate[] {
  const list = checkAddresses(candidates, 'candidates');
  for (let i = 0; i < list.length; i++) {
    const k = list[i]!.kind;
    if (k !== undefined && k !== 'host' && k !== 'srflx' && k !== 'relay' && k !== 'mapped') {
      throw new TypeError(
        `"candidates[${i}].kind" expected 'host', 'srflx', 'relay' or 'mapped', got ${String(k)}`,
      );
    }
  }
  return list.map((c) => ({ host: c.host, port: c.port, ...(c.kind !== undefined ? { kind: c.kind } : {}) }));
}
