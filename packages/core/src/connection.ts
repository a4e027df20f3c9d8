/**
 * One connection: the `ConnectionApi` an application uses and its lifecycle (establishment,
 * graceful and immediate close, failure), its packet intake and numbering, and its transmit. Its
 * paths are paths.ts, with connection-paths.ts between them and it (the path side of each packet:
 * arrival path, PATH_* frames, probes); its crypto channels connection-channels.ts; reliability's
 * events become the endpoint's in connection-events.ts; its close (the graceful drain and its
 * bound, 'closed' once) connection-close.ts; the endpoint routes to it.
 */
import { type SecureChannel, shortPeerId } from '@srmudp/crypto';
import { ReliableConnection as Reliable, type Transmit } from '@srmudp/reliability';
import { compareBytes, sharedSlab } from '@srmudp/wire';
import type { AmplificationGuard } from './amplification.js';
import type {
  Address,
  ConnectionApi,
  ConnectionState,
  ConnectionStats,
  EndpointEvent,
  LogSink,
  PathInfo,
} from './api.js';
import { numbersOn } from './closed-peers.js';
import type { ReliableConfigs } from './config.js';
import { ConnectionChannels } from './connection-channels.js';
import {
  announceClosed,
  closeAtOnce,
  closeGracefully,
  type Drain,
  finishDrain,
  reliableClosed,
} from './connection-close.js';
import {
  checkFinReceived,
  drainEvents,
  type OwnEvent,
  type StreamEnds,
  streamOpened,
} from './connection-events.js';
import { ConnectionPaths, pathText, prefixedLog } from './connection-paths.js';
import { CloseCode } from './defaults.js';
import { CoreError } from './errors.js';
import { maxUdpPayload, routeOf } from './route.js';

/** @internal What a connection needs from its endpoint. */
export interface ConnectionHost {
  readonly amp: AmplificationGuard;
  readonly random: (n: number) => Uint8Array;
  /** what a new connection's reliability state is created with (config.ts) */
  readonly reliableConfigs: ReliableConfigs;
  /** core's log and reliability's, or null: silent (EndpointConfig.log) */
  readonly log: LogSink | null;
  readonly reliabilityLog: LogSink | null;
  emit(ev: EndpointEvent): void;
  /** the connection reached 'closed' (or failed) at `now`: release maps and keys */
  onFinished(conn: CoreConnection, now: number): void;
  /** a CONTROL message (frame 0x1d) arrived: the session's own protocols (relay) */
  onControl(conn: CoreConnection, data: Uint8Array, now: number): void;
  /**
   * something happened that may change what the connection sends or when its next timer falls
   * due (the endpoint's Schedule): every such call of this class touches it, else it would sleep until its
   * timer
   */
  touch(conn: CoreConnection): void;
  /** how long a connection left without a live path by a relay's `peer_gone` waits (paths.ts) */
  readonly peerGoneGraceMs: number;
}

const EMPTY_DROPS: Record<string, number> = Object.freeze({}) as Record<string, number>;

/**
 * One connection to one peer: its secure channel(s), the reliability state machine (created once
 * the handshake completed), its paths (paths.ts: validation, migration, upgrades, fallback),
 * graceful close, and the translation of reliability's events into the endpoint's. Created by
 * {@link CoreEndpoint.connect} (outgoing) or by an incoming handshake.
 */
export class CoreConnection implements ConnectionApi {
  private remoteKeyValue: Uint8Array | null;
  private stateValue: ConnectionState = 'handshaking';
  /** created by our connect() */
  private outgoingValue: boolean;
  /** @internal its crypto channels, the dial's candidates, the peer's boot id (the endpoint's side) */
  readonly channels = new ConnectionChannels();
  /** @internal reliability state, from establishment on */
  rel: Reliable | null = null;
  /** the paths, from establishment on (connection-paths.ts): the first one validated by the
   * handshake (the initiator by the authenticated response, a responder by key confirmation,
   * RFC 9000 §8) */
  private paths: ConnectionPaths | null = null;
  /** a dial to the same peer that waits for this (closing) connection to finish, and the reverse */
  private successor: CoreConnection | null = null;
  private predecessor: CoreConnection | null = null;
  private largestPn = -1;
  /** @internal the graceful close under way (connection-close.ts), or null: an open one holds none */
  drain: Drain | null = null;
  private finished = false;
  private connectedEmitted = false;
  /** @internal 'closed' was emitted (connection-close.ts) */
  closedEmitted = false;
  /** @internal the 'closed' it emitted was the peer's (its CLOSE, or a restart we inferred) */
  closedRemotely = false;
  /** dropped packets by reason, created at the first (an idle connection holds none) */
  private dropCounts: Record<string, number> | null = null;
  /** @internal its streams' receive sides (connection-events.ts), created at its first stream */
  streamEnds: StreamEnds | null = null;

