import type { RemoteInfo, Socket, SocketType } from 'node:dgram';
import {
  type AddressFamily,
  familyOf,
  mapIPv4,
  sourceAddress,
  type TransportAddress,
  unmapIPv4,
} from './address.js';
import { BatchReceiver } from './batch-receive.js';
import { DirectSender } from './direct-send.js';
import {
  type BufferSizes,
  bindSocket,
  type Resolved,
  resolveOptions,
  trySetBuffers,
  type UdpTransportOptions,
} from './socket-setup.js';

export type { BufferSizes, UdpTransportOptions } from './socket-setup.js';

/** A send or socket error, surfaced instead of thrown. `code` is the errno name ('EMSGSIZE'…). */
export interface TransportError {
  readonly code: string;
  readonly host?: string;
  readonly port?: number;
  readonly message: string;
}

export interface TransportStats {
  /** Datagrams the OS accepted. */
  readonly sent: number;
  readonly bytesSent: number;
  readonly received: number;
  readonly bytesReceived: number;
  /** Failed sends by errno code. */
  readonly sendErrors: Readonly<Record<string, number>>;
  /** Total of sendErrors. */
  readonly sendErrorCount: number;
  /** Errors the socket emitted outside of sends (receive side), by code. */
  readonly socketErrors: Readonly<Record<string, number>>;
  /** Datagrams dropped by send() because maxQueue datagrams were already queued or in flight. */
  readonly dropped: number;
  /** Datagrams waiting in the queue now. */
  readonly queued: number;
  /** Datagrams handed to the OS whose completion has not been reported yet. */
  readonly inFlight: number;
  /** true while sends go through UDP segmentation offload on the current socket */
  readonly gso: boolean;
  /** sendmsg calls with more than one datagram that the kernel took (segmentation offload) */
  readonly gsoSends: number;
  /** datagrams those calls carried (included in `sent`) */
  readonly gsoDatagrams: number;
  /** direct sends the kernel refused, by errno code: their datagrams went through node:dgram
   * instead (which reports its own errors in sendErrors); EIO, EOPNOTSUPP or ENOPROTOOPT turn
   * segmentation off for the socket */
  readonly gsoErrors: Readonly<Record<string, number>>;
  /** true while datagrams queued behind the one node:dgram delivered are read in batches */
  readonly batchReceive: boolean;
  /** native reads (recvmmsg) that returned datagrams, and the datagrams they returned (included
   * in `received`) */
  readonly recvBatches: number;
  readonly recvBatchDatagrams: number;
  /** native reads that failed, by errno code (the datagrams stay queued for node:dgram) */
  readonly recvBatchErrors: Readonly<Record<string, number>>;
  /** true while the socket has UDP_GRO on and only the native module reads it (option `gro`) */
  readonly gro: boolean;
  /** datagrams (of recvBatchDatagrams) that arrived several to one read: a sender's segmented
   * batch the kernel did not cut apart (UDP_GRO) */
  readonly recvCoalesced: number;
}

export type DatagramHandler = (data: Uint8Array, from: TransportAddress) => void;
export type ErrorHandler = (err: TransportError) => void;

/**
 * A node:dgram socket for the srmudp driver: binds IPv4, IPv6 or dual-stack, normalises
 * IPv4-mapped peers, batches sends per event-loop turn and never throws on network errors.
 */
export class UdpTransport {
  static async bind(options: UdpTransportOptions = {}): Promise<UdpTransport> {
    const o = resolveOptions(options);
    const socket = await bindSocket(o);
    return new UdpTransport(socket, o);
  }

  #socket: Socket;
  readonly #o: Resolved;
  #buffers: BufferSizes;
  #local: TransportAddress;
  #dualStack: boolean;
  #closed = false;
  #closing: Promise<void> | undefined;

  #onDatagram: DatagramHandler | undefined;
  #onError: ErrorHandler | undefined;

  // Send queue as three parallel arrays; a window [#qHead, #qTail) of them is pending.
  #qData: Uint8Array[] = [];
  #qHost: string[] = [];
  #qPort: number[] = [];
  #qHead = 0;
  /** direct sends (segmentation offload, direct-send.ts), or null: node:dgram alone */
  readonly #direct: DirectSender | null;
  /** batched receive (batch-receive.ts), or null: node:dgram alone */
  readonly #batch: BatchReceiver | null;
  #flushScheduled: ReturnType<typeof setImmediate> | undefined;
  #inFlight = 0;
  /** called when the last datagram in flight completes (close() waits for it) */
  #onIdle: (() => void) | undefined;

  #sent = 0;
  #bytesSent = 0;
  #received = 0;
  #bytesReceived = 0;
  #dropped = 0;
  /** the last host `#destination` accepted (null: none yet), and the destination it gave for it */
  #lastHost: string | null = null;
  #lastDest = '';
  #sendErrorCount = 0;
  readonly #sendErrors: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly #socketErrors: Record<string, number> = Object.create(null) as Record<string, number>;

