/**
 * The relay side of the relay protocol, sans-IO. One instance serves a gate, a connect-via
 * participant or a relay server; the role is its {@link AdmissionPolicy}.
 *
 * Inputs: {@link RelayService.clientUp} / {@link RelayService.clientMoved} /
 * {@link RelayService.clientDown} (the host's hop sessions), {@link RelayService.handleControl}
 * (a control message that arrived in a client's hop session), {@link RelayService.handleChannelData}
 * (a datagram of 0x40-0x4f from a hop), {@link RelayService.handleTimeout}. Outputs:
 * {@link RelayService.pollTransmit} (control bytes for a client's hop session, or a channel
 * datagram for a hop), {@link RelayService.pollTimeout}, {@link RelayService.pollEvent}.
 *
 * The one rule that matters most (TURN's CVE-2020-26262): a datagram only ever leaves towards
 * the hop of a client that is up (authenticated by the host's hop session), on a channel the
 * relay bound on that hop for a circuit both ends agreed to. There is no way to name an address.
 *
 * This file holds the rules that change the relay's state (hop sessions, the control plane,
 * timers, shutdown). What happens to a channel datagram (forwarding, the send queues served
 * round-robin) is relay-data-plane.ts's; the types shared with the host relay-service-api.ts's.
 * The state itself (clients, circuits, channels, pending requests, send queues) is
 * circuit-table.ts's; who is admitted is relay-admission.ts's (with policy.ts, limits.ts and
 * voucher.ts); the counters are relay-metrics.ts's; the control codec control.ts's.
 */
import { toHex } from '@srmudp/wire';
import { checkBytes, checkNow, type RandomBytes } from './bytes.js';
import {
  ANSWER_CACHE,
  allocChannel,
  CHANNEL_SPACE,
  type Circuit,
  type ClientState,
  newClient,
  openCircuit,
  otherEnd,
  type Pending,
  randomChannelStart,
  type Timer,
} from './circuit-table.js';
import {
  type AcceptMessage,
  type ConnectMessage,
  type ControlMessage,
  ControlType,
  decodeControl,
  encodeControl,
  INSTANCE_ID_LENGTH,
  peekControlHeader,
  type RelayStatus,
} from './control.js';
import { Deque } from './deque.js';
import { type RelayLimits, resolveRelayLimits, tighterLimits } from './limits.js';
import type { AdmissionPolicy } from './policy.js';
import type { CloseReason, RejectReason } from './reasons.js';
import { admitClient, checkConnect } from './relay-admission.js';
import { RelayDataPlane } from './relay-data-plane.js';
import { copyRelayStats, newRelayStats, type RelayDropReason, type RelayStats } from './relay-metrics.js';
import type { ClientUpInfo, RelayEvent, RelayServiceConfig, RelayTransmit } from './relay-service-api.js';
import { LiveTimerHeap } from './timer-heap.js';
import { TokenBucket } from './token-bucket.js';
import { VoucherNonceCache } from './voucher.js';

export class RelayService<H = unknown> {
  readonly relayId: Uint8Array;
  /** random per instance: a client that sees a new one knows the relay forgot its circuits */
  readonly instance: Uint8Array;
  readonly limits: RelayLimits;
  readonly #policy: AdmissionPolicy;
  readonly #random: RandomBytes;
  readonly #hopKey: (hop: H) => unknown;
  #unixOffset: number;
  readonly #maxEvents: number;
  readonly #byId = new Map<string, ClientState<H>>();
  readonly #byHop = new Map<unknown, ClientState<H>>();
  readonly #pending = new Map<number, Pending<H>>();
  readonly #control = new Deque<RelayTransmit<H>>();
  readonly #data: RelayDataPlane<H>;
  readonly #events = new Deque<RelayEvent>();
  readonly #timers: LiveTimerHeap<Timer<H>>;
  readonly #nonces: VoucherNonceCache;
  #circuits = 0;
  #nextCircuit = 1;
  #nextIncoming = 1;
  #epoch = 0;
  #shutdown = false;
  readonly #stats: RelayStats;

