import type { SecureChannel } from '@srmudp/crypto';
import { Connection as Reliable, type ConnectionOptions as ReliableOptions } from '@srmudp/reliability';
import { decodeFrames, type Frame, SrmudpError, sharedSlab } from '@srmudp/wire';
import { copyAddress, sameAddress } from './address.js';
import type { AmplificationGuard } from './amplification.js';
import type {
  Address,
  ConnectionApi,
  ConnectionState,
  ConnectionStats,
  EndpointEvent,
  PathInfo,
} from './api.js';
import { equalBytes } from './bytes.js';
import { CloseCode, DEFAULTS } from './defaults.js';

/** @internal What a connection needs from its endpoint. */
export interface ConnectionHost {
  readonly amp: AmplificationGuard;
  readonly random: (n: number) => Uint8Array;
  readonly reliableOptions: Omit<ReliableOptions, 'role' | 'now'>;
  /** latest `now` the endpoint saw (API calls without a `now` argument use it) */
  readonly lastNow: number;
  emit(ev: EndpointEvent): void;
  /** an incoming connection's path was validated (it no longer counts as a pending handshake) */
  onValidated(conn: CoreConnection): void;
  /** the connection reached 'closed' (or failed): release maps and keys */
  onFinished(conn: CoreConnection): void;
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

const EMPTY_DROPS: Record<string, number> = Object.freeze({}) as Record<string, number>;

/**
 * One connection to one peer: its secure channel(s), the reliability state machine (created once
 * the handshake completed), the current path and the path being validated, graceful close.
 * Created by {@link Endpoint.connect} (outgoing) or by an incoming handshake.
 */
export class CoreConnection implements ConnectionApi {
  remoteKey: Uint8Array | null;
  stateValue: ConnectionState = 'handshaking';
  /** created by our connect() */
  outgoing: boolean;
  /** candidate addresses the handshake is sent to (outgoing only) */
  readonly candidates: Address[] = [];
  /** the channel we seal with (the most recently established one) */
  channel: SecureChannel | null = null;
  /** every channel whose sessions feed this connection */
  readonly channels: SecureChannel[] = [];
  /** reliability state, from establishment on */
  rel: Reliable | null = null;
  pathInfo: PathInfo | null = null;
  /** the peer proved it receives what we send to `pathInfo.address` (RFC 9000 §8) */
  validated = false;
  /** our handshake initiations sent while handshaking, and when the last one left (RTT seed) */
  initSends = 0;
  initSentAt = 0;
  /** responder whose path awaits validation: when it answered the handshake (RTT seed), or -1 */
  respondedAt = -1;
  /** peer's boot id (restart detection) */
  remoteBoot: Uint8Array | null = null;
  /** send errors per candidate address key (reportSendError) */
  readonly sendErrors = new Map<string, number>();
  sendErrorsOnPath = 0;
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
    this.outgoing = outgoing;
    this.remoteKey = remoteKey;
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

