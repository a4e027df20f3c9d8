/**
 * A connection's paths as the connection and the endpoint see them: the host of its `PathSet`
 * (paths.ts), which turns the set's decisions into the connection's events and log lines
 * (`path_changed`, `path_lost`, the close when a peer a relay reported gone does not come back),
 * and the route calls made on an established connection (where a rekey goes, more candidates of
 * the peer, a relay circuit bound as a standby route or closed, a send error), and the path side
 * of the data path: the path each packet arrived on (a PATH_CHALLENGE is answered there), the
 * PATH_* frames, and the probes owed on other paths, built and sealed within their
 * anti-amplification budget. The rules between paths are paths.ts; the connection's lifecycle is
 * connection.ts, which reaches its paths through this class (and `set`'s timers directly).
 */
import type { SecureChannel } from '@srmudp/crypto';
import type { ReceivedPacket, ReliableConnection, Transmit } from '@srmudp/reliability';
import { type Address, addressKey, type Frame, sameAddress } from '@srmudp/wire';
import type { ConnectionState, LogSink, PathChangeReason, PathInfo } from './api.js';
import type { ConnectionHost } from './connection.js';
import { CloseCode } from './defaults.js';
import type { Path } from './path.js';
import { PathSet, type PathsHost } from './paths.js';
import { type Route, routeOf } from './route.js';

/** What a connection's paths need from the connection itself (CoreConnection). */
export interface PathsOwner {
  readonly id: number;
  readonly state: ConnectionState;
  /** how log lines name the connection */
  label(): string;
  /** a dropped packet, counted by reason in the connection's stats */
  drop(reason: string): void;
  /** an abrupt close: no CLOSE can be sent */
  closeNow(now: number, code: number, reason: string, remote: boolean): void;
  /** a packet of reliability's sealed under `channel`, or null (counted) when the keys are gone */
  seal(channel: SecureChannel, t: Transmit): Uint8Array | null;
}

/** What they need from the endpoint (the connection's own host). */
export type PathsEndpoint = Pick<ConnectionHost, 'random' | 'log' | 'emit' | 'peerGoneGraceMs'>;

/**
 * The paths of one established connection: its `PathSet` and that set's host. One small object
 * per connection instead of closures (the heap of an idle connection, issue 19); the log sink is
 * prefixed on use (rare lines).
 */
export class ConnectionPaths implements PathsHost {
  /** the paths themselves (paths.ts); the first one validated by the handshake */
  readonly set: PathSet;
  /** the path the packet being handled arrived on (a PATH_CHALLENGE is answered there), or null */
  private arrival: Path | null = null;

  constructor(
    private readonly endpoint: PathsEndpoint,
    private readonly owner: PathsOwner,
    readonly rel: ReliableConnection,
    route: Route,
  ) {
    this.set = new PathSet(this, route, rel.activePath);
  }

  /** The active path as the API shows it (the same object until the path changes). */
  get info(): PathInfo {
    return this.set.info;
  }

  // ------------------------------------------------------------------ data path

  /**
   * A packet of the connection (`size`: the whole datagram) arrived from `from`: its path, found
   * or added (paths.ts), is the arrival path until {@link handled}.
   */
  arrived(now: number, from: Address, size: number): Path {
    const path = this.set.arrived(now, from, size);
    this.arrival = path;
    return path;
  }

  /**
   * Reliability handled the packet that arrived on `path` (`kind`: what it carried; `newest`: the
   * largest packet number so far): the set's migration rules (paths.ts).
   */
  handled(now: number, path: Path, kind: ReceivedPacket, newest: boolean): void {
    this.arrival = null;
    this.set.afterPacket(now, path, kind, newest);
  }

  /** A frame that reliability leaves to the connection: PATH_CHALLENGE, PATH_RESPONSE, or unsupported. */
  onFrame(f: Frame, now: number): void {
    const set = this.set;
    if (f.type === 'path_challenge') {
      // RFC 9000 §8.2.2: answer on the path the challenge arrived on
      set.onChallenge(this.arrival ?? set.active, f.data);
    } else if (f.type === 'path_response') {
      set.onResponse(now, f.data);
    } else {
      this.owner.drop('relay_unsupported');
    }
  }

