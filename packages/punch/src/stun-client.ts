/**
 * Sans-IO STUN client (RFC 8489 §6.2.1): Binding transactions over UDP with the RFC's
 * retransmission schedule (RTO doubling, Rc sends, final wait Rm × RTO), matched by transaction id.
 * The caller feeds every STUN datagram to {@link StunClient.handle} and drains transmits/events.
 */
import type { Address, StunChangeRequest, StunMessage } from '@srmudp/wire';
import { fromIpAddress } from './address.js';
import { encodeBindingRequest, transactionKey, tryDecodeBinding } from './stun-codec.js';
import { checkNow, checkRandom, type RandomBytes, type Transmit } from './transmit.js';

/** RFC 8489 §6.2.1 timing. Defaults: RTO 500 ms, Rc 7, Rm 16 (a transaction gives up after 39.5 s). */
export interface StunTiming {
  /** initial retransmission timeout, doubled after each send */
  readonly rtoMs?: number;
  /** total number of sends */
  readonly rc?: number;
  /** after the last send, wait rm × rtoMs for a response */
  readonly rm?: number;
}

export interface StunClientConfig extends StunTiming {
  readonly random: RandomBytes;
  /** SOFTWARE in requests; empty string (default) omits it */
  readonly software?: string;
  /** upper bound on concurrent transactions (default 64): a misbehaving caller cannot grow state */
  readonly maxTransactions?: number;
}

export interface StunRequestOptions extends StunTiming {
  readonly changeRequest?: Partial<StunChangeRequest>;
  /** local socket index to send from (default 0) */
  readonly socket?: number;
}

export type StunErrorCode = 'STUN_TIMEOUT' | 'STUN_ERROR_RESPONSE' | 'STUN_CANCELLED';

export type StunClientEvent =
  | {
      readonly type: 'response';
      readonly id: string;
      readonly server: Address;
      readonly socket: number;
      /** the address the response actually came from (differs from `server` after a CHANGE-REQUEST) */
      readonly from: Address;
      /** our address as the server saw it (XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from RFC 3489 servers) */
      readonly mapped: Address;
      readonly responseOrigin?: Address;
      readonly otherAddress?: Address;
      readonly software?: string;
      readonly changeRequest?: Partial<StunChangeRequest>;
      /** round-trip time; null when the request was retransmitted (Karn's rule) */
      readonly rttMs: number | null;
    }
  | {
      readonly type: 'error';
      readonly id: string;
      readonly server: Address;
      readonly socket: number;
      readonly code: StunErrorCode;
      /** STUN error status (e.g. 420) for STUN_ERROR_RESPONSE */
      readonly status?: number;
      readonly reason?: string;
      readonly changeRequest?: Partial<StunChangeRequest>;
    };

export interface StunClientStats {
  requests: number;
  sent: number;
  retransmits: number;
  responses: number;
  errors: number;
  timeouts: number;
  /** STUN datagrams that matched no transaction or were malformed */
  dropped: number;
}

interface Transaction {
  readonly id: string;
  readonly server: Address;
  readonly socket: number;
  readonly bytes: Uint8Array;
  readonly rc: number;
  readonly finalWaitMs: number;
  readonly changeRequest: Partial<StunChangeRequest> | undefined;
  readonly startedAt: number;
  sends: number;
  rto: number;
  /** next retransmission time, or the give-up time after the last send */
  nextAt: number;
}

