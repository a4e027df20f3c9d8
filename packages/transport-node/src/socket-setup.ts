/**
 * What a UdpTransport's options mean and how its node:dgram socket is made: option checks and
 * defaults, binding (IPv4, IPv6, dual-stack), the synchronous lookup for IP literals, and the
 * kernel buffer sizes. UdpTransport owns the socket once it is made.
 */
import { createSocket, type Socket, type SocketType } from 'node:dgram';
import { familyOf } from './address.js';
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
   * delivers a datagram, the ones already queued behind it (up to 32) are read in one call, each
   * into its own buffer, and delivered in order (README: "Batched receive"). Default true; used where the native
   * module was built (`stats().batchReceive`). false: node:dgram alone.
   */
  readonly batchReceive?: boolean;
  /**
   * With batched receive: turn on the socket's UDP_GRO (Linux 5.0) so that a sender's segmented
   * batch arrives in one read instead of being cut into datagrams in the kernel (on loopback that
   * cut was most of the sender's kernel time per datagram), and read the socket natively alone,
   * cutting such reads into their datagrams (README: "Coalesced receive"). Default true; used
   * where the native module and the kernel allow it (`stats().gro`). false: batches behind
   * node:dgram's reads.
   */
  readonly gro?: boolean;
  /** @internal test seam: the native binding to use instead of the built one (null: none) */
  readonly gsoBinding?: GsoBinding | null;
}

/** The kernel buffer sizes of a UdpTransport's socket (UdpTransport#bufferSizes). */
export interface BufferSizes {
  /** What the kernel reports after the request (Linux reports double the granted value, see socket(7)). */
  readonly recv: number;
  readonly send: number;
  /** The requested sizes, for comparison. */
  readonly recvRequested: number;
  readonly sendRequested: number;
}

export interface Resolved {
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
  /** the native module (segmentation offload, batched receive), or null: node:dgram alone */
  native: GsoBinding | null;
  gso: boolean;
  batchReceive: boolean;
  gro: boolean;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`"${name}" expected a positive integer, got ${String(value)}`);
  }
  return value;
}

export function resolveOptions(options: UdpTransportOptions): Resolved {
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
    native: options.gsoBinding !== undefined ? options.gsoBinding : gsoBinding,
    gso: options.gso !== false,
    batchReceive: options.batchReceive !== false,
    gro: options.gro !== false && process.env.SRMUDP_GRO !== '0',
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

export function bindSocket(o: Resolved): Promise<Socket> {
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
export function trySetBuffers(socket: Socket, o: Resolved): BufferSizes {
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
