import type { Address, EndpointApi, EndpointEvent } from '@srmudp/core';

/** What the driver needs from a datagram socket (implemented over @srmudp/transport-node). */
export interface DatagramSocket {
  send(data: Uint8Array, host: string, port: number): void;
  close(): Promise<void>;
}

/** Datagrams sent per turn before the driver yields to the event loop so receives get processed. */
const MAX_TRANSMITS_PER_TURN = 512;
/** Rounds of (transmit, events) per turn; events may queue more output. */
const MAX_ROUNDS = 32;

/**
 * The one loop that touches sockets and timers (DESIGN.md §1). Datagrams go into the endpoint as
 * they arrive; output is drained once per event-loop turn (setImmediate), so a burst of received
 * packets is processed before we answer; one timer is re-armed at `pollTimeout()`.
 */
export class Driver {
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private scheduled = false;
  private stopped = false;

  constructor(
    readonly endpoint: EndpointApi,
    private readonly socket: DatagramSocket,
    private readonly onEvent: (event: EndpointEvent) => void,
    readonly clock: () => number = () => performance.now(),
  ) {}

  /** Feed a received datagram (called by the socket adapter). */
  receive(data: Uint8Array, from: Address): void {
    if (this.stopped) return;
    this.endpoint.handle(this.clock(), from, data);
    this.schedule();
  }

  /** A send failed (ICMP unreachable and the like): tell the endpoint, never throw. */
  sendError(code: string, to: Address | undefined): void {
    if (this.stopped || to === undefined) return;
    this.endpoint.reportSendError(this.clock(), to, code);
    this.schedule();
  }

  /** Something changed (an API call, a datagram): drain output on this turn's check phase. */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private readonly run = (): void => {
    this.scheduled = false;
    if (this.stopped) return;
    const now = this.clock();
    const due = this.endpoint.pollTimeout();
    if (due !== null && due <= now) this.endpoint.handleTimeout(now);
    let sent = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let progressed = false;
      while (sent < MAX_TRANSMITS_PER_TURN) {
        const t = this.endpoint.pollTransmit(now);
        if (t === null) break;
        this.socket.send(t.data, t.to.host, t.to.port);
        sent++;
        progressed = true;
      }
      for (let e = this.endpoint.pollEvent(); e !== null; e = this.endpoint.pollEvent()) {
        progressed = true;
        this.onEvent(e);
        if (this.stopped) return;
      }
      if (!progressed || sent >= MAX_TRANSMITS_PER_TURN) break;
    }
    if (sent >= MAX_TRANSMITS_PER_TURN) {
      // more to send: yield to I/O (receives, ACKs) and continue on the next turn
      this.schedule();
      return;
    }
    this.arm(now);
  };

  private arm(now: number): void {
    const at = this.endpoint.pollTimeout();
    if (at === null) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (at <= now + 0.5) {
      // sub-millisecond deadlines (pacing) cannot use setTimeout's 1 ms granularity
      this.schedule();
      return;
    }
    if (this.timer && at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - now)));
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.run();
  };
}
