import type { SecureChannel } from '@srmudp/crypto';
import {
  ReliableConnection as Reliable,
  type ReliableEvent,
  type ReliableOptions,
} from '@srmudp/reliability';
import {
  addressKey,
  compareBytes,
  copyAddress,
  decodeFrames,
  equalBytes,
  type Frame,
  SrmudpError,
  sameAddress,
  sharedSlab,
} from '@srmudp/wire';
import type { AmplificationGuard } from './amplification.js';
import type {
  Address,
  ConnectionApi,
  ConnectionState,
  ConnectionStats,
  EndpointEvent,
  PathInfo,
} from './api.js';
import { CloseCode, DEFAULTS } from './defaults.js';

/** @internal What a connection needs from its endpoint. */
export interface ConnectionHost {
  readonly amp: AmplificationGuard;
  readonly random: (n: number) => Uint8Array;
  readonly reliableOptions: Omit<ReliableOptions, 'role' | 'now'>;
  emit(ev: EndpointEvent): void;
  /** the connection reached 'closed' (or failed) at `now`: release maps and keys */
  onFinished(conn: CoreConnection, now: number): void;
}

interface RoutedFrame {
  frame: Frame;
  to: Address;
}

interface Probe {
  address: Address;
  data: Uint8Array;
  tries: number;
  nextAt: number;
}

/** Smallest budget worth sealing a routed frame for: header (13) + PATH_* (9) + an ACK + tag (16). */
const MIN_ROUTED_DATAGRAM = 64;

const EMPTY_DROPS: Record<string, number> = Object.freeze({}) as Record<string, number>;

/** A reliability event that core handles itself (with the time of the call that drained it). */
type TimedEvent = Extract<ReliableEvent, { type: 'closed' } | { type: 'frame' }>;

/**
 * One connection to one peer: its secure channel(s), the reliability state machine (created once
 * the handshake completed), the current path and the path being validated, graceful close.
 * Created by {@link Endpoint.connect} (outgoing) or by an incoming handshake.
 */
export class CoreConnection implements ConnectionApi {
  private remoteKeyValue: Uint8Array | null;
  private stateValue: ConnectionState = 'handshaking';
  /** created by our connect() */
  private outgoingValue: boolean;
  /** candidate addresses the handshake is sent to (outgoing only) */
  private readonly candidateList: Address[] = [];
  /** the channel we seal with (the most recently established one) */
  private channel: SecureChannel | null = null;
  /** every channel whose sessions feed this connection */
  private readonly channelList: SecureChannel[] = [];
  /** reliability state, from establishment on */
  private rel: Reliable | null = null;
  /** the path: validated from establishment on (the initiator by the authenticated response, a
   * responder by key confirmation, RFC 9000 §8), and moved only after PATH_RESPONSE */
  private pathInfo: PathInfo | null = null;
  /** peer's boot id (restart detection) */
  private remoteBootValue: Uint8Array | null = null;
  /** send errors per candidate address key (reportSendError) */
  private readonly sendErrors = new Map<string, number>();
  /** a dial to the same peer that waits for this (closing) connection to finish, and the reverse */
  private successor: CoreConnection | null = null;
  private predecessor: CoreConnection | null = null;
  private probe: Probe | null = null;
  private readonly coreOut: RoutedFrame[] = [];
  private routed: RoutedFrame | null = null;
  private largestPn = -1;
  private draining = false;
  private drainUntil = Number.POSITIVE_INFINITY;
  private closeCode = 0;
  private closeReason = '';
  private finished = false;
  private connectedEmitted = false;
  private closedEmitted = false;
  /** where the packet being handled came from (PATH_CHALLENGE answers go back there) */
  private currentFrom: Address | null = null;
  private readonly dropCounts: Record<string, number> = {};
  /** streams whose receive side may still finish; 'stream_finished' already emitted for the rest */
  private readonly recvOpen = new Set<number>();
  private readonly finishedEmitted = new Set<number>();

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

