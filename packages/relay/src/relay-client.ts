/**
 * The client side of one hop (one relay), sans-IO. The host owns the hop session (an ordinary
 * srmudp session with the relay) and tells this object when it is up or down; control messages
 * travel in that session (reliable, ordered, whole), channel datagrams beside it on the same
 * carrier (UDP socket or WebSocket).
 *
 * Requests: {@link RelayClient.connect} (a circuit to a target, with a voucher for connect-via),
 * answers to INCOMING ({@link RelayClient.accept} / {@link RelayClient.reject}, the host decides),
 * {@link RelayClient.close}. Bindings are refreshed automatically while a channel carries traffic
 * and left to expire when idle (TURN's rule that data alone never keeps a binding alive on the
 * relay, applied by the one side that knows whether the channel is still wanted).
 *
 * Data: {@link RelayClient.wrap} gives the datagram to send to the relay for an end-to-end packet;
 * {@link RelayClient.unwrap} gives back the end-to-end packet and the circuit/peer it came from.
 *
 * This file holds the client's requests and its handling of the relay's control messages; the
 * bindings (their table, the data through them, when each is refreshed or given up) are
 * client-bindings.ts's, an INCOMING's voucher check relay-admission.ts's, the
 * counters relay-metrics.ts's; codecs, limits and vouchers live in their own files.
 */
import { equalBytes } from '@srmudp/wire';
import { checkBytes, checkNow } from './bytes.js';
import { type Channel, type ChannelInfo, ClientBindings } from './client-bindings.js';
import {
  type BoundMessage,
  type ControlMessage,
  decodeControl,
  encodeControl,
  type IncomingMessage,
  type RelayStatus,
} from './control.js';
import { Deque } from './deque.js';
import { RelayError } from './errors.js';
import { type CircuitLimits, checkCircuitLimits } from './limits.js';
import type { CloseReason, RejectReason } from './reasons.js';
import { checkIncomingVoucher } from './relay-admission.js';
import {
  copyRelayClientStats,
  newRelayClientStats,
  type RelayClientDropReason,
  type RelayClientStats,
} from './relay-metrics.js';
import { type Voucher, VoucherNonceCache } from './voucher.js';

export interface RelayClientConfig {
  /** the relay's peer id (INCOMING vouchers must name it) */
  readonly relayId: Uint8Array;
  /** our own peer id (INCOMING vouchers must target it) */
  readonly self: Uint8Array;
  /** a request without an answer fails with `timeout` after this; default 15,000 */
  readonly requestTimeoutMs?: number;
  /** an INCOMING the host did not decide is rejected `timeout` after this; default 10,000 */
  readonly incomingTimeoutMs?: number;
  /** default 64 */
  readonly maxPendingRequests?: number;
  /** INCOMINGs waiting for the host at once (more are rejected `resource_limit`); default 16 */
  readonly maxPendingIncoming?: number;
  /** voucher checks of INCOMING (defaults as the relay's: 10 min, 30 s, 4,096 nonces) */
  readonly voucherMaxTtlMs?: number;
  readonly clockSkewMs?: number;
  readonly maxVoucherNonces?: number;
  /** Unix ms = now + this; default 0 */
  readonly unixTimeOffsetMs?: number;
}

/** Why a request failed: the relay's or target's reason, or what happened to the hop meanwhile. */
export type RequestFailure = RejectReason | 'hop_down' | 'hop_reset' | 'relay_restarted';
/** Why a channel closed: the relay's reason, or what happened to the hop. */
export type ChannelCloseReason = CloseReason | 'hop_down' | 'hop_reset' | 'relay_restarted';

/** The relay's limits for this client, from its greeting. */
export interface AnnouncedLimits {
  readonly rateBytesPerSec: number;
  readonly burstBytes: number;
  readonly maxCircuits: number;
  readonly maxMessageSize: number;
}