export class StunClient {
  readonly #random: RandomBytes;
  readonly #rto: number;
  readonly #rc: number;
  readonly #rm: number;
  readonly #software: string;
  readonly #max: number;
  readonly #tx = new Map<string, Transaction>();
  readonly #transmits: Transmit[] = [];
  readonly #events: StunClientEvent[] = [];
  readonly #stats: StunClientStats = {
    requests: 0,
    sent: 0,
    retransmits: 0,
    responses: 0,
    errors: 0,
    timeouts: 0,
    dropped: 0,
  };

  constructor(config: StunClientConfig) {
    checkRandom(config?.random);
    this.#random = config.random;
    this.#rto = checkTiming('rtoMs', config.rtoMs ?? 500);
    this.#rc = checkTiming('rc', config.rc ?? 7);
    this.#rm = checkTiming('rm', config.rm ?? 16);
    this.#software = config.software ?? '';
    this.#max = config.maxTransactions ?? 64;
  }

  /** Starts a Binding transaction; the first request is queued at once. Returns its id. */
  request(now: number, server: Address, options: StunRequestOptions = {}): string {
    checkNow(now);
    if (this.#tx.size >= this.#max) {
      throw new RangeError(`too many concurrent STUN transactions (max ${this.#max})`);
    }
    const tid = this.#random(12);
    if (!(tid instanceof Uint8Array) || tid.length < 12) {
      throw new TypeError('"random" expected to return a Uint8Array of the requested length');
    }
    const transactionId = tid.slice(0, 12);
    const bytes = encodeBindingRequest(transactionId, {
      ...(options.changeRequest !== undefined ? { changeRequest: options.changeRequest } : {}),
      software: this.#software,
    });
    const rto = checkTiming('rtoMs', options.rtoMs ?? this.#rto);
    const rc = checkTiming('rc', options.rc ?? this.#rc);
    const rm = checkTiming('rm', options.rm ?? this.#rm);
    const id = transactionKey(transactionId);
    const t: Transaction = {
      id,
      server,
      socket: options.socket ?? 0,
      bytes,
      rc,
      finalWaitMs: rm * rto,
      changeRequest: options.changeRequest,
      startedAt: now,
      sends: 0,
      rto,
      nextAt: now,
    };
    this.#tx.set(id, t);
    this.#stats.requests++;
    this.#send(t, now);
    return id;
  }

  /** Abandons a transaction (an `error` event with STUN_CANCELLED is emitted). */
  cancel(id: string): void {
    const t = this.#tx.get(id);
    if (t === undefined) return;
    this.#tx.delete(id);
    this.#events.push(this.#errorEvent(t, 'STUN_CANCELLED'));
  }

  /** Number of transactions in flight. */
  get pending(): number {
    return this.#tx.size;
  }

  /**
   * Offers a received datagram. Returns true when it was a STUN response to one of our
   * transactions (consumed). Never throws on network input.
   */
  handle(now: number, from: Address, bytes: Uint8Array, socket = 0): boolean {
    const msg = tryDecodeBinding(bytes);
    if (msg === null) return false;
    return this.handleMessage(now, from, msg, socket);
  }

  /** {@link handle} for a message the caller already decoded (`tryDecodeBinding`). */
  handleMessage(now: number, from: Address, msg: StunMessage, socket = 0): boolean {
    if (msg.class !== 'success' && msg.class !== 'error') return false;
    const id = transactionKey(msg.transactionId);
    const t = this.#tx.get(id);
    if (t === undefined || t.socket !== socket) {
      this.#stats.dropped++;
      return false;
    }
    if (msg.class === 'error') {
      this.#tx.delete(id);
      this.#stats.errors++;
      this.#events.push({
        ...this.#errorEvent(t, 'STUN_ERROR_RESPONSE'),
        ...(msg.errorCode !== undefined ? { status: msg.errorCode.code, reason: msg.errorCode.reason } : {}),
      });
      return true;
    }
    const mappedIp = msg.xorMappedAddress ?? msg.mappedAddress;
    if (mappedIp === undefined) {
      // RFC 8489 §6.3.3 would fail the transaction; we keep waiting, so a malformed or
      // spoofed response cannot cut a transaction short, and count it.
      this.#stats.dropped++;
      return true;
    }
    const mapped = fromIpAddress(mappedIp);
    const responseOrigin = msg.responseOrigin === undefined ? null : fromIpAddress(msg.responseOrigin);
    const otherAddress = msg.otherAddress === undefined ? null : fromIpAddress(msg.otherAddress);
    const software = msg.software;
    this.#tx.delete(id);
    this.#stats.responses++;
    this.#events.push({
      type: 'response',
      id,
      server: t.server,
      socket: t.socket,
      from,
      mapped,
      ...(responseOrigin !== null ? { responseOrigin } : {}),
      ...(otherAddress !== null ? { otherAddress } : {}),
      ...(software !== undefined ? { software } : {}),
      ...(t.changeRequest !== undefined ? { changeRequest: t.changeRequest } : {}),
      rttMs: t.sends === 1 ? Math.max(0, now - t.startedAt) : null,
    });
    return true;
  }

  /** Advances timers: retransmits due requests, times out exhausted transactions. */
  handleTimeout(now: number): void {
    for (const t of this.#tx.values()) {
      if (now < t.nextAt) continue;
      if (t.sends < t.rc) {
        this.#stats.retransmits++;
        this.#send(t, now);
      } else {
        this.#tx.delete(t.id);
        this.#stats.timeouts++;
        this.#events.push(this.#errorEvent(t, 'STUN_TIMEOUT'));
      }
    }
  }

  pollTransmit(_now?: number): Transmit | null {
    return this.#transmits.shift() ?? null;
  }

  /** Earliest time {@link handleTimeout} must run, or null when idle. */
  pollTimeout(): number | null {
    let min: number | null = null;
    for (const t of this.#tx.values()) if (min === null || t.nextAt < min) min = t.nextAt;
    return min;
  }

  pollEvent(): StunClientEvent | null {
    return this.#events.shift() ?? null;
  }

  stats(): Readonly<StunClientStats> {
    return { ...this.#stats };
  }

  #send(t: Transaction, now: number): void {
    this.#transmits.push({ to: t.server, data: t.bytes, socket: t.socket });
    this.#stats.sent++;
    t.sends++;
    // RFC 8489 §6.2.1: sends at 0, RTO, 3 RTO, 7 RTO...; after the Rc-th send wait Rm × RTO.
    if (t.sends < t.rc) {
      t.nextAt = now + t.rto;
      t.rto *= 2;
    } else {
      t.nextAt = now + t.finalWaitMs;
    }
  }

  #errorEvent(t: Transaction, code: StunErrorCode): StunClientEvent {
    return {
      type: 'error',
      id: t.id,
      server: t.server,
      socket: t.socket,
      code,
      ...(t.changeRequest !== undefined ? { changeRequest: t.changeRequest } : {}),
    };
  }
}

function checkTiming(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`"${name}" expected positive finite number, got ${String(v)}`);
  }
  return v;
}