  /** candidate addresses of the peer the handshake goes to (outgoing connections) */
  get candidates(): readonly Address[] {
    return this.candidateList;
  }

  /** True while handshaking with a handshake of ours under way (it has a crypto channel). */
  get isDialling(): boolean {
    return this.stateValue === 'handshaking' && this.channelList.length > 0;
  }

  /** the peer's boot id from its last handshake (restart detection) */
  get remoteBoot(): Uint8Array | null {
    return this.remoteBootValue;
  }

  // ------------------------------------------------------------------ ConnectionApi

  get state(): ConnectionState {
    return this.stateValue;
  }

  get path(): PathInfo | null {
    return this.pathInfo;
  }

  openStream(): number {
    const id = this.open().openStream();
    this.recvOpen.add(id);
    return id;
  }

  write(streamId: number, data: Uint8Array): number {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    const rel = this.rel;
    if (rel === null || this.draining || this.stateValue !== 'established') return 0;
    return rel.write(streamId, data);
  }

  finish(streamId: number): void {
    const rel = this.rel;
    if (rel === null || this.stateValue === 'closed') return;
    if (rel.state !== 'open') return;
    rel.finish(streamId);
  }

  read(now: number, streamId: number, max?: number): Uint8Array | null {
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
    const rel = this.rel;
    if (rel === null || rel.state !== 'open') return;
    rel.reset(streamId, code);
  }

