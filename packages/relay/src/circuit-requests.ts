/**
 * The relay's circuit requests: a client's CONNECT (checked by relay-admission.ts, then waiting
 * for its target as INCOMING), the target's ACCEPT (both ends get a channel and BOUND) or REJECT
 * (passed on to the requester), a REFRESH of a binding, and a request nobody answered in time
 * (`timeout`) or whose target left (`target_unavailable`). The waiting requests are this file's;
 * clients, circuits and channels are circuit-table.ts's, the timers and the answers (with their
 * duplicate cache) RelayService's, reached through {@link CircuitRequestsHost}.
 */
import {
  allocChannel,
  type ClientState,
  openCircuit,
  otherEnd,
  type Pending,
  type Timer,
} from './circuit-table.js';
import type { AcceptMessage, ConnectMessage, ControlMessage } from './control.js';
import { type RelayLimits, tighterLimits } from './limits.js';
import type { AdmissionPolicy } from './policy.js';
import type { RejectReason } from './reasons.js';
import { checkConnect } from './relay-admission.js';
import type { RelayDropReason, RelayStats } from './relay-metrics.js';
import type { RelayEvent } from './relay-service-api.js';
import type { VoucherNonceCache } from './voucher.js';

/** What the circuit requests need from the relay around them. */
export interface CircuitRequestsHost<H> {
  readonly relayId: Uint8Array;
  readonly policy: AdmissionPolicy;
  readonly limits: RelayLimits;
  readonly nonces: VoucherNonceCache;
  /** the relay's counters (pending, rejected and opened circuits are this file's) */
  readonly stats: RelayStats;
  /** Unix milliseconds at `now` (vouchers carry wall-clock times) */
  unixTime(now: number): number;
  /** the client that is up with this key, if any */
  clientOf(key: Uint8Array): ClientState<H> | undefined;
  /** circuits open now (with the waiting requests, the relay's circuit cap counts them) */
  circuits(): number;
  /** a circuit opened (counted by the host, which closes it) */
  opened(): void;
  timer(at: number, t: Timer<H>): void;
  send(c: ClientState<H>, msg: ControlMessage): void;
  /** the answer to a client's request, remembered for duplicates of it */
  answer(c: ClientState<H>, requestId: number, msg: ControlMessage): void;
  emit(ev: RelayEvent): void;
}

export class CircuitRequests<H> {
  readonly #host: CircuitRequestsHost<H>;
  readonly #pending = new Map<number, Pending<H>>();
  #nextCircuit = 1;
  #nextIncoming = 1;

  constructor(host: CircuitRequestsHost<H>) {
    this.#host = host;
  }

  /** A `pending` timer still names a waiting request. */
  isWaiting(p: Pending<H>): boolean {
    return this.#pending.get(p.id) === p;
  }

  connect(now: number, c: ClientState<H>, m: ConnectMessage): void {
    const h = this.#host;
    const checked = checkConnect(
      { relayId: h.relayId, policy: h.policy, limits: h.limits, nonces: h.nonces },
      h.unixTime(now),
      h.circuits() + this.#pending.size,
      c,
      h.clientOf(m.target),
      m,
    );
    if (typeof checked === 'string') {
      this.reject(c, m.requestId, m.target, checked);
      return;
    }
    const { target: t, voucher, admission } = checked;
    let limits = tighterLimits(h.limits.circuit, m.limits);
    limits = tighterLimits(limits, voucher?.limits);
    limits = tighterLimits(limits, admission.limits);
    const p: Pending<H> = {
      id: this.#nextIncoming++,
      requester: c,
      requesterRequestId: m.requestId,
      target: t,
      limits,
      deadline: now + h.limits.incomingTimeoutMs,
      voucher: voucher !== null,
    };
    this.#pending.set(p.id, p);
    c.pendingOut.add(p);
    t.pendingIn.set(p.id, p);
    h.stats.pending = this.#pending.size;
    h.timer(p.deadline, { kind: 'pending', pending: p });
    h.send(t, {
      type: 'incoming',
      requestId: p.id,
      requester: c.key,
      limits,
      voucher: m.voucher ? m.voucher.slice() : null,
      firstPacket: m.firstPacket ? m.firstPacket.slice() : null,
    });
  }

