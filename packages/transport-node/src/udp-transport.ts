import { createSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram';
import { type AddressFamily, familyOf, mapIPv4, type TransportAddress, unmapIPv4 } from './address.js';
import { BatchReceiver } from './batch-receive.js';
import { DirectSender } from './direct-send.js';
import { type GsoBinding, gsoBinding } from './gso.js';

const MiB = 1024 * 1024;

export interface UdpTransportOptions {
  /** IP literal to bind. Default '::' when type is 'udp6' (or omitted), '0.0.0.0' for 'udp4'. */
  readonly host?: string;
  /** Port to bind; 0 (default) lets the OS choose. */
  readonly port?: number;
  /** Socket type. Default: from host's family; 'udp6' dual-stack when host is omitted. */
  readonly type?: SocketType;
  /** For udp6: refuse IPv4 peers (IPV6_V6ONLY). Default false (dual-stack). */
  readonly ipv6Only?: boolean;
  /** SO_RCVBUF request in bytes. Default 4 MiB; the kernel may clamp it (net.core.rmem_max). */
  readonly recvBufferSize?: number;
  /** SO_SNDBUF request in bytes. Default 4 MiB; the kernel may clamp it (net.core.wmem_max). */
  readonly sendBufferSize?: number;
  /** Datagrams queued or handed to the OS and not yet confirmed before send() drops. Default 16384. */
  readonly maxQueue?: number;
  /**
   * Extra room for {@link UdpTransport.sendUrgent} beyond `maxQueue` (a CLOSE must not be dropped
   * because a flood filled the queue). Default 1024.
   */
  readonly urgentReserve?: number;
  /**
   * How long close() waits for datagrams already handed to the OS (libuv keeps the ones the kernel
   * could not take yet, and closing the handle cancels them). Default 2000 ms.
   */
  readonly closeTimeoutMs?: number;
  /**
   * Datagrams handed to the OS per event-loop turn; the rest wait for the next setImmediate.
   * Default 32: libuv reads at most 32 datagrams per socket per poll, so a receiver on the same
   * event loop (tests, a node talking to itself, a relay) keeps up; measured on loopback, 64 per
   * turn already loses 22% of a 10,000-datagram burst, 32 loses none.
   */
  readonly maxBatch?: number;
  /**
   * Send through the socket's file descriptor with UDP segmentation offload (Linux): a run of
   * datagrams of one size for one destination in one `sendmsg`, a single datagram in its own
   * (README: "Segmentation offload"). Default true; used only where the native module was built
   * and the kernel accepts `UDP_SEGMENT` ({@link gsoStatus}, `stats().gso`). false: node:dgram alone.
   */
  readonly gso?: boolean;
  /**
   * Receive in batches through the socket's file descriptor (Linux `recvmmsg`): after node:dgram
   * delivers a datagram, the ones already queued behind it (up to 32) are read in one call into one
   * buffer and delivered in order (README: "Batched receive"). Default true; used where the native
   * module was built (`stats().batchReceive`). false: node:dgram alone.
   */
  readonly batchReceive?: boolean;
  /** @internal test seam: the native binding to use instead of the built one (null: none) */
  readonly gsoBinding?: GsoBinding | null;
}

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
}

export interface BufferSizes {
  /** What the kernel reports after the request (Linux reports double the granted value, see socket(7)). */
  readonly recv: number;
  readonly send: number;
  /** The requested sizes, for comparison. */
  readonly recvRequested: number;
  readonly sendRequested: number;
}

export type DatagramHandler = (data: Uint8Array, from: TransportAddress) => void;
export type ErrorHandler = (err: TransportError) => void;

interface Resolved {
  host: string;
  port: number;
  type: SocketType;
  ipv6Only: boolean;
  recvBufferSize: number;
  sendBufferSize: number;
  maxQueue: number;
  urgentReserve: number;
  closeTimeoutMs: number;
  maxBatch: number;
  gso: GsoBinding | null;
  batchReceive: GsoBinding | null;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`"${name}" expected a positive integer, got ${String(value)}`);
  }
  return value;
}

