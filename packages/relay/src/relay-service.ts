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
 * timers, shutdown); circuit requests (CONNECT, ACCEPT, REJECT, REFRESH and the requests
 * waiting for their target) are circuit-requests.ts's. What happens to a channel datagram
 * (forwarding, the send queues served round-robin) is relay-data-plane.ts's; the types shared
 * with the host relay-service-api.ts's.
 * The state itself (clients, circuits, channels, pending requests, send queues) is
 * circuit-table.ts's; who is admitted is relay-admission.ts's (with policy.ts, limits.ts and
 * voucher.ts); the counters are relay-metrics.ts's; the control codec control.ts's.
 */
import { toHex } from '@srmudp/wire';
import { checkBytes, checkNow, type RandomBytes } from './bytes.js';
import { CircuitRequests } from './circuit-requests.js';
import {
  ANSWER_CACHE,
  CHANNEL_SPACE,
  type Circuit,
  type ClientState,
  newClient,
  otherEnd,
  randomChannelStart,
  type Timer,
} from './circuit-table.js';
import {
  type ControlMessage,
  ControlType,
  decodeControl,
  encodeControl,
  INSTANCE_ID_LENGTH,
  peekControlHeader,
  type RelayStatus,
} from './control.js';
import { Deque } from './deque.js';
import { type RelayLimits, resolveRelayLimits } from './limits.js';
import type { AdmissionPolicy } from './policy.js';
import type { CloseReason, RejectReason } from './reasons.js';
import { admitClient } from './relay-admission.js';
import { RelayDataPlane } from './relay-data-plane.js';
import { copyRelayStats, newRelayStats, type RelayDropReason, type RelayStats } from './relay-metrics.js';
import type {
  ClientUpInfo,
  RelayEvent,
  RelayServiceComponents,
  RelayServiceConfig,
  RelayServiceFactory,
  RelayServiceInit,
  RelayTransmit,
} from './relay-service-api.js';
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
  readonly #control = new Deque<RelayTransmit<H>>();
  readonly #data: RelayDataPlane<H>;
  readonly #requests: CircuitRequests<H>;
  readonly #events = new Deque<RelayEvent>();
  readonly #timers: LiveTimerHeap<Timer<H>>;
  #circuits = 0;
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
    this.#requests = new CircuitRequests({
      relayId: this.relayId,
      policy: p,
      limits: this.limits,
      nonces: new VoucherNonceCache(this.limits.maxVoucherNonces),
      stats: this.#stats,
      unixTime: (now) => now + this.#unixOffset,
      clientOf: (key) => this.#byId.get(toHex(key)),
      circuits: () => this.#circuits,
      opened: () => {
        this.#circuits++;
        this.#stats.circuits = this.#circuits;
        this.#stats.circuitsOpened++;
      },
      timer: (at, t) => this.#timers.push(at, t),
      send: (c, msg) => this.#send(c, msg),
      answer: (c, requestId, msg) => this.#answer(c, requestId, msg),
      emit: (ev) => this.#emit(ev),
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
        if (msg.type === 'accept') return this.#requests.accept(now, c, msg);
        if (msg.type === 'refresh') return this.#requests.refresh(now, c, msg.requestId, msg.channel);
        this.#requests.connect(now, c, msg);
        return null;
      }
      case 'reject':
        return this.#requests.targetReject(c, msg.requestId, msg.reason);
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
      else this.#requests.timedOut(t.pending);
    }
  }

  #live(t: Timer<H>, at: number): boolean {
    if (t.kind === 'end') return !t.end.circuit.closed && t.end.expiresAt === at;
    if (t.kind === 'deadline') return !t.circuit.closed;
    return this.#requests.isWaiting(t.pending);
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
    this.#requests.clientGone(c);
    c.removed = true;
    c.data.clear();
    c.handshakes.clear();
    c.dataBytes = 0;
    this.#byId.delete(c.id);
    if (this.#byHop.get(c.hopId) === c) this.#byHop.delete(c.hopId);
    this.#stats.clients = this.#byId.size;
    this.#emit({ type: 'client_down', client: c.key });
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

/**
 * A {@link RelayServiceFactory} with this policy and these limits, for a host that builds its
 * relay service itself (core's `relay.serve`: `relay: { serve: relayService({ policy }) }`). The
 * policy is checked now; the limits when the host builds the service.
 */
export function relayService(init: RelayServiceInit): RelayServiceFactory {
  const p = init?.policy;
  if (!p || typeof p.admitClient !== 'function' || typeof p.admitCircuit !== 'function') {
    throw new TypeError('"policy" expected an AdmissionPolicy (openPolicy(), groupPolicy(…), …)');
  }
  const { policy, limits, maxEvents } = init;
  return <H>(components: RelayServiceComponents<H>): RelayService<H> =>
    new RelayService<H>({
      ...components,
      policy,
      ...(limits !== undefined ? { limits } : {}),
      ...(maxEvents !== undefined ? { maxEvents } : {}),
    });
}