  accept(now: number, t: ClientState<H>, m: AcceptMessage): RelayDropReason | null {
    const h = this.#host;
    const p = this.#pending.get(m.incomingId);
    if (!p || p.target !== t) {
      // too late (timed out, requester gone) or never asked: tell the target it is off
      h.answer(t, m.requestId, { type: 'reject', requestId: m.requestId, reason: 'unexpected' });
      return 'control_unexpected';
    }
    this.#unpend(p);
    const c = p.requester;
    const chA = allocChannel(c);
    const chB = chA < 0 ? -1 : allocChannel(t);
    if (chA < 0 || chB < 0) {
      this.reject(c, p.requesterRequestId, t.key, 'resource_limit');
      h.answer(t, m.requestId, { type: 'reject', requestId: m.requestId, reason: 'resource_limit' });
      return null;
    }
    const limits = tighterLimits(p.limits, m.limits);
    const deadline = limits.durationMs > 0 ? now + limits.durationMs : Number.POSITIVE_INFINITY;
    const expiresAt = Math.min(now + h.limits.bindingLifetimeMs, deadline);
    const circuit = openCircuit(
      { id: this.#nextCircuit++, limits, deadline, voucher: p.voucher },
      { client: c, channel: chA },
      { client: t, channel: chB },
      expiresAt,
    );
    h.opened();
    h.timer(expiresAt, { kind: 'end', end: circuit.a });
    h.timer(expiresAt, { kind: 'end', end: circuit.b });
    if (deadline !== Number.POSITIVE_INFINITY) h.timer(deadline, { kind: 'deadline', circuit });
    // whole milliseconds on the wire (a host clock such as performance.now() is fractional)
    const expiresInMs = Math.max(0, Math.floor(expiresAt - now));
    h.answer(c, p.requesterRequestId, {
      type: 'bound',
      requestId: p.requesterRequestId,
      channel: chA,
      peer: t.key,
      limits,
      expiresInMs,
    });
    h.answer(t, m.requestId, {
      type: 'bound',
      requestId: m.requestId,
      channel: chB,
      peer: c.key,
      limits,
      expiresInMs,
    });
    h.emit({
      type: 'circuit_opened',
      circuit: circuit.id,
      requester: c.key,
      target: t.key,
      limits,
      voucher: p.voucher,
    });
    return null;
  }

  targetReject(t: ClientState<H>, incomingId: number, reason: RejectReason): RelayDropReason | null {
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
    this.reject(p.requester, p.requesterRequestId, t.key, passed);
    return null;
  }

  refresh(now: number, c: ClientState<H>, requestId: number, channel: number): RelayDropReason | null {
    const h = this.#host;
    const end = c.channels.get(channel);
    if (!end) {
      h.answer(c, requestId, { type: 'reject', requestId, reason: 'unexpected' });
      return 'control_unexpected';
    }
    const circuit = end.circuit;
    end.expiresAt = Math.min(now + h.limits.bindingLifetimeMs, circuit.deadline);
    h.timer(end.expiresAt, { kind: 'end', end });
    const peer = otherEnd(end).client.key;
    h.answer(c, requestId, {
      type: 'bound',
      requestId,
      channel,
      peer,
      limits: circuit.limits,
      expiresInMs: Math.max(0, Math.floor(end.expiresAt - now)),
    });
    return null;
  }

  /** The target did not answer in time: the requester gets `timeout`. */
  timedOut(p: Pending<H>): void {
    this.#unpend(p);
    this.reject(p.requester, p.requesterRequestId, p.target.key, 'timeout');
  }

  /** `c` leaves: requests waiting for it are rejected `target_unavailable`, its own are dropped. */
  clientGone(c: ClientState<H>): void {
    for (const p of [...c.pendingIn.values()]) {
      this.#unpend(p);
      this.reject(p.requester, p.requesterRequestId, c.key, 'target_unavailable');
    }
    for (const p of [...c.pendingOut]) this.#unpend(p);
  }

  reject(c: ClientState<H>, requestId: number, target: Uint8Array, reason: RejectReason): void {
    const h = this.#host;
    h.stats.rejected[reason]++;
    h.answer(c, requestId, { type: 'reject', requestId, reason });
    h.emit({ type: 'circuit_rejected', requester: c.key, target, reason });
  }

  #unpend(p: Pending<H>): void {
    this.#pending.delete(p.id);
    p.requester.pendingOut.delete(p);
    p.target.pendingIn.delete(p.id);
    this.#host.stats.pending = this.#pending.size;
  }
}