  // Bound once: the per-datagram paths allocate no closures of their own.
  readonly #handleMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.#received++;
    this.#bytesReceived += msg.length;
    const handler = this.#onDatagram;
    // closing: the socket stays open until the OS took our last datagrams; nothing is delivered
    if (handler === undefined || this.#closed) return;
    const from = sourceAddress(rinfo.address, rinfo.port, rinfo.family as AddressFamily, this.#dualStack);
    // A plain Uint8Array view (no copy), not the Buffer dgram gives: Buffer#slice() returns a view,
    // so code written for Uint8Array (slice() copies) would alias, and mutate, the datagram.
    handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), from);
    // the datagrams queued behind this one, in one native read (libuv's next read finds none)
    if (this.#batch !== null && !this.#closed) this.#batch.drain();
  };

  readonly #deliverBatched = (data: Uint8Array, host: string, port: number, family: AddressFamily): void => {
    this.#received++;
    this.#bytesReceived += data.byteLength;
    const handler = this.#onDatagram;
    if (handler === undefined || this.#closed) return;
    handler(data, { host, port, family });
  };

  readonly #handleSocketError = (err: NodeJS.ErrnoException): void => {
    const code = err.code ?? 'UNKNOWN';
    this.#socketErrors[code] = (this.#socketErrors[code] ?? 0) + 1;
    this.#report(code, err);
  };

  readonly #afterSend = (err: Error | null, bytes?: number): void => {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#onIdle !== undefined) this.#onIdle();
    if (err === null || err === undefined) {
      this.#sent++;
      this.#bytesSent += bytes ?? 0;
      return;
    }
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    const code = e.code ?? 'UNKNOWN';
    this.#sendErrors[code] = (this.#sendErrors[code] ?? 0) + 1;
    this.#sendErrorCount++;
    this.#report(code, e);
  };

  readonly #flush = (): void => {
    this.#flushScheduled = undefined;
    this.#drain(this.#o.maxBatch);
    if (this.#qHead < this.#qData.length && !this.#closed) {
      this.#flushScheduled = setImmediate(this.#flush);
    }
  };

  private constructor(socket: Socket, o: Resolved) {
    this.#o = o;
    this.#dualStack = o.type === 'udp6' && !o.ipv6Only;
    this.#direct = o.native !== null && o.gso ? new DirectSender(o.native) : null;
    this.#batch =
      o.native !== null && o.batchReceive
        ? BatchReceiver.of(o.native, this.#dualStack, this.#deliverBatched, o.gro)
        : null;
    this.#socket = socket;
    this.#buffers = trySetBuffers(socket, o);
    this.#local = this.#readLocal();
    this.#attach(socket);
  }

  #attach(socket: Socket): void {
    socket.on('message', this.#handleMessage);
    socket.on('error', this.#handleSocketError);
    this.#direct?.attach(socket);
    this.#batch?.attach(socket);
  }

  #readLocal(): TransportAddress {
    const a = this.#socket.address();
    return { host: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  #report(code: string, e: NodeJS.ErrnoException & { address?: string; port?: number }): void {
    const handler = this.#onError;
    if (handler === undefined) return;
    const out: { code: string; message: string; host?: string; port?: number } = { code, message: e.message };
    if (typeof e.address === 'string') out.host = unmapIPv4(e.address);
    if (typeof e.port === 'number') out.port = e.port;
    handler(out);
  }

  /** Counts a send refused before reaching the OS (wrong family for this socket). */
  #refuse(code: string, host: string, port: number, message: string): void {
    this.#sendErrors[code] = (this.#sendErrors[code] ?? 0) + 1;
    this.#sendErrorCount++;
    this.#onError?.({ code, host, port, message });
  }

  #drain(limit: number): void {
    const data = this.#qData;
    const hosts = this.#qHost;
    const ports = this.#qPort;
    const socket = this.#socket;
    let i = this.#qHead;
    const end = Math.min(data.length, i + limit);
    const direct = this.#direct;
    while (i < end) {
      // Direct sends only while node:dgram holds none of ours: libuv's queue must not be overtaken
      // (it keeps what the kernel could not take, EAGAIN, until the socket is writable again).
      if (direct?.active && this.#inFlight === 0) {
        const n = direct.sendRun(data, hosts, ports, i, end);
        if (n > 0) {
          i += n;
          continue;
        }
        // refused: each of them through dgram (which reports per datagram, as without offload)
        for (const stop = i - n; i < stop; i++) this.#sendDgram(socket, data[i]!, ports[i]!, hosts[i]!);
        continue;
      }
      this.#sendDgram(socket, data[i]!, ports[i]!, hosts[i]!);
      i++;
    }
    if (i >= data.length) {
      data.length = 0;
      hosts.length = 0;
      ports.length = 0;
      this.#qHead = 0;
    } else {
      this.#qHead = i;
    }
  }

  #sendDgram(socket: Socket, data: Uint8Array, port: number, host: string): void {
    this.#inFlight++;
    // Callback form: dgram reports sync and async failures (EMSGSIZE, ENOBUFS…) to it, never throws.
    socket.send(data, port, host, this.#afterSend);
  }

  /** The socket type in use. */
  get type(): SocketType {
    return this.#o.type;
  }

  /** True when this udp6 socket also carries IPv4 (bound with ipv6Only false). */
  get dualStack(): boolean {
    return this.#dualStack;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Buffer sizes the kernel granted (requested vs reported; Linux reports twice the granted value). */
  bufferSizes(): BufferSizes {
    return this.#buffers;
  }

  /** The bound local address (host may be a wildcard '0.0.0.0' / '::'). */
  address(): TransportAddress {
    return this.#local;
  }

  /**
   * The local address as a list: just address() for a specific bind; for a wildcard bind use
   * localInterfaces() with this port to enumerate host candidates.
   */
  addresses(): TransportAddress[] {
    return [this.#local];
  }

  /** Sets the receive handler (replaces the previous one). `data` is dgram's Buffer, yours to keep. */
  onDatagram(handler: DatagramHandler | undefined): void {
    if (handler !== undefined && typeof handler !== 'function') {
      throw new TypeError(`"handler" expected a function, got ${typeof handler}`);
    }
    this.#onDatagram = handler;
  }

  /** Sets the error handler (replaces the previous one). Errors are counted in stats() regardless. */
  onError(handler: ErrorHandler | undefined): void {
    if (handler !== undefined && typeof handler !== 'function') {
      throw new TypeError(`"handler" expected a function, got ${typeof handler}`);
    }
    this.#onError = handler;
  }

  /**
   * Queues one datagram for host:port (an IP literal). Returns false when it was dropped: the
   * transport is closed, the destination family cannot be reached from this socket (counted as
   * send error EAFNOSUPPORT), or maxQueue datagrams are already queued or in flight (drop-newest,
   * counted in stats().dropped: already queued packets keep their order, and the reliability
   * layer sees the loss as it would on the wire). Do not mutate `data` until the next turn.
   */
  send(data: Uint8Array, host: string, port: number): boolean {
    const dest = this.#destination(data, host, port);
    if (dest === null) return false;
    if (this.#qData.length - this.#qHead + this.#inFlight >= this.#o.maxQueue) {
      this.#dropped++;
      return false;
    }
    this.#qData.push(data);
    this.#qHost.push(dest);
    this.#qPort.push(port);
    if (this.#flushScheduled === undefined) this.#flushScheduled = setImmediate(this.#flush);
    return true;
  }

  /**
   * Like {@link send}, for the few datagrams that must not be lost to a full queue (a connection's
   * CLOSE while a flood is queued): queued ahead of the datagrams not yet handed to the OS, and
   * exempt from `maxQueue` up to `urgentReserve` more. Returns false when refused or beyond that.
   */
  sendUrgent(data: Uint8Array, host: string, port: number): boolean {
    const dest = this.#destination(data, host, port);
    if (dest === null) return false;
    if (this.#qData.length - this.#qHead + this.#inFlight >= this.#o.maxQueue + this.#o.urgentReserve) {
      this.#dropped++;
      return false;
    }
    if (this.#qHead > 0) {
      this.#qHead--;
      this.#qData[this.#qHead] = data;
      this.#qHost[this.#qHead] = dest;
      this.#qPort[this.#qHead] = port;
    } else {
      this.#qData.unshift(data);
      this.#qHost.unshift(dest);
      this.#qPort.unshift(port);
    }
    if (this.#flushScheduled === undefined) this.#flushScheduled = setImmediate(this.#flush);
    return true;
  }

  /** Checks a send's arguments; the destination as the socket needs it, or null when refused. */
  #destination(data: Uint8Array, host: string, port: number): string | null {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`"data" expected Uint8Array, got ${data === null ? 'null' : typeof data}`);
    }
    if (typeof host !== 'string') throw new TypeError(`"host" expected string, got ${typeof host}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`"port" expected an integer in 1..65535, got ${String(port)}`);
    }
    if (this.#closed) return null;
    // a sender sends to few hosts, mostly in runs: the last one's check (an IP-literal regex and,
    // on a dual-stack socket, a new mapped string per datagram) is not repeated
    if (host === this.#lastHost) return this.#lastDest;
    const dest = this.#checkHost(host, port);
    if (dest !== null) {
      this.#lastHost = host;
      this.#lastDest = dest;
    }
    return dest;
  }

  #checkHost(host: string, port: number): string | null {
    const family = familyOf(host);
    if (family === undefined) throw new TypeError(`"host" expected an IP literal, got ${host}`);
    if (this.#o.type === 'udp4') {
      if (family === 'IPv4') return host;
      const v4 = unmapIPv4(host);
      if (v4 === host) {
        this.#refuse('EAFNOSUPPORT', host, port, `udp4 socket cannot send to IPv6 ${host}`);
        return null;
      }
      return v4;
    }
    if (family === 'IPv6') return host;
    if (!this.#dualStack) {
      this.#refuse('EAFNOSUPPORT', host, port, `IPv6-only socket cannot send to IPv4 ${host}`);
      return null;
    }
    return mapIPv4(host);
  }

  /**
   * Hands the queue to the OS now when it holds a full batch (`maxBatch` datagrams), else leaves it
   * for the next setImmediate. For a sender whose output is already bounded (congestion control):
   * called after each send(), its datagrams leave a batch at a time as they are built, instead of
   * all after the turn that built them, which the peer would otherwise wait for.
   */
  flushFullBatch(): void {
    if (this.#qData.length - this.#qHead >= this.#o.maxBatch) this.flush();
  }

  /** Hands every queued datagram to the OS now instead of at the next setImmediate. */
  flush(): void {
    if (this.#closed) return;
    this.#drain(Number.MAX_SAFE_INTEGER);
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = undefined;
    }
  }

  stats(): TransportStats {
    return {
      sent: this.#sent + (this.#direct?.sent ?? 0),
      bytesSent: this.#bytesSent + (this.#direct?.bytes ?? 0),
      received: this.#received,
      bytesReceived: this.#bytesReceived,
      sendErrors: { ...this.#sendErrors },
      sendErrorCount: this.#sendErrorCount,
      socketErrors: { ...this.#socketErrors },
      dropped: this.#dropped,
      queued: this.#qData.length - this.#qHead,
      inFlight: this.#inFlight,
      gso: this.#direct?.active ?? false,
      gsoSends: this.#direct?.segmentedSends ?? 0,
      gsoDatagrams: this.#direct?.segmentedDatagrams ?? 0,
      gsoErrors: { ...this.#direct?.errors },
      batchReceive: this.#batch?.active ?? false,
      recvBatches: this.#batch?.batches ?? 0,
      recvBatchDatagrams: this.#batch?.datagrams ?? 0,
      recvBatchErrors: { ...this.#batch?.errors },
      gro: this.#batch?.coalescing ?? false,
      recvCoalesced: this.#batch?.coalesced ?? 0,
    };
  }

  /**
   * Moves to a fresh socket (same host and options, `port` default 0 = a new ephemeral port),
   * keeping handlers, queue and stats; the old socket is closed. This is what a NAT rebinding or
   * network change looks like to the peer, for migration tests.
   */
  async rebind(port = 0): Promise<TransportAddress> {
    if (this.#closed) throw new TypeError('rebind() on a closed UdpTransport');
    const next = await bindSocket({ ...this.#o, port });
    if (this.#closed) {
      next.close();
      throw new TypeError('rebind() on a closed UdpTransport');
    }
    this.#drain(Number.MAX_SAFE_INTEGER);
    const old = this.#socket;
    old.off('message', this.#handleMessage);
    this.#socket = next;
    this.#attach(next);
    this.#buffers = trySetBuffers(next, this.#o);
    this.#local = this.#readLocal();
    await new Promise<void>((resolve) => old.close(() => setTimeout(resolve, 0)));
    old.off('error', this.#handleSocketError);
    return this.#local;
  }

  /**
   * Hands queued datagrams to the OS, waits until the OS took every one of them (at most
   * `closeTimeoutMs`: libuv holds the datagrams the kernel could not take yet, and closing the
   * handle would cancel them, a node's last CLOSE among them), then closes the socket; resolves
   * once the OS handle is released. Idempotent: every call returns the same promise. Sends after
   * close() return false.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#drain(Number.MAX_SAFE_INTEGER);
    this.#closed = true;
    this.#direct?.detach();
    this.#batch?.detach();
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = undefined;
    }
    this.#closing = (async () => {
      if (this.#inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.#o.closeTimeoutMs);
          function done(): void {
            clearTimeout(timer);
            resolve();
          }
          this.#onIdle = done;
        });
        this.#onIdle = undefined;
      }
      const socket = this.#socket;
      await new Promise<void>((resolve) => {
        socket.close(() => {
          socket.off('message', this.#handleMessage);
          socket.off('error', this.#handleSocketError);
          // dgram calls back before libuv's close phase releases the handle; a timer runs after
          // that phase, so when this resolves no UDPWrap handle is left (the test checks).
          setTimeout(resolve, 0);
        });
      });
    })();
    return this.#closing;
  }
}
