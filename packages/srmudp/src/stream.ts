import { Duplex } from 'node:stream';
import type { ReadableStream, WritableStream } from 'node:stream/web';
import { SrmudpError } from '@srmudp/wire';

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

  /** Web Streams view of this stream (the Duplex stays the owner). */
  toWeb(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
    return Duplex.toWeb(this) as unknown as {
      readable: ReadableStream<Uint8Array>;
      writable: WritableStream<Uint8Array>;
    };
  }

  override _write(
    chunk: Buffer | Uint8Array,
    _enc: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    const data = chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk);
    const accepted = this.host.streamWrite(this.id, data);
    if (accepted >= data.length) {
      callback();
      return;
    }
    this.pending = data.subarray(accepted);
    this.pendingCallback = callback;
  }

  override _final(callback: (error?: Error | null) => void) {
    this.host.streamFinish(this.id);
    callback();
  }

  override _read() {
    this.wantRead = true;
    this.pull();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    if (!this.ended || !this.writableFinished) this.host.streamReset(this.id, error ? 1 : 0);
    this.host.streamForget(this.id);
    const cb = this.pendingCallback;
    this.pendingCallback = null;
    this.pending = null;
    cb?.(error ?? new SrmudpError('STREAM_DESTROYED', 'stream destroyed'));
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

  /** @internal the peer finished its side: every byte up to FIN is readable now */
  onRemoteFinished(): void {
    this.remoteFinished = true;
    if (this.wantRead) this.pull();
  }

  /** @internal the peer reset the stream */
  onReset(code: number): void {
    this.destroy(new SrmudpError('STREAM_RESET', `stream ${this.id} reset by peer (code ${code})`));
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
