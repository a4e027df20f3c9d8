/**
 * UDP generic segmentation offload (Linux `UDP_SEGMENT`): several datagrams for one destination
 * handed to the kernel in one `sendmsg`, which it cuts into datagrams of one size (the last may be
 * shorter). On loopback this cut the sender's CPU per datagram from ~6 µs to ~1.4 µs (C, this
 * machine); the kernel traverses its stack once per batch instead of once per datagram. The
 * receiver gets ordinary datagrams.
 *
 * The native part (`native/udp-gso.c`, ~560 lines; it also reads in batches and with UDP_GRO,
 * batch-receive.ts)
 * is built at install or build time by `scripts/build-native.mjs` when a C compiler is there, and
 * is optional: without it, or with `SRMUDP_GSO=0`, every datagram goes through node:dgram as
 * before.
 */

import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { constants } from 'node:os';

/** What the native module exports (native/udp-gso.c). Every call returns -errno instead of throwing. */
export interface GsoBinding {
  /** 0 when the socket accepts UDP_SEGMENT, else -errno */
  supported(fd: number): number;
  /** Sends buffers[start .. start+count) to host:port as one payload cut at `segment` bytes: the
   * bytes sent, or -errno. Every buffer but the last is exactly `segment` bytes long. */
  send(
    fd: number,
    host: string,
    port: number,
    segment: number,
    buffers: Uint8Array[],
    start: number,
    count: number,
  ): number;
  /** Reads up to 32 (or `maxReads`) queued datagrams (recvmmsg, non-blocking; with UDP_GRO a read
   * may hold several, cut apart), each into its own new ArrayBuffer
   * `out[i]`, their lengths and sources into `meta` (batch-receive.ts): how many (0: none was
   * queued), or -errno. Absent from scripted test bindings. */
  recv?(fd: number, meta: Int32Array, out: ArrayBuffer[], maxReads?: number): number;
  /** The address string of datagram `i` of the last recv(), as node:dgram writes it, or -errno. */
  host?(meta: Int32Array, i: number): string | number;
  /** Turns the socket's UDP_GRO on or off (Linux 5.0): 0, or -errno. With it on, one read may
   * hold several datagrams of one source, which recv() cuts apart (batch-receive.ts). */
  gro?(fd: number, on: boolean): number;
  /** Calls `callback` whenever the socket is readable (a libuv poll handle on a duplicate of the
   * descriptor): a watcher for unwatch(), or -errno. */
  watch?(fd: number, callback: () => void): object | number;
  /** Stops a watcher; its duplicate descriptor is closed in libuv's close phase. 0, or -EINVAL. */
  unwatch?(watcher: object): number;
}

/** The kernel's limit of segments per send (UDP_MAX_SEGMENTS: 64 before Linux 6.9, 128 after). */
export const GSO_MAX_SEGMENTS = 64;
/** The largest UDP payload of one send (IPv4: 65,535 − 20 − 8). */
export const GSO_MAX_BYTES = 65_507;

export interface GsoStatus {
  /** true when the native module loaded (sockets may still refuse UDP_SEGMENT: see the transport's stats) */
  readonly loaded: boolean;
  /** why it did not load, or null */
  readonly reason: string | null;
}

function load(): { binding: GsoBinding | null; reason: string | null } {
  if (process.platform !== 'linux')
    return { binding: null, reason: `${process.platform}: UDP_SEGMENT is Linux-only` };
  if (process.env.SRMUDP_GSO === '0') return { binding: null, reason: 'SRMUDP_GSO=0' };
  try {
    const m = createRequire(import.meta.url)('../native/build/udp_gso.node') as Partial<GsoBinding>;
    if (typeof m.send !== 'function' || typeof m.supported !== 'function') {
      return { binding: null, reason: 'native/build/udp_gso.node has no send/supported' };
    }
    return { binding: m as GsoBinding, reason: null };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      binding: null,
      reason:
        code === 'MODULE_NOT_FOUND'
          ? 'native/build/udp_gso.node was not built (no C compiler at install time?)'
          : `native/build/udp_gso.node did not load: ${(e as Error).message}`,
    };
  }
}

const loaded = load();

/** The native binding, or null when it is not available here. */
export const gsoBinding: GsoBinding | null = loaded.binding;

/** Whether UDP segmentation offload is available in this process, and why not. */
export function gsoStatus(): GsoStatus {
  return { loaded: loaded.binding !== null, reason: loaded.reason };
}

/**
 * The file descriptor of a bound node:dgram socket, or -1. Node does not export it: `_handle.fd`
 * works but prints a deprecation warning (DEP0112), so this reads the same handle through
 * dgram's internal state symbol, and gives -1 when a Node version has moved it.
 */
export function socketFd(socket: Socket): number {
  const fd = dgramHandle(socket)?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/**
 * Stops (`on` false) or restarts node:dgram's own reading of a bound socket, through the same
 * internal handle as {@link socketFd} (its `recvStop` / `recvStart`, which dgram itself calls);
 * false when this Node version has no such handle or the call failed. Used while the native
 * module reads the socket instead (batch-receive.ts, UDP_GRO).
 */
export function setDgramReading(socket: Socket, on: boolean): boolean {
  const handle = dgramHandle(socket);
  const call = on ? handle?.recvStart : handle?.recvStop;
  if (typeof call !== 'function') return false;
  return call.call(handle) === 0;
}

type DgramHandle = { fd?: unknown; recvStart?: unknown; recvStop?: unknown };

function dgramHandle(socket: Socket): DgramHandle | undefined {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    if (sym.description !== 'state symbol') continue;
    const state = (socket as unknown as Record<symbol, unknown>)[sym] as { handle?: DgramHandle } | undefined;
    return state?.handle ?? undefined;
  }
  return undefined;
}

const errnoNames = new Map<number, string>();
// the first name of a number wins (EAGAIN before EWOULDBLOCK, ENOTSUP's twin EOPNOTSUPP…)
for (const [name, value] of Object.entries(constants.errno))
  if (!errnoNames.has(value)) errnoNames.set(value, name);

/** 'EAGAIN' for -11, and so on; 'UNKNOWN' for a number with no name. */
export function errnoName(negative: number): string {
  return errnoNames.get(-negative) ?? 'UNKNOWN';
}