  sendMessage(data: Uint8Array, opts?: { unordered?: boolean }): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    const rel = this.open();
    const max = rel.limits.maxMessageSize;
    if (data.length > max) {
      throw new RangeError(`message of ${data.length} bytes exceeds the limit of ${max} bytes`);
    }
    // false while reliability's send buffer is full: 'message_writable' follows
    return rel.sendMessage(data, { unordered: opts?.unordered === true });
  }

  sendDatagram(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    const rel = this.rel;
    if (rel === null || this.stateValue !== 'established' || this.draining) {
      this.drop('datagram_not_open');
      return false;
    }
    return rel.sendDatagram(data);
  }

  close(now: number, code = 0, reason = ''): void {
    checkClose(now, code, reason);
    if (this.stateValue === 'closed' || this.draining) return;
    if (this.stateValue === 'handshaking' || this.rel === null) {
      this.fail(now, new SrmudpError('CLOSED', `connection ${this.id} closed before it was established`));
      return;
    }
    if (this.stateValue === 'closing') return;
    // Graceful: keep sending until every byte written is acknowledged (bounded), then CLOSE.
    this.draining = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.stateValue = 'closing';
    const pto = this.pto();
    this.drainUntil = now + Math.min(DEFAULTS.maxDrainMs, Math.max(3 * pto, DEFAULTS.minDrainMs));
    this.maybeFinishDrain(now);
  }

  /**
   * @internal Closes at once (QUIC's CONNECTION_CLOSE, RFC 9000 §10.2): CLOSE is the next packet,
   * ahead of queued data, which is abandoned; a graceful close still draining is cut short.
   */
  closeImmediately(now: number, code = 0, reason = ''): void {
    checkClose(now, code, reason);
    if (this.stateValue === 'closed') return;
    const rel = this.rel;
    if (this.stateValue === 'handshaking' || rel === null) {
      this.fail(now, new SrmudpError('CLOSED', `connection ${this.id} closed before it was established`));
      return;
    }
    this.draining = false;
    this.stateValue = 'closing';
    rel.close(now, code, reason);
    this.drainReliable(now);
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
      path: this.pathInfo,
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
    this.useChannel(channel);
    if (this.rel !== null) return; // another channel of an established connection
    const { remoteKey, handshakeRttMs } = session;
    this.remoteKeyValue = remoteKey;
    // Stream-id parity must differ on the two sides even when both dialled (simultaneous open):
    // decide it by the keys, which both sides know, not by who initiated.
    const role = compareBytes(localKey, remoteKey) < 0 ? 'initiator' : 'responder';
    const address = copyAddress(session.address);
    this.rel = new Reliable({
      ...this.host.reliableOptions,
      role,
      now,
      maxUdpPayload: address.host.includes(':') ? 1452 : 1472,
    });
    if (handshakeRttMs !== null) this.rel.seedRtt(handshakeRttMs);
    this.pathInfo = { kind: 'direct', address };
    this.stateValue = 'established';
    this.host.amp.forget(address);
    // An authenticated packet from us at once: it confirms the new keys to an IK responder (which
    // does not use them before), and measures the RTT.
    this.rel.queueFrame({ type: 'ping' });
    this.connectedEmitted = true;
    this.host.emit({
      type: 'connected',
      id: this.id,
      remoteKey,
      outgoing: this.outgoing,
      path: this.pathInfo,
    });
  }

  /** @internal An authenticated data packet of this connection. */
  onPacket(now: number, from: Address, packetNumber: number, plaintext: Uint8Array): void {
    const rel = this.rel;
    if (rel === null) return;
    const path = this.pathInfo as PathInfo;
    if (from.port !== path.address.port || from.host !== path.address.host) {
      this.onOtherAddress(now, from, packetNumber);
    }
    if (packetNumber > this.largestPn) this.largestPn = packetNumber;
    this.currentFrom = from;
    rel.handlePacket(now, packetNumber, plaintext);
    this.drainReliable(now);
    if (this.recvOpen.size > 0) this.checkFinReceived(rel);
    this.currentFrom = null;
  }

  /** @internal Next sealed datagram of this connection, or null. */
  pollTransmit(now: number): { to: Address; data: Uint8Array } | null {
    const rel = this.rel;
    if (rel === null || this.finished) return null;
    const channel = this.channel;
    if (channel === null || !channel.isEstablished) return null;
    const path = (this.pathInfo as PathInfo).address;
    const amp = this.host.amp;
    if (this.routed === null && this.coreOut.length > 0) {
      // A frame for another address (a path challenge or its answer) only within that address's
      // 3x budget (RFC 9000 §8, §9.3.1). A datagram smaller than the PMTU is allowed when the
      // budget is short (§8.2.1): a peer that moved while idle sends only small keepalives. If
      // the packet that carries the frame outgrows the budget it is dropped below, and the
      // challenge is retried on its timer.
      const next = this.coreOut[0] as RoutedFrame;
      if (sameAddress(next.to, path) || amp.remaining(next.to) >= MIN_ROUTED_DATAGRAM) {
        this.coreOut.shift();
        if (rel.queueFrame(next.frame)) this.routed = next;
      }
    }
    const t = rel.pollTransmit(now);
    if (t === null) {
      if (this.draining) this.maybeFinishDrain(now);
      return null;
    }
    let to = path;
    let toPath = true;
    const r = this.routed;
    if (r !== null && carries(t.payload, r.frame)) {
      to = r.to;
      toPath = sameAddress(to, path);
      this.routed = null;
    }
    const out = sharedSlab.take(t.datagramSize);
    let data: Uint8Array;
    try {
      data = channel.seal(t.packetNumber, t.payload, out);
    } catch {
      // keys gone (expired between polls): the packet counts as lost in reliability
      this.drop('seal_failed');
      return null;
    }
    if (!toPath && !amp.trySend(to, data.length)) {
      this.drop('amplification_limit');
      return null;
    }
    return { to, data };
  }

  /** @internal Earliest timer, or null. */
  pollTimeout(): number | null {
    const rel = this.rel;
    if (rel === null || this.finished) return null;
    let t = rel.pollTimeout() ?? Number.POSITIVE_INFINITY;
    if (this.probe !== null) t = Math.min(t, this.probe.nextAt);
    if (this.draining) t = Math.min(t, this.drainUntil);
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  /** @internal */
  handleTimeout(now: number): void {
    const rel = this.rel;
    if (rel === null || this.finished) return;
    const rt = rel.pollTimeout();
    if (rt !== null && rt <= now) rel.handleTimeout(now);
    const p = this.probe;
    if (p !== null && now >= p.nextAt) {
      if (p.tries >= DEFAULTS.pathChallengeTries) {
        this.probe = null; // the new address never answered: stay on the current path
        this.drop('path_validation_failed');
      } else this.sendChallenge(now, p);
    }
    if (this.draining) this.maybeFinishDrain(now);
    this.drainReliable(now);
    if (rel.state === 'closed') this.finalize(now);
  }

  /** @internal A channel whose handshake this connection started (not sealed with until established). */
  attachChannel(channel: SecureChannel): void {
    if (!this.channelList.includes(channel)) this.channelList.push(channel);
    this.channel = channel;
  }

  /** @internal Another established channel of the same peer: it feeds this connection, and we seal with it. */
  useChannel(channel: SecureChannel): void {
    if (!this.channelList.includes(channel)) this.channelList.push(channel);
    this.channel = channel;
  }

  /** @internal The channel now belongs to another connection: never seal with it again. */
  detachChannel(channel: SecureChannel): void {
    const i = this.channelList.indexOf(channel);
    if (i >= 0) this.channelList.splice(i, 1);
    if (this.channel === channel) this.channel = this.channelList[this.channelList.length - 1] ?? null;
  }

  /** @internal Hands every channel back to the endpoint (the connection finished or failed). */
  takeChannels(): SecureChannel[] {
    const list = this.channelList.slice();
    this.channelList.length = 0;
    return list;
  }

  /** @internal The addresses a handshake of ours goes to (duplicates ignored). */
  addCandidates(addresses: readonly Address[]): void {
    for (const a of addresses) {
      if (!this.candidateList.some((c) => sameAddress(c, a))) this.candidateList.push(copyAddress(a));
    }
  }

  /** @internal Our own connect() found this connection (simultaneous open, or an incoming one). */
  markOutgoing(): void {
    this.outgoingValue = true;
  }

  /** @internal The peer's boot id from the handshake that just completed. */
  setRemoteBoot(boot: Uint8Array | null): void {
    this.remoteBootValue = boot;
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
    return this.pathInfo === null ? null : this.pathInfo.address;
  }

  /** @internal Handshake failed or was abandoned before establishment. */
  fail(now: number, error: SrmudpError): void {
    if (this.stateValue === 'closed') return;
    if (this.connectedEmitted) {
      this.closeNow(now, CloseCode.SESSION_EXPIRED, error.message, true);
      return;
    }
    this.stateValue = 'closed';
    this.host.emit({ type: 'connect_failed', id: this.id, error });
    this.finalize(now);
  }

  /** @internal Abrupt close (peer restarted, session expired): no CLOSE can be sent. */
  closeNow(now: number, code: number, reason: string, remote: boolean): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.emitClosed(code, reason, remote);
    this.finalize(now);
  }

  /**
   * @internal A send to `to` failed (ICMP unreachable and the like). Returns true when, while
   * handshaking, every candidate address has now failed `unreachableAfter` times with an
   * unreachable code: the dial can fail fast instead of waiting for its timeout.
   */
  noteSendError(to: Address, unreachable: boolean, unreachableAfter: number): boolean {
    if (this.stateValue === 'handshaking') {
      if (!this.candidateList.some((a) => sameAddress(a, to))) return false;
      const key = addressKey(to);
      this.sendErrors.set(key, (this.sendErrors.get(key) ?? 0) + 1);
      this.drop('send_error');
      if (!unreachable) return false;
      return this.candidateList.every((a) => (this.sendErrors.get(addressKey(a)) ?? 0) >= unreachableAfter);
    }
    if (this.pathInfo !== null && sameAddress(this.pathInfo.address, to)) {
      this.sendErrors.set(addressKey(to), (this.sendErrors.get(addressKey(to)) ?? 0) + 1);
      this.drop('send_error');
    }
    return false;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  // ------------------------------------------------------------------ internals

  private open(): Reliable {
    const rel = this.rel;
    if (rel === null || this.stateValue === 'handshaking') {
      throw new SrmudpError('NOT_CONNECTED', `connection ${this.id} is not established yet`);
    }
    if (this.stateValue !== 'established' || rel.state !== 'open') {
      throw new SrmudpError('CONNECTION_CLOSED', `connection ${this.id} is closed`);
    }
    return rel;
  }

  private drop(reason: string): void {
    this.dropCounts[reason] = (this.dropCounts[reason] ?? 0) + 1;
  }

  private pto(): number {
    const s = this.rel?.stats();
    if (!s) return 1000;
    return s.srttMs + Math.max(4 * s.rttVarMs, 1) + 25;
  }

  /**
   * Authenticated packets from an address other than the path's (RFC 9000 §9.3): NAT rebinding
   * or a network change. Only the highest packet number so far counts (an old reordered packet
   * must not start a migration); the new address is validated before we move.
   */
  private onOtherAddress(now: number, from: Address, packetNumber: number): void {
    if (packetNumber <= this.largestPn) return;
    const p = this.probe;
    if (p !== null && sameAddress(p.address, from)) return;
    const probe: Probe = {
      address: copyAddress(from),
      data: this.host.random(8).slice(0, 8),
      tries: 0,
      nextAt: now,
    };
    this.probe = probe;
    this.sendChallenge(now, probe);
  }

  private sendChallenge(now: number, p: Probe): void {
    p.tries++;
    p.nextAt = now + Math.max(200, 2 * this.pto()) * 2 ** (p.tries - 1);
    // drop an older challenge for the same probe still waiting in our queue
    for (let i = this.coreOut.length - 1; i >= 0; i--) {
      if ((this.coreOut[i] as RoutedFrame).frame.type === 'path_challenge') this.coreOut.splice(i, 1);
    }
    this.coreOut.push({ frame: { type: 'path_challenge', data: p.data }, to: p.address });
  }

  private onPathResponse(data: Uint8Array, now: number): void {
    const p = this.probe;
    if (p === null || !equalBytes(p.data, data)) {
      this.drop('path_response_unexpected');
      return;
    }
    this.probe = null;
    const moved = this.pathInfo === null || !sameAddress(this.pathInfo.address, p.address);
    this.pathInfo = { kind: 'direct', address: p.address };
    // RFC 9000 §9.4: RTT, congestion state and PMTU of the old path say nothing about the new one
    if (moved) this.rel?.resetPath(now);
    this.host.amp.forget(p.address);
    this.host.emit({ type: 'path_changed', id: this.id, path: this.pathInfo, reason: 'migration' });
  }

  private maybeFinishDrain(now: number): void {
    const rel = this.rel;
    if (rel === null || !this.draining) return;
    if (rel.state !== 'open') {
      this.draining = false;
      return;
    }
    if (now < this.drainUntil && !sendIdle(rel)) return;
    this.draining = false;
    rel.close(now, this.closeCode, this.closeReason);
    this.drainReliable(now);
  }

  /** Moves reliability's events to the endpoint, handling the ones that are core's business. */
  private drainReliable(now: number): void {
    const rel = this.rel;
    if (rel === null) return;
    const id = this.id;
    for (let ev = rel.pollEvent(now); ev !== null; ev = rel.pollEvent(now)) {
      switch (ev.type) {
        case 'stream_opened':
          this.recvOpen.add(ev.streamId);
          this.host.emit({ type: ev.type, id, streamId: ev.streamId });
          break;
        case 'readable':
        case 'writable':
          this.host.emit({ type: ev.type, id, streamId: ev.streamId });
          break;
        case 'stream_finished':
          this.emitFinished(ev.streamId);
          break;
        case 'stream_reset':
          this.recvOpen.delete(ev.streamId);
          this.host.emit({ type: 'stream_reset', id, streamId: ev.streamId, code: ev.code });
          break;
        case 'message':
          this.host.emit({ type: 'message', id, data: ev.data, unordered: ev.unordered });
          break;
        case 'datagram':
          this.host.emit({ type: 'datagram', id, data: ev.data });
          break;
        case 'message_writable':
          this.host.emit({ type: 'message_writable', id });
          break;
        case 'frame':
        case 'closed':
          this.onTimedEvent(ev, now);
          break;
        default:
          break; // stream_stopped, pmtu: not part of the endpoint contract
      }
    }
  }

  private onTimedEvent(ev: TimedEvent, now: number): void {
    if (ev.type === 'frame') {
      this.onFrame(ev.frame, now);
      return;
    }
    this.stateValue = 'closing';
    this.draining = false;
    if (ev.error === 'IDLE_TIMEOUT') {
      // our own timer: nothing authenticated arrived for that long (the peer may be gone, or the
      // path broken); not something the peer said
      const s = Math.round((this.host.reliableOptions.idleTimeoutMs ?? 0) / 1000);
      this.emitClosed(
        CloseCode.IDLE_TIMEOUT,
        `idle timeout: nothing received from the peer for ${s} s`,
        false,
      );
    } else this.emitClosed(ev.code, ev.reason, ev.remote);
    if (this.rel?.state === 'closed') this.finalize(now);
  }

  private onFrame(f: Frame, now: number): void {
    if (f.type === 'path_challenge') {
      // RFC 9000 §8.2.2: answer on the path the challenge arrived on
      const to = this.currentFrom ?? (this.pathInfo as PathInfo).address;
      this.coreOut.push({ frame: { type: 'path_response', data: f.data.slice() }, to: copyAddress(to) });
      if (this.coreOut.length > 8) this.coreOut.shift();
    } else if (f.type === 'path_response') {
      this.onPathResponse(f.data, now);
    } else {
      this.drop('relay_unsupported');
    }
  }

  private emitFinished(streamId: number): void {
    this.recvOpen.delete(streamId);
    if (this.finishedEmitted.has(streamId)) return;
    this.finishedEmitted.add(streamId);
    this.host.emit({ type: 'stream_finished', id: this.id, streamId });
  }

  /**
   * The contract's 'stream_finished': every byte up to the peer's FIN has arrived and is
   * readable (reliability itself reports it only once the application has read them all).
   */
  private checkFinReceived(rel: Reliable): void {
    for (const sid of this.recvOpen) {
      if (rel.recvComplete(sid)) this.emitFinished(sid);
    }
  }

  private emitClosed(code: number, reason: string, remote: boolean): void {
    if (this.closedEmitted || !this.connectedEmitted) return;
    this.closedEmitted = true;
    this.host.emit({ type: 'closed', id: this.id, code, reason, remote });
  }

  private finalize(now: number): void {
    if (this.finished) return;
    this.finished = true;
    if (this.predecessor !== null && this.predecessor.successor === this) this.predecessor.successor = null;
    this.predecessor = null;
    this.stateValue = 'closed';
    this.probe = null;
    this.coreOut.length = 0;
    this.routed = null;
    this.host.onFinished(this, now);
  }
}

function checkClose(now: number, code: number, reason: string): void {
  if (!Number.isFinite(now)) throw new TypeError(`"now" expected a finite number, got ${now}`);
  if (!Number.isSafeInteger(code) || code < 0) {
    throw new RangeError(`"code" expected a non-negative integer, got ${code}`);
  }
  if (typeof reason !== 'string') throw new TypeError('"reason" expected a string');
}

/** True when `payload` holds `frame` (a path_challenge/path_response with the same data). Rare
 * path: only while a routed frame waits. */
function carries(payload: Uint8Array, frame: Frame): boolean {
  if (frame.type !== 'path_challenge' && frame.type !== 'path_response') return false;
  let frames: Frame[];
  try {
    frames = decodeFrames(payload);
  } catch {
    return false;
  }
  for (const f of frames) {
    if (f.type === frame.type && equalBytes(f.data, frame.data)) return true;
  }
  return false;
}

/** True when reliability holds nothing unsent or unacknowledged. */
function sendIdle(rel: Reliable): boolean {
  return rel.sendBacklog() === 0 && rel.stats().bytesInFlight === 0;
}
