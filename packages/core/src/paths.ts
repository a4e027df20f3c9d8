/**
 * The network paths of one connection (RFC 9000 §8-§9; quinn-proto's `paths.rs`), one active, and
 * the rules between them (`PathSet`). Each path's own state (route, validation, anti-amplification
 * budget, transport state, liveness) is its `Path` (path.ts); what a route is and how routes rank
 * is route.ts. The rules:
 *
 * - migration (RFC 9000 §9.3): a non-probing packet with the highest packet number so far from a
 *   new address means the peer moved (NAT rebinding, network change): validate it, then move
 *   (to a lower tier only once the active path is lost: until then it is the peer's transition);
 * - upgrade: established on a lower tier while the peer has a higher-tier candidate (direct IPv6
 *   over direct IPv4 over relayed), probe it in the background and move once validated; within a
 *   tier only for a round trip at least `SAME_TIER_RTT_GAIN_MS` better (RELAYS.md, iroh's rule);
 *   never down by choice;
 * - fallback: the active path dies (3 probe timeouts, or the network says unreachable) while a
 *   validated path is still warm (`GRACE_MS` after it stopped being active): move back to it;
 * - peer gone: a relay closes a circuit with `peer_gone` (the peer's hop session with it ended).
 *   A connection with another live path drops that route (a fallback when it was the active
 *   one). One left with no live path waits `peerGoneGraceMs` for the peer (a new hop and circuit,
 *   a rebinding: any authenticated packet, or a new circuit bound to it, cancels the wait), then
 *   closes (`onPeerGone`) instead of idling on until the idle timeout.
 *
 * A switch keeps streams, messages and the packet-number space (reliability carries on); the new
 * path starts with fresh RTT and congestion state (RFC 9000 §9.4), a path used before keeps its
 * own. A route is a direct UDP address or a relayed circuit (relays.ts: a route handle for a
 * relay hop + channel, RELAYS.md), the lowest tier: a connection that started relayed moves to a
 * validated direct path (`upgrade`) and keeps the relayed one warm for `GRACE_MS` (`fallback`).
 */
import type { PathState, ReceivedPacket, ReliableConnection } from '@srmudp/reliability';
import { type Address, addressKey, copyAddress, type Frame, sameAddress } from '@srmudp/wire';
import type { LogSink, PathChangeReason, PathInfo } from './api.js';
import { DEFAULTS } from './defaults.js';
import { NONE, Path } from './path.js';
import { maxUdpPayload, type Route, routeInfo, routeOf, routeTier, sameRoute } from './route.js';

/** Within a tier a validated path replaces the active one only when its RTT is this much better. */
export const SAME_TIER_RTT_GAIN_MS = 5;
/** A path stays warm (validated, its state kept) this long after it stopped being active. */
export const GRACE_MS = 10_000;
/** Consecutive probe timeouts that declare the active path lost (RFC 8899 §4.3 uses 3 too). */
export const PATH_LOST_PTOS = 3;
/** The active path silent at least this long (and 3 PTOs) while the peer uses a lower tier: follow it. */
export const FOLLOW_DOWN_MIN_MS = 1000;
/** Probe higher-tier candidates that never answered again after this long (RELAYS.md: 60 s). */
export const UPGRADE_RETRY_MS = 60_000;
/** Smallest budget worth sealing a probe for: header (13) + PATH_* (9) + tag (16), with room. */
const MIN_PROBE_DATAGRAM = 64;
/** Paths one connection keeps at most (routes learnt from the peer's packets are bounded too). */
const MAX_PATHS = 8;

/** What the paths of a connection need from it. */
export interface PathsHost {
  readonly rel: ReliableConnection;
  random(n: number): Uint8Array;
  onChanged(path: PathInfo, reason: PathChangeReason): void;
  onLost(path: PathInfo): void;
  drop(reason: string): void;
  /** the connection's log (validations started and failed); absent or null: silent */
  readonly log?: LogSink | null;
  /** how long to wait for a peer a relay reported gone when no path is left (the rule above) */
  readonly peerGoneGraceMs: number;
  /** that wait ran out: the connection ends */
  onPeerGone(now: number): void;
}

/** A probe packet to build: its frames for `path`, within `budget` bytes (anti-amplification). */
export interface ProbeRequest {
  path: Path;
  frames: Frame[];
  budget: number;
}