export type RelayClientEvent =
  /** the relay greeted this hop session; `restarted`: a different relay instance than last time */
  | {
      readonly type: 'ready';
      readonly instance: Uint8Array;
      readonly restarted: boolean;
      readonly limits: AnnouncedLimits;
    }
  /** someone asks for a circuit to us: answer with accept() or reject() */
  | {
      readonly type: 'incoming';
      readonly incomingId: number;
      readonly requester: Uint8Array;
      /** verified (signature, names, expiry, replay) when present */
      readonly voucher: Voucher | null;
      readonly limits: CircuitLimits;
      /** the requester's first end-to-end packet, if it sent one */
      readonly firstPacket: Uint8Array | null;
    }
  | {
      readonly type: 'bound';
      readonly requestId: number;
      readonly channel: number;
      readonly peer: Uint8Array;
      readonly role: 'requester' | 'target';
      readonly limits: CircuitLimits;
      readonly expiresAt: number;
    }
  | {
      readonly type: 'rejected';
      readonly requestId: number;
      readonly kind: 'connect' | 'accept';
      readonly peer: Uint8Array;
      readonly reason: RequestFailure;
    }
  | {
      readonly type: 'closed';
      readonly channel: number;
      readonly peer: Uint8Array;
      readonly reason: ChannelCloseReason;
    }
  /** the relay drops our channel data: pace to this */
  | { readonly type: 'rate_limited'; readonly rateBytesPerSec: number; readonly burstBytes: number }
  /** our key opened another hop session with this relay; this one is replaced */
  | { readonly type: 'same_key_elsewhere' }
  /** the relay is going away: reconnect after `reconnectInMs`, trying for `tryForMs` */
  | { readonly type: 'restarting'; readonly reconnectInMs: number; readonly tryForMs: number }
  /** the relay will not serve us */
  | { readonly type: 'denied'; readonly reason: RejectReason };

interface Request {
  readonly id: number;
  readonly kind: 'connect' | 'accept' | 'refresh';
  readonly peer: Uint8Array;
  readonly channel: number;
  readonly deadline: number;
  readonly bytes: Uint8Array;
  sent: boolean;
}

interface Incoming {
  readonly requester: Uint8Array;
  readonly deadline: number;
}

export class RelayClient {
  readonly relayId: Uint8Array;
  readonly self: Uint8Array;
  readonly #requestTimeout: number;
  readonly #incomingTimeout: number;
  readonly #maxRequests: number;
  readonly #maxIncoming: number;
  readonly #voucherTtl: number;
  readonly #skew: number;
  readonly #nonces: VoucherNonceCache;
  #unixOffset: number;
  #up = false;
  #ready = false;
  #instance: Uint8Array | null = null;
  #epoch = -1;
  #limits: AnnouncedLimits | null = null;
  #nextRequest = 1;
  #lastIncoming = 0;
  readonly #requests = new Map<number, Request>();
  readonly #incoming = new Map<number, Incoming>();
  readonly #channels: ClientBindings;
  readonly #out = new Deque<Uint8Array>();
  readonly #events = new Deque<RelayClientEvent>();
  readonly #stats: RelayClientStats;