  constructor(
    private readonly host: ConnectionHost,
    readonly id: number,
    outgoing: boolean,
    remoteKey: Uint8Array | null,
  ) {
    this.outgoingValue = outgoing;
    this.remoteKeyValue = remoteKey;
  }

  /** peer id of the remote (known once established; the dialled key for IK before that) */
  get remoteKey(): Uint8Array | null {
    return this.remoteKeyValue;
  }

  /** created by our connect() (or merged with one) */
  get outgoing(): boolean {
    return this.outgoingValue;
  }

  /** True while handshaking with a handshake of ours under way (it has a crypto channel). */
  get isDialling(): boolean {
    return this.stateValue === 'handshaking' && this.channels.size > 0;
  }

  // ------------------------------------------------------------------ ConnectionApi

  get state(): ConnectionState {
    return this.stateValue;
  }

  get path(): PathInfo | null {
    return this.paths === null ? null : this.paths.info;
  }

  openStream(): number {
    this.host.touch(this);
    const id = this.open().openStream();
    streamOpened(this, id);
    return id;
  }

  write(streamId: number, data: Uint8Array): number {
    this.host.touch(this);
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    const rel = this.rel;
    if (rel === null || this.drain !== null || this.stateValue !== 'established') return 0;
    return rel.write(streamId, data);
  }

  finish(streamId: number): void {
    this.host.touch(this);
    const rel = this.rel;
    if (rel === null || this.stateValue === 'closed') return;
    if (rel.state !== 'open') return;
    rel.finish(streamId);
  }

  read(now: number, streamId: number, max?: number): Uint8Array | null {
    this.host.touch(this);
    const rel = this.rel;
    if (rel === null) return null;
    if (max !== undefined && (!Number.isInteger(max) || max <= 0)) {
      throw new RangeError(`"max" expected a positive integer, got ${max}`);
    }
    const out = rel.read(now, streamId, max);
    this.drainReliable(now);
    return out;
  }

  reset(streamId: number, code: number): void {
    this.host.touch(this);
    const rel = this.rel;
    if (rel === null || rel.state !== 'open') return;
    rel.reset(streamId, code);
  }

  sendMessage(data: Uint8Array, opts?: { unordered?: boolean }): boolean {
    this.host.touch(this);
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    const rel = this.open();
    const max = rel.limits.maxMessageSize;
    if (data.length > max) {
      throw new RangeError(`message of ${data.length} bytes exceeds the limit of ${max} bytes`);
    }
    // false while reliability's send buffer is full: 'message_writable' follows
    return rel.sendMessage(data, { unordered: opts?.unordered === true });
  }

  /** A CONTROL message (relay protocol) in this session; false when it cannot be queued. */
  sendControl(data: Uint8Array): boolean {
    this.host.touch(this);
    const rel = this.rel;
    if (rel === null || this.stateValue !== 'established') return false;
    return rel.sendControl(data);
  }

  sendDatagram(data: Uint8Array): boolean {
    this.host.touch(this);
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    const rel = this.rel;
    if (rel === null || this.stateValue !== 'established' || this.drain !== null) {
      this.drop('datagram_not_open');
      return false;
    }
    return rel.sendDatagram(data);
  }

  close(now: number, code = 0, reason = ''): void {
    this.host.touch(this);
    if (closeGracefully(this, this.host, now, code, reason)) this.host.touch(this);
  }

  /** @internal Closes at once, ahead of queued data (connection-close.ts). */
  closeImmediately(now: number, code = 0, reason = ''): void {
    this.host.touch(this);
    closeAtOnce(this, this.host, now, code, reason);
  }

