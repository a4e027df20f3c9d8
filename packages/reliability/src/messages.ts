/**
 * Messages (whole or nothing): the send queue, fragment writing and retransmission, receive-side
 * reassembly and release, and their flow control. Ordered and unordered messages have separate
 * id spaces, so an ordered message waits only for earlier ordered ones. The data holders
 * (`OutMessage`, `InMessage`, `MessageReassembly`) and the per-message charge are in
 * `message-queue.ts`.
 */
import { type Frame, frameSize, type MessageFrame, messageFrameOverhead } from '@srmudp/wire';
import type { ReliableLimits } from './config.js';
import { ErrorCode, ProtocolError } from './errors.js';
import type { EventQueue } from './events.js';
import type { ConnectionFlow } from './flow-control.js';
import { InMessage, MESSAGE_CHARGE, MessageReassembly, OutMessage } from './message-queue.js';
import type { RecvSlab } from './recv-buffer.js';
import { SentFrame, SentKind } from './sent-packet.js';
import type { Counters } from './stats.js';

const EMPTY = new Uint8Array(0);

export class Messages {
  private out: OutMessage[] = [];
  /** first message of `out` not yet fully sent */
  private outHead = 0;
  private nextOrderedOut = 0;
  private nextUnorderedOut = 0;
  /** `send` returned false: 'message_writable' is owed once the budget has room */
  private wantWritable = false;
  /** messages with lost fragments (created on the first loss: an idle connection holds none) */
  private retransmit: Set<OutMessage> | null = null;
  /** receive side, created by the first message fragment (most connections never get one) */
  private reassembly: MessageReassembly | null = null;

  constructor(
    private readonly limits: Readonly<ReliableLimits>,
    private readonly flow: ConnectionFlow,
    private readonly events: EventQueue,
    private readonly counters: Counters,
    /** the connection's receive slab (recv-buffer.ts) */
    private readonly recvSlab: RecvSlab,
    /** CONTROL messages (frame 0x1d): ordered, own id space, delivered as 'control' events */
    private readonly control = false,
  ) {}

  // ------------------------------------------------------------------ application side

  /** Queues a message; false when the send budget is full (a 'message_writable' event follows). */
  send(data: Uint8Array, unordered: boolean): boolean {
    const queued = this.flow.buffered;
    if (queued > 0 && queued + data.length > this.limits.sendBuffer) {
      this.wantWritable = true;
      return false;
    }
    const id = unordered ? this.nextUnorderedOut++ : this.nextOrderedOut++;
    this.out.push(new OutMessage(id, unordered, data.slice(), this.control));
    this.flow.buffered += data.length;
    return true;
  }

  notifyWritable(): void {
    if (this.wantWritable && this.flow.buffered <= this.limits.sendBuffer / 2) {
      this.wantWritable = false;
      this.events.push({ type: 'message_writable' });
    }
  }

  /** The application took a message from `pollEvent` at `now`: its bytes and charge are free again. */
  onTaken(data: Uint8Array, now: number, srtt: number): void {
    this.flow.consume(data.length + MESSAGE_CHARGE, now, srtt);
  }

  // ------------------------------------------------------------------ peer frames

