import { EventEmitter } from 'node:events';
import {
  type ConnectionApi,
  type ConnectionStats,
  type EndpointEvent,
  lostPeerCode,
  type PathInfo,
} from '@srmudp/core';
import { peerIdToString } from '@srmudp/crypto';
import {
  equalBytes,
  type FifoBytes,
  isClosedError,
  MAX_UNREAD_MESSAGES,
  unreadMessageBytes,
} from '@srmudp/wire';
import { AsyncQueue } from './async-queue.js';
import { decodeMessage, encodeAppMessage, encodeInternal } from './channels.js';
import { NodeError } from './errors.js';
import { SrmudpStream, type StreamHost } from './stream.js';

export interface CloseInfo {
  code: number;
  reason: string;
  /** true when the peer closed it (its CLOSE arrived); false for our own close, for our idle
   * timeout (code 0x12: nothing arrived from the peer for `idleTimeoutMs`) and for a peer a relay
   * reported gone that did not come back (code 0x15, core's `relay.peerGoneGraceMs`) */
  remote: boolean;
}

/** @internal what a connection needs from its node */
export interface ConnectionOwner {
  kick(): void;
  /** the driver's clock (monotonic ms): every time-dependent call into core takes it */
  now(): number;
  /** a message nobody claimed on the connection goes to the node-level API */
  deliverMessage(conn: Connection, data: Uint8Array): void;
  /** a façade message (channels.ts: gossip frames, blob fetches), never the application's */
  deliverInternal(conn: Connection, channel: number, body: Uint8Array): void;
}

/**
 * Whether `c` is open on a relayed path: through the relay or gate `via` when given, through any
 * otherwise. (A closed connection keeps its last path: it is on none.)
 */
export function onRelayedPath(c: Connection, via?: Uint8Array): boolean {
  const p = c.isClosed ? null : c.path;
  return p?.kind === 'relayed' && (via === undefined || equalBytes(p.via, via));
}

export function toBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  throw new TypeError(`"data" expected Uint8Array or string, got ${typeof data}`);
}

/**
 * An authenticated, encrypted connection to one peer: streams (Node Duplex / Web Streams),
 * whole messages and unreliable datagrams.
 *
 * Events: 'stream' (incoming SrmudpStream), 'message' (Uint8Array), 'datagram', 'path' (PathInfo),
 * 'drain' (the message send buffer has room again), 'close' (CloseInfo).
 */
export class Connection extends EventEmitter implements StreamHost {
  /** the node-level name of the peer ('alice'), or its peer id text for unnamed peers */
  get name(): string {
    return this.nameValue ?? this.peerId;
  }

  set name(value: string) {
    this.nameValue = value;
  }

  /** the peer id text form, or a name given: both on first use (accepting a connection costs no
   * BLAKE2s checksum and base32 encoding unless someone reads them) */
  private nameValue: string | null;
  private peerIdValue: string | null = null;
  // An idle connection holds none of these until first used (heap per idle connection, issue 19):
  // the stream map, the three queues and the `closed` promise are created on demand.
  private streamMapValue: Map<number, SrmudpStream> | null = null;
  private incomingQueue: AsyncQueue<SrmudpStream> | null = null;
  private messageQueueValue: AsyncQueue<Uint8Array> | null = null;
  private datagramQueueValue: AsyncQueue<Uint8Array> | null = null;
  private messagesClaimed = false;
  /** @internal façade-framed messages without a channel byte (channels.ts), dropped */
  malformedMessages = 0;
  private closeInfo: CloseInfo | null = null;
  private closedPromise: Promise<CloseInfo> | null = null;
  private resolveClosed: ((info: CloseInfo) => void) | null = null;

  constructor(
    private readonly owner: ConnectionOwner,
    /** @internal */ readonly core: ConnectionApi,
    readonly remoteKey: Uint8Array,
    name?: string,
  ) {
    super();
    // Node's EventEmitter gives every instance a dictionary-mode `_events` object (~180 bytes);
    // its methods all take `undefined` there and create it with the first listener, so an idle
    // connection nobody listens to holds none (heap per idle connection, issue 19)
    (this as unknown as { _events: object | undefined })._events = undefined;
    this.nameValue = name ?? null;
  }

  /** the remote's peer id in its text form */
  get peerId(): string {
    if (this.peerIdValue === null) this.peerIdValue = peerIdToString(this.remoteKey);
    return this.peerIdValue;
  }

  /** settles when the connection is closed, by either side */
  get closed(): Promise<CloseInfo> {
    if (this.closedPromise === null) {
      const info = this.closeInfo;
      this.closedPromise =
        info !== null
          ? Promise.resolve(info)
          : new Promise((resolve) => {
              this.resolveClosed = resolve;
            });
    }
    return this.closedPromise;
  }

  private get streamMap(): Map<number, SrmudpStream> {
    this.streamMapValue ??= new Map();
    return this.streamMapValue;
  }

  private get incoming(): AsyncQueue<SrmudpStream> {
    this.incomingQueue ??= this.newQueue<SrmudpStream>(1024);
    return this.incomingQueue;
  }