function resolveOptions(options: UdpTransportOptions): Resolved {
  if (options.type !== undefined && options.type !== 'udp4' && options.type !== 'udp6') {
    throw new TypeError(`"type" expected 'udp4' or 'udp6', got ${String(options.type)}`);
  }
  let host = options.host;
  let type = options.type;
  if (host !== undefined) {
    const family = typeof host === 'string' ? familyOf(host) : undefined;
    if (family === undefined) throw new TypeError(`"host" expected an IP literal, got ${String(host)}`);
    const implied: SocketType = family === 'IPv4' ? 'udp4' : 'udp6';
    if (type !== undefined && type !== implied) {
      throw new TypeError(`"host" ${host} does not match "type" ${type}`);
    }
    type = implied;
  } else {
    type ??= 'udp6';
    host = type === 'udp4' ? '0.0.0.0' : '::';
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`"port" expected an integer in 0..65535, got ${String(port)}`);
  }
  return {
    host,
    port,
    type,
    ipv6Only: options.ipv6Only === true,
    recvBufferSize: positiveInt('recvBufferSize', options.recvBufferSize, 4 * MiB),
    sendBufferSize: positiveInt('sendBufferSize', options.sendBufferSize, 4 * MiB),
    maxQueue: positiveInt('maxQueue', options.maxQueue, 16384),
    urgentReserve: positiveInt('urgentReserve', options.urgentReserve, 1024),
    closeTimeoutMs: positiveInt('closeTimeoutMs', options.closeTimeoutMs, 2000),
    maxBatch: positiveInt('maxBatch', options.maxBatch, 32),
    gso: options.gso === false ? null : options.gsoBinding !== undefined ? options.gsoBinding : gsoBinding,
    batchReceive:
      options.batchReceive === false
        ? null
        : options.gsoBinding !== undefined
          ? options.gsoBinding
          : gsoBinding,
  };
}

/**
 * dgram resolves every destination through `lookup` even for IP literals (dns.lookup, one
 * process.nextTick per datagram). send() only accepts IP literals, so answer synchronously.
 */
function literalLookup(
  address: string,
  _options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

function bindSocket(o: Resolved): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({
      type: o.type,
      ipv6Only: o.type === 'udp6' && o.ipv6Only,
      lookup: literalLookup as never,
    });
    const onError = (err: Error): void => {
      socket.off('listening', onListening);
      try {
        socket.close();
      } catch {
        // already closed by dgram on bind failure
      }
      reject(err);
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind({ address: o.host, port: o.port, exclusive: true });
  });
}

/** Ask for a buffer size; the kernel clamps silently or refuses (EPERM etc.): report, never fail. */
function trySetBuffers(socket: Socket, o: Resolved): BufferSizes {
  let recv = 0;
  let send = 0;
  try {
    socket.setRecvBufferSize(o.recvBufferSize);
  } catch {
    // clamped or refused: reported below
  }
  try {
    socket.setSendBufferSize(o.sendBufferSize);
  } catch {
    // idem
  }
  try {
    recv = socket.getRecvBufferSize();
    send = socket.getSendBufferSize();
  } catch {
    // unsupported platform: 0 means unknown
  }
  return { recv, send, recvRequested: o.recvBufferSize, sendRequested: o.sendBufferSize };
}

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
    let host = rinfo.address;
    let family = rinfo.family as AddressFamily;
    if (this.#dualStack && family === 'IPv6') {
      const unmapped = unmapIPv4(host);
      if (unmapped !== host) {
        host = unmapped;
        family = 'IPv4';
      }
    }
    // A plain Uint8Array view (no copy), not the Buffer dgram gives: Buffer#slice() returns a view,
    // so code written for Uint8Array (slice() copies) would alias, and mutate, the datagram.
    handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { host, port: rinfo.port, family });
    // the datagrams queued behind this one, in one native read (libuv's next read finds none)
    if (this.#batch !== null && !this.#closed) this.#batch.drain(this.#deliverBatched);
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
    this.#direct = o.gso === null ? null : new DirectSender(o.gso);
    const rx = o.batchReceive;
    this.#dualStack = o.type === 'udp6' && !o.ipv6Only;
    this.#batch =
      rx !== null && typeof rx.recv === 'function' && typeof rx.host === 'function'
        ? new BatchReceiver({ recv: rx.recv.bind(rx), host: rx.host.bind(rx) }, this.#dualStack)
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