  /**
   * A fragment arrived. The message is charged to the connection window by its highest
   * fragment end plus MESSAGE_CHARGE, so many tiny messages cannot exhaust memory; the window
   * grows (bounded) for a message larger than it.
   */
  onFrame(now: number, f: MessageFrame, srtt: number): void {
    if (f.total > this.limits.maxMessageSize) {
      throw new ProtocolError(ErrorCode.MESSAGE_TOO_LARGE, `message of ${f.total} bytes`);
    }
    this.reassembly ??= new MessageReassembly();
    const re = this.reassembly;
    if (re.isDone(f.id, f.unordered)) return;
    const recv = this.flow.recv;
    const map = f.unordered ? re.unordered : re.ordered;
    let m = map.get(f.id);
    if (m === undefined) {
      if (!recv.onReceive(recv.received + MESSAGE_CHARGE)) {
        throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'message beyond the advertised limit');
      }
      m = new InMessage(f.total, this.recvSlab);
      map.set(f.id, m);
      // a message larger than the window can only arrive if the window grows (bounded)
      recv.ensureWindow(2 * (f.total + MESSAGE_CHARGE), now, srtt);
      if (recv.pending) this.flow.maxDataPending = true;
    } else if (m.total !== f.total) {
      throw new ProtocolError(ErrorCode.PROTOCOL_VIOLATION, 'message total changed');
    }
    if (m.complete) return;
    const end = f.offset + f.data.length;
    if (end > m.highest) {
      if (!recv.onReceive(recv.received + (end - m.highest))) {
        throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'message beyond the advertised limit');
      }
    }
    if (!m.add(f.offset, f.data)) return;
    if (f.unordered) {
      map.delete(f.id);
      re.unorderedDone.add(f.id, f.id + 1);
      this.events.push({ type: 'message', data: m.data!, unordered: true });
      return;
    }
    // ordered: release every complete message at the head
    while (true) {
      const head = re.ordered.get(re.nextOrdered);
      if (head === undefined || !head.complete) break;
      re.ordered.delete(re.nextOrdered);
      re.nextOrdered++;
      if (this.control) this.events.push({ type: 'control', data: head.data! });
      else this.events.push({ type: 'message', data: head.data!, unordered: false });
    }
  }

  // ------------------------------------------------------------------ acknowledged and lost fragments

  onFrameAcked(fr: SentFrame): void {
    const m = fr.msg!;
    m.buf.onAck(fr.offset, fr.length, fr.fin);
    // freed lazily from the queue head; account now
    if (m.done() && m.charged >= 0) {
      this.flow.buffered -= m.total;
      m.charged = -1;
      this.retransmit?.delete(m);
    }
  }

  onFrameLost(fr: SentFrame): void {
    const m = fr.msg!;
    if (m.done()) return;
    m.buf.onLost(fr.offset, fr.length, fr.fin);
    this.retransmit ??= new Set();
    this.retransmit.add(m);
  }

  // ------------------------------------------------------------------ sending

  hasSendWork(connCredit: number): boolean {
    if (this.retransmit !== null && this.retransmit.size > 0) return true;
    if (this.outHead < this.out.length) {
      const m = this.out[this.outHead]!;
      if (m.charged >= 0 && (m.buf.sentEnd < m.total || (m.total === 0 && !m.buf.finSent))) {
        if (connCredit > 0 || m.charged > 0) return true;
      }
    }
    return false;
  }

  /** Message fragments: lost ranges when `retransmit`, else new data in queue order. */
  write(frames: Frame[], sent: SentFrame[], room: number, retransmit: boolean): number {
    if (retransmit) {
      const lost = this.retransmit;
      if (lost === null || lost.size === 0) return room;
      for (const m of lost) {
        if (room < 16) break;
        room = this.writeLost(m, frames, sent, room);
        if (m.buf.lost.isEmpty() && !m.buf.finLost) lost.delete(m);
      }
      return room;
    }
    while (room >= 16 && this.outHead < this.out.length) {
      const m = this.out[this.outHead]!;
      if (m.charged < 0 || (m.buf.sentEnd >= m.total && (m.total > 0 || m.buf.finSent))) {
        // fully sent (maybe not yet acknowledged): the next message may start
        this.outHead++;
        if (this.outHead > 256 && this.outHead * 2 > this.out.length) {
          this.out = this.out.slice(this.outHead);
          this.outHead = 0;
        }
        continue;
      }
      const before = room;
      room = this.writeNew(m, frames, sent, room);
      if (room === before) break; // blocked by flow control
    }
    return room;
  }

  private writeLost(m: OutMessage, frames: Frame[], sent: SentFrame[], room: number): number {
    const b = m.buf;
    const total = m.total;
    while (room >= 16 && (!b.lost.isEmpty() || b.finLost)) {
      if (total === 0) {
        room = this.writeEmpty(m, frames, sent, room);
        b.finLost = false;
        continue;
      }
      if (b.lost.isEmpty()) {
        b.finLost = false;
        break;
      }
      const s = b.lost.startAt(0);
      const e = b.lost.endAt(0);
      const oh = messageFrameOverhead(m.id, s, total, Math.min(e - s, room));
      const len = Math.min(e - s, room - oh);
      if (len <= 0) break;
      const data = b.read(s, len);
      b.lost.remove(s, s + len);
      const fin = s + len === total;
      if (fin) b.finLost = false;
      frames.push(this.frame(m, s, total, data));
      room -= oh + len;
      sent.push(new SentFrame(SentKind.Message, null, m, s, len, fin));
      this.counters.retransmittedBytes += len;
    }
    return room;
  }

  /** New fragments, charged to connection credit (highest offset + MESSAGE_CHARGE at the start). */
  private writeNew(m: OutMessage, frames: Frame[], sent: SentFrame[], room: number): number {
    const b = m.buf;
    const total = m.total;
    const credit = this.flow.send;
    let available = credit.available();
    if (m.charged === 0) {
      if (available < MESSAGE_CHARGE + Math.min(total, 1)) return room;
      credit.used += MESSAGE_CHARGE;
      m.charged = MESSAGE_CHARGE;
      available -= MESSAGE_CHARGE;
    }
    if (total === 0) {
      room = this.writeEmpty(m, frames, sent, room);
      b.finSent = true;
      return room;
    }
    const s = b.sentEnd;
    const avail = Math.min(total - s, available);
    if (avail <= 0) return room;
    const oh = messageFrameOverhead(m.id, s, total, Math.min(avail, room));
    const len = Math.min(avail, room - oh);
    if (len <= 0) return room;
    const data = b.read(s, len);
    b.sentEnd = s + len;
    credit.used += len;
    m.charged += len;
    const fin = s + len === total;
    if (fin) b.finSent = true;
    frames.push(this.frame(m, s, total, data));
    sent.push(new SentFrame(SentKind.Message, null, m, s, len, fin));
    return room - oh - len;
  }

  /** The single fragment of an empty message. */
  private writeEmpty(m: OutMessage, frames: Frame[], sent: SentFrame[], room: number): number {
    const f: Frame = this.frame(m, 0, 0, EMPTY);
    frames.push(f);
    sent.push(new SentFrame(SentKind.Message, null, m, 0, 0, true));
    return room - frameSize(f);
  }

  private frame(m: OutMessage, offset: number, total: number, data: Uint8Array): MessageFrame {
    const f: MessageFrame = { type: 'message', id: m.id, offset, total, unordered: m.unordered, data };
    if (this.control) f.control = true;
    return f;
  }
}
