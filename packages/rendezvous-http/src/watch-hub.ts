import type { WebSocket } from 'ws';
import type { Client } from './client-address.js';
import { bump } from './counter.js';
import type { RecordStore } from './record-store.js';
import { WATCH_GOING_AWAY } from './watch-codes.js';

export interface WatchHubOptions {
  /** Open watches per client (IPv4 address or IPv6 /64). */
  readonly maxPerClient: number;
  /** Open watches per network (IPv4 /24 or IPv6 /48). */
  readonly maxPerPrefix: number;
  /** Open watches in all. */
  readonly max: number;
  /** The server pings every watch this often; one that has not answered the previous ping is dropped. */
  readonly pingIntervalMs: number;
  /**
   * A watch over which nothing was pushed for this long is closed with 1001 ("going away"); the
   * client reconnects. Slots held by clients that never need them are handed back this way.
   */
  readonly idleTimeoutMs: number;
}

interface Watch {
  readonly ws: WebSocket;
  readonly client: Client;
  lastPushAt: number;
  alive: boolean;
  stop(): void;
}

/** Open watch sockets with per-client, per-network and global caps, pings and idle expiry. */
export class WatchHub {
  readonly #watches = new Set<Watch>();
  readonly #perClient = new Map<string, number>();
  readonly #perPrefix = new Map<string, number>();
  readonly #timer: ReturnType<typeof setInterval>;
  expired = 0;

  constructor(
    readonly options: WatchHubOptions,
    private readonly store: RecordStore,
    private readonly now: () => number,
  ) {
    this.#timer = setInterval(() => this.#tick(), options.pingIntervalMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#watches.size;
  }

  /** Why a new watch from `client` is refused ('503 ...'), or null when there is room. */
  refusal(client: Client): string | null {
    if ((this.#perClient.get(client.key) ?? 0) >= this.options.maxPerClient) return '429 Too Many Requests';
    if ((this.#perPrefix.get(client.prefix) ?? 0) >= this.options.maxPerPrefix)
      return '429 Too Many Requests';
    if (this.#watches.size >= this.options.max) return '503 Service Unavailable';
    return null;
  }

  /** Follows `peerId` for `ws`: the current record now, then every new one. */
  add(ws: WebSocket, client: Client, peerId: Uint8Array): void {
    const w: Watch = {
      ws,
      client,
      lastPushAt: this.now(),
      alive: true,
      stop: () => {},
    };
    const push = (bytes: Uint8Array) => {
      if (ws.readyState !== ws.OPEN) return;
      w.lastPushAt = this.now();
      ws.send(bytes);
    };
    const unsubscribe = this.store.subscribe(peerId, push);
    w.stop = unsubscribe;
    this.#watches.add(w);
    bump(this.#perClient, client.key, 1);
    bump(this.#perPrefix, client.prefix, 1);
    ws.on('pong', () => {
      w.alive = true;
    });
    ws.on('close', () => this.#remove(w));
    ws.on('error', () => ws.terminate());
    ws.on('message', () => ws.close(1008, 'watch sockets are one-way'));
    const current = this.store.get(peerId, this.now());
    if (current !== null) push(current);
  }

  #remove(w: Watch): void {
    if (!this.#watches.delete(w)) return;
    w.stop();
    bump(this.#perClient, w.client.key, -1);
    bump(this.#perPrefix, w.client.prefix, -1);
  }

  #tick(): void {
    const now = this.now();
    for (const w of this.#watches) {
      if (!w.alive) {
        // No pong since the last ping: a dead or half-open peer (or one that will not answer).
        this.expired++;
        w.ws.terminate();
        this.#remove(w);
        continue;
      }
      if (now - w.lastPushAt >= this.options.idleTimeoutMs) {
        this.expired++;
        w.ws.close(WATCH_GOING_AWAY, 'idle: reconnect to keep watching');
        this.#remove(w);
        continue;
      }
      w.alive = false;
      w.ws.ping();
    }
  }

  close(): void {
    clearInterval(this.#timer);
    for (const w of this.#watches) {
      w.ws.terminate();
      this.#remove(w);
    }
  }
}
