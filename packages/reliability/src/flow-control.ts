import { type Frame, frameSize } from '@srmudp/wire';
import { SentFrame, SentKind } from './sent-packet.js';

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
  /** when the window was last granted; null before the first (not -Infinity: a number field
   * holds a 16-byte box in every window, issue 19) */
  private lastUpdate: number | null = null;
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
    if (this.lastUpdate !== null && now - this.lastUpdate < 4 * srtt && this.window < this.maxWindow) {
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

/**
 * Connection-level flow control (RFC 9000 §4.1: MAX_DATA both ways) and the local send budget
 * (`limits.sendBuffer`) that streams and messages share.
 */
export class ConnectionFlow {
  /** the peer's MAX_DATA: how much stream and message data we may send */
  readonly send: SendCredit;
  /** our MAX_DATA: how much the peer may send */
  readonly recv: RecvWindow;
  /** a MAX_DATA frame is owed (a new limit, or the last one was lost) */
  maxDataPending = false;
  /** bytes of stream and message data buffered until acknowledged (write backpressure) */
  buffered = 0;

  constructor(initialLimit: number, window: number, maxWindow: number) {
    this.send = new SendCredit(initialLimit);
    this.recv = new RecvWindow(initialLimit, maxWindow);
    // announce our real window in the first packet
    if (window > initialLimit) {
      this.recv.window = window;
      this.recv.limit = window;
      this.maxDataPending = true;
    }
  }

  /** The application consumed `n` bytes (read, discarded or taken as a message) at `now`. */
  consume(n: number, now: number, srtt: number): void {
    this.recv.onConsume(n, now, srtt);
    if (this.recv.pending) this.maxDataPending = true;
  }

  /** Writes MAX_DATA when one is owed and fits; returns the room left. */
  writeMaxData(frames: Frame[], sent: SentFrame[], room: number): number {
    if (!this.maxDataPending) return room;
    const f: Frame = { type: 'max_data', max: this.recv.limit };
    const sz = frameSize(f);
    if (sz <= room) {
      frames.push(f);
      sent.push(new SentFrame(SentKind.MaxData, null, null, 0, 0, false));
      room -= sz;
      this.maxDataPending = false;
      this.recv.pending = false;
    }
    return room;
  }
}