  constructor(config: RelayClientConfig) {
    checkBytes('relayId', config?.relayId, 32);
    checkBytes('self', config.self, 32);
    if (equalBytes(config.relayId, config.self))
      throw new RangeError('"relayId" and "self" are the same key');
    this.relayId = config.relayId.slice();
    this.self = config.self.slice();
    this.#requestTimeout = positive('requestTimeoutMs', config.requestTimeoutMs ?? 15_000);
    this.#incomingTimeout = positive('incomingTimeoutMs', config.incomingTimeoutMs ?? 10_000);
    this.#maxRequests = positive('maxPendingRequests', config.maxPendingRequests ?? 64);
    this.#maxIncoming = positive('maxPendingIncoming', config.maxPendingIncoming ?? 16);
    this.#voucherTtl = positive('voucherMaxTtlMs', config.voucherMaxTtlMs ?? 600_000);
    this.#skew = config.clockSkewMs ?? 30_000;
    if (!Number.isFinite(this.#skew) || this.#skew < 0) throw new RangeError('"clockSkewMs" expected >= 0');
    this.#nonces = new VoucherNonceCache(positive('maxVoucherNonces', config.maxVoucherNonces ?? 4096));
    this.#unixOffset = config.unixTimeOffsetMs ?? 0;
    this.#stats = newRelayClientStats();
    this.#channels = new ClientBindings(this.#stats);
  }

  /** True once the relay greeted the current hop session (requests made before wait for it). */
  get isReady(): boolean {
    return this.#ready;
  }

  /** The relay's limits for us (from its greeting), or null before it. */
  get announcedLimits(): AnnouncedLimits | null {
    return this.#limits;
  }

  setUnixTimeOffset(offsetMs: number): void {
    if (!Number.isFinite(offsetMs)) throw new TypeError(`"offsetMs" expected finite number, got ${offsetMs}`);
    this.#unixOffset = offsetMs;
  }

  // ---- hop session ----------------------------------------------------------------------------

  /** The hop session is established. Requests are sent once the relay's greeting arrives. */
  hopUp(now: number): void {
    checkNow(now);
    this.#up = true;
  }

  /** The hop session ended: every channel is closed and every request fails with `hop_down`. */
  hopDown(now: number): void {
    checkNow(now);
    this.#up = false;
    this.#ready = false;
    this.#out.clear();
    this.#forget('hop_down', true);
  }

  // ---- requests -------------------------------------------------------------------------------

  /**
   * Asks the relay for a circuit to `target`. Returns the request id; the answer is a `bound` or
   * `rejected` event with it. RelayError `RELAY_HOP_DOWN` when the hop is down.
   */
  connect(
    now: number,
    target: Uint8Array,
    opts: { limits?: Partial<CircuitLimits>; voucher?: Uint8Array; firstPacket?: Uint8Array } = {},
  ): number {
    checkNow(now);
    checkBytes('target', target, 32);
    if (equalBytes(target, this.self)) throw new RangeError('cannot open a circuit to our own key');
    if (opts.voucher !== undefined) checkBytes('voucher', opts.voucher);
    if (opts.firstPacket !== undefined) {
      checkBytes('firstPacket', opts.firstPacket);
      if (opts.firstPacket.length === 0 || (opts.firstPacket[0]! & 0xc0) !== 0x80) {
        throw new RangeError('"firstPacket" expected an srmudp packet (first byte 0x80-0xbf)');
      }
    }
    const limits = checkCircuitLimits('limits', opts.limits);
    const id = this.#newRequestId();
    const bytes = encodeControl({
      type: 'connect',
      requestId: id,
      target,
      limits,
      voucher: opts.voucher ?? null,
      firstPacket: opts.firstPacket ?? null,
    });
    this.#request(now, { id, kind: 'connect', peer: target.slice(), channel: 0, bytes });
    return id;
  }

  /**
   * Accepts INCOMING `incomingId` (optionally capping the circuit). Returns the request id of the
   * ACCEPT; its answer is a `bound` (role `target`) or `rejected` event.
   */
  accept(now: number, incomingId: number, opts: { limits?: Partial<CircuitLimits> } = {}): number {
    checkNow(now);
    const inc = this.#incoming.get(incomingId);
    if (!inc) throw new RelayError('RELAY_UNKNOWN_INCOMING', `no incoming request ${incomingId} is waiting`);
    const limits = checkCircuitLimits('limits', opts.limits);
    const id = this.#newRequestId();
    this.#incoming.delete(incomingId);
    const bytes = encodeControl({ type: 'accept', requestId: id, incomingId, limits });
    this.#request(now, { id, kind: 'accept', peer: inc.requester, channel: 0, bytes });
    return id;
  }

  /** Turns down INCOMING `incomingId` (default reason `refused`). */
  reject(now: number, incomingId: number, reason: RejectReason = 'refused'): void {
    checkNow(now);
    if (!this.#incoming.delete(incomingId)) {
      throw new RelayError('RELAY_UNKNOWN_INCOMING', `no incoming request ${incomingId} is waiting`);
    }
    this.#send(encodeControl({ type: 'reject', requestId: incomingId, reason }));
  }

  /** Closes our circuit on `channel` (the relay tells the other end). No-op for an unknown channel. */
  close(now: number, channel: number): void {
    checkNow(now);
    const ch = this.#channels.get(channel);
    if (!ch) return;
    this.#channels.delete(channel);
    if (this.#ready) this.#send(encodeControl({ type: 'close', requestId: 0, channel, reason: 'normal' }));
  }

  /** Refreshes a binding now (automatic while the channel carries traffic; use this to keep an idle one). */
  refresh(now: number, channel: number): void {
    checkNow(now);
    const ch = this.#channels.get(channel);
    if (!ch || ch.refreshing || !this.#ready) return;
    this.#sendRefresh(now, ch);
  }

  /** The circuits bound now. */
  channels(): ChannelInfo[] {
    return this.#channels.list();
  }

  /** Whether `channel` is one of our circuits now (cheap: for demultiplexing). */
  hasChannel(channel: number): boolean {
    return this.#channels.has(channel);
  }

  /** The channel of our circuit to `peer`, or -1. */
  channelOf(peer: Uint8Array): number {
    return this.#channels.channelOf(peer);
  }

  // ---- data -----------------------------------------------------------------------------------

  /**
   * The datagram that carries end-to-end `packet` over `channel` (send it to the relay on the hop
   * carrier), or null when the channel is not bound (closed or expired meanwhile).
   */
  wrap(_now: number, channel: number, packet: Uint8Array): Uint8Array | null {
    return this.#channels.wrap(channel, packet);
  }

  /**
   * A channel datagram that came from the relay: the end-to-end packet (a view into `bytes`),
   * with the channel and the peer at the other end of it; null when dropped (counted).
   */
  unwrap(_now: number, bytes: Uint8Array): { channel: number; peer: Uint8Array; packet: Uint8Array } | null {
    return this.#channels.unwrap(bytes);
  }

  // ---- control input --------------------------------------------------------------------------

  /** A control message from the relay (from the hop session). Never throws on the bytes. */
  handleControl(now: number, bytes: Uint8Array): void {
    checkNow(now);
    this.#stats.controlReceived++;
    const drop = this.#onControl(now, bytes);
    if (drop) this.#stats.dropped[drop]++;
  }

  #onControl(now: number, bytes: Uint8Array): RelayClientDropReason | null {
    let msg: ControlMessage;
    try {
      msg = decodeControl(bytes);
    } catch {
      return 'control_malformed';
    }
    switch (msg.type) {
      case 'status':
        return this.#onStatus(msg.status);
      case 'incoming':
        return this.#onIncoming(now, msg);
      case 'bound':
        return this.#onBound(now, msg);
      case 'reject': {
        const req = this.#requests.get(msg.requestId);
        if (!req?.sent) return 'control_unexpected';
        this.#requests.delete(req.id);
        if (req.kind === 'refresh') this.#closeChannel(req.channel, 'unknown_channel');
        else this.#fail(req, msg.reason);
        return null;
      }
      case 'close':
        if (!this.#channels.has(msg.channel)) return 'control_duplicate';
        this.#closeChannel(msg.channel, msg.reason);
        return null;
      default:
        return 'control_unexpected';
    }
  }

  #onBound(now: number, msg: BoundMessage): RelayClientDropReason | null {
    const req = this.#requests.get(msg.requestId);
    if (!req?.sent) return 'control_unexpected';
    this.#requests.delete(req.id);
    if (req.kind === 'refresh') {
      const ch = this.#channels.get(req.channel);
      if (!ch || msg.channel !== req.channel) return 'control_unexpected';
      this.#channels.refreshed(now, ch, msg.expiresInMs);
      return null;
    }
    if (!equalBytes(msg.peer, req.peer) || this.#channels.has(msg.channel)) {
      // a relay that binds us to someone else (or reuses a live channel) is broken or hostile:
      // give the circuit back and fail the request
      this.#send(encodeControl({ type: 'close', requestId: 0, channel: msg.channel, reason: 'normal' }));
      this.#fail(req, 'malformed');
      return 'control_unexpected';
    }
    const role = req.kind === 'connect' ? 'requester' : 'target';
    const { expiresAt } = this.#channels.bind(
      now,
      { channel: msg.channel, peer: req.peer, role, limits: msg.limits },
      msg.expiresInMs,
    );
    this.#stats.bound++;
    this.#events.push({
      type: 'bound',
      requestId: req.id,
      channel: msg.channel,
      peer: req.peer,
      role,
      limits: msg.limits,
      expiresAt,
    });
    return null;
  }

