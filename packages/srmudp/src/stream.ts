import { Duplex } from 'node:stream';
import { CountQueuingStrategy, ReadableStream, WritableStream } from 'node:stream/web';
import { NodeError } from './errors.js';

/** What a stream needs from its connection (implemented by Connection; keeps this file testable). */
export interface StreamHost {
  streamWrite(streamId: number, data: Uint8Array): number;
  streamFinish(streamId: number): void;
  streamRead(streamId: number, max?: number): Uint8Array | null;
  streamReset(streamId: number, code: number): void;
  streamForget(streamId: number): void;
}

/**
 * One ordered, reliable byte stream of a connection, as a Node `Duplex` (backpressure both ways:
 * `write()` returns false while the connection's send buffer / flow-control window is full; reads
 * pull only as fast as the consumer reads). `toWeb()` gives Web Streams.
 */
export class SrmudpStream extends Duplex {
  private pending: Uint8Array | null = null;
  private pendingCallback: ((error?: Error | null) => void) | null = null;
  private remoteFinished = false;
  private wantRead = false;
  private ended = false;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
  ) {
    super({ allowHalfOpen: true, highWaterMark: 256 * 1024 });
  }

  /**
   * Web Streams view of this stream (the Duplex stays the owner): writes resolve when the
   * connection took the bytes (backpressure), reads pull from the Duplex. Built here rather than
   * with Node 20's `Duplex.toWeb`, whose writable side was seen to leave a second write pending.
   */
  toWeb(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
    const duplex = this;
    const writable = new WritableStream<Uint8Array>(
      {
        write(chunk) {
          return new Promise<void>((resolve, reject) => {
            duplex.write(chunk, (err) => (err ? reject(err) : resolve()));
          });
        },
        close() {
          return new Promise<void>((resolve) => duplex.end(() => resolve()));
        },
        abort(reason) {
          duplex.destroy(reason instanceof Error ? reason : new Error(String(reason)));
        },
      },
      new CountQueuingStrategy({ highWaterMark: 4 }),
    );
    const iterator = duplex[Symbol.asyncIterator]();
    const readable = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const r = await iterator.next();
          if (r.done) controller.close();
          else controller.enqueue(new Uint8Array(r.value as Buffer));
        } catch (e) {
          controller.error(e);
        }
      },
      async cancel() {
        await iterator.return?.();
      },
    });
    return { readable, writable };
  }

  override _write(
    chunk: Buffer | Uint8Array,
    _enc: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    // a plain Uint8Array view of a Buffer: the connection cuts a subarray per packet from it, and
    // Buffer#subarray (a FastBuffer, in JavaScript) costs several times TypedArray's built-in one
    const data =
      chunk instanceof Uint8Array
        ? chunk.constructor === Uint8Array
          ? chunk
          : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        : new Uint8Array(chunk);
    const accepted = this.host.streamWrite(this.id, data);
    if (accepted >= data.length) {
      callback();
      return;
    }
    this.pending = data.subarray(accepted);
    this.pendingCallback = callback;
  }

  override _final(callback: (error?: Error | null) => void) {
    this.finishSent = true;
    this.host.streamFinish(this.id);
    callback();
  }

  private finishSent = false;

  override _read() {
    this.wantRead = true;
    this.pull();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    if (!this.resetByPeer) {
      // An error, or a reader that stops before the end: abort the stream (RESET). A reader that
      // read everything (e.g. the end of a `for await` loop destroys the stream) only closes its
      // own sending side gracefully.
      // (Node's for-await cleanup destroys a still-writable Duplex with an AbortError.)
      const aborted = error !== null && error.name !== 'AbortError';
      if (aborted || !this.ended) this.host.streamReset(this.id, error ? 1 : 0);
      else if (!this.finishSent) {
        this.finishSent = true;
        this.host.streamFinish(this.id);
      }
    }
    this.host.streamForget(this.id);
    const cb = this.pendingCallback;
    this.pendingCallback = null;
    this.pending = null;
    cb?.(error ?? new NodeError('STREAM_DESTROYED', 'stream destroyed'));
    callback(error);
  }

  /** @internal connection says the send side has room again */
  onWritable(): void {
    const data = this.pending;
    if (data === null) return;
    const accepted = this.host.streamWrite(this.id, data);
    if (accepted < data.length) {
      this.pending = data.subarray(accepted);
      return;
    }
    const cb = this.pendingCallback;
    this.pending = null;
    this.pendingCallback = null;
    cb?.();
  }

  /** @internal data arrived */
  onReadable(): void {
    if (this.wantRead) this.pull();
  }

  /**
   * @internal The connection closed. A stream whose peer had finished its side (every byte up to
   * FIN received) and that has nothing of ours waiting to be sent keeps what it received: the
   * bytes are moved into the readable buffer and end with EOF, like data a TCP socket received
   * before the peer's FIN. Returns false when the stream must be torn down instead.
   */
  keepReceived(): boolean {
    if (!this.remoteFinished || this.pending !== null || this.writableLength > 0) return false;
    if (!this.ended) {
      for (let data = this.host.streamRead(this.id); data !== null; data = this.host.streamRead(this.id)) {
        this.push(data);
      }
      this.ended = true;
      this.push(null);
    }
    if (!this.writableEnded) {
      this.finishSent = true; // nothing can be sent any more: our side ends quietly
      this.end();
    }
    return true;
  }

  /** @internal the peer finished its side: every byte up to FIN is readable now */
  onRemoteFinished(): void {
    this.remoteFinished = true;
    if (this.wantRead) this.pull();
  }

  private resetByPeer = false;

  /** @internal the peer reset the stream */
  onReset(code: number): void {
    this.resetByPeer = true;
    // after every byte and the FIN were delivered, a reset loses nothing
    if (this.ended) {
      this.destroy();
      return;
    }
    // data was cut short: an error for whoever consumes the stream; a stream nobody listens to
    // must not crash the process with an unhandled 'error' event
    const err = new NodeError('STREAM_RESET', `stream ${this.id} reset by peer (code ${code})`);
    if (this.listenerCount('error') > 0) this.destroy(err);
    else this.destroy();
  }

  private pull(): void {
    while (this.wantRead && !this.ended) {
      const data = this.host.streamRead(this.id);
      if (data === null) {
        if (this.remoteFinished) {
          this.ended = true;
          this.push(null);
        }
        return;
      }
      this.wantRead = this.push(data);
    }
  }
}
