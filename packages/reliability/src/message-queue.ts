import { RangeSet } from './range-set.js';
import { RecvBuffer, type RecvSlab } from './recv-buffer.js';
import { SendBuffer } from './send-buffer.js';

/**
 * Messages: a message arrives whole or not at all. Each is sent as MESSAGE fragments (id, offset,
 * total) retransmitted like stream data until acknowledged; ordered and unordered messages use
 * separate id spaces so the receiver knows which ids an ordered message waits for. Messages are
 * charged to connection-level flow control by the highest fragment offset plus MESSAGE_CHARGE
 * bytes per message, so the receiver's memory (bytes and per-message book-keeping) is bounded by
 * the window it advertised.
 */
export const MESSAGE_CHARGE = 64;

export class OutMessage {
  readonly buf = new SendBuffer();
  /** connection credit charged so far (highest offset sent + MESSAGE_CHARGE once started) */
  charged = 0;
  constructor(
    readonly id: number,
    readonly unordered: boolean,
    data: Uint8Array,
    /** a CONTROL message (its acknowledgements and losses go to the control queue) */
    readonly control = false,
  ) {
    this.buf.write(data);
    this.buf.fin = true;
  }
  get total(): number {
    return this.buf.end;
  }
  done(): boolean {
    return this.buf.allAcked();
  }
}

export class InMessage {
  readonly buf: RecvBuffer;
  /** highest fragment end seen (for flow-control accounting) */
  highest = 0;
  complete = false;
  data: Uint8Array | null = null;
  /** `recvSlab`: the connection's (recv-buffer.ts) */
  constructor(
    readonly total: number,
    recvSlab: RecvSlab,
  ) {
    this.buf = new RecvBuffer(recvSlab);
  }

  /** Adds a fragment; returns true when the message became complete. */
  add(offset: number, data: Uint8Array): boolean {
    if (this.complete) return false;
    this.buf.insert(offset, data);
    if (offset + data.length > this.highest) this.highest = offset + data.length;
    if (this.buf.contiguous() >= this.total) {
      this.complete = true;
      this.data = this.total === 0 ? new Uint8Array(0) : this.buf.read(this.total);
      this.buf.clear();
      return true;
    }
    return false;
  }
}

/** Receive side: reassembly and (for ordered messages) in-order release. */
export class MessageReassembly {
  readonly ordered = new Map<number, InMessage>();
  readonly unordered = new Map<number, InMessage>();
  nextOrdered = 0;
  /** unordered ids already delivered */
  readonly unorderedDone = new RangeSet();

  /** A known-finished message (a duplicate fragment to ignore). */
  isDone(id: number, unordered: boolean): boolean {
    return unordered ? this.unorderedDone.has(id) : id < this.nextOrdered;
  }
}