  #onStatus(s: RelayStatus): RelayClientDropReason | null {
    switch (s.code) {
      case 'healthy': {
        const same =
          this.#instance !== null && equalBytes(this.#instance, s.instance) && this.#epoch === s.epoch;
        if (same && this.#ready) return 'control_duplicate';
        const restarted = this.#instance !== null && !equalBytes(this.#instance, s.instance);
        // A new greeting starts a new hop epoch at the relay: whatever it bound before is gone.
        // (The same greeting again after our hopDown/hopUp: the relay kept the session; we
        // already gave up our channels, so there is nothing more to forget.)
        if (!same) this.#forget(restarted ? 'relay_restarted' : 'hop_reset', false);
        this.#instance = s.instance.slice();
        this.#epoch = s.epoch;
        this.#limits = {
          rateBytesPerSec: s.rateBytesPerSec,
          burstBytes: s.burstBytes,
          maxCircuits: s.maxCircuits,
          maxMessageSize: s.maxMessageSize,
        };
        this.#up = true;
        this.#ready = true;
        this.#events.push({ type: 'ready', instance: this.#instance, restarted, limits: this.#limits });
        for (const req of this.#requests.values()) {
          if (!req.sent) {
            req.sent = true;
            this.#send(req.bytes);
          }
        }
        break;
      }
      case 'rate_limited':
        this.#events.push({
          type: 'rate_limited',
          rateBytesPerSec: s.rateBytesPerSec,
          burstBytes: s.burstBytes,
        });
        break;
      case 'same_key_elsewhere':
        this.#events.push({ type: 'same_key_elsewhere' });
        break;
      case 'restarting':
        this.#events.push({ type: 'restarting', reconnectInMs: s.reconnectInMs, tryForMs: s.tryForMs });
        break;
      case 'denied':
        this.#ready = false;
        this.#events.push({ type: 'denied', reason: s.reason });
        break;
    }
    return null;
  }

  #onIncoming(now: number, m: IncomingMessage): RelayClientDropReason | null {
    if (m.requestId <= this.#lastIncoming) return 'control_duplicate';
    this.#lastIncoming = m.requestId;
    if (this.#incoming.size >= this.#maxIncoming) {
      this.#send(encodeControl({ type: 'reject', requestId: m.requestId, reason: 'resource_limit' }));
      return 'incoming_full';
    }
    const voucher = checkIncomingVoucher(
      {
        relayId: this.relayId,
        self: this.self,
        maxTtlMs: this.#voucherTtl,
        clockSkewMs: this.#skew,
        nonces: this.#nonces,
      },
      now + this.#unixOffset,
      m,
    );
    if (typeof voucher === 'string') {
      this.#send(encodeControl({ type: 'reject', requestId: m.requestId, reason: voucher }));
      return 'incoming_voucher';
    }
    const requester = m.requester.slice();
    this.#incoming.set(m.requestId, { requester, deadline: now + this.#incomingTimeout });
    this.#events.push({
      type: 'incoming',
      incomingId: m.requestId,
      requester,
      voucher,
      limits: m.limits,
      firstPacket: m.firstPacket ? m.firstPacket.slice() : null,
    });
    return null;
  }

  // ---- timers and outputs ---------------------------------------------------------------------

  pollTimeout(): number | null {
    let t = Number.POSITIVE_INFINITY;
    for (const r of this.#requests.values()) if (r.deadline < t) t = r.deadline;
    for (const i of this.#incoming.values()) if (i.deadline < t) t = i.deadline;
    t = Math.min(t, this.#channels.nextTimeout(this.#ready));
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  handleTimeout(now: number): void {
    checkNow(now);
    for (const r of [...this.#requests.values()]) {
      if (r.deadline > now) continue;
      this.#requests.delete(r.id);
      if (r.kind === 'refresh') {
        const ch = this.#channels.get(r.channel);
        if (ch) ch.refreshing = false;
      } else this.#fail(r, 'timeout');
    }
    for (const [id, inc] of [...this.#incoming]) {
      if (inc.deadline > now) continue;
      this.#incoming.delete(id);
      if (this.#ready) this.#send(encodeControl({ type: 'reject', requestId: id, reason: 'timeout' }));
    }
    this.#channels.due(
      now,
      this.#ready,
      (c) => this.#closeChannel(c.channel, 'expired'),
      (c) => this.#sendRefresh(now, c),
    );
  }

  /** Next control message to send in the hop session (reliably, in order, whole). */
  pollTransmit(_now: number): Uint8Array | null {
    return this.#out.shift() ?? null;
  }

  pollEvent(): RelayClientEvent | null {
    return this.#events.shift() ?? null;
  }

  stats(): RelayClientStats {
    return copyRelayClientStats(this.#stats);
  }

  // ---- internals ------------------------------------------------------------------------------

  #newRequestId(): number {
    if (!this.#up) throw new RelayError('RELAY_HOP_DOWN', 'the hop session to the relay is down');
    if (this.#requests.size >= this.#maxRequests) {
      throw new RelayError(
        'RELAY_TOO_MANY_REQUESTS',
        `${this.#maxRequests} requests are waiting for an answer`,
      );
    }
    return this.#nextRequest++;
  }

  #request(now: number, r: Omit<Request, 'deadline' | 'sent'>): void {
    const req: Request = { ...r, deadline: now + this.#requestTimeout, sent: this.#ready };
    this.#requests.set(req.id, req);
    this.#stats.requests++;
    if (req.sent) this.#send(req.bytes);
  }

  #sendRefresh(now: number, ch: Channel): void {
    if (this.#requests.size >= this.#maxRequests) return;
    ch.refreshing = true;
    const id = this.#nextRequest++;
    this.#request(now, {
      id,
      kind: 'refresh',
      peer: ch.peer,
      channel: ch.channel,
      bytes: encodeControl({ type: 'refresh', requestId: id, channel: ch.channel }),
    });
  }

  #send(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#stats.controlSent++;
  }

  #fail(req: Request, reason: RequestFailure): void {
    if (req.kind === 'refresh') return;
    this.#stats.rejected++;
    this.#events.push({ type: 'rejected', requestId: req.id, kind: req.kind, peer: req.peer, reason });
  }

  #closeChannel(channel: number, reason: ChannelCloseReason): void {
    const ch = this.#channels.get(channel);
    if (!ch) return;
    this.#channels.delete(channel);
    this.#stats.closed++;
    this.#events.push({ type: 'closed', channel, peer: ch.peer, reason });
  }

  /**
   * The relay no longer knows what we had: close every channel, fail requests already sent (or
   * all, when the hop is down), drop waiting INCOMINGs.
   */
  #forget(reason: 'hop_down' | 'hop_reset' | 'relay_restarted', all: boolean): void {
    for (const ch of this.#channels.numbers()) this.#closeChannel(ch, reason);
    for (const r of [...this.#requests.values()]) {
      if (!all && !r.sent) continue;
      this.#requests.delete(r.id);
      this.#fail(r, reason);
    }
    this.#incoming.clear();
    this.#lastIncoming = 0;
  }
}

function positive(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new RangeError(`"${name}" expected positive integer, got ${v}`);
  return v;
}
