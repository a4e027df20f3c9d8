import { familyOf, type TransportAddress, unmapIPv4 } from './address.js';
import { type TransportError, UdpTransport } from './udp-transport.js';

/** Receive handler of a pool: `socket` is the id of the pool socket the datagram arrived on. */
export type PoolDatagramHandler = (socket: number, data: Uint8Array, from: TransportAddress) => void;
/** Error handler of a pool: a send or socket error of pool socket `socket`. */
export type PoolErrorHandler = (socket: number, err: TransportError) => void;

export interface UdpSocketPoolOptions {
  /**
   * IPv4 literal the pool sockets bind to: the main socket's address. Use
   * {@link poolHostFor} to derive it from a bound transport.
   */
  readonly host: string;
  /** SO_RCVBUF / SO_SNDBUF requests per socket. Default 256 KiB each (a pool socket carries one peer). */
  readonly recvBufferSize?: number;
  readonly sendBufferSize?: number;
  /** per-socket send queue bound. Default 1024. */
  readonly maxQueue?: number;
}

/**
 * The IPv4 address pool sockets bind to next to a main socket bound at `main`: its own IPv4
 * address, '0.0.0.0' for a wildcard (IPv4 or dual-stack '::'), the IPv4 inside an IPv4-mapped
 * address; null for a specific IPv6 address or an IPv6-only socket (no IPv4 there).
 */
export function poolHostFor(main: TransportAddress, ipv6Only = false): string | null {
  if (main.family === 'IPv4') return main.host;
  if (ipv6Only) return null;
  if (main.host === '::') return '0.0.0.0';
  const v4 = unmapIPv4(main.host);
  return v4 !== main.host ? v4 : null;
}

/**
 * Extra IPv4 sockets next to a node's main socket, for the birthday strategy of NAT traversal
 * (`@srmudp/punch`'s NatSession asks for them with `open_sockets`, names them by id in its
 * transmits, and gives them back with `close_sockets`). Each socket is a {@link UdpTransport}
 * (batched sends, errors reported, never thrown) bound to an ephemeral port; datagrams and errors
 * are delivered tagged with the socket's id. Ids start at 1 and are never reused by a pool.
 */
export class UdpSocketPool {
  readonly #o: Required<UdpSocketPoolOptions>;
  readonly #sockets = new Map<number, UdpTransport>();
  #nextId = 1;
  #closed = false;
  #onDatagram: PoolDatagramHandler | undefined;
  #onError: PoolErrorHandler | undefined;

  constructor(options: UdpSocketPoolOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('"options" expected an object');
    if (familyOf(options.host) !== 'IPv4') {
      throw new TypeError(`"host" expected an IPv4 literal, got ${String(options.host)}`);
    }
    this.#o = {
      recvBufferSize: 256 * 1024,
      sendBufferSize: 256 * 1024,
      maxQueue: 1024,
      ...options,
    };
  }

  get host(): string {
    return this.#o.host;
  }

  /** Open pool sockets now. */
  get size(): number {
    return this.#sockets.size;
  }

  has(socket: number): boolean {
    return this.#sockets.has(socket);
  }

  /** Ids of the open sockets, in opening order. */
  ids(): number[] {
    return [...this.#sockets.keys()];
  }

  /** The local port of pool socket `socket`; undefined when it is not open. */
  localPort(socket: number): number | undefined {
    return this.#sockets.get(socket)?.address().port;
  }

  onDatagram(handler: PoolDatagramHandler | undefined): void {
    if (handler !== undefined && typeof handler !== 'function') {
      throw new TypeError(`"handler" expected a function, got ${typeof handler}`);
    }
    this.#onDatagram = handler;
  }

  onError(handler: PoolErrorHandler | undefined): void {
    if (handler !== undefined && typeof handler !== 'function') {
      throw new TypeError(`"handler" expected a function, got ${typeof handler}`);
    }
    this.#onError = handler;
  }

  /**
   * Binds up to `count` sockets on ephemeral ports (in parallel). Fewer when the OS refuses more
   * (EMFILE, no free port…): what could be bound is returned, never an error. Ids and local
   * ports in the same order.
   */
  async open(count: number): Promise<{ ids: number[]; ports: number[] }> {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`"count" expected a non-negative integer, got ${String(count)}`);
    }
    if (this.#closed || count === 0) return { ids: [], ports: [] };
    const settled = await Promise.allSettled(
      Array.from({ length: count }, () =>
        UdpTransport.bind({
          host: this.#o.host,
          port: 0,
          recvBufferSize: this.#o.recvBufferSize,
          sendBufferSize: this.#o.sendBufferSize,
          maxQueue: this.#o.maxQueue,
        }),
      ),
    );
    const ids: number[] = [];
    const ports: number[] = [];
    for (const r of settled) {
      if (r.status !== 'fulfilled') continue;
      const t = r.value;
      if (this.#closed) {
        void t.close();
        continue;
      }
      const id = this.#nextId++;
      t.onDatagram((data, from) => this.#onDatagram?.(id, data, from));
      t.onError((err) => this.#onError?.(id, err));
      this.#sockets.set(id, t);
      ids.push(id);
      ports.push(t.address().port);
    }
    return { ids, ports };
  }

  /**
   * Sends one datagram from pool socket `socket`. False when that socket is not open (closed
   * already: the session may name a socket it just gave back), or when the socket refused it.
   */
  send(socket: number, data: Uint8Array, host: string, port: number): boolean {
    const t = this.#sockets.get(socket);
    return t === undefined ? false : t.send(data, host, port);
  }

  /** Closes these sockets (unknown ids are ignored); resolves when their handles are released. */
  async close(ids: readonly number[]): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const id of ids) {
      const t = this.#sockets.get(id);
      if (t === undefined) continue;
      this.#sockets.delete(id);
      t.onDatagram(undefined);
      closing.push(t.close());
    }
    await Promise.all(closing);
  }

  /** Closes every socket; later open() calls bind nothing. */
  closeAll(): Promise<void> {
    this.#closed = true;
    return this.close([...this.#sockets.keys()]);
  }
}
