import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { KrpcDropReason } from './krpc-guard.js';
import { checkKrpcDatagram } from './krpc-guard.js';

/** Counters of the KRPC guard (see {@link GuardedSocket}). */
export interface KrpcGuardStats {
  /** Datagrams received on the DHT socket. */
  received: number;
  /** Datagrams passed to bittorrent-dht. */
  passed: number;
  /** Datagrams dropped before bittorrent-dht saw them, by reason. */
  dropped: Partial<Record<KrpcDropReason, number>>;
  /** Datagrams that passed the checks but still made bittorrent-dht throw (dropped, process kept alive). */
  contained: number;
}

/**
 * The UDP socket under bittorrent-dht (given to it as k-rpc-socket's `socket` option): every
 * incoming datagram is checked by {@link checkKrpcDatagram} first, and the checks and the
 * library's message handler run inside a try/catch, so a throw in either drops that one datagram
 * (counted in `contained`) instead of killing the process. Implements the part of dgram.Socket
 * that k-rpc-socket uses: bind, send, close, address and the message/listening/error/close events.
 */
export class GuardedSocket extends EventEmitter {
  readonly #inner: Socket;
  readonly #stats: KrpcGuardStats = { received: 0, passed: 0, dropped: {}, contained: 0 };

  constructor() {
    super();
    this.#inner = createSocket('udp4');
    this.#inner.on('message', (data: Buffer, rinfo: RemoteInfo) => this.#receive(data, rinfo));
    this.#inner.on('listening', () => this.emit('listening'));
    this.#inner.on('error', (e) => this.emit('error', e));
    this.#inner.on('close', () => this.emit('close'));
  }

  #receive(data: Buffer, rinfo: RemoteInfo): void {
    this.#stats.received++;
    // a throw in the checks or in the library's handler drops this one datagram (counted)
    try {
      const reason = checkKrpcDatagram(data);
      if (reason !== null) {
        this.#stats.dropped[reason] = (this.#stats.dropped[reason] ?? 0) + 1;
        return;
      }
      this.#stats.passed++;
      this.emit('message', data, rinfo);
    } catch {
      this.#stats.contained++;
    }
  }

  stats(): KrpcGuardStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  bind(...args: unknown[]): this {
    (this.#inner.bind as (...a: unknown[]) => unknown)(...args);
    return this;
  }

  send(
    buf: Uint8Array,
    offset: number,
    length: number,
    port: number,
    host: string,
    cb?: (error: Error | null) => void,
  ): void {
    try {
      this.#inner.send(buf, offset, length, port, host, cb);
    } catch (error) {
      // A bad address from a hostile node list throws synchronously in dgram: fail this send only.
      if (cb) queueMicrotask(() => cb(error as Error));
    }
  }

  address(): ReturnType<Socket['address']> {
    return this.#inner.address();
  }

  close(cb?: () => void): void {
    if (cb) this.once('close', cb);
    this.#inner.close();
  }
}
