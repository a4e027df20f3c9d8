/**
 * Flow-control credit, RFC 9000 §4. `SendCredit` is the peer's limit on what we may send;
 * `RecvWindow` is our limit on what the peer may send, advertised with MAX_DATA /
 * MAX_STREAM_DATA. The receive window auto-tunes (like quinn and Chromium, with a wider test): when a window's
 * worth of credit is consumed within four RTTs of the previous update (loss makes consumption
 * bursty: a hole holds data back for an RTT, then releases it), the window doubles, up to
 * a fixed bound, so memory stays bounded while long fat paths still fill.
 */
export class SendCredit {
  constructor(
    public limit: number,
    public used = 0,
  ) {}

  available(): number {
    return this.limit > this.used ? this.limit - this.used : 0;
  }

  /** MAX_* frames only ever raise the limit (RFC 9000 §4.1); returns true when it grew. */
  raise(max: number): boolean {
    if (max > this.limit) {
      this.limit = max;
      return true;
    }
    return false;
  }
}

export class RecvWindow {
  /** highest byte offset the peer may send (advertised) */
  limit: number;
  /** highest byte offset received (or charged) */
  received = 0;
  /** bytes the application has consumed */
  consumed = 0;
  window: number;
  private lastUpdate = Number.NEGATIVE_INFINITY;
  /** a new limit is waiting to be sent */
  pending = false;

  constructor(
    window: number,
    readonly maxWindow: number,
  ) {
    this.window = window;
    this.limit = window;
  }

  /** Records that bytes up to `end` arrived; false when that exceeds the advertised limit. */
  onReceive(end: number): boolean {
    if (end > this.limit) return false;
    if (end > this.received) this.received = end;
    return true;
  }

  /** The application consumed `n` bytes; may schedule a window update. */
  onConsume(n: number, now: number, srtt: number): void {
    this.consumed += n;
    if (this.limit - this.consumed < this.window / 2) this.grant(now, srtt);
  }

  /** Grows the window to at least `size` (bounded), e.g. for a message larger than it. */
  ensureWindow(size: number, now: number, srtt: number): void {
    if (size <= this.window) return;
    this.window = Math.min(this.maxWindow, size);
    this.grant(now, srtt);
  }

  private grant(now: number, srtt: number): void {
    if (now - this.lastUpdate < 4 * srtt && this.window < this.maxWindow) {
      this.window = Math.min(this.window * 2, this.maxWindow);
    }
    this.lastUpdate = now;
    const next = this.consumed + this.window;
    if (next > this.limit) {
      this.limit = next;
      this.pending = true;
    }
  }
}
