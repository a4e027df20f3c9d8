/**
 * Batched receive through a dgram socket's descriptor (native/udp-gso.c, `recvmmsg`). node:dgram
 * delivers one datagram per callback: a `recvmsg`, a Buffer with its own allocation, an `rinfo`
 * object with a fresh address string, and a callback into JavaScript, each time. After dgram has
 * delivered one datagram, this reads what else is already queued on the socket with one
 * `recvmmsg` (up to RECV_SLOTS), each into its own ArrayBuffer (a view kept by the application
 * holds that datagram only, as with dgram), and the transport delivers those in order
 * before returning to libuv, whose next read then finds the queue empty. Order is kept: libuv and
 * this never read at the same time (one thread, and this runs inside libuv's callback).
 *
 * With UDP_GRO (`coalesce`, Linux 5.0) the kernel may hand one read several
 * datagrams of one source (a sender's segmented batch arrives whole instead of being cut into
 * datagrams on its way in: on loopback that was most of the sender's kernel time per datagram).
 * libuv's reads would take such a read for one datagram, so then dgram does not read at all:
 * its reading is stopped, the native module watches the socket, and every read is a native one
 * (up to RECV_SLOTS reads per call, cut into their datagrams there, OWNED_BUDGET datagrams per
 * readable callback; libuv calls again while more are queued). Where any step is refused, the
 * socket stays as it was (dgram reads first, batches behind it).
 *
 * UdpTransport owns node:dgram and the handler; this owns the descriptor, the native call, the
 * address strings (the last one is reused while the source does not change) and the counters.
 */
import type { Socket } from 'node:dgram';
import { type AddressFamily, mappedIPv4Source } from './address.js';
import { errnoName, GSO_MAX_SEGMENTS, type GsoBinding, setDgramReading, socketFd } from './gso.js';

/** datagrams one native call reads at most (native/udp-gso.c RECV_SLOTS) */
export const RECV_SLOTS = 32;
/** int32s per datagram in the meta array (native/udp-gso.c RECV_STRIDE) */
const STRIDE = 9;
/**
 * Datagrams read this way per event-loop turn at most; then dgram reads the rest one by one, and
 * the next turn starts a new budget. It keeps a turn about as long as libuv's own 32 reads per poll
 * would make it with batches, so timers and queued sends (ACKs) are not held back by one socket.
 */
export const RECV_BUDGET_PER_TURN = 96;

/** Datagrams one native call may return with UDP_GRO: RECV_SLOTS reads of up to GSO_MAX_SEGMENTS. */
const COALESCED_CAPACITY = RECV_SLOTS * GSO_MAX_SEGMENTS;
/**
 * Datagrams read per readable callback while the native module reads the socket (UDP_GRO): once
 * this many were read, no further call is made (libuv calls again on its next poll while more are
 * queued), so timers and queued sends (ACKs) wait a few milliseconds at most. In srmudp's P1 on
 * loopback a readable event delivered ~120 datagrams on average and 2 % of events more than 512
 * (the largest about 760), so this bound rarely cuts one short; 128 here (with 2 or 4 reads per
 * call after coalesced ones) measured 0.92-0.95x goodput.
 */
export const OWNED_BUDGET = 512;
/**
 * Reads per native call after a call that returned coalesced datagrams (each read may hold
 * GSO_MAX_SEGMENTS): a readable callback then delivers at most OWNED_BUDGET - 1 +
 * COALESCED_READS * GSO_MAX_SEGMENTS datagrams (1,023; without it 32 reads of 64 could follow).
 * Reads of single datagrams take RECV_SLOTS per call.
 */
export const COALESCED_READS = 8;

const EMPTY = new ArrayBuffer(0);

export type BatchDeliver = (data: Uint8Array, host: string, port: number, family: AddressFamily) => void;