  constructor(config: RelayServiceConfig<H>) {
    checkBytes('relayId', config?.relayId, 32);
    if (typeof config.random !== 'function')
      throw new TypeError('"random" expected function (n) => Uint8Array');
    const p = config.policy;
    if (!p || typeof p.admitClient !== 'function' || typeof p.admitCircuit !== 'function') {
      throw new TypeError('"policy" expected an AdmissionPolicy (openPolicy(), groupPolicy(…), …)');
    }
    this.limits = resolveRelayLimits(config.limits);
    if (this.limits.maxCircuitsPerClient > CHANNEL_SPACE) {
      throw new RangeError(`"limits.maxCircuitsPerClient" expected at most ${CHANNEL_SPACE}`);
    }
    this.relayId = config.relayId.slice();
    this.#policy = p;
    this.#hopKey = config.hopKey ?? ((h: H) => h);
    this.#unixOffset = config.unixTimeOffsetMs ?? 0;
    this.#maxEvents = config.maxEvents ?? 10_000;
    this.#random = config.random;
    const instance = config.random(INSTANCE_ID_LENGTH);
    checkBytes('random(8)', instance, INSTANCE_ID_LENGTH);
    this.instance = instance.slice();
    this.#nonces = new VoucherNonceCache(this.limits.maxVoucherNonces);
    this.#timers = new LiveTimerHeap((e) => this.#live(e.item, e.at));
    this.#stats = newRelayStats();
    this.#data = new RelayDataPlane({
      limits: this.limits,
      stats: this.#stats,
      clientOnHop: (hop) => this.#byHop.get(this.#hopKey(hop)),
      send: (c, msg) => this.#send(c, msg),
      closeCircuit: (circuit, reason) => this.#closeCircuit(circuit, reason, 'both'),
      drop: (reason) => this.#drop(reason),
    });
  }

  /** The host's wall clock moved relative to `now` (Unix ms = now + offset). */
  setUnixTimeOffset(offsetMs: number): void {
    if (!Number.isFinite(offsetMs)) throw new TypeError(`"offsetMs" expected finite number, got ${offsetMs}`);
    this.#unixOffset = offsetMs;
  }

  // ---- hop sessions ---------------------------------------------------------------------------

  /**
   * A hop session with `key` is established (the host authenticated the key) on `hop`. The
   * client gets a STATUS: `healthy` (instance, epoch, its limits) or `denied`. A second session
   * of a key that is already up on another hop replaces it: the old hop gets STATUS
   * `same_key_elsewhere` and its circuits close with `replaced`. Same key and hop again: the
   * greeting is sent again (same epoch), nothing else changes.
   */
  clientUp(now: number, key: Uint8Array, hop: H, info: ClientUpInfo = {}): void {
    checkNow(now);
    checkBytes('key', key, 32);
    if (this.#shutdown) return;
    const id = toHex(key);
    const hopId = this.#hopKey(hop);
    const existing = this.#byId.get(id);
    if (existing) {
      if (existing.hopId === hopId) {
        if (existing.greeting) this.#pushControl(existing, existing.greeting);
        return;
      }
      this.#send(existing, { type: 'status', requestId: 0, status: { code: 'same_key_elsewhere' } });
      this.#remove(now, existing, 'replaced');
    }
    const other = this.#byHop.get(hopId);
    if (other) this.#remove(now, other, 'peer_gone'); // a hop belongs to one session
    const full = this.#byId.size >= this.limits.maxClients;
    const { admitted, overrides } = full
      ? { admitted: false, overrides: {} }
      : admitClient(this.#policy, key);
    const c = newClient<H>({
      key: key.slice(),
      id,
      hop,
      hopId,
      relayed: info.relayed === true,
      admitted,
      bucket: new TokenBucket(
        overrides.rateBytesPerSec ?? this.limits.rateBytesPerSec,
        overrides.burstBytes ?? this.limits.burstBytes,
        now,
      ),
      maxCircuits: Math.min(overrides.maxCircuits ?? this.limits.maxCircuitsPerClient, CHANNEL_SPACE),
      // a random start per client: two peers that are relays for each other allocate channels on
      // the same connection from different places (core tells the two directions apart by the
      // channels its client holds)
      nextChannel: randomChannelStart(this.#random),
    });
    if (full) {
      // not registered: the host should close the session after sending this
      this.#send(c, { type: 'status', requestId: 0, status: { code: 'denied', reason: 'resource_limit' } });
      return;
    }
    this.#byId.set(id, c);
    this.#byHop.set(hopId, c);
    this.#stats.clients = this.#byId.size;
    const status: RelayStatus = c.admitted
      ? {
          code: 'healthy',
          instance: this.instance,
          epoch: ++this.#epoch,
          rateBytesPerSec: c.bucket.rate,
          burstBytes: c.bucket.burst,
          maxCircuits: c.maxCircuits,
          maxMessageSize: this.limits.maxMessageSize,
        }
      : { code: 'denied', reason: 'permission_denied' };
    c.greeting = this.#send(c, { type: 'status', requestId: 0, status });
    this.#emit({ type: 'client_up', client: c.key, admitted: c.admitted });
  }

  /** The client's hop session migrated to a new address (validated by the host): same circuits. */
  clientMoved(now: number, key: Uint8Array, hop: H): void {
    checkNow(now);
    checkBytes('key', key, 32);
    const c = this.#byId.get(toHex(key));
    if (!c) return;
    const hopId = this.#hopKey(hop);
    if (hopId === c.hopId) return;
    const other = this.#byHop.get(hopId);
    if (other) this.#remove(now, other, 'peer_gone');
    this.#byHop.delete(c.hopId);
    c.hop = hop;
    c.hopId = hopId;
    this.#byHop.set(hopId, c);
  }

  /**
   * The hop session with `key` ended. Its circuits close (the other ends get CLOSE `peer_gone`);
   * requests waiting for it as a target are rejected `target_unavailable`. When `hop` is given,
   * only a session on that hop is removed (a replaced session going down must not remove its
   * successor).
   */
  clientDown(now: number, key: Uint8Array, hop?: H): void {
    checkNow(now);
    checkBytes('key', key, 32);
    const c = this.#byId.get(toHex(key));
    if (!c) return;
    if (hop !== undefined && this.#hopKey(hop) !== c.hopId) return;
    this.#remove(now, c, 'peer_gone');
  }

  /**
   * The carrier of `hop` cannot take more now (a WebSocket's bufferedAmount is high) or can
   * again. While it cannot, its datagrams wait in the drop-oldest queues.
   */
  setHopWritable(hop: H, writable: boolean): void {
    const c = this.#byHop.get(this.#hopKey(hop));
    if (!c) return;
    c.writable = writable;
    if (writable) this.#data.markReady(c);
  }

  /**
   * How long a stream carrier (WebSocket) should pause reading from `hop` so that the client's
   * token bucket is respected by back-pressure instead of drops (iroh's approach). 0 = read now.
   */
  readDelay(now: number, hop: H): number {
    const c = this.#byHop.get(this.#hopKey(hop));
    return c ? c.bucket.delay(now) : 0;
  }

  // ---- control plane --------------------------------------------------------------------------

  /** A control message `key` sent in its hop session. Never throws on the bytes. */
  handleControl(now: number, key: Uint8Array, bytes: Uint8Array): void {
    checkNow(now);
    const drop = this.#onControl(now, key, bytes);
    if (drop) this.#drop(drop);
  }

  #onControl(now: number, key: Uint8Array, bytes: Uint8Array): RelayDropReason | null {
    if (this.#shutdown) return 'shutdown';
    const c = key instanceof Uint8Array && key.length === 32 ? this.#byId.get(toHex(key)) : undefined;
    if (!c) return 'control_unknown_client';
    this.#stats.controlReceived++;
    if (bytes.length > this.limits.maxMessageSize) {
      this.#rejectUndecodable(c, bytes, 'resource_limit');
      return 'control_too_large';
    }
    let msg: ControlMessage;
    try {
      msg = decodeControl(bytes);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const unsupported = code === 'UNKNOWN_TYPE' || code === 'UNSUPPORTED_VERSION';
      this.#rejectUndecodable(c, bytes, unsupported ? 'unsupported' : 'malformed');
      return 'control_malformed';
    }
    switch (msg.type) {
      case 'connect':
      case 'accept':
      case 'refresh': {
        if (msg.requestId === 0 || msg.requestId <= c.lastRequestId) {
          const answer = c.answers.get(msg.requestId);
          if (answer) this.#pushControl(c, answer);
          return 'control_duplicate';
        }
        c.lastRequestId = msg.requestId;
        if (msg.type === 'accept') return this.#onAccept(now, c, msg);
        if (msg.type === 'refresh') return this.#onRefresh(now, c, msg.requestId, msg.channel);
        this.#onConnect(now, c, msg);
        return null;
      }
      case 'reject':
        return this.#onTargetReject(c, msg.requestId, msg.reason);
      case 'close': {
        const end = c.channels.get(msg.channel);
        if (!end) return 'control_duplicate';
        this.#closeCircuit(end.circuit, 'normal', end === end.circuit.a ? 'b' : 'a');
        return null;
      }
      default:
        return 'control_unexpected';
    }
  }

  /** A request whose body could not be decoded still gets an answer if its id is readable. */
  #rejectUndecodable(c: ClientState<H>, bytes: Uint8Array, reason: RejectReason): void {
    const h = peekControlHeader(bytes);
    if (!h || h.requestId === 0 || h.requestId <= c.lastRequestId) return;
    if (h.type === ControlType.Reject || h.type === ControlType.Close) return; // never answer an answer
    c.lastRequestId = h.requestId;
    this.#answer(c, h.requestId, { type: 'reject', requestId: h.requestId, reason });
  }

  #onConnect(now: number, c: ClientState<H>, m: ConnectMessage): void {
    const checked = checkConnect(
      { relayId: this.relayId, policy: this.#policy, limits: this.limits, nonces: this.#nonces },
      now + this.#unixOffset,
      this.#circuits + this.#pending.size,
      c,
      this.#byId.get(toHex(m.target)),
      m,
    );
    if (typeof checked === 'string') {
      this.#reject(c, m.requestId, m.target, checked);
      return;
    }
    const { target: t, voucher, admission } = checked;
    let limits = tighterLimits(this.limits.circuit, m.limits);
    limits = tighterLimits(limits, voucher?.limits);
    limits = tighterLimits(limits, admission.limits);
    const p: Pending<H> = {
      id: this.#nextIncoming++,
      requester: c,
      requesterRequestId: m.requestId,
      target: t,
      limits,
      deadline: now + this.limits.incomingTimeoutMs,
      voucher: voucher !== null,
    };
    this.#pending.set(p.id, p);
    c.pendingOut.add(p);
    t.pendingIn.set(p.id, p);
    this.#stats.pending = this.#pending.size;
    this.#timers.push(p.deadline, { kind: 'pending', pending: p });
    this.#send(t, {
      type: 'incoming',
      requestId: p.id,
      requester: c.key,
      limits,
      voucher: m.voucher ? m.voucher.slice() : null,
      firstPacket: m.firstPacket ? m.firstPacket.slice() : null,
    });
  }

  #onAccept(now: number, t: ClientState<H>, m: AcceptMessage): RelayDropReason | null {
    const p = this.#pending.get(m.incomingId);
    if (!p || p.target !== t) {
      // too late (timed out, requester gone) or never asked: tell the target it is off
      this.#answer(t, m.requestId, { type: 'reject', requestId: m.requestId, reason: 'unexpected' });
      return 'control_unexpected';
    }
    this.#unpend(p);
    const c = p.requester;
    const chA = allocChannel(c);
    const chB = chA < 0 ? -1 : allocChannel(t);
    if (chA < 0 || chB < 0) {
      this.#reject(c, p.requesterRequestId, t.key, 'resource_limit');
      this.#answer(t, m.requestId, { type: 'reject', requestId: m.requestId, reason: 'resource_limit' });
      return null;
    }
    const limits = tighterLimits(p.limits, m.limits);
    const deadline = limits.durationMs > 0 ? now + limits.durationMs : Number.POSITIVE_INFINITY;
    const expiresAt = Math.min(now + this.limits.bindingLifetimeMs, deadline);
    const circuit = openCircuit(
      { id: this.#nextCircuit++, limits, deadline, voucher: p.voucher },
      { client: c, channel: chA },
      { client: t, channel: chB },
      expiresAt,
    );
    this.#circuits++;
    this.#stats.circuits = this.#circuits;
    this.#stats.circuitsOpened++;
    this.#timers.push(expiresAt, { kind: 'end', end: circuit.a });
    this.#timers.push(expiresAt, { kind: 'end', end: circuit.b });
    if (deadline !== Number.POSITIVE_INFINITY) this.#timers.push(deadline, { kind: 'deadline', circuit });
    // whole milliseconds on the wire (a host clock such as performance.now() is fractional)
    const expiresInMs = Math.max(0, Math.floor(expiresAt - now));
    this.#answer(c, p.requesterRequestId, {
      type: 'bound',
      requestId: p.requesterRequestId,
      channel: chA,
      peer: t.key,
      limits,
      expiresInMs,
    });
    this.#answer(t, m.requestId, {
      type: 'bound',
      requestId: m.requestId,
      channel: chB,
      peer: c.key,
      limits,
      expiresInMs,
    });
    this.#emit({
      type: 'circuit_opened',
      circuit: circuit.id,
      requester: c.key,
      target: t.key,
      limits,
      voucher: p.voucher,
    });
    return null;
  }

  #onTargetReject(t: ClientState<H>, incomingId: number, reason: RejectReason): RelayDropReason | null {
    const p = this.#pending.get(incomingId);
    if (!p || p.target !== t) return 'control_duplicate';
    this.#unpend(p);
    // a target may refuse for its own reasons; anything that makes no sense from a target is `refused`
    const passed: RejectReason =
      reason === 'resource_limit' ||
      reason === 'permission_denied' ||
      reason === 'voucher_invalid' ||
      reason === 'voucher_expired' ||
      reason === 'voucher_replayed' ||
      reason === 'timeout'
        ? reason
        : 'refused';
    this.#reject(p.requester, p.requesterRequestId, t.key, passed);
    return null;
  }

  #onRefresh(now: number, c: ClientState<H>, requestId: number, channel: number): RelayDropReason | null {
    const end = c.channels.get(channel);
    if (!end) {
      this.#answer(c, requestId, { type: 'reject', requestId, reason: 'unexpected' });
      return 'control_unexpected';
    }
    const circuit = end.circuit;
    end.expiresAt = Math.min(now + this.limits.bindingLifetimeMs, circuit.deadline);
    this.#timers.push(end.expiresAt, { kind: 'end', end });
    const peer = otherEnd(end).client.key;
    this.#answer(c, requestId, {
      type: 'bound',
      requestId,
      channel,
      peer,
      limits: circuit.limits,
      expiresInMs: Math.max(0, Math.floor(end.expiresAt - now)),
    });
    return null;
  }

  // ---- data plane -----------------------------------------------------------------------------

  /**
   * A channel datagram (first byte 0x40-0x4f) that arrived from `hop`. Forwarded (copied, with
   * the other end's channel number) to the other end's queue, or dropped and counted. Never throws
   * on the bytes.
   */
  handleChannelData(now: number, hop: H, bytes: Uint8Array): void {
    const drop = this.#shutdown ? 'shutdown' : this.#data.forward(now, hop, bytes);
    if (drop) this.#drop(drop);
  }

  // ---- outputs --------------------------------------------------------------------------------

  /**
   * The next thing to send: control messages first, then channel datagrams round-robin over the
   * destination hops (handshake packets before data on each), skipping hops that are not
   * writable; a datagram queued longer than `writeTimeoutMs` is dropped (`stale`).
   */
  pollTransmit(now: number): RelayTransmit<H> | null {
    return this.#data.nextParting() ?? this.#control.shift() ?? this.#data.next(now);
  }

  pollEvent(): RelayEvent | null {
    return this.#events.shift() ?? null;
  }

  /** Earliest time {@link handleTimeout} must run: a binding expiry, duration limit or request timeout. */
  pollTimeout(): number | null {
    return this.#timers.peek();
  }

  handleTimeout(now: number): void {
    checkNow(now);
    for (let e = this.#timers.popDue(now); e; e = this.#timers.popDue(now)) {
      const t = e.item;
      if (t.kind === 'end') {
        // a binding capped by the duration limit ends with the more telling reason
        const c = t.end.circuit;
        this.#closeCircuit(c, c.deadline <= now ? 'duration_limit' : 'expired', 'both');
      } else if (t.kind === 'deadline') this.#closeCircuit(t.circuit, 'duration_limit', 'both');
      else {
        this.#unpend(t.pending);
        this.#reject(t.pending.requester, t.pending.requesterRequestId, t.pending.target.key, 'timeout');
      }
    }
  }

  #live(t: Timer<H>, at: number): boolean {
    if (t.kind === 'end') return !t.end.circuit.closed && t.end.expiresAt === at;
    if (t.kind === 'deadline') return !t.circuit.closed;
    return this.#pending.get(t.pending.id) === t.pending;
  }

  /**
   * Graceful shutdown (iroh's "restarting"): every client gets STATUS `restarting` with the
   * reconnect hint, every circuit closes with `relay_shutdown`, waiting requests are rejected
   * `refused`. Afterwards every input is ignored (counted as `shutdown`); drain the transmits.
   */
  shutdown(now: number, hint: { reconnectInMs?: number; tryForMs?: number } = {}): void {
    checkNow(now);
    if (this.#shutdown) return;
    const status: RelayStatus = {
      code: 'restarting',
      reconnectInMs: hint.reconnectInMs ?? 0,
      tryForMs: hint.tryForMs ?? 0,
    };
    for (const c of this.#byId.values()) this.#send(c, { type: 'status', requestId: 0, status });
    for (const c of [...this.#byId.values()]) this.#remove(now, c, 'relay_shutdown');
    this.#shutdown = true;
    this.#timers.clear();
  }

  stats(): RelayStats {
    return copyRelayStats(this.#stats);
  }

  /** The circuits of one client (for status pages and tests). */
  circuitsOf(key: Uint8Array): { channel: number; peer: Uint8Array; bytes: number; expiresAt: number }[] {
    const c = this.#byId.get(toHex(key));
    if (!c) return [];
    return [...c.channels.values()].map((end) => ({
      channel: end.channel,
      peer: otherEnd(end).client.key,
      bytes: end.circuit.bytes,
      expiresAt: end.expiresAt,
    }));
  }

  // ---- internals ------------------------------------------------------------------------------

  #remove(now: number, c: ClientState<H>, reason: CloseReason): void {
    if (c.removed) return;
    for (const end of [...c.channels.values()]) {
      // what it sent before it left still reaches the other end (at shutdown every end goes)
      if (reason !== 'relay_shutdown') this.#data.releaseParting(now, end);
      // The client itself learns from its own session ending (or from the STATUS sent before),
      // except at shutdown, where both ends are still up and each is told.
      const notify = reason === 'relay_shutdown' ? 'both' : end === end.circuit.a ? 'b' : 'a';
      this.#closeCircuit(end.circuit, reason, notify);
    }
    for (const p of [...c.pendingIn.values()]) {
      this.#unpend(p);
      this.#reject(p.requester, p.requesterRequestId, c.key, 'target_unavailable');
    }
    for (const p of [...c.pendingOut]) this.#unpend(p);
    c.removed = true;
    c.data.clear();
    c.handshakes.clear();
    c.dataBytes = 0;
    this.#byId.delete(c.id);
    if (this.#byHop.get(c.hopId) === c) this.#byHop.delete(c.hopId);
    this.#stats.clients = this.#byId.size;
    this.#emit({ type: 'client_down', client: c.key });
  }

  #unpend(p: Pending<H>): void {
    this.#pending.delete(p.id);
    p.requester.pendingOut.delete(p);
    p.target.pendingIn.delete(p.id);
    this.#stats.pending = this.#pending.size;
  }

  #closeCircuit(circuit: Circuit<H>, reason: CloseReason, notify: 'a' | 'b' | 'both'): void {
    if (circuit.closed) return;
    circuit.closed = true;
    const { a, b } = circuit;
    a.client.channels.delete(a.channel);
    b.client.channels.delete(b.channel);
    this.#circuits--;
    this.#stats.circuits = this.#circuits;
    this.#stats.closed[reason]++;
    if (notify !== 'b' && !a.client.removed) {
      this.#send(a.client, { type: 'close', requestId: 0, channel: a.channel, reason });
    }
    if (notify !== 'a' && !b.client.removed) {
      this.#send(b.client, { type: 'close', requestId: 0, channel: b.channel, reason });
    }
    this.#emit({
      type: 'circuit_closed',
      circuit: circuit.id,
      requester: a.client.key,
      target: b.client.key,
      reason,
      bytes: circuit.bytes,
      packets: circuit.packets,
    });
  }

  #reject(c: ClientState<H>, requestId: number, target: Uint8Array, reason: RejectReason): void {
    this.#stats.rejected[reason]++;
    this.#answer(c, requestId, { type: 'reject', requestId, reason });
    this.#emit({ type: 'circuit_rejected', requester: c.key, target, reason });
  }

  /** Sends the answer to a client's request and remembers it for duplicates of that request. */
  #answer(c: ClientState<H>, requestId: number, msg: ControlMessage): void {
    if (c.removed) return;
    const data = this.#send(c, msg);
    c.answers.set(requestId, data);
    if (c.answers.size > ANSWER_CACHE) c.answers.delete(c.answers.keys().next().value as number);
  }

  #send(c: ClientState<H>, msg: ControlMessage): Uint8Array {
    const data = encodeControl(msg);
    this.#pushControl(c, data);
    return data;
  }

  #pushControl(c: ClientState<H>, data: Uint8Array): void {
    this.#control.push({ kind: 'control', client: c.key, hop: c.hop, data });
    this.#stats.controlSent++;
  }

  #drop(reason: RelayDropReason): void {
    this.#stats.dropped[reason]++;
  }

  #emit(ev: RelayEvent): void {
    if (this.#events.length >= this.#maxEvents) {
      this.#stats.eventsDropped++;
      return;
    }
    this.#events.push(ev);
  }
}
