// The browser node's one loop, on queueMicrotask / setTimeout: core's timeouts, its events (to the
// relay link, which passes the node all but its hop session's), its transmits (to the WebSocket,
// held back while the socket has more than `highWater` bytes to write: a WebSocket has no 'drain'
// event), at most 512 packets a turn before yielding to the page, and the timer for core's next
// deadline.
import type { Address, CoreEndpoint, EndpointEvent } from '@srmudp/core';

/** What the loop needs from its node's side: the relay link (relay-link.ts), which passes the node
 * the events that are not its hop session's. */
export interface LoopHost {
  now(): number;
  onEndpointEvent(e: EndpointEvent): void;
  /** after a round's events: whether it changed something (the relay greeted the hop session) */
  afterEvents(now: number): boolean;
  transmit(data: Uint8Array, to: Address): void;
  /** bytes the carrier has yet to write */
  bufferedAmount(): number;
}

export class BrowserLoop {
  #timer: ReturnType<typeof setTimeout> | null = null;
  #drainTimer: ReturnType<typeof setTimeout> | null = null;
  #scheduled = false;
  /** the loop stopped (after close() let the sessions send their CLOSE): kick() runs nothing */
  stopped = false;

  readonly #endpoint: CoreEndpoint;
  readonly #host: LoopHost;
  readonly #highWater: number;
  readonly #counters: { backpressureWaits: number };

  constructor(
    endpoint: CoreEndpoint,
    host: LoopHost,
    highWater: number,
    counters: { backpressureWaits: number },
  ) {
    this.#endpoint = endpoint;
    this.#host = host;
    this.#highWater = highWater;
    this.#counters = counters;
  }

  /** Runs the loop soon (a microtask). */
  kick(): void {
    if (this.#scheduled || this.stopped) return;
    this.#scheduled = true;
    queueMicrotask(this.run);
  }

  /** The loop's timers end (after the last run). */
  clearTimers(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
  }

  readonly run = (): void => {
    this.#scheduled = false;
    const now = this.#host.now();
    const a = this.#endpoint.pollTimeout();
    if (a !== null && a <= now) this.#endpoint.handleTimeout(now);
    let sent = 0;
    let blocked = false;
    for (let round = 0; round < 32; round++) {
      let progressed = false;
      for (let e = this.#endpoint.pollEvent(); e !== null; e = this.#endpoint.pollEvent()) {
        this.#host.onEndpointEvent(e);
        progressed = true;
      }
      if (this.#host.afterEvents(now)) progressed = true;
      while (sent < 512) {
        // backpressure: packets stay in core (its congestion and flow control hold the rest)
        // while the WebSocket has more than highWater bytes to write
        if (this.#host.bufferedAmount() > this.#highWater && !this.stopped) {
          blocked = true;
          break;
        }
        const t = this.#endpoint.pollTransmit(now);
        if (t === null) break;
        this.#host.transmit(t.data, t.to);
        sent++;
        progressed = true;
      }
      if (!progressed || sent >= 512 || blocked) break;
    }
    if (this.stopped) return;
    if (blocked) {
      this.#counters.backpressureWaits++;
      // a WebSocket has no 'drain' event: look at bufferedAmount again shortly
      this.#drainTimer ??= setTimeout(() => {
        this.#drainTimer = null;
        this.kick();
      }, 2);
    } else if (sent >= 512) {
      // yield to the page (and the socket's events) before the next batch
      this.#drainTimer ??= setTimeout(() => {
        this.#drainTimer = null;
        this.kick();
      }, 0);
    }
    const at = this.#endpoint.pollTimeout();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (at === null) return;
    if (at <= now + 0.5) this.kick();
    else this.#timer = setTimeout(this.run, Math.max(1, Math.ceil(at - now)));
  };
}
