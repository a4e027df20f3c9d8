/**
 * Stream lifecycle (RFC 9000 §2-4; quinn-proto's `connection/streams/`): ids by role parity,
 * streams opened implicitly by the peer's first frame up to MAX_STREAMS, per-stream flow control
 * and its share of the connection's, half-close with FIN, RESET_STREAM and STOP_SENDING,
 * write backpressure, and forgetting a stream once both directions are done (a closed peer
 * stream returns its MAX_STREAMS credit). Also writes the stream frames of a packet: control
 * frames first, then retransmissions and new data round-robin over the streams with work.
 */
import {
  type Frame,
  frameSize,
  type ResetStreamFrame,
  type StopSendingFrame,
  type StreamFrame,
} from '@srmudp/wire';
import {
  PROTOCOL_INITIAL_MAX_STREAM_DATA,
  PROTOCOL_INITIAL_MAX_STREAMS,
  type ReliableLimits,
} from './config.js';
import { ReliableError } from './error-codes.js';
import { ErrorCode, ProtocolError } from './errors.js';
import type { EventQueue } from './events.js';
import type { ConnectionFlow } from './flow-control.js';
import type { RecvSlab } from './recv-buffer.js';
import { SentFrame, SentKind } from './sent-packet.js';
import type { Counters } from './stats.js';
import { Stream } from './stream.js';

/** Never written: `create` replaces it with a map of the connection's own. */
const NO_STREAMS = new Map<number, Stream>();
/** the queues' shared empty array until their first stream (an idle connection has none; issue
 * 19): never written, each writer replaces it first */
const NO_QUEUE: Stream[] = [];

export class StreamSet {
  /** the open streams; the shared empty map until the first (an idle connection has none) */
  private streams: Map<number, Stream> = NO_STREAMS;
  /** parity of the ids we open: 0 for the initiator, 1 for the responder */
  private readonly localParity: 0 | 1;
  private nextLocalIndex = 0;
  private peerMaxStreams = PROTOCOL_INITIAL_MAX_STREAMS;
  private nextPeerIndex = 0;
  private localMaxStreams = PROTOCOL_INITIAL_MAX_STREAMS;
  private closedPeerStreams = 0;
  /** a MAX_STREAMS frame is owed */
  maxStreamsPending = false;
  /** streams with something to send, round-robin; NO_QUEUE (shared, never written) until the first */
  private sendQueue: Stream[] = NO_QUEUE;
  private writableWaiters: Set<Stream> | null = null;
  /** streams whose acknowledged frames may have finished them (see `forgetAcked`); NO_QUEUE until
   * the first */
  private touched: Stream[] = NO_QUEUE;

  constructor(
    role: 'initiator' | 'responder',
    private readonly limits: Readonly<ReliableLimits>,
    private readonly flow: ConnectionFlow,
    private readonly events: EventQueue,
    private readonly counters: Counters,
    /** the connection: told when room in the send budget may have opened (streams and messages
     * wait on it); its receive slab, for the streams' copies (never another connection's) */
    private readonly host: { notifyWritable(): void; recvSlab(): RecvSlab },
  ) {
    this.localParity = role === 'initiator' ? 0 : 1;
    // announce our real stream limit in the first packet
    if (limits.maxStreams > PROTOCOL_INITIAL_MAX_STREAMS) {
      this.localMaxStreams = limits.maxStreams;
      this.maxStreamsPending = true;
    }
  }

  get size(): number {
    return this.streams.size;
  }

  ids(): number[] {
    return [...this.streams.keys()];
  }

  // ------------------------------------------------------------------ application side

  canOpen(): boolean {
    return this.nextLocalIndex < this.peerMaxStreams;
  }

  open(): number {
    if (this.nextLocalIndex >= this.peerMaxStreams) {
      throw new ReliableError('STREAM_LIMIT', `peer allows ${this.peerMaxStreams} streams`);
    }
    const id = this.nextLocalIndex * 2 + this.localParity;
    this.nextLocalIndex++;
    this.create(id, false);
    return id;
  }