  read(streamId: number, max?: number): Uint8Array | null {
    const rel = this.rel;
    if (rel === null) return null;
    if (max !== undefined && (!Number.isInteger(max) || max <= 0)) {
      throw new RangeError(`"max" expected a positive integer, got ${max}`);
    }
    const now = this.host.lastNow;
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

  close(code = 0, reason = ''): void {
    if (!Number.isSafeInteger(code) || code < 0) {
      throw new RangeError(`"code" expected a non-negative integer, got ${code}`);
    }
    if (typeof reason !== 'string') throw new TypeError('"reason" expected a string');
    if (this.stateValue === 'closed' || this.draining) return;
    if (this.stateValue === 'handshaking' || this.rel === null) {
      this.fail(new SrmudpError('CLOSED', `connection ${this.id} closed before it was established`));
      return;
    }
    if (this.stateValue === 'closing') return;
    // Graceful: keep sending until every byte written is acknowledged (bounded), then CLOSE.
    const now = this.host.lastNow;
    this.draining = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.stateValue = 'closing';
    const pto = this.pto();
    this.drainUntil = now + Math.min(DEFAULTS.maxDrainMs, Math.max(3 * pto, DEFAULTS.minDrainMs));
    this.maybeFinishDrain(now);
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

  /** @internal handshake done on `channel`: start reliability, emit 'connected'. */
  establish(
    now: number,
    channel: SecureChannel,
    localKey: Uint8Array,
    validated: boolean,
    initiator = false,
  ): void {
    this.channel = channel;
    if (!this.channels.includes(channel)) this.channels.push(channel);
    if (this.rel !== null) return; // another channel of an established connection
    const remoteKey = channel.remoteKey as Uint8Array;
    this.remoteKey = remoteKey;
    // Stream-id parity must differ on the two sides even when both dialled (simultaneous open):
    // decide it by the keys, which both sides know, not by who initiated.
    const role = compareKeys(localKey, remoteKey) < 0 ? 'initiator' : 'responder';
    const address = copyAddress(channel.address);
    this.rel = new Reliable({
      ...this.host.reliableOptions,
      role,
      now,
      maxUdpPayload: address.host.includes(':') ? 1452 : 1472,
    });
    // Seed the RTT with the handshake's round trip. The initiator times its initiation to the
    // answer, only when it was sent once (Karn: a retransmitted one makes the sample ambiguous).
    // An unvalidated responder (IK) times its answer to the first authenticated data packet,
    // which the initiator sends as soon as it has the answer (the ping below).
    if (initiator && this.initSends === 1) this.rel.seedRtt(now - this.initSentAt);
    this.respondedAt = !initiator && !validated ? now : -1;
    this.pathInfo = { kind: 'direct', address };
    this.validated = validated;
    this.stateValue = 'established';
    if (validated) this.host.amp.forget(address);
    // Give the responder an authenticated packet from us at once, so it can validate our address.
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
    } else if (!this.validated) {
      // An authenticated packet from the address we answered proves the peer got our reply.
      if (this.respondedAt >= 0) rel.seedRtt(now - this.respondedAt);
      this.setValidated();
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
      const next = this.coreOut[0] as RoutedFrame;
      const toValidated = this.validated && sameAddress(next.to, path);
      if (toValidated || amp.remaining(next.to) >= rel.pmtu) {
        this.coreOut.shift();
        if (rel.queueFrame(next.frame)) this.routed = next;
      }
    }
    // Before the path is validated, send only what fits the 3x budget (never poll a packet we
    // would then have to drop: reliability would count it lost).
    if (!this.validated && this.routed === null && amp.remaining(path) < rel.pmtu) return null;
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
    if (!(this.validated && toPath) && !amp.trySend(to, data.length)) {
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
    if (!this.validated && t <= this.host.lastNow) {
      // blocked by the amplification limit until the peer speaks: do not spin on a due timer
      const path = (this.pathInfo as PathInfo).address;
      if (this.host.amp.remaining(path) < rel.pmtu) t = this.host.lastNow + 50;
    }
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
    if (rel.state === 'closed') this.finalize();
  }

  /** @internal The endpoint attaches another established channel of the same peer. */
  addChannel(channel: SecureChannel): void {
    if (!this.channels.includes(channel)) this.channels.push(channel);
    this.channel = channel;
  }

  /** @internal The channel now belongs to another connection: never seal with it again. */
  detachChannel(channel: SecureChannel): void {
    const i = this.channels.indexOf(channel);
    if (i >= 0) this.channels.splice(i, 1);
    if (this.channel === channel) this.channel = this.channels[this.channels.length - 1] ?? null;
  }

  /** @internal Handshake failed or was abandoned before establishment. */
  fail(error: SrmudpError): void {
    if (this.stateValue === 'closed') return;
    if (this.connectedEmitted) {
      this.closeNow(CloseCode.SESSION_EXPIRED, error.message, true);
      return;
    }
    this.stateValue = 'closed';
    this.host.emit({ type: 'connect_failed', id: this.id, error });
    this.finalize();
  }

  /** @internal Abrupt close (peer restarted, session expired): no CLOSE can be sent. */
  closeNow(code: number, reason: string, remote: boolean): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.emitClosed(code, reason, remote);
    this.finalize();
  }

  /** @internal a send to `to` failed (ICMP unreachable and the like) */
  noteSendError(key: string, onPath: boolean): void {
    this.sendErrors.set(key, (this.sendErrors.get(key) ?? 0) + 1);
    if (onPath) this.sendErrorsOnPath++;
    this.drop('send_error');
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

  private setValidated(): void {
    if (this.validated) return;
    this.validated = true;
    this.respondedAt = -1;
    if (this.pathInfo) this.host.amp.forget(this.pathInfo.address);
    this.host.onValidated(this);
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

  private onPathResponse(data: Uint8Array): void {
    const p = this.probe;
    if (p === null || !equalBytes(p.data, data)) {
      this.drop('path_response_unexpected');
      return;
    }
    this.probe = null;
    const moved = this.pathInfo === null || !sameAddress(this.pathInfo.address, p.address);
    this.pathInfo = { kind: 'direct', address: p.address };
    // RFC 9000 §9.4: RTT, congestion state and PMTU of the old path say nothing about the new one
    if (moved) this.rel?.resetPath(this.host.lastNow);
    // handshakes (rekeys) of this connection go to the new address too
    for (const ch of this.channels) ch.address = copyAddress(p.address);
    this.sendErrorsOnPath = 0;
    this.host.amp.forget(p.address);
    if (!this.validated) {
      this.validated = true;
      this.host.onValidated(this);
    }
    this.host.emit({ type: 'path_changed', id: this.id, path: this.pathInfo });
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
          this.onFrame(ev.frame);
          break;
        case 'closed': {
          const idle = ev.error === 'IDLE_TIMEOUT';
          this.stateValue = 'closing';
          this.draining = false;
          // an idle timeout means the peer went away: report it as the remote's doing
          this.emitClosed(idle ? CloseCode.IDLE_TIMEOUT : ev.code, ev.reason, idle || ev.remote);
          if (rel.state === 'closed') this.finalize();
          break;
        }
        default:
          break; // stream_stopped, pmtu: not part of the endpoint contract
      }
    }
  }

  private onFrame(f: Frame): void {
    if (f.type === 'path_challenge') {
      // RFC 9000 §8.2.2: answer on the path the challenge arrived on
      const to = this.currentFrom ?? (this.pathInfo as PathInfo).address;
      this.coreOut.push({ frame: { type: 'path_response', data: f.data.slice() }, to: copyAddress(to) });
      if (this.coreOut.length > 8) this.coreOut.shift();
    } else if (f.type === 'path_response') {
      this.onPathResponse(f.data);
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

  private finalize(): void {
    if (this.finished) return;
    this.finished = true;
    this.stateValue = 'closed';
    this.probe = null;
    this.coreOut.length = 0;
    this.routed = null;
    this.host.onFinished(this);
  }
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
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