  stats(): ConnectionStats {
    const rel = this.rel;
    const s = rel?.stats();
    const drops: Record<string, number> = { ...this.dropCounts };
    if (s) {
      for (const [k, v] of Object.entries(s.drops)) if (v > 0) drops[k] = (drops[k] ?? 0) + v;
    }
    return {
      state: this.stateValue,
      path: this.path,
      rttMs: s ? s.srttMs : 0,
      rttMeasured: s ? s.rttSampled : false,
      minRttMs: s ? s.minRttMs : 0,
      lossRate: s ? s.lossRate : 0,
      cwnd: s ? s.cwnd : 0,
      bytesInFlight: s ? s.bytesInFlight : 0,
      bytesSent: s ? s.bytesSent : 0,
      bytesReceived: s ? s.bytesReceived : 0,
      packetsSent: s ? s.packetsSent : 0,
      packetsReceived: s ? s.packetsReceived : 0,
      packetsLost: s ? s.packetsLost : 0,
      pmtu: s ? s.pmtu : 0,
      drops: Object.keys(drops).length === 0 ? { ...EMPTY_DROPS } : drops,
    };
  }

  // ------------------------------------------------------------------ endpoint side

  /**
   * @internal Handshake done (and, for a responder, the keys confirmed) on `channel`: start
   * reliability, emit 'connected'. `handshakeRttMs` seeds the RTT estimate when the handshake
   * measured one (crypto leaves it null when a retransmission made it ambiguous, Karn).
   */
  establish(
    now: number,
    channel: SecureChannel,
    session: { remoteKey: Uint8Array; address: Address; handshakeRttMs: number | null },
    localKey: Uint8Array,
  ): void {
    this.channels.use(channel);
    if (this.rel !== null) return; // another channel of an established connection
    const { remoteKey, handshakeRttMs } = session;
    this.remoteKeyValue = remoteKey;
    // Stream-id parity must differ on the two sides even when both dialled (simultaneous open):
    // decide it by the keys, which both sides know, not by who initiated.
    const role = compareBytes(localKey, remoteKey) < 0 ? 'initiator' : 'responder';
    // the event's address is a copy made for us (crypto keeps the same read-only object)
    const route = routeOf(session.address);
    const relLog = this.host.reliabilityLog;
    const rel = new Reliable(
      this.host.reliableConfigs.options(
        role,
        // the accepting side answers the dialler's RTT warm-up PING with its own: one datagram, not two
        !this.outgoing,
        maxUdpPayload(route),
        now,
        // one closure per connection, and only when logging: reliability's lines name their connection
        relLog !== null ? prefixedLog(relLog, this.label()) : null,
      ),
    );
    this.rel = rel;
    if (handshakeRttMs !== null) rel.seedRtt(handshakeRttMs);
    const paths = new ConnectionPaths(this.host, this, rel, route);
    this.paths = paths;
    this.stateValue = 'established';
    this.host.amp.forget(route.address);
    // An authenticated packet from us at once: it confirms the new keys to an IK responder (which
    // does not use them before), and measures the RTT.
    rel.ping();
    this.connectedEmitted = true;
    this.host.log?.(
      `${this.label()} established (${this.outgoing ? 'outgoing' : 'incoming'}, ${pathText(paths.info)}${handshakeRttMs === null ? '' : `, handshake rtt ${handshakeRttMs.toFixed(1)} ms`})`,
    );
    this.host.emit({ type: 'connected', id: this.id, remoteKey, outgoing: this.outgoing, path: paths.info });
    // the peer's better candidates (direct IPv6 over IPv4): probed in the background
    const candidates = this.channels.candidates;
    if (candidates.length > 0) paths.considerUpgrades(now, candidates);
    this.host.touch(this);
  }

  /**
   * @internal Whether the peer's first packet under a new session, numbered `packetNumber`, is
   * numbered at or below one we already had from it: a peer that continues this connection
   * numbers on (its packet numbers are the connection's, across sessions), so its numbering
   * started again, in a new connection of its own (it closed this one and its CLOSE was lost).
   */
  numberingRestarted(packetNumber: number): boolean {
    return this.stateValue === 'established' && !numbersOn(packetNumber, this.largestPn);
  }

  /**
   * @internal Whether the peer's first packet under a new session, numbered `packetNumber`,
   * numbers on from this connection's packets (closed-peers.ts: numbersOn): the peer renewed
   * this connection's keys, whatever our state.
   */
  continuedBy(packetNumber: number): boolean {
    return numbersOn(packetNumber, this.largestPn);
  }

  /** @internal The largest packet number we had from the peer, -1 before the first (closed-peers.ts). */
  get largestReceived(): number {
    return this.largestPn;
  }