/** The paths of one connection, one active. */
export class PathSet {
  private readonly list: Path[];
  private activePath: Path;
  private infoValue: PathInfo;
  /** higher-tier candidates of the peer, probed at establishment and again every UPGRADE_RETRY_MS */
  private upgrades: Address[] = NONE;
  // The two deadlines below are null when not set, not +Infinity: a number field holds its own
  // 16-byte box in every connection (issue 19), null none.
  private upgradeRetryAt: number | null = null;
  /** a relay reported the peer gone and no path was left: the connection ends then (null: no wait) */
  private peerGoneAt: number | null = null;

  /** The first path: the handshake validated it (RFC 9000 §8.1), `transport` is reliability's. */
  constructor(
    private readonly host: PathsHost,
    route: Route,
    transport: PathState,
  ) {
    const p = new Path(route, transport, true);
    p.wasActive = true;
    this.list = [p]; // one slot (a push from empty reserves 17): most connections keep one path
    this.activePath = p;
    this.infoValue = routeInfo(p.route);
  }

  get active(): Path {
    return this.activePath;
  }

  /** The active path as the API shows it (the same object until the path changes). */
  get info(): PathInfo {
    return this.infoValue;
  }

  /** Every path, the active one included (tests, stats). */
  all(): readonly Path[] {
    return this.list;
  }

  // ------------------------------------------------------------------ receive

  /** An authenticated datagram from `from`: the path it arrived on (created when new), credited. */
  arrived(now: number, from: Address, bytes: number): Path {
    const a = this.activePath.route.address;
    const path =
      from.port === a.port && from.host === a.host ? this.activePath : this.ensure(now, routeOf(from));
    path.onReceived(bytes);
    path.lastReceivedAt = now;
    // the peer is there (on whatever route): not gone
    this.peerGoneAt = null;
    return path;
  }

  /**
   * After reliability processed the packet that arrived on `path`: a non-probing packet with the
   * highest packet number so far from another route means the peer moved (RFC 9000 §9.3; an old
   * reordered packet or a probe does not), so that route is validated, and we move once it is.
   */
  afterPacket(now: number, path: Path, kind: ReceivedPacket, newest: boolean): void {
    if (path === this.activePath) {
      if (kind !== 'dropped' && this.host.rel.ptoCount === 0) path.onAlive();
      return;
    }
    if (kind !== 'dropped') path.onAlive();
    if (kind !== 'non_probing' || !newest) return;
    if (path.validating && path.purpose === 'migration') return;
    // Never down by choice: packets of the peer on a lower tier while ours is alive are its
    // transition (it still sends on the route we just left); once ours is lost it may follow,
    // and so may it once ours has been silent for a while (the peer fell back: its side of our
    // path is gone, e.g. its NAT rebooted, and we may learn that long before our own probes do)
    if (routeTier(path.route) < routeTier(this.activePath.route) && !this.activePath.lostReported) {
      const heard = this.activePath.lastReceivedAt;
      const silentFor = Math.max(FOLLOW_DOWN_MIN_MS, PATH_LOST_PTOS * this.host.rel.pto());
      if (heard === null || now - heard < silentFor) return;
      this.host.log?.(
        `active path ${addressKey(this.activePath.route.address)} silent for ${Math.round(now - heard)} ms while the peer uses ${addressKey(path.route.address)}: following it`,
      );
    }
    if (path.validated) {
      // a warm or standby path the peer now uses: it is already proven, move at once
      this.switchTo(now, path, 'migration');
      return;
    }
    this.validate(now, path, 'migration');
  }

  /** A PATH_CHALLENGE in a packet that arrived on `path`: answered on that path (RFC 9000 §8.2.2). */
  onChallenge(path: Path, data: Uint8Array): void {
    if (path === this.activePath) this.host.rel.queueFrame({ type: 'path_response', data: data.slice() });
    else path.owe(data.slice());
  }

  /** A PATH_RESPONSE (on any path, RFC 9000 §8.2.2): validates the path whose challenge it answers. */
  onResponse(now: number, data: Uint8Array): void {
    const path = this.list.find((p) => p.onResponse(now, data));
    if (path === undefined) {
      this.host.drop('path_response_unexpected');
      return;
    }
    if (path === this.activePath) return;
    if (path.purpose === 'migration') this.switchTo(now, path, 'migration');
    else if (this.better(path, this.activePath)) this.switchTo(now, path, 'upgrade');
    // a standby route (a circuit asked for once the active path was lost) takes over
    else if (this.activePath.lostReported) this.switchTo(now, path, 'fallback');
  }

