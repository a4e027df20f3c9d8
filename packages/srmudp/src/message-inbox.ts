/**
 * The node-level message API's queue: messages from every peer, taken by `receive()` and
 * `messages()`, or by the hook `onMessage()` sets instead (while set, the queue sees nothing).
 */
import { MAX_UNREAD_MESSAGES, unreadMessageBytes, waitNext } from '@srmudp/wire';
import { AsyncQueue, abortError } from './async-queue.js';
import type { Timer } from './timer-queue.js';

/** A message received through the node-level API. */
export interface ReceivedMessage {
  /** the peer's name ('alice'), or its peer id text when it is not a named peer */
  peer: string;
  data: Uint8Array;
  /** Date.now() when it was delivered */
  timestamp: number;
}

/** The driver's timers, as `receive({ timeout })` needs them. */
export interface InboxClock {
  readonly stopped: boolean;
  after(ms: number, fn: () => void): Timer;
}

export class MessageInbox {
  /** bounded in count and in bytes: a peer that sends faster than the application reads (or one
   * that never reads) must not make the node hold what it sends */
  private readonly queue = new AsyncQueue(
    MAX_UNREAD_MESSAGES,
    unreadMessageBytes((m: ReceivedMessage) => m.data),
  );

  /** Messages dropped unread: the oldest, while the queue held 65,536 or 64 MiB. */
  get dropped(): number {
    return this.queue.dropped;
  }
  private hook: ((m: ReceivedMessage) => void) | null = null;

  constructor(private readonly clock: InboxClock) {}

  /** A message arrived: to the hook when one is set, else to the queue. */
  deliver(m: ReceivedMessage): void {
    if (this.hook) {
      try {
        this.hook(m);
      } catch (e) {
        // a throwing hook must not break the driver loop; surface it asynchronously
        queueMicrotask(() => {
          throw e;
        });
      }
    } else this.queue.push(m);
  }

  /** Next message from any peer, or null after `timeout` ms or once the node is closed. */
  async receive(opts: { timeout?: number; signal?: AbortSignal }): Promise<ReceivedMessage | null> {
    const now = this.queue.shift();
    if (now !== undefined) return now;
    if (this.queue.isEnded) return null;
    const clock = this.clock;
    return waitNext(
      (signal: AbortSignal) => this.queue.next(signal),
      opts,
      clock.stopped ? null : (ms, fn) => clock.after(ms, fn),
      abortError,
    );
  }

  iterate(signal?: AbortSignal): AsyncIterableIterator<ReceivedMessage> {
    return this.queue.iterate(signal);
  }

  setHook(hook: ((m: ReceivedMessage) => void) | null): void {
    if (hook !== null && typeof hook !== 'function')
      throw new TypeError('"hook" expected a function or null');
    this.hook = hook;
  }

  /** The node closed: waiting receivers get null, iterators end. */
  end(): void {
    this.queue.end();
  }
}