  /** @internal An authenticated data packet of this connection (`size`: the whole datagram). */
  onPacket(now: number, from: Address, size: number, packetNumber: number, plaintext: Uint8Array): void {
    this.host.touch(this);
    const rel = this.rel;
    const paths = this.paths;
    if (rel === null || paths === null) return;
    const path = paths.arrived(now, from, size);
    const newest = packetNumber > this.largestPn;
    if (newest) this.largestPn = packetNumber;
    const kind = rel.handlePacket(now, packetNumber, plaintext);
    drainEvents(this, this.host, rel, now);
    if (this.streamEnds !== null) checkFinReceived(this, this.host, rel);
    paths.handled(now, path, kind, newest);
  }

  /**
   * @internal Next sealed datagram of this connection, or null: first a probe owed on another
   * path (a path challenge or its answer, within that path's anti-amplification budget), then
   * reliability's next packet, which says the path it was built for.
   */
  pollTransmit(now: number): { to: Address; data: Uint8Array } | null {
    const rel = this.rel;
    const paths = this.paths;
    if (rel === null || paths === null || this.finished) return null;
    const channel = this.channels.sealer;
    if (channel === null || !channel.isEstablished) return null;
    const probe = paths.pollProbe(now, channel);
    if (probe !== null) return probe;
    const t = rel.pollTransmit(now);
    if (t === null) {
      if (this.drain !== null) this.maybeFinishDrain(now);
      return null;
    }
    const data = this.seal(channel, t);
    if (data === null) return null;
    return { to: paths.activeAddress, data };
  }

  /**
   * @internal Seals a packet of reliability's (probes too: connection-paths.ts); null (counted)
   * when the keys are gone. Reliability built it with DATA_HEADER_LENGTH bytes of headroom: sealed
   * in place, in its `datagram` (the ciphertext over the plaintext, the header before it, the tag
   * after), one buffer per packet instead of two.
   */
  seal(channel: SecureChannel, t: Transmit): Uint8Array | null {
    try {
      return channel.seal(t.packetNumber, t.payload, t.datagram ?? sharedSlab.take(t.datagramSize));
    } catch {
      // keys gone (expired between polls): the packet counts as lost in reliability
      this.drop('seal_failed');
      return null;
    }
  }

  /** @internal Earliest timer, or null. */
  pollTimeout(): number | null {
    const rel = this.rel;
    if (rel === null || this.finished) return null;
    let t = rel.pollTimeout() ?? Number.POSITIVE_INFINITY;
    if (this.paths !== null) t = Math.min(t, this.paths.set.nextTimeout());
    if (this.drain !== null) t = Math.min(t, this.drain.until);
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  /** @internal */
  handleTimeout(now: number): void {
    this.host.touch(this);
    const rel = this.rel;
    if (rel === null || this.finished) return;
    const rt = rel.pollTimeout();
    if (rt !== null && rt <= now) rel.handleTimeout(now);
    if (this.stateValue === 'established') this.paths?.set.handleTimeout(now);
    if (this.finished) return; // the peer was gone (connection-paths.ts: onPeerGone)
    if (this.drain !== null) this.maybeFinishDrain(now);
    this.drainReliable(now);
    if (rel.state === 'closed') this.finalize(now);
  }

  /** @internal Our own connect() found this connection (simultaneous open, or an incoming one). */
  markOutgoing(): void {
    this.outgoingValue = true;
  }

  /** @internal `next` dials the same peer and starts when this (closing) connection finishes. */
  deferUntilFinished(next: CoreConnection): void {
    this.successor = next;
    next.predecessor = this;
  }

  /** @internal The dial waiting for this connection to finish, taken (once). */
  takeSuccessor(): CoreConnection | null {
    const next = this.successor;
    this.successor = null;
    if (next !== null) next.predecessor = null;
    return next;
  }

  /**
   * @internal Where a handshake of this connection's channel goes: the path once established
   * (rekeys follow a migration), else crypto's choice.
   */
  handshakeRoute(): Address | null {
    return this.paths === null ? null : this.paths.activeAddress;
  }

  /** @internal The peer's candidate addresses grew (a new card): reconsider better paths. */
  addCandidatesAt(now: number, addresses: readonly Address[]): void {
    this.host.touch(this);
    this.channels.addCandidates(addresses);
    if (this.stateValue === 'established' && this.paths !== null)
      this.paths.considerUpgrades(now, this.channels.candidates, addresses);
  }

  /**
   * @internal A relay circuit closed: if it is one of our routes, it is dead (paths.ts);
   * `peerGone`: the relay said the peer's hop session ended.
   */
  routeClosedAt(now: number, route: Address, peerGone = false): void {
    this.host.touch(this); // its timers may have moved (the peer-gone wait)
    if (this.stateValue === 'established' && this.paths !== null)
      this.paths.routeClosed(now, route, peerGone);
  }

  /** @internal A relay circuit bound for this established connection: a standby route (paths.ts). */
  addStandbyAt(now: number, route: Address): void {
    this.host.touch(this); // a challenge to send, and the peer-gone wait ends
    if (this.stateValue === 'established' && this.paths !== null) this.paths.addStandby(now, route);
  }

  /**
   * @internal Handshake failed or was abandoned before establishment; after it, the keys were
   * lost here (a close of ours, SESSION_EXPIRED: the peer sent nothing).
   */
  fail(now: number, error: CoreError): void {
    if (this.stateValue === 'closed') return;
    if (this.connectedEmitted) {
      this.closeNow(now, CloseCode.SESSION_EXPIRED, error.message, false);
      return;
    }
    this.stateValue = 'closed';
    this.host.log?.(`${this.label()} dial failed: ${error.code}: ${error.message}`);
    this.host.emit({ type: 'connect_failed', id: this.id, error });
    this.finalize(now);
  }

  /** @internal Abrupt close (peer restarted, session expired): no CLOSE can be sent. */
  closeNow(now: number, code: number, reason: string, remote: boolean): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    announceClosed(this, this.host, code, reason, remote);
    this.finalize(now);
  }