  /**
   * A route to keep ready whatever its tier (a relay circuit bound for an established
   * connection): validated now, moved to at once when the active path is lost (`fallback`),
   * else kept as a warm path.
   */
  addStandby(now: number, route: Route): void {
    // a circuit to the peer bound: the relay found its hop and it accepted, it is not gone
    this.peerGoneAt = null;
    const path = this.ensure(now, route);
    if (path === this.activePath) return;
    if (path.validated && !path.lostReported) {
      path.retiredAt = null;
      if (this.activePath.lostReported) this.switchTo(now, path, 'fallback');
      return;
    }
    if (path.validating) return;
    path.dialled = true;
    path.lostReported = false;
    this.validate(now, path, 'upgrade');
  }

  // ------------------------------------------------------------------ upgrades

  /**
   * The peer's candidate addresses (what we dialled): the ones on a higher tier than the active
   * path are probed in the background, and the connection moves to the first validated one.
   * `redialled`: the addresses the application dialled again (a punch opened the far NAT, our
   * network let UDP out again): a validation of one already in its backoff (2 tries unanswered)
   * starts over at once instead of waiting for its next, ever later, try; one still in its first
   * tries goes on.
   */
  considerUpgrades(now: number, candidates: readonly Address[], redialled: readonly Address[] = []): void {
    const tier = routeTier(this.activePath.route);
    for (const a of candidates) {
      if (routeTier(routeOf(a)) <= tier) continue;
      if (this.upgrades.length === 0) this.upgrades = [copyAddress(a)];
      else if (!this.upgrades.some((u) => sameAddress(u, a))) this.upgrades.push(copyAddress(a));
    }
    this.probeUpgrades(now, redialled);
  }

  private probeUpgrades(now: number, redialled: readonly Address[] = []): void {
    this.upgradeRetryAt = null;
    const tier = routeTier(this.activePath.route);
    for (const a of this.upgrades) {
      const route = routeOf(a);
      if (routeTier(route) <= tier) continue;
      const path = this.ensure(now, route);
      if (path === this.activePath || path.validated) continue;
      if (path.validating) {
        const again = path.challengeTries >= 2 && redialled.some((r) => sameAddress(r, a));
        if (!again) continue;
      }
      path.dialled = true;
      this.validate(now, path, 'upgrade');
    }
    if (this.upgrades.some((a) => routeTier(routeOf(a)) > tier)) {
      this.upgradeRetryAt = now + UPGRADE_RETRY_MS;
    }
  }

  // ------------------------------------------------------------------ send

  /** The next probe packet owed on a non-active path (challenges, answers), or null. */
  pollProbe(): ProbeRequest | null {
    for (const path of this.list) {
      if (path === this.activePath || !path.hasProbeWork) continue;
      const budget = path.remaining();
      // A datagram smaller than the PMTU is allowed when the budget is short (RFC 9000 §8.2.1): a
      // peer that moved while idle sends only small keepalives. Without even that, the
      // challenge is retried on its timer.
      if (budget < MIN_PROBE_DATAGRAM) continue;
      return { path, frames: path.takeProbeFrames(), budget };
    }
    return null;
  }

  // ------------------------------------------------------------------ timers

  nextTimeout(): number {
    let t = Math.min(
      this.upgradeRetryAt ?? Number.POSITIVE_INFINITY,
      this.peerGoneAt ?? Number.POSITIVE_INFINITY,
    );
    for (const p of this.list) {
      t = Math.min(t, p.nextChallengeAt());
      if (p.retiredAt !== null) t = Math.min(t, p.retiredAt + GRACE_MS);
    }
    return t;
  }

  handleTimeout(now: number): void {
    const pto = this.host.rel.pto();
    for (const p of [...this.list]) {
      if (p !== this.activePath && !p.onChallengeTimer(now, pto)) {
        // the route never answered: stay where we are
        this.host.drop('path_validation_failed');
        this.host.log?.(`path ${addressKey(p.route.address)} did not answer its challenges: not used`);
        if (!p.validated) this.forget(p);
      }
      if (p !== this.activePath && p.retiredAt !== null && now >= p.retiredAt + GRACE_MS) this.forget(p);
    }
    if (this.upgradeRetryAt !== null && now >= this.upgradeRetryAt) this.probeUpgrades(now);
    this.checkActive(now);
    if (this.peerGoneAt !== null && now >= this.peerGoneAt) {
      this.peerGoneAt = null;
      this.host.onPeerGone(now);
    }
  }