export class BatchReceiver {
  /** the socket's descriptor, or -1: nothing is read here */
  #fd = -1;
  #meta = new Int32Array(1 + RECV_SLOTS * STRIDE);
  /** the last batch's datagrams (slots are overwritten by the next one; the buffers are not) */
  readonly #out: ArrayBuffer[] = [];
  // the last source address: its bytes and the host string and family delivered for it
  #family = 0;
  #a0 = 0;
  #a1 = 0;
  #a2 = 0;
  #a3 = 0;
  #scope = 0;
  #host = '';
  #hostFamily: AddressFamily = 'IPv4';
  #turnRead = 0;
  #turnReset: ReturnType<typeof setImmediate> | undefined;
  /** the native watcher while the native module reads the socket (UDP_GRO on), else null */
  #watcher: object | null = null;
  /** reads per native call while it reads alone: COALESCED_READS after a call with coalesced ones */
  #reads = RECV_SLOTS;
  /** native calls that returned datagrams, and the datagrams they returned */
  batches = 0;
  datagrams = 0;
  /** datagrams of those that arrived several to one read (UDP_GRO) */
  coalesced = 0;
  readonly errors: Record<string, number> = Object.create(null) as Record<string, number>;

  private constructor(
    private readonly binding: Required<Pick<GsoBinding, 'recv' | 'host'>> &
      Pick<GsoBinding, 'gro' | 'watch' | 'unwatch'>,
    /** a dual-stack IPv6 socket: IPv4-mapped sources are delivered as IPv4 */
    private readonly dualStack: boolean,
    /** where every datagram read here goes, in order */
    private readonly deliver: BatchDeliver,
  ) {}

  /**
   * A receiver on `binding` delivering to `deliver`, or null when it cannot read in batches (a
   * scripted test binding). With `coalesce`, it reads alone with UDP_GRO where it can (the module
   * doc): only then does its binding keep `gro`/`watch`/`unwatch`, which {@link attach} goes by.
   */
  static of(
    binding: GsoBinding,
    dualStack: boolean,
    deliver: BatchDeliver,
    coalesce: boolean,
  ): BatchReceiver | null {
    const { recv, host, gro, watch, unwatch } = binding;
    if (typeof recv !== 'function' || typeof host !== 'function') return null;
    const owned =
      coalesce && typeof gro === 'function' && typeof watch === 'function' && typeof unwatch === 'function'
        ? { gro: gro.bind(binding), watch: watch.bind(binding), unwatch: unwatch.bind(binding) }
        : {};
    const reader = { recv: recv.bind(binding), host: host.bind(binding), ...owned };
    return new BatchReceiver(reader, dualStack, deliver);
  }

  get active(): boolean {
    return this.#fd >= 0;
  }

  /** true while the native module reads the socket with UDP_GRO on (dgram does not read it) */
  get coalescing(): boolean {
    return this.#watcher !== null;
  }

  /**
   * Reads `socket` from now on: in batches behind node:dgram's reads, or, when it was made with
   * `coalesce` and the native module and the kernel allow it, alone with UDP_GRO on (the module doc).
   */
  attach(socket: Socket): void {
    this.#unwatch();
    this.#fd = socketFd(socket);
    this.#family = 0;
    if (this.#fd >= 0) this.#own(socket);
  }

  #own(socket: Socket): void {
    const { gro, watch, unwatch } = this.binding;
    // (present only when made with `coalesce` and the native module has them: `of`)
    if (gro === undefined || watch === undefined || unwatch === undefined) return;
    const fd = this.#fd;
    const on = gro(fd, true);
    if (on !== 0) {
      this.#count(errnoName(on));
      return;
    }
    if (!setDgramReading(socket, false)) {
      gro(fd, false);
      return;
    }
    const w = watch(fd, this.#onReadable);
    if (typeof w === 'number') {
      this.#count(errnoName(w));
      setDgramReading(socket, true);
      gro(fd, false);
      return;
    }
    this.#watcher = w;
    if (this.#meta.length < 1 + COALESCED_CAPACITY * STRIDE)
      this.#meta = new Int32Array(1 + COALESCED_CAPACITY * STRIDE);
  }

  #unwatch(): void {
    const w = this.#watcher;
    if (w === null) return;
    this.#watcher = null;
    this.binding.unwatch?.(w);
  }

  /** The socket is readable and the native module reads it alone (UDP_GRO): read, up to the budget. */
  readonly #onReadable = (): void => {
    let read = 0;
    while (read < OWNED_BUDGET && this.#watcher !== null) {
      const before = this.coalesced;
      const n = this.#read(this.#reads);
      if (n <= 0) break;
      read += n;
      this.#reads = this.coalesced > before ? COALESCED_READS : RECV_SLOTS;
    }
  };

