/**
 * The machine's model of the birthday socket pool that the host owns (`@srmudp/transport-node`
 * binds and closes the real sockets): which socket ids exist, which dial attempt asked for them,
 * and the route table. A route says "datagrams to this remote endpoint leave from socket i": set
 * when a probe of the consistent side lands on socket i, or when anything arrives there from that
 * endpoint, so core's handshake and data towards the peer take the one NAT mapping that is open.
 * Socket 0 (the node's main socket) is never in the pool.
 */
import type { Address } from '@srmudp/wire';
import { canonicalKey } from './address.js';

interface PoolSocket {
  /** the dial attempt (peer) that asked for it; null once pinned to a connection */
  owner: string | null;
  readonly localPort: number;
}

export class SocketPool {
  #nextRequest = 1;
  readonly #requests = new Map<number, string>();
  readonly #sockets = new Map<number, PoolSocket>();
  readonly #routes = new Map<string, number>();

  get size(): number {
    return this.#sockets.size;
  }

  /** A new request id for `open_sockets` on behalf of `owner`. */
  request(owner: string): number {
    const id = this.#nextRequest++;
    this.#requests.set(id, owner);
    return id;
  }

  /**
   * The host bound sockets for `request`. Returns their owner, or null when nobody wants them any
   * more (the caller closes them). Throws TypeError on malformed ids (API misuse).
   */
  opened(request: number, ids: readonly number[], localPorts: readonly number[]): string | null {
    if (!Array.isArray(ids) || !Array.isArray(localPorts) || ids.length !== localPorts.length) {
      throw new TypeError('"ids" and "localPorts" expected arrays of the same length');
    }
    const seen = new Set<number>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const port = localPorts[i]!;
      if (!Number.isInteger(id) || id < 1 || seen.has(id) || this.#sockets.has(id)) {
        throw new TypeError(`"ids[${i}]" expected a new socket id >= 1, got ${String(id)}`);
      }
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new TypeError(`"localPorts[${i}]" expected a port in 1..65535, got ${String(port)}`);
      }
      seen.add(id);
    }
    const owner = this.#requests.get(request) ?? null;
    this.#requests.delete(request);
    if (owner === null) return null;
    for (let i = 0; i < ids.length; i++) this.#sockets.set(ids[i]!, { owner, localPort: localPorts[i]! });
    return owner;
  }

  has(socket: number): boolean {
    return this.#sockets.has(socket);
  }

  /** The attempt a socket works for; null when pinned to a connection; undefined when unknown. */
  ownerOf(socket: number): string | null | undefined {
    return this.#sockets.get(socket)?.owner;
  }

  localPort(socket: number): number | undefined {
    return this.#sockets.get(socket)?.localPort;
  }

  /** The socket datagrams to `to` leave from (0 = main socket). Cheap when the pool is empty. */
  route(to: Address): number {
    if (this.#routes.size === 0) return 0;
    return this.#routes.get(canonicalKey(to)) ?? 0;
  }

  /** True when `socket` carries a route. */
  routed(socket: number): boolean {
    if (this.#routes.size === 0) return false;
    for (const s of this.#routes.values()) if (s === socket) return true;
    return false;
  }

  setRoute(from: Address, socket: number): boolean {
    if (!this.#sockets.has(socket)) return false;
    const k = canonicalKey(from);
    const had = this.#routes.get(k);
    this.#routes.set(k, socket);
    return had !== socket;
  }

  /**
   * The attempt of `owner` ended: its pending requests are forgotten (late sockets get closed) and
   * its sockets closed, except the one routing `keepFor`, which stays open for that connection.
   * Returns the ids to close.
   */
  release(owner: string, keepFor: Address | null): number[] {
    for (const [r, o] of this.#requests) if (o === owner) this.#requests.delete(r);
    const keep = keepFor === null ? 0 : this.route(keepFor);
    const close: number[] = [];
    for (const [id, s] of this.#sockets) {
      if (s.owner !== owner) continue;
      if (id === keep) s.owner = null;
      else close.push(id);
    }
    this.#forget(close);
    return close;
  }

  /** A connection over a pinned socket ended: close the socket that routes `remote`. */
  releaseRoute(remote: Address): number[] {
    const id = this.route(remote);
    if (id === 0 || this.#sockets.get(id)?.owner !== null) return [];
    this.#forget([id]);
    return [id];
  }

  closeAll(): number[] {
    this.#requests.clear();
    const ids = [...this.#sockets.keys()];
    this.#forget(ids);
    return ids;
  }

  #forget(ids: readonly number[]): void {
    if (ids.length === 0) return;
    const gone = new Set(ids);
    for (const id of ids) this.#sockets.delete(id);
    for (const [k, s] of this.#routes) if (gone.has(s)) this.#routes.delete(k);
  }
}