  /**
   * The next probe owed on a path (a path challenge or its answer), built by reliability and
   * sealed under `channel` within that path's anti-amplification budget, or null: none owed. A
   * probe that does not fit its budget is not sent (counted); its challenge is retried on its timer.
   */
  pollProbe(now: number, channel: SecureChannel): { to: Address; data: Uint8Array } | null {
    const set = this.set;
    for (let probe = set.pollProbe(); probe !== null; probe = set.pollProbe()) {
      const t = this.rel.buildProbe(now, probe.path.transport, probe.frames, probe.budget);
      if (t === null) {
        this.owner.drop('amplification_limit');
        continue;
      }
      const data = this.owner.seal(channel, t);
      if (data === null) continue;
      if (data.length > probe.budget) {
        // RFC 9000 §8.1: never 3x
        this.owner.drop('amplification_limit');
        continue;
      }
      probe.path.onSent(data.length);
      return { to: probe.path.route.address, data };
    }
    return null;
  }

  /**
   * The active path's address: where reliability's own packets go (its active path is the active
   * Path's transport state), and a handshake of the connection's channel once established (rekeys
   * follow a migration).
   */
  get activeAddress(): Address {
    return this.set.active.route.address;
  }

  // ------------------------------------------------------------------ route calls

  /** The peer's candidate addresses (`redialled`: dialled again just now): probe the better ones. */
  considerUpgrades(now: number, candidates: readonly Address[], redialled?: readonly Address[]): void {
    this.set.considerUpgrades(now, candidates, redialled);
  }

  /** A relay circuit closed: if it is one of our routes, it is dead; `peerGone`: the relay said the peer left. */
  routeClosed(now: number, route: Address, peerGone: boolean): void {
    this.set.routeClosed(now, route, peerGone);
  }

  /** A relay circuit bound for this established connection: a standby route. */
  addStandby(now: number, route: Address): void {
    this.set.addStandby(now, routeOf(route));
  }

  /** A send to `to` failed; counted when `to` is the active path's route. */
  sendError(now: number, to: Address, unreachable: boolean): void {
    if (sameAddress(this.set.active.route.address, to)) this.owner.drop('send_error');
    this.set.onSendError(now, to, unreachable);
  }

  // ------------------------------------------------------------------ PathsHost

  random(n: number): Uint8Array {
    return this.endpoint.random(n);
  }

  /** The active path changed. */
  onChanged(path: PathInfo, reason: PathChangeReason): void {
    this.endpoint.log?.(`${this.owner.label()} path changed (${reason}): ${pathText(path)}`);
    this.endpoint.emit({ type: 'path_changed', id: this.owner.id, path, reason });
  }

  /** Every path was lost. */
  onLost(path: PathInfo): void {
    this.endpoint.log?.(`${this.owner.label()} path lost: ${pathText(path)} (no answer or unreachable)`);
    this.endpoint.emit({ type: 'path_lost', id: this.owner.id, path });
  }

  get peerGoneGraceMs(): number {
    return this.endpoint.peerGoneGraceMs;
  }

  /**
   * A relay said the peer is gone, no path of ours is live, and the peer did not come back within
   * the grace period: closed at once (there is no route for a CLOSE), reported as ours
   * (`remote: false`, like the idle timeout).
   */
  onPeerGone(now: number): void {
    if (this.owner.state !== 'established') return;
    const s = Math.round(this.endpoint.peerGoneGraceMs / 100) / 10;
    const reason = `peer gone: the relay reported its hop session ended and it did not come back within ${s} s`;
    this.endpoint.log?.(`${this.owner.label()} ${reason}`);
    this.owner.closeNow(now, CloseCode.PEER_GONE, reason, false);
  }

  drop(reason: string): void {
    this.owner.drop(reason);
  }

  get log(): LogSink | null {
    const sink = this.endpoint.log;
    return sink === null ? null : prefixedLog(sink, this.owner.label());
  }
}

/** `sink` with every line prefixed by `prefix` (computed once). */
export function prefixedLog(sink: LogSink, prefix: string): LogSink {
  return (message) => sink(`${prefix} ${message}`);
}

/** A path as log lines show it: `direct 1.2.3.4:5`. */
export function pathText(path: PathInfo): string {
  return `${path.kind} ${addressKey(path.address)}`;
}
