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
 * UdpTransport owns node:dgram and the handler; this owns the descriptor, the native call, the
 * address strings (the last one is reused while the source does not change) and the counters.
 */
import type { Socket } from 'node:dgram';
import { type AddressFamily, unmapIPv4 } from './address.js';
import { errnoName, type GsoBinding, socketFd } from './gso.js';

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

const EMPTY = new ArrayBuffer(0);

export type BatchDeliver = (data: Uint8Array, host: string, port: number, family: AddressFamily) => void;

export class BatchReceiver {
  /** the socket's descriptor, or -1: nothing is read here */
  #fd = -1;
  readonly #meta = new Int32Array(1 + RECV_SLOTS * STRIDE);
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
  /** native calls that returned datagrams, and the datagrams they returned */
  batches = 0;
  datagrams = 0;
  readonly errors: Record<string, number> = Object.create(null) as Record<string, number>;

  private constructor(
    private readonly binding: Required<Pick<GsoBinding, 'recv' | 'host'>>,
    /** a dual-stack IPv6 socket: IPv4-mapped sources are delivered as IPv4 */
    private readonly dualStack: boolean,
  ) {}

  /** A receiver on `binding`, or null when it cannot read in batches (a scripted test binding). */
  static of(binding: GsoBinding, dualStack: boolean): BatchReceiver | null {
    const { recv, host } = binding;
    if (typeof recv !== 'function' || typeof host !== 'function') return null;
    return new BatchReceiver({ recv: recv.bind(binding), host: host.bind(binding) }, dualStack);
  }

  get active(): boolean {
    return this.#fd >= 0;
  }

  attach(socket: Socket): void {
    this.#fd = socketFd(socket);
    this.#family = 0;
  }

  /** Nothing is read after this: once dgram closes the socket its descriptor number may be reused. */
  detach(): void {
    this.#fd = -1;
    if (this.#turnReset !== undefined) clearImmediate(this.#turnReset);
    this.#turnReset = undefined;
  }

  readonly #newTurn = (): void => {
    this.#turnReset = undefined;
    this.#turnRead = 0;
  };

  /**
   * Reads the datagrams queued on the socket now (one native call) and hands each to `deliver`, in
   * order. Called right after dgram delivered one. Returns how many it read.
   */
  drain(deliver: BatchDeliver): number {
    if (this.#fd < 0 || this.#turnRead >= RECV_BUDGET_PER_TURN) return 0;
    const n = this.binding.recv(this.#fd, this.#meta, this.#out);
    if (n <= 0) {
      if (n < 0) this.#count(errnoName(n));
      return 0;
    }
    const meta = this.#meta;
    const out = this.#out;
    this.batches++;
    this.datagrams += n;
    this.#turnRead += n;
    if (this.#turnReset === undefined) this.#turnReset = setImmediate(this.#newTurn);
    for (let i = 0; i < n; i++) {
      const m = 1 + i * STRIDE;
      const buffer = out[i]!;
      out[i] = EMPTY; // the slot does not keep the datagram alive until the next batch
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
      deliver(new Uint8Array(buffer), this.#host, meta[m + 2]!, this.#hostFamily);
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
    this.#host = host;
    this.#hostFamily = this.#family === 4 ? 'IPv4' : 'IPv6';
    if (this.dualStack && this.#family === 6) {
      const unmapped = unmapIPv4(host);
      if (unmapped !== host) {
        this.#host = unmapped;
        this.#hostFamily = 'IPv4';
      }
    }
    return true;
  }

  #count(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }
}