  /**
   * The relay closed the circuit of route `route` (or our hop to it went down): as good as the
   * network saying unreachable: the active path is lost at once (fallback to a warm path if any);
   * a closed standby is dropped (a circuit never comes back: a new one is a new route). When the
   * relay said the peer is gone (`peerGone`) and no live path is left, the peer-gone wait starts.
   */
  routeClosed(now: number, route: Address, peerGone = false): void {
    const path = this.list.find((p) => sameAddress(p.route.address, route));
    if (path === undefined) return;
    path.unreachable = Math.max(path.unreachable, DEFAULTS.unreachableAfterErrors);
    if (path === this.activePath) this.checkActive(now);
    if (path !== this.activePath) this.forget(path);
    // the active path is lost and no warm path took over (checkActive): none is live
    if (peerGone && this.activePath.lostReported && this.peerGoneAt === null) {
      const grace = this.host.peerGoneGraceMs;
      this.peerGoneAt = now + grace;
      this.host.log?.(
        `the relay of ${addressKey(route)} reports the peer gone and no path is left: waiting ${grace} ms for it`,
      );
    }
  }

  /** A send on `to` failed; `unreachable`: the network says nobody is there (ICMP). */
  onSendError(now: number, to: Address, unreachable: boolean): void {
    const path = this.list.find((p) => sameAddress(p.route.address, to));
    if (path === undefined || !unreachable) return;
    path.unreachable++;
    if (path === this.activePath) this.checkActive(now);
  }

  /**
   * Is the active path lost? Reported once per episode (a `path_lost` event for the NAT session
   * to gather again); a warm validated path, if any, takes over (`fallback`).
   */
  private checkActive(now: number): void {
    const active = this.activePath;
    const lost =
      this.host.rel.ptoCount >= PATH_LOST_PTOS || active.unreachable >= DEFAULTS.unreachableAfterErrors;
    if (!lost || active.lostReported) return;
    active.lostReported = true;
    this.host.onLost(this.infoValue);
    let best: Path | null = null;
    for (const p of this.list) {
      // a validated path, warm, and not itself lost since it last answered
      if (p === active || !p.validated || p.lostReported) continue;
      if (p.retiredAt !== null && now >= p.retiredAt + GRACE_MS) continue;
      if (best === null || this.better(p, best)) best = p;
    }
    if (best !== null) this.switchTo(now, best, 'fallback');
  }

  // ------------------------------------------------------------------ internals

  /** True when `a` should carry the connection rather than `b` (tiers, then a clearly better RTT). */
  private better(a: Path, b: Path): boolean {
    const ta = routeTier(a.route);
    const tb = routeTier(b.route);
    if (ta !== tb) return ta > tb;
    const ra = a.rttMs();
    const rb = b.rttMs();
    return ra !== null && rb !== null && ra + SAME_TIER_RTT_GAIN_MS <= rb;
  }

  private validate(now: number, path: Path, purpose: 'migration' | 'upgrade'): void {
    this.host.log?.(`validating path ${addressKey(path.route.address)} (${purpose})`);
    path.startValidation(now, this.host.random(8).slice(0, 8), purpose);
    path.onChallengeTimer(now, this.host.rel.pto());
  }

  private switchTo(now: number, path: Path, reason: PathChangeReason): void {
    const old = this.activePath;
    const rel = this.host.rel;
    if (!path.wasActive) {
      // RFC 9000 §9.4: RTT, congestion state and PMTU of another path say nothing about this one
      path.transport = rel.createPath(now, { maxUdpPayload: maxUdpPayload(path.route) });
      path.wasActive = true;
    }
    rel.setActivePath(path.transport, now);
    // an ack-eliciting packet at once on the new path: its first RTT sample comes within one
    // round trip, not at the next keepalive of an idle connection (status() shows no RTT until then)
    if (!path.transport.rtt.hasSample) rel.ping();
    old.retiredAt = now;
    path.retiredAt = null;
    path.lostReported = false;
    path.purpose = null;
    this.activePath = path;
    this.infoValue = routeInfo(path.route);
    this.host.onChanged(this.infoValue, reason);
  }

  private ensure(now: number, route: Route): Path {
    const found = this.list.find((p) => sameRoute(p.route, route));
    if (found !== undefined) return found;
    if (this.list.length >= MAX_PATHS) {
      // forget the oldest path that is neither active nor being validated
      const i = this.list.findIndex((p) => p !== this.activePath && !p.validating);
      if (i >= 0) this.list.splice(i, 1);
    }
    const rel = this.host.rel;
    const path = new Path(route, rel.createPath(now, { maxUdpPayload: maxUdpPayload(route) }), false);
    this.list.push(path);
    return path;
  }

  private forget(path: Path): void {
    const i = this.list.indexOf(path);
    if (i >= 0 && path !== this.activePath) this.list.splice(i, 1);
  }
}