  /**
   * @internal A send to `to` failed (ICMP unreachable and the like). Returns true when, while
   * handshaking, every candidate address has now failed `unreachableAfter` times with an
   * unreachable code: the dial can fail fast instead of waiting for its timeout.
   */
  noteSendError(now: number, to: Address, unreachable: boolean, unreachableAfter: number): boolean {
    this.host.touch(this);
    if (this.stateValue === 'handshaking') {
      const dead = this.channels.noteDialError(to, unreachable, unreachableAfter);
      if (dead === null) return false;
      this.drop('send_error');
      return dead;
    }
    if (this.paths !== null && this.stateValue === 'established') this.paths.sendError(now, to, unreachable);
    return false;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** 'connected' was emitted (its end is announced by 'closed', then 'gone') */
  get wasConnected(): boolean {
    return this.connectedEmitted;
  }

  // ------------------------------------------------------------------ internals

  private open(): Reliable {
    const rel = this.rel;
    if (rel === null || this.stateValue === 'handshaking') {
      throw new CoreError('NOT_CONNECTED', `connection ${this.id} is not established yet`);
    }
    if (this.stateValue !== 'established' || rel.state !== 'open') {
      throw new CoreError('CONNECTION_CLOSED', `connection ${this.id} is closed`);
    }
    return rel;
  }

  /** @internal Its state becomes 'closing' (connection-close.ts). */
  markClosing(): void {
    this.stateValue = 'closing';
  }

  /** @internal a dropped packet, counted by reason (connection-paths.ts too) */
  drop(reason: string): void {
    const d = (this.dropCounts ??= {});
    d[reason] = (d[reason] ?? 0) + 1;
  }

  /** @internal How log lines name this connection: `#<id> <peer id prefix>`. */
  label(): string {
    return `#${this.id} ${shortPeerId(this.remoteKeyValue)}`;
  }

  private maybeFinishDrain(now: number): void {
    // CLOSE is owed (this may run inside pollTransmit, which then polls it again)
    if (finishDrain(this, now)) this.host.touch(this);
  }

  /** @internal Moves reliability's events to the endpoint (connection-events.ts). */
  drainReliable(now: number): void {
    const rel = this.rel;
    if (rel !== null) drainEvents(this, this.host, rel, now);
  }

  /** @internal A reliability event that is the connection's own business (connection-events.ts). */
  onOwnEvent(ev: OwnEvent, now: number): void {
    if (ev.type === 'frame') {
      this.paths?.onFrame(ev.frame, now);
      return;
    }
    if (ev.type === 'control') {
      this.host.onControl(this, ev.data, now);
      return;
    }
    reliableClosed(this, this.host, ev);
    if (this.rel?.state === 'closed') this.finalize(now);
  }

  private finalize(now: number): void {
    if (this.finished) return;
    this.finished = true;
    if (this.predecessor !== null && this.predecessor.successor === this) this.predecessor.successor = null;
    this.predecessor = null;
    this.stateValue = 'closed';
    this.host.onFinished(this, now);
  }
}
