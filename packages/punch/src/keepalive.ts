/**
 * Sans-IO keepalive and path-liveness monitor for the selected path. NAT bindings expire when idle:
 * Linux conntrack drops an unreplied or young UDP flow after 30 s (`nf_conntrack_udp_timeout`) and
 * an assured one after 120 s; consumer NATs vary (RFC 4787 REQ-5 asks ≥ 2 min, many use 30-60 s).
 * So a young or one-sided path gets a keepalive every 10 s, an established two-way path every 25 s
 * (NATLAB-NOTES §7/§9). Keepalives must be ack-eliciting (core sends an authenticated PING, the
 * peer's ACK counts as a receive): unanswered keepalives, or silence while sending, mean the
 * binding is lost and the caller must re-gather and re-punch ('path_lost' + 'regather'). A change of
 * local addresses (interface up/down, new Wi-Fi) also asks for 'regather'.
 */
import { type Endpoint, endpointKey } from './endpoint.js';
import { checkNow } from './transmit.js';

export interface KeepaliveConfig {
  /** interval while the path is young or one-sided (default 10 s) */
  readonly youngIntervalMs?: number;
  /** interval on an established two-way path (default 25 s) */
  readonly intervalMs?: number;
  /** a path younger than this is young (default 60 s) */
  readonly youngForMs?: number;
  /** an unanswered keepalive is repeated after this long (default 2 s) */
  readonly retryMs?: number;
  /** this many unanswered keepalives in a row → path lost (default 3) */
  readonly maxUnanswered?: number;
  /** no authenticated receive for this long → path lost even while sending (default 30 s) */
  readonly silenceMs?: number;
  /** current local interface addresses, to detect changes */
  readonly localAddresses?: readonly Endpoint[];
}

export type KeepaliveEvent =
  /** send an ack-eliciting authenticated packet (e.g. PING) on the selected path now */
  | { readonly type: 'keepalive' }
  | { readonly type: 'path_lost'; readonly silentMs: number; readonly unanswered: number }
  /** an authenticated packet arrived after 'path_lost' */
  | { readonly type: 'path_recovered' }
  | {
      readonly type: 'regather';
      readonly reason: 'path_lost' | 'address_changed';
      readonly added: readonly Endpoint[];
      readonly removed: readonly Endpoint[];
    };

export type KeepaliveState = 'alive' | 'lost' | 'stopped';

export class Keepalive {
  readonly #young: number;
  readonly #interval: number;
  readonly #youngFor: number;
  readonly #retry: number;
  readonly #maxUnanswered: number;
  readonly #silence: number;
  #addresses: Endpoint[];
  readonly #events: KeepaliveEvent[] = [];
  #state: KeepaliveState = 'alive';
  #startedAt: number;
  #lastSend: number;
  #lastRecv: number;
  #lastKeepalive = -1;
  #unanswered = 0;
  #keepalivesSent = 0;

  constructor(now: number, config: KeepaliveConfig = {}) {
    checkNow(now);
    this.#young = positive('youngIntervalMs', config.youngIntervalMs ?? 10_000);
    this.#interval = positive('intervalMs', config.intervalMs ?? 25_000);
    this.#youngFor = nonNegative('youngForMs', config.youngForMs ?? 60_000);
    this.#retry = positive('retryMs', config.retryMs ?? 2000);
    this.#maxUnanswered = positive('maxUnanswered', config.maxUnanswered ?? 3);
    this.#silence = positive('silenceMs', config.silenceMs ?? 30_000);
    this.#addresses = (config.localAddresses ?? []).slice();
    this.#startedAt = now;
    this.#lastSend = now;
    this.#lastRecv = now;
  }

  get state(): KeepaliveState {
    return this.#state;
  }

  get keepalivesSent(): number {
    return this.#keepalivesSent;
  }

  /** Current keepalive interval: young while the path is new or has not heard from the peer lately. */
  currentInterval(now: number): number {
    const young = now - this.#startedAt < this.#youngFor || now - this.#lastRecv >= this.#interval;
    return young ? this.#young : this.#interval;
  }

  /** Any datagram sent on the path (it refreshes our NAT binding). */
  onSend(now: number): void {
    if (now > this.#lastSend) this.#lastSend = now;
  }

  /** An authenticated datagram from the peer on the path. */
  onReceive(now: number): void {
    if (now > this.#lastRecv) this.#lastRecv = now;
    this.#unanswered = 0;
    if (this.#state === 'lost') {
      this.#state = 'alive';
      this.#events.push({ type: 'path_recovered' });
    }
  }

  /** A new path was selected (migration or re-punch): restart as a young path. */
  reset(now: number): void {
    checkNow(now);
    this.#state = 'alive';
    this.#startedAt = now;
    this.#lastSend = now;
    this.#lastRecv = now;
    this.#unanswered = 0;
    this.#lastKeepalive = -1;
  }

  stop(): void {
    this.#state = 'stopped';
  }

  /** The façade reports the current interface addresses (e.g. polling os.networkInterfaces). */
  localAddressesChanged(now: number, addresses: readonly Endpoint[]): void {
    checkNow(now);
    const key = (e: Endpoint) => endpointKey(e);
    const before = new Set(this.#addresses.map(key));
    const after = new Set(addresses.map(key));
    const added = addresses.filter((a) => !before.has(key(a)));
    const removed = this.#addresses.filter((a) => !after.has(key(a)));
    this.#addresses = addresses.slice();
    if (added.length > 0 || removed.length > 0) {
      this.#events.push({ type: 'regather', reason: 'address_changed', added, removed });
    }
  }

  handleTimeout(now: number): void {
    if (this.#state !== 'alive') return;
    const silentMs = now - this.#lastRecv;
    if (
      silentMs >= this.#silence ||
      (this.#unanswered >= this.#maxUnanswered && now >= this.#lastKeepalive + this.#retry)
    ) {
      this.#state = 'lost';
      this.#events.push({ type: 'path_lost', silentMs, unanswered: this.#unanswered });
      this.#events.push({ type: 'regather', reason: 'path_lost', added: [], removed: [] });
      return;
    }
    if (now >= this.#nextKeepalive()) {
      this.#lastKeepalive = now;
      this.#lastSend = now;
      this.#unanswered++;
      this.#keepalivesSent++;
      this.#events.push({ type: 'keepalive' });
    }
  }

  pollTimeout(): number | null {
    if (this.#state !== 'alive') return null;
    const lost =
      this.#unanswered >= this.#maxUnanswered
        ? Math.min(this.#lastKeepalive + this.#retry, this.#lastRecv + this.#silence)
        : this.#lastRecv + this.#silence;
    if (this.#unanswered >= this.#maxUnanswered) return lost;
    return Math.min(lost, this.#nextKeepalive());
  }

  pollEvent(): KeepaliveEvent | null {
    return this.#events.shift() ?? null;
  }

  /** Earliest t ≥ lastSend + young where the path counts as young at t, else lastSend + interval. */
  #nextKeepalive(): number {
    if (this.#unanswered > 0) return this.#lastKeepalive + this.#retry;
    const youngAt = this.#lastSend + this.#young;
    const youngDue =
      youngAt < this.#startedAt + this.#youngFor
        ? youngAt
        : Math.max(youngAt, this.#lastRecv + this.#interval);
    return Math.min(this.#lastSend + this.#interval, youngDue);
  }
}

function positive(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`"${name}" expected positive finite number, got ${String(v)}`);
  }
  return v;
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`"${name}" expected non-negative finite number, got ${String(v)}`);
  }
  return v;
}