  write(id: number, data: Uint8Array): number {
    const st = this.forApi(id);
    if (st.send.fin) throw new RangeError(`stream ${id} is finished`);
    if (st.resetCode >= 0) return 0;
    const room = Math.min(
      this.limits.streamSendBuffer - st.send.buffered(),
      this.limits.sendBuffer - this.flow.buffered,
      Number.MAX_SAFE_INTEGER - st.send.end,
    );
    const n = Math.max(0, Math.min(room, data.length));
    if (n < data.length) {
      st.wantWritable = true;
      (this.writableWaiters ??= new Set()).add(st);
    }
    if (n === 0) return 0;
    st.send.write(data.slice(0, n));
    this.flow.buffered += n;
    this.enqueue(st);
    return n;
  }

  writable(id: number): number {
    const st = this.forApi(id);
    if (st.send.fin || st.resetCode >= 0) return 0;
    return Math.max(
      0,
      Math.min(
        this.limits.streamSendBuffer - st.send.buffered(),
        this.limits.sendBuffer - this.flow.buffered,
      ),
    );
  }

  finish(id: number): void {
    const st = this.forApi(id);
    if (st.resetCode >= 0 || st.send.fin) return;
    st.send.fin = true;
    this.enqueue(st);
  }

  /** Reads in order; the bytes return stream and connection credit at `now` (window auto-tuning). */
  read(now: number, id: number, max: number, srtt: number): Uint8Array | null {
    const st = this.streams.get(id);
    if (st === undefined) {
      if (this.isKnownClosed(id)) return null;
      throw new RangeError(`unknown stream ${id}`);
    }
    st.readableNotified = false;
    if (st.recvReset || st.stopCode >= 0) return null;
    const out = st.recv.readView(max);
    if (out !== null) {
      st.recvWindow.onConsume(out.length, now, srtt);
      if (st.recvWindow.pending) st.maxDataPending = true;
      this.flow.consume(out.length, now, srtt);
    }
    this.checkRecvFinished(st);
    this.maybeForget(st);
    return out;
  }

  reset(id: number, code: number): void {
    this.resetSend(this.forApi(id), code);
  }

  stopSending(now: number, id: number, code: number, srtt: number): void {
    const st = this.forApi(id);
    if (st.stopCode >= 0 || st.recvReset) return;
    st.stopCode = code;
    st.stopPending = true;
    this.discardRecv(st, now, srtt);
  }

  recvComplete(id: number): boolean {
    const st = this.streams.get(id);
    if (st === undefined || st.finalSize < 0 || st.recvReset || st.stopCode >= 0) return false;
    return st.recv.readOffset + st.recv.bufferedBytes >= st.finalSize;
  }

  /** FINs, resets and window updates not yet sent or acknowledged, 1 each (`sendBacklog`). */
  backlog(): number {
    let n = 0;
    for (const st of this.streams.values()) {
      if (st.resetCode >= 0 ? !st.resetAcked : st.send.fin && !st.send.finAcked) n++;
      if (st.maxDataPending || st.stopPending) n++;
    }
    return n;
  }

  /** Streams waiting for room get 'writable' when at least half their buffer is free. */
  notifyWaiters(): void {
    const waiters = this.writableWaiters;
    if (waiters === null || waiters.size === 0) return;
    for (const st of waiters) {
      if (st.resetCode >= 0) {
        waiters.delete(st);
        continue;
      }
      const room = Math.min(
        this.limits.streamSendBuffer - st.send.buffered(),
        this.limits.sendBuffer - this.flow.buffered,
      );
      if (room >= Math.min(this.limits.streamSendBuffer / 2, this.limits.sendBuffer / 4)) {
        st.wantWritable = false;
        waiters.delete(st);
        this.events.push({ type: 'writable', streamId: st.id });
      }
    }
  }

  /** The connection closed: nothing more is sent. */
  releaseAll(): void {
    this.sendQueue = NO_QUEUE;
  }

  // ------------------------------------------------------------------ peer frames