  private get messageQueue(): AsyncQueue<Uint8Array> {
    this.messageQueueValue ??= this.newQueue(
      MAX_UNREAD_MESSAGES,
      unreadMessageBytes((m: Uint8Array) => m),
    );
    return this.messageQueueValue;
  }

  private get datagramQueue(): AsyncQueue<Uint8Array> {
    this.datagramQueueValue ??= this.newQueue<Uint8Array>(4096);
    return this.datagramQueueValue;
  }

  /** a queue created after the close is ended at once, as it would have been */
  private newQueue<T>(capacity: number, bytes: FifoBytes<T> | null = null): AsyncQueue<T> {
    const q = new AsyncQueue<T>(capacity, bytes);
    if (this.closeInfo !== null) q.end();
    return q;
  }

  /** Messages dropped unread from messages(): the oldest, while it held 65,536 or 64 MiB. */
  get messagesDropped(): number {
    return this.messageQueueValue?.dropped ?? 0;
  }

  get path(): PathInfo | null {
    return this.core.path;
  }

  get isClosed(): boolean {
    return this.closeInfo !== null;
  }

  openStream(): SrmudpStream {
    this.assertOpen();
    const id = this.core.openStream();
    const s = new SrmudpStream(this, id);
    this.streamMap.set(id, s);
    this.owner.kick();
    return s;
  }

  /** Incoming streams opened by the peer. */
  streams(signal?: AbortSignal): AsyncIterableIterator<SrmudpStream> {
    return this.incoming.iterate(signal);
  }

  /**
   * Sends one message; it arrives whole or not at all, ordered unless `unordered`. Like a Node
   * stream's write(): it always takes the message, and returns false when the connection's send
   * buffer is full; wait for 'drain' before sending more (`if (!conn.send(m)) await once(conn, 'drain')`).
   */
  send(data: Uint8Array | string, opts: { unordered?: boolean } = {}): boolean {
    this.assertOpen();
    return this.sendRaw(encodeAppMessage(toBytes(data)), opts.unordered === true);
  }

  /** @internal a façade message (channels.ts) on `channel`, reliable and ordered */
  sendInternal(channel: number, body: Uint8Array): boolean {
    if (this.closeInfo) return false;
    try {
      return this.sendRaw(encodeInternal(channel, body), false);
    } catch (e) {
      // closing below (its 'closed' event not handled yet): the frame is lost with the connection
      if (isClosedError(e)) return false;
      throw e;
    }
  }

  /** @internal messages waiting for room in core's send buffer */
  get queuedMessages(): number {
    return this.overflow?.length ?? 0;
  }

  private sendRaw(bytes: Uint8Array, unordered: boolean): boolean {
    if (!this.overflow?.length && this.core.sendMessage(bytes, unordered ? { unordered } : {})) {
      this.owner.kick();
      return true;
    }
    (this.overflow ??= []).push({ bytes, unordered });
    this.owner.kick();
    return false;
  }

  /** messages the core's send buffer could not take yet, in order (null until one waits) */
  private overflow: Array<{ bytes: Uint8Array; unordered: boolean }> | null = null;

  private flushOverflow(): void {
    const q = this.overflow;
    if (q === null) {
      this.emit('drain');
      return;
    }
    let i = 0;
    for (; i < q.length; i++) {
      const m = q[i] as { bytes: Uint8Array; unordered: boolean };
      if (!this.core.sendMessage(m.bytes, m.unordered ? { unordered: true } : {})) break;
    }
    if (i > 0) {
      q.splice(0, i);
      this.owner.kick();
    }
    if (q.length === 0) this.emit('drain');
  }

  /**
   * Messages from this peer. Once called, this connection's messages go here instead of the
   * node-level `receive()`/`messages()`/`onMessage` API.
   */
  messages(signal?: AbortSignal): AsyncIterableIterator<Uint8Array> {
    this.messagesClaimed = true;
    return this.messageQueue.iterate(signal);
  }

  /** Unreliable datagram; false when dropped (too big for the path, or no room). */
  sendDatagram(data: Uint8Array | string): boolean {
    this.assertOpen();
    const ok = this.core.sendDatagram(toBytes(data));
    this.owner.kick();
    return ok;
  }

  datagrams(signal?: AbortSignal): AsyncIterableIterator<Uint8Array> {
    return this.datagramQueue.iterate(signal);
  }

  stats(): ConnectionStats {
    return this.core.stats();
  }

