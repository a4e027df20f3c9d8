// One end-to-end connection of a browser node: its messages (queued while core's buffer is full)
// and its streams as Web Streams, fed by the endpoint events the node routes to it.
import type { ConnectionApi, ConnectionStats, EndpointEvent } from '@srmudp/core';
import { peerIdToString } from '@srmudp/crypto';
import { SrmudpError } from '@srmudp/wire';
import { Inbox } from './queue.js';

/** A stream of a connection, as a pair of Web Streams. */
export interface BrowserStream {
  readonly id: number;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/** What a connection needs from its node: the clock, and a nudge to run the loop after a change. */
export interface ConnectionHost {
  now(): number;
  kick(): void;
}

interface StreamState {
  controller: ReadableStreamDefaultController<Uint8Array> | null;
  finished: boolean;
  closed: boolean;
  writeWaiters: Array<() => void>;
}

/** One end-to-end connection with a peer (through the relay). */
export class BrowserConnection {
  readonly peerId: string;
  readonly #streamsState = new Map<number, StreamState>();
  /** incoming streams not yet taken: the oldest dropped past 1,024 (as srmudp's) */
  readonly #incoming = new Inbox<BrowserStream>(1024);
  readonly #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #closedFlag = false;

  readonly #node: ConnectionHost;

  constructor(
    node: ConnectionHost,
    readonly api: ConnectionApi,
    readonly remoteKey: Uint8Array,
    public name: string,
  ) {
    this.#node = node;
    this.peerId = peerIdToString(remoteKey);
  }

  get isClosed(): boolean {
    return this.#closedFlag;
  }

  /**
   * Sends one message (reliable, ordered unless `unordered`). Queued when the connection's
   * message buffer is full (up to 16 MiB; SrmudpError 'SEND_BUFFER_FULL' beyond).
   */
  send(data: Uint8Array | string, opts: { unordered?: boolean } = {}): void {
    if (this.#closedFlag) throw new SrmudpError('CONNECTION_CLOSED', `connection to ${this.name} is closed`);
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (
      this.#pending.length === 0 &&
      this.api.sendMessage(bytes, opts.unordered ? { unordered: true } : {})
    ) {
      this.#node.kick();
      return;
    }
    if (this.#pendingBytes + bytes.length > 16 * 1024 * 1024)
      throw new SrmudpError('SEND_BUFFER_FULL', `more than 16 MiB of messages wait for ${this.name}`);
    this.#pending.push(bytes.slice());
    this.#pendingBytes += bytes.length;
  }

  /** Opens a stream: write to `writable` (honours flow control), read the peer's answer from `readable`. */
  openStream(): BrowserStream {
    if (this.#closedFlag) throw new SrmudpError('CONNECTION_CLOSED', `connection to ${this.name} is closed`);
    const id = this.api.openStream();
    this.#node.kick();
    return this.#makeStream(id);
  }

  /** Streams the peer opens, as they arrive. */
  streams(signal?: AbortSignal): AsyncIterableIterator<BrowserStream> {
    return this.#incoming.iterate(signal);
  }

  /** The next stream the peer opens (rejects with the signal's reason when aborted). */
  async acceptStream(signal?: AbortSignal): Promise<BrowserStream> {
    const r = await this.#incoming.next(signal);
    if (r.done) throw new SrmudpError('CONNECTION_CLOSED', `connection to ${this.name} is closed`);
    return r.value;
  }

  stats(): ConnectionStats {
    return this.api.stats();
  }

  /** Graceful close: what was written is delivered first (bounded by core). */
  close(): void {
    if (this.#closedFlag) return;
    this.api.close(this.#node.now());
    this.#node.kick();
    this.detach();
  }

  // ---- driver side ----------------------------------------------------------------------------

  /** @internal */
  detach(reason?: SrmudpError): void {
    if (this.#closedFlag) return;
    this.#closedFlag = true;
    this.#incoming.end();
    const gone = reason ?? new SrmudpError('CONNECTION_CLOSED', `connection to ${this.name} closed`);
    for (const s of this.#streamsState.values()) {
      s.closed = true;
      try {
        s.controller?.error(gone);
      } catch {}
      for (const w of s.writeWaiters.splice(0)) w();
    }
    this.#streamsState.clear();
  }

  /** @internal */
  onEvent(e: EndpointEvent): void {
    switch (e.type) {
      case 'stream_opened':
        if (!this.#streamsState.has(e.streamId)) this.#incoming.push(this.#makeStream(e.streamId));
        break;
      case 'readable':
        this.#streamOf(e.streamId);
        this.#drain(e.streamId);
        break;
      case 'stream_finished': {
        const s = this.#streamOf(e.streamId);
        s.finished = true;
        this.#drain(e.streamId);
        break;
      }
      case 'stream_reset': {
        const s = this.#streamsState.get(e.streamId);
        if (s) {
          s.closed = true;
          try {
            s.controller?.error(new SrmudpError('STREAM_RESET', `stream reset by the peer (code ${e.code})`));
          } catch {}
          for (const w of s.writeWaiters.splice(0)) w();
        }
        break;
      }
      case 'writable': {
        const s = this.#streamsState.get(e.streamId);
        for (const w of s?.writeWaiters.splice(0) ?? []) w();
        break;
      }
      case 'message_writable':
        while (this.#pending.length > 0) {
          const m = this.#pending[0] as Uint8Array;
          if (!this.api.sendMessage(m)) break;
          this.#pending.shift();
          this.#pendingBytes -= m.length;
        }
        break;
      default:
    }
  }

  #streamOf(id: number): StreamState {
    let s = this.#streamsState.get(id);
    if (!s) {
      // data before (or without) a stream_opened event: surface it as an incoming stream
      this.#incoming.push(this.#makeStream(id));
      s = this.#streamsState.get(id) as StreamState;
    }
    return s;
  }

  #drain(id: number): void {
    const s = this.#streamsState.get(id);
    if (!s || s.closed || !s.controller) return;
    const now = this.#node.now();
    let empty = false;
    while ((s.controller.desiredSize ?? 1) > 0) {
      const chunk = this.api.read(now, id);
      if (chunk === null) {
        empty = true;
        break;
      }
      s.controller.enqueue(chunk.slice());
    }
    if (s.finished && empty) {
      s.closed = true;
      s.controller.close();
      this.#streamsState.delete(id);
    }
    this.#node.kick();
  }

  #makeStream(id: number): BrowserStream {
    const state: StreamState = { controller: null, finished: false, closed: false, writeWaiters: [] };
    this.#streamsState.set(id, state);
    const readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          state.controller = c;
        },
        pull: () => this.#drain(id),
        cancel: () => {
          state.closed = true;
          if (!this.#closedFlag) this.api.reset(id, 0);
          this.#node.kick();
        },
      },
      { highWaterMark: 256 * 1024, size: (c) => c.byteLength },
    );
    const writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        let off = 0;
        while (off < chunk.length) {
          if (this.#closedFlag || (state.closed && !state.controller))
            throw new SrmudpError('CONNECTION_CLOSED', `connection to ${this.name} is closed`);
          const n = this.api.write(id, chunk.subarray(off, Math.min(chunk.length, off + 64 * 1024)));
          off += n;
          this.#node.kick();
          if (n === 0) await new Promise<void>((resolve) => state.writeWaiters.push(resolve));
        }
      },
      close: () => {
        if (!this.#closedFlag) this.api.finish(id);
        this.#node.kick();
      },
      abort: () => {
        if (!this.#closedFlag) this.api.reset(id, 0);
        this.#node.kick();
      },
    });
    return { id, readable, writable };
  }
}