  /** Nothing is read after this: once dgram closes the socket its descriptor number may be reused. */
  detach(): void {
    this.#unwatch();
    this.#fd = -1;
    if (this.#turnReset !== undefined) clearImmediate(this.#turnReset);
    this.#turnReset = undefined;
  }

  readonly #newTurn = (): void => {
    this.#turnReset = undefined;
    this.#turnRead = 0;
  };

  /**
   * Reads the datagrams queued on the socket now (one native call) and delivers each, in order.
   * Called right after dgram delivered one. Returns how many it read.
   */
  drain(): number {
    if (this.#fd < 0 || this.#watcher !== null || this.#turnRead >= RECV_BUDGET_PER_TURN) return 0;
    const n = this.#read(RECV_SLOTS);
    if (n > 0) {
      this.#turnRead += n;
      if (this.#turnReset === undefined) this.#turnReset = setImmediate(this.#newTurn);
    }
    return n;
  }

  /** One native call of up to `reads` reads: its datagrams delivered, in order; how many (0:
   * none, or an error, counted). */
  #read(reads: number): number {
    const n = this.binding.recv(this.#fd, this.#meta, this.#out, reads);
    if (n <= 0) {
      if (n < 0) this.#count(errnoName(n));
      return 0;
    }
    const meta = this.#meta;
    const out = this.#out;
    this.batches++;
    this.datagrams += n;
    for (let i = 0; i < n; i++) {
      const m = 1 + i * STRIDE;
      const buffer = out[i]!;
      out[i] = EMPTY; // the slot does not keep the datagram alive until the next batch
      if (meta[m] === 1) this.coalesced++;
      const family = meta[m + 3]!;
      if (
        family !== this.#family ||
        meta[m + 4] !== this.#a0 ||
        meta[m + 5] !== this.#a1 ||
        meta[m + 6] !== this.#a2 ||
        meta[m + 7] !== this.#a3 ||
        meta[m + 8] !== this.#scope
      ) {
        // (cannot fail for an address the kernel wrote: that datagram is counted and skipped)
        if (!this.#remember(i, m)) continue;
      }
      this.deliver(new Uint8Array(buffer), this.#host, meta[m + 2]!, this.#hostFamily);
    }
    return n;
  }

  #remember(i: number, m: number): boolean {
    const meta = this.#meta;
    const host = this.binding.host(meta, i);
    if (typeof host !== 'string') {
      this.#family = 0;
      this.#count(errnoName(host));
      return false;
    }
    this.#family = meta[m + 3]!;
    this.#a0 = meta[m + 4]!;
    this.#a1 = meta[m + 5]!;
    this.#a2 = meta[m + 6]!;
    this.#a3 = meta[m + 7]!;
    this.#scope = meta[m + 8]!;
    // (once per new source: the datagrams after it from the same source reuse these)
    const family = this.#family === 4 ? 'IPv4' : 'IPv6';
    const v4 = mappedIPv4Source(host, family, this.dualStack);
    this.#host = v4 ?? host;
    this.#hostFamily = v4 !== null ? 'IPv4' : family;
    return true;
  }

  #count(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }
}