  /**
   * Closes gracefully with a code and reason: messages and stream data written so far are
   * delivered first (bounded: at most ~10 s when the peer does not acknowledge), then CLOSE.
   * Resolves once closed. (`node.close()` closes at once instead: CLOSE first.)
   */
  async close(code = 0, reason = ''): Promise<CloseInfo> {
    if (this.closeInfo) return this.closeInfo;
    if (this.overflow?.length) {
      // graceful: queued messages go first (bounded by the connection itself closing)
      await Promise.race([new Promise((r) => this.once('drain', r)), this.closed]);
      if (this.closeInfo) return this.closeInfo;
    }
    this.core.close(this.owner.now(), code, reason);
    this.owner.kick();
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closeInfo) {
      throw new NodeError(
        'CONNECTION_CLOSED',
        `connection to ${this.name} is closed (${this.closeInfo.reason})`,
      );
    }
  }

  // StreamHost
  streamWrite(streamId: number, data: Uint8Array): number {
    if (this.closeInfo) return 0;
    const n = this.core.write(streamId, data);
    if (n > 0) this.owner.kick();
    return n;
  }
  streamFinish(streamId: number): void {
    if (this.closeInfo) return;
    this.core.finish(streamId);
    this.owner.kick();
  }
  streamRead(streamId: number, max?: number): Uint8Array | null {
    const data = this.core.read(this.owner.now(), streamId, max);
    // reading frees receive window: let the endpoint send MAX_STREAM_DATA
    if (data !== null) this.owner.kick();
    return data;
  }
  streamReset(streamId: number, code: number): void {
    if (this.closeInfo) return;
    try {
      this.core.reset(streamId, code);
    } catch (e) {
      // the stream is already gone below (both sides finished, or the peer reset it first):
      // nothing left to reset
      if (e instanceof RangeError) return;
      throw e;
    }
    this.owner.kick();
  }
  streamForget(streamId: number): void {
    this.streamMapValue?.delete(streamId);
  }

  /** @internal events for this connection, from the node's dispatcher */
  handleEvent(e: EndpointEvent): void {
    switch (e.type) {
      case 'stream_opened': {
        if (this.streamMap.has(e.streamId)) return;
        const s = new SrmudpStream(this, e.streamId);
        this.streamMap.set(e.streamId, s);
        this.incoming.push(s);
        this.emit('stream', s);
        return;
      }
      case 'readable':
        this.streamMapValue?.get(e.streamId)?.onReadable();
        return;
      case 'writable':
        this.streamMapValue?.get(e.streamId)?.onWritable();
        return;
      case 'stream_finished':
        this.streamMapValue?.get(e.streamId)?.onRemoteFinished();
        return;
      case 'stream_reset':
        this.streamMapValue?.get(e.streamId)?.onReset(e.code);
        return;
      case 'message': {
        const m = decodeMessage(e.data);
        if (m.kind === 'internal') {
          this.owner.deliverInternal(this, m.channel, m.body);
          return;
        }
        if (m.kind === 'malformed') {
          this.malformedMessages++;
          return;
        }
        if (this.messagesClaimed) this.messageQueue.push(m.data);
        else this.owner.deliverMessage(this, m.data);
        this.emit('message', m.data);
        return;
      }
      case 'message_writable':
        this.flushOverflow();
        return;
      case 'datagram':
        this.datagramQueue.push(e.data);
        this.emit('datagram', e.data);
        return;
      case 'path_changed':
        this.emit('path', e.path);
        return;
      case 'closed':
        this.markClosed({ code: e.code, reason: e.reason, remote: e.remote });
        return;
      default:
        return;
    }
  }

  /** The error a stream still open gets for this close (markClosed says which), or null. */
  private closeError(info: CloseInfo): Error | null {
    if (info.remote)
      return new NodeError(
        'CONNECTION_CLOSED',
        `connection closed by peer ${this.name}: ${info.reason || `code ${info.code}`}`,
      );
    switch (lostPeerCode(info)) {
      case 'IDLE_TIMEOUT':
        return new NodeError('IDLE_TIMEOUT', `connection to ${this.name} timed out (${info.reason})`);
      case 'PEER_GONE':
        return new NodeError('PEER_GONE', `connection to ${this.name} closed: ${info.reason}`);
      case 'SESSION_EXPIRED':
        return new NodeError(
          'SESSION_EXPIRED',
          `connection to ${this.name} lost its session: ${info.reason}`,
        );
      default:
        return null; // our own close: streams end quietly
    }
  }

  /** @internal */
  markClosed(info: CloseInfo): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    // A local close ends our own streams quietly; a remote close (like ECONNRESET on a socket) and
    // our idle timeout (like ETIMEDOUT) are errors for a stream that is still open, given to
    // readers/writers that listen for it.
    const streams = this.streamMapValue;
    if (streams !== null) {
      // (built on first use: an Error captures a stack, and most closes have no stream to give it to)
      let err: Error | null | undefined;
      for (const s of streams.values()) {
        if (s.readableEnded && s.writableFinished) continue;
        if (s.keepReceived()) continue; // what the peer sent before closing stays readable
        if (s.listenerCount('error') > 0) {
          if (err === undefined) err = this.closeError(info);
          if (err !== null) {
            s.destroy(err);
            continue;
          }
        }
        s.destroy();
      }
      streams.clear();
    }
    this.incomingQueue?.end();
    this.messageQueueValue?.end();
    this.datagramQueueValue?.end();
    this.resolveClosed?.(info);
    this.resolveClosed = null;
    this.emit('close', info);
  }
}
