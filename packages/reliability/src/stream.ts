import { type Frame, frameSize, type StreamFrame, streamFrameOverhead } from '@srmudp/wire';
import { ErrorCode, ProtocolError } from './errors.js';
import { RecvWindow, SendCredit } from './flow-control.js';
import { RecvBuffer, type RecvSlab } from './recv-buffer.js';
import { SendBuffer } from './send-buffer.js';
import { SentFrame, SentKind } from './sent-packet.js';
import type { Counters } from './stats.js';

const EMPTY = new Uint8Array(0);

/**
 * One bidirectional stream (RFC 9000 §2-3): a send half (buffer, the peer's credit, FIN, reset)
 * and a receive half (reassembly, our window, final size, reset / stop-sending), with the rules
 * that concern this stream alone (its frames, its flow-control charge). `StreamSet` drives the
 * lifecycle.
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

  readonly recv: RecvBuffer;
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
    /** the connection's receive slab (recv-buffer.ts) */
    recvSlab: RecvSlab,
  ) {
    this.recv = new RecvBuffer(recvSlab);
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

  /** Flow-control accounting for data up to `end` (RFC 9000 §4.1, §4.5): this stream's window, then the connection's. */
  chargeRecv(end: number, conn: RecvWindow): void {
    if (end <= this.recvHighest) return;
    if (!this.recvWindow.onReceive(end)) {
      throw new ProtocolError(
        ErrorCode.FLOW_CONTROL_ERROR,
        `stream ${this.id} data beyond the advertised limit`,
      );
    }
    const delta = end - this.recvHighest;
    this.recvHighest = end;
    if (!conn.onReceive(conn.received + delta)) {
      throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'connection data beyond the advertised limit');
    }
  }

  /** Drops the unread bytes (receive side reset or stopped); returns how many, for the credit. */
  discardRecv(): number {
    const unread = this.recvHighest - this.recv.readOffset;
    this.recv.clear();
    this.recv.readOffset = this.recvHighest;
    return unread;
  }

  /** STREAM frames into a packet: lost ranges when `retransmit`, else new data within `conn` and our credit. */
  writeFrames(
    frames: Frame[],
    sent: SentFrame[],
    room: number,
    retransmit: boolean,
    conn: SendCredit,
    counters: Counters,
  ): number {
    if (this.resetCode >= 0) return room;
    const b = this.send;
    if (retransmit) {
      while (room >= 16 && !b.lost.isEmpty()) {
        const s = b.lost.startAt(0);
        const e = b.lost.endAt(0);
        const oh = streamFrameOverhead(this.id, s, Math.min(e - s, room));
        const len = Math.min(e - s, room - oh);
        if (len <= 0) break;
        const data = b.read(s, len);
        b.lost.remove(s, s + len);
        const fin = b.fin && s + len === b.end;
        if (fin) b.finLost = false;
        frames.push({ type: 'stream', streamId: this.id, offset: s, fin, data });
        sent.push(new SentFrame(SentKind.Stream, this, null, s, len, fin));
        counters.retransmittedBytes += len;
        room -= oh + len;
      }
      if (b.finLost && b.lost.isEmpty() && b.sentEnd === b.end && room >= 16) {
        // the FIN alone was lost
        room = this.writeFin(frames, sent, room);
        b.finLost = false;
      }
      return room;
    }
    const avail = Math.min(b.end - b.sentEnd, this.sendCredit.available(), conn.available());
    if (avail > 0) {
      const s = b.sentEnd;
      const oh = streamFrameOverhead(this.id, s, Math.min(avail, room));
      const len = Math.min(avail, room - oh);
      if (len <= 0) return room;
      const data = b.read(s, len);
      b.sentEnd = s + len;
      this.sendCredit.used += len;
      conn.used += len;
      const fin = b.fin && b.sentEnd === b.end;
      if (fin) b.finSent = true;
      frames.push({ type: 'stream', streamId: this.id, offset: s, fin, data });
      sent.push(new SentFrame(SentKind.Stream, this, null, s, len, fin));
      return room - oh - len;
    }
    if (b.fin && !b.finSent && b.sentEnd === b.end) {
      room = this.writeFin(frames, sent, room);
      b.finSent = true;
    }
    return room;
  }

  /** An empty STREAM frame carrying only the FIN. */
  private writeFin(frames: Frame[], sent: SentFrame[], room: number): number {
    const end = this.send.end;
    const f: StreamFrame = { type: 'stream', streamId: this.id, offset: end, fin: true, data: EMPTY };
    frames.push(f);
    sent.push(new SentFrame(SentKind.Stream, this, null, end, 0, true));
    return room - frameSize(f);
  }
}
