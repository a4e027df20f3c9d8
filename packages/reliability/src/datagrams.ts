/**
 * What is sent once and never retransmitted: unreliable datagrams (RFC 9221 style), dropped and
 * counted when they do not fit one packet or their queue is full, and the frames core queues
 * (path_challenge, path_response, relay, ping), which core makes reliable itself. Both have
 * bounded queues in each direction.
 */
import { type DatagramFrame, type Frame, frameSize } from '@srmudp/wire';
import type { ReliableLimits } from './config.js';
import type { EventQueue } from './events.js';
import type { Counters } from './stats.js';

export class Datagrams {
  private queue: Uint8Array[] = [];
  /** bytes in `queue` (datagram payloads) */
  private queuedBytes = 0;
  /** bytes of received datagrams not yet taken from `pollEvent` */
  private receivedBytes = 0;
  private coreFrames: Frame[] = [];
  private coreFrameBytes = 0;

  constructor(
    private readonly limits: Readonly<ReliableLimits>,
    private readonly events: EventQueue,
    private readonly counters: Counters,
  ) {}

  /** Queues a datagram; false when it does not fit one packet of `maxPayload` or the queue is full. */
  send(data: Uint8Array, maxPayload: number): boolean {
    if (frameSize({ type: 'datagram', data }) > maxPayload) {
      this.counters.datagramTooBig++;
      return false;
    }
    if (this.queuedBytes + data.length > this.limits.datagramSendQueue) {
      this.counters.datagramNoRoom++;
      return false;
    }
    this.queue.push(data.slice());
    this.queuedBytes += data.length;
    return true;
  }

  /** Queues a core frame; false when it cannot fit a packet or the queue is full. */
  queueFrame(frame: Frame, maxPayload: number): boolean {
    const size = frameSize(frame);
    if (size > maxPayload || this.coreFrameBytes + size > this.limits.datagramSendQueue) {
      this.counters.coreFrameDropped++;
      return false;
    }
    this.coreFrames.push(frame);
    this.coreFrameBytes += size;
    return true;
  }

  onFrame(f: DatagramFrame): void {
    if (this.receivedBytes + f.data.length > this.limits.datagramReceiveQueue) {
      this.counters.datagramReceiveOverflow++;
      return;
    }
    this.receivedBytes += f.data.length;
    this.events.push({ type: 'datagram', data: f.data });
  }

  /** The application took a datagram from `pollEvent`. */
  onTaken(data: Uint8Array): void {
    this.receivedBytes -= data.length;
  }

  hasWork(): boolean {
    return this.coreFrames.length > 0 || this.queue.length > 0;
  }

  /** Bytes queued and not yet sent (`sendBacklog`). */
  backlog(): number {
    return this.queuedBytes + this.coreFrameBytes;
  }

  /** The connection closed: nothing more is sent. */
  releaseAll(): void {
    this.queue = [];
    this.coreFrames = [];
  }

  /** Core frames, then datagrams, in queue order while they fit; returns the room left. */
  write(frames: Frame[], room: number, maxPayload: number): number {
    while (this.coreFrames.length > 0) {
      const f = this.coreFrames[0]!;
      const sz = frameSize(f);
      if (sz > room) break;
      this.coreFrames.shift();
      this.coreFrameBytes -= sz;
      frames.push(f);
      room -= sz;
    }
    while (this.queue.length > 0) {
      const d = this.queue[0]!;
      const f: Frame = { type: 'datagram', data: d };
      const sz = frameSize(f);
      if (sz > room) {
        // does not fit even an empty packet any more (PMTU fell): drop and count
        if (sz > maxPayload) {
          this.queue.shift();
          this.queuedBytes -= d.length;
          this.counters.datagramTooBig++;
          continue;
        }
        break;
      }
      this.queue.shift();
      this.queuedBytes -= d.length;
      frames.push(f);
      room -= sz;
    }
    return room;
  }
}
