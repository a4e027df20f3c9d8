import { RecvWindow, SendCredit } from './flow-control.js';
import { RecvBuffer } from './recv-buffer.js';
import { SendBuffer } from './send-buffer.js';

/**
 * One bidirectional stream (RFC 9000 §2-3): a send half (buffer, the peer's credit, FIN, reset)
 * and a receive half (reassembly, our window, final size, reset / stop-sending). The connection
 * drives the state; this holds it.
 */
export class Stream {
  readonly send = new SendBuffer();
  readonly sendCredit: SendCredit;
  /** RESET_STREAM sent by us: code, or -1 */
  resetCode = -1;
  resetPending = false;
  resetAcked = false;
  /** the application wants a 'writable' event */
  wantWritable = false;
  /** queued in the connection's send round-robin */
  queued = false;

  readonly recv = new RecvBuffer();
  readonly recvWindow: RecvWindow;
  /** highest offset received (for connection-level accounting) */
  recvHighest = 0;
  /** final size once known (FIN or RESET_STREAM), else -1 */
  finalSize = -1;
  /** the peer reset its side */
  recvReset = false;
  /** we sent STOP_SENDING: incoming data is discarded */
  stopCode = -1;
  stopPending = false;
  /** 'stream_finished' or 'stream_reset' was emitted */
  recvClosedNotified = false;
  readableNotified = false;
  /** a MAX_STREAM_DATA for this stream is waiting */
  maxDataPending = false;

  constructor(
    readonly id: number,
    readonly peerInitiated: boolean,
    sendLimit: number,
    recvWindow: number,
    recvMaxWindow: number,
  ) {
    this.sendCredit = new SendCredit(sendLimit);
    this.recvWindow = new RecvWindow(recvWindow, recvMaxWindow);
  }

  /** Our send half is finished: everything (with FIN) acknowledged, or a reset acknowledged. */
  sendDone(): boolean {
    if (this.resetCode >= 0) return this.resetAcked;
    return this.send.fin && this.send.allAcked();
  }

  /** Our receive half is finished: every byte up to the final size read, or the peer reset. */
  recvDone(): boolean {
    if (this.recvReset) return this.recvClosedNotified;
    if (this.finalSize < 0) return false;
    if (this.stopCode >= 0) return true;
    return this.recv.readOffset >= this.finalSize && this.recvClosedNotified;
  }

  /** Something of this stream can be sent (ignoring flow control for retransmissions). */
  hasSendWork(connCredit: number): boolean {
    if (this.resetCode >= 0) return false;
    const s = this.send;
    if (!s.lost.isEmpty() || s.finLost) return true;
    if (s.fin && !s.finSent && s.sentEnd === s.end) return true;
    if (s.sentEnd < s.end) return this.sendCredit.available() > 0 && connCredit > 0;
    return false;
  }
}