  onStreamFrame(now: number, f: StreamFrame, srtt: number): void {
    const st = this.forPeer(f.streamId);
    const end = f.offset + f.data.length;
    if (end > Number.MAX_SAFE_INTEGER)
      throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'offset overflow');
    if (st === null) return;
    st.chargeRecv(end, this.flow.recv);
    if (st.finalSize >= 0 && end > st.finalSize) {
      throw new ProtocolError(ErrorCode.FINAL_SIZE_ERROR, 'data beyond the final size');
    }
    if (f.fin) {
      if (st.finalSize >= 0 && st.finalSize !== end) {
        throw new ProtocolError(ErrorCode.FINAL_SIZE_ERROR, 'final size changed');
      }
      if (end < st.recvHighest)
        throw new ProtocolError(ErrorCode.FINAL_SIZE_ERROR, 'final size below received data');
      st.finalSize = end;
    }
    if (st.recvReset || st.stopCode >= 0) {
      // discarded: credit goes straight back
      this.discardRecv(st, now, srtt);
      this.maybeForget(st);
      return;
    }
    if (f.data.length > 0) st.recv.insert(f.offset, f.data);
    if (st.recv.hasReadable() && !st.readableNotified) {
      st.readableNotified = true;
      this.events.push({ type: 'readable', streamId: st.id });
    }
    this.checkRecvFinished(st);
  }

  onResetStream(now: number, f: ResetStreamFrame, srtt: number): void {
    const st = this.forPeer(f.streamId);
    if (st === null) return;
    const finalSize = f.finalSize;
    if (st.finalSize >= 0 && st.finalSize !== finalSize) {
      throw new ProtocolError(ErrorCode.FINAL_SIZE_ERROR, 'final size changed by RESET_STREAM');
    }
    if (finalSize < st.recvHighest)
      throw new ProtocolError(ErrorCode.FINAL_SIZE_ERROR, 'final size below received data');
    st.chargeRecv(finalSize, this.flow.recv);
    st.finalSize = finalSize;
    if (st.recvReset) return;
    st.recvReset = true;
    this.discardRecv(st, now, srtt);
    if (!st.recvClosedNotified && st.stopCode < 0) {
      st.recvClosedNotified = true;
      this.events.push({ type: 'stream_reset', streamId: st.id, code: f.code });
    } else st.recvClosedNotified = true;
    this.maybeForget(st);
  }

  onStopSending(f: StopSendingFrame): void {
    const st = this.forPeer(f.streamId);
    if (st === null) return;
    if (st.resetCode < 0 && !st.sendDone()) {
      this.resetSend(st, f.code);
      this.events.push({ type: 'stream_stopped', streamId: st.id, code: f.code });
    }
  }

  /** MAX_DATA raised: streams blocked on connection credit left the round-robin, bring them back. */
  onMaxData(max: number): void {
    if (this.flow.send.raise(max)) {
      for (const st of this.streams.values()) if (st.send.sentEnd < st.send.end) this.enqueue(st);
    }
  }

  onMaxStreamData(streamId: number, max: number): void {
    const st = this.forPeer(streamId);
    if (st?.sendCredit.raise(max)) this.enqueue(st);
  }

  onMaxStreams(max: number): void {
    if (max > this.peerMaxStreams) this.peerMaxStreams = Math.min(max, 2 ** 50);
  }

  // ------------------------------------------------------------------ acknowledged and lost frames

  /** A stream frame or RESET_STREAM of ours was acknowledged. */
  onFrameAcked(fr: SentFrame): void {
    const st = fr.stream!;
    if (fr.kind === SentKind.Stream) {
      if (st.resetCode >= 0) return;
      const before = st.send.base;
      st.send.onAck(fr.offset, fr.length, fr.fin);
      this.flow.buffered -= st.send.base - before;
      this.touch(st);
    } else if (fr.kind === SentKind.ResetStream) {
      st.resetAcked = true;
      this.touch(st);
    }
  }

  /** After an ACK: forget the streams it finished. */
  forgetAcked(): void {
    const t = this.touched;
    if (t.length === 0) return;
    for (let i = 0; i < t.length; i++) this.maybeForget(t[i]!);
    t.length = 0;
  }

  /** A stream-owned frame (data, MAX_STREAM_DATA, MAX_STREAMS, RESET_STREAM, STOP_SENDING) was lost. */
  onFrameLost(fr: SentFrame): void {
    switch (fr.kind) {
      case SentKind.Stream: {
        const st = fr.stream!;
        if (st.resetCode >= 0 || !this.streams.has(st.id)) break;
        st.send.onLost(fr.offset, fr.length, fr.fin);
        this.enqueue(st);
        break;
      }
      case SentKind.MaxStreamData: {
        const st = fr.stream!;
        if (this.streams.has(st.id) && st.finalSize < 0 && !st.recvReset && st.stopCode < 0) {
          st.maxDataPending = true;
        }
        break;
      }
      case SentKind.MaxStreams:
        this.maxStreamsPending = true;
        break;
      case SentKind.ResetStream:
        if (!fr.stream!.resetAcked) fr.stream!.resetPending = true;
        break;
      case SentKind.StopSending: {
        const st = fr.stream!;
        if (this.streams.has(st.id) && !st.recvReset) st.stopPending = true;
        break;
      }
    }
  }

  // ------------------------------------------------------------------ sending

  /** A stream has a control frame to send (MAX_STREAM_DATA, STOP_SENDING, RESET_STREAM). */
  hasControlWork(): boolean {
    for (const st of this.streams.values()) {
      if (st.maxDataPending || st.stopPending || st.resetPending) return true;
    }
    return false;
  }

  hasSendWork(connCredit: number): boolean {
    const q = this.sendQueue;
    for (let i = 0; i < q.length; i++) if (q[i]!.hasSendWork(connCredit)) return true;
    return false;
  }

  writeMaxStreams(frames: Frame[], sent: SentFrame[], room: number): number {
    if (!this.maxStreamsPending) return room;
    const f: Frame = { type: 'max_streams', max: this.localMaxStreams };
    const sz = frameSize(f);
    if (sz <= room) {
      frames.push(f);
      sent.push(new SentFrame(SentKind.MaxStreams, null, null, 0, 0, false));
      room -= sz;
      this.maxStreamsPending = false;
    }
    return room;
  }

  /** MAX_STREAM_DATA, RESET_STREAM and STOP_SENDING of every stream that owes one. */
  writeControl(frames: Frame[], sent: SentFrame[], room: number): number {
    for (const st of this.streams.values()) {
      if (room < 24) break;
      if (st.maxDataPending) {
        st.maxDataPending = false;
        st.recvWindow.pending = false;
        if (st.finalSize < 0 && !st.recvReset && st.stopCode < 0) {
          const f: Frame = { type: 'max_stream_data', streamId: st.id, max: st.recvWindow.limit };
          room -= frameSize(f);
          frames.push(f);
          sent.push(new SentFrame(SentKind.MaxStreamData, st, null, 0, 0, false));
        }
      }
      if (st.resetPending) {
        st.resetPending = false;
        const f: Frame = {
          type: 'reset_stream',
          streamId: st.id,
          code: st.resetCode,
          finalSize: st.send.end,
        };
        room -= frameSize(f);
        frames.push(f);
        sent.push(new SentFrame(SentKind.ResetStream, st, null, 0, 0, false));
      }
      if (st.stopPending) {
        st.stopPending = false;
        const f: Frame = { type: 'stop_sending', streamId: st.id, code: st.stopCode };
        room -= frameSize(f);
        frames.push(f);
        sent.push(new SentFrame(SentKind.StopSending, st, null, 0, 0, false));
      }
    }
    return room;
  }

  /** Stream data round-robin: lost ranges when `retransmit`, else new data within flow control. */
  writeData(frames: Frame[], sent: SentFrame[], room: number, retransmit: boolean): number {
    const q = this.sendQueue;
    let n = q.length;
    while (n-- > 0 && room >= 16 && q.length > 0) {
      const st = q.shift()!;
      room = st.writeFrames(frames, sent, room, retransmit, this.flow.send, this.counters);
      const more = this.streams.has(st.id) && st.hasSendWork(this.flow.send.available());
      if (more) q.push(st);
      else st.queued = false;
    }
    return room;
  }

  // ------------------------------------------------------------------ internals

  private touch(st: Stream): void {
    if (this.touched === NO_QUEUE) this.touched = [];
    this.touched.push(st);
  }

  private create(id: number, peer: boolean): Stream {
    const st = new Stream(
      id,
      peer,
      PROTOCOL_INITIAL_MAX_STREAM_DATA,
      PROTOCOL_INITIAL_MAX_STREAM_DATA,
      this.limits.maxStreamReceiveWindow,
      this.host.recvSlab(),
    );
    if (this.limits.streamReceiveWindow > PROTOCOL_INITIAL_MAX_STREAM_DATA) {
      st.recvWindow.window = this.limits.streamReceiveWindow;
      st.recvWindow.limit = this.limits.streamReceiveWindow;
      st.maxDataPending = true;
    }
    if (this.streams === NO_STREAMS) this.streams = new Map();
    this.streams.set(id, st);
    return st;
  }

  /** The stream a peer frame refers to, opening peer streams implicitly; null = closed, ignore. */
  private forPeer(id: number): Stream | null {
    const st = this.streams.get(id);
    if (st !== undefined) return st;
    const local = (id & 1) === this.localParity;
    const index = Math.floor(id / 2);
    if (local) {
      if (index >= this.nextLocalIndex) {
        throw new ProtocolError(ErrorCode.STREAM_STATE_ERROR, `stream ${id} was never opened`);
      }
      return null;
    }
    if (index < this.nextPeerIndex) return null;
    if (index >= this.localMaxStreams) {
      throw new ProtocolError(ErrorCode.STREAM_LIMIT_ERROR, `stream ${id} beyond MAX_STREAMS`);
    }
    let opened: Stream | null = null;
    while (this.nextPeerIndex <= index) {
      const sid = this.nextPeerIndex * 2 + (1 - this.localParity);
      this.nextPeerIndex++;
      opened = this.create(sid, true);
      this.events.push({ type: 'stream_opened', streamId: sid });
    }
    return opened;
  }

  private isKnownClosed(id: number): boolean {
    if (!Number.isSafeInteger(id) || id < 0) return false;
    const local = (id & 1) === this.localParity;
    const index = Math.floor(id / 2);
    return local ? index < this.nextLocalIndex : index < this.nextPeerIndex;
  }

  private forApi(id: number): Stream {
    const st = this.streams.get(id);
    if (st === undefined) throw new RangeError(`unknown stream ${id}`);
    return st;
  }

  /** Drops unread bytes of a stream whose receive side is reset or stopped, returning credit. */
  private discardRecv(st: Stream, now: number, srtt: number): void {
    const unread = st.discardRecv();
    if (unread > 0) this.flow.consume(unread, now, srtt);
  }

  private checkRecvFinished(st: Stream): void {
    if (st.recvClosedNotified || st.recvReset || st.stopCode >= 0) return;
    if (st.finalSize >= 0 && st.recv.readOffset >= st.finalSize) {
      st.recvClosedNotified = true;
      this.events.push({ type: 'stream_finished', streamId: st.id });
    }
  }

  private resetSend(st: Stream, code: number): void {
    if (st.resetCode >= 0 || st.sendDone()) return;
    st.resetCode = code;
    st.resetPending = true;
    this.flow.buffered -= st.send.buffered();
    st.send.clear();
    st.wantWritable = false;
    this.writableWaiters?.delete(st);
    this.host.notifyWritable();
  }

  private enqueue(st: Stream): void {
    if (!st.queued) {
      st.queued = true;
      if (this.sendQueue === NO_QUEUE) this.sendQueue = [];
      this.sendQueue.push(st);
    }
  }

  /** Forgets a stream whose both halves are done; peer streams return MAX_STREAMS credit. */
  private maybeForget(st: Stream): void {
    if (!this.streams.has(st.id) || !st.sendDone() || !st.recvDone()) return;
    // a window update for a stream whose final size is known is never sent
    if (st.finalSize >= 0 || st.recvReset) st.maxDataPending = false;
    if (st.maxDataPending || st.stopPending || st.resetPending) return;
    this.streams.delete(st.id);
    this.writableWaiters?.delete(st);
    if (st.peerInitiated) {
      this.closedPeerStreams++;
      const next = this.closedPeerStreams + this.limits.maxStreams;
      if (next > this.localMaxStreams) {
        this.localMaxStreams = next;
        this.maxStreamsPending = true;
      }
    }
  }
}
