/**
 * Named peers (`peers.add/remove/list/ready`, `options.peers`, the configured gates `gate-<i>`),
 * one rule: a named peer is kept connected. It is dialled when added, its card resolved again
 * at every attempt, redialled with a backoff (the driver's timers) when a dial fails or its
 * connection ends, and `peers.ready()` waiters are settled when it connects, is removed, times
 * out or the node closes. A removed peer's incoming connections are refused until it is added
 * again. The dial itself (relays first, the 'dial' event, dialer.ts) is the node's.
 */
import { lostPeerCode } from '@srmudp/core';
import { parsePeerId, peerIdentityHex } from '@srmudp/crypto';
import { parseCard, type Rendezvous } from '@srmudp/rendezvous';
import { equalBytes, SrmudpError, toHex } from '@srmudp/wire';
import { abortError } from './async-queue.js';
import { type PeerTarget, parseNodeOptions } from './config.js';
import type { Connection } from './connection.js';
import { logger } from './log.js';
import { type ResolvedTarget, resolveTarget } from './resolve.js';
import type { Timer } from './timer-queue.js';

/** Same namespace as the façade's lines (`DEBUG=srmudp:node`). */
const log = logger('srmudp:node');

/**
 * What the 'peer' event carries: a named peer's state changes, with the number of addresses a
 * dial tries ('connecting') and why the last dial failed plus when the next one starts
 * ('reconnecting'), so a program can say what is happening while it happens.
 */
export interface PeerEvent {
  name: string;
  state: 'connecting' | 'established' | 'reconnecting' | 'removed';
  /** 'connecting': how many addresses the dial tries */
  addresses?: number;
  /** 'reconnecting': why the last dial failed or the connection ended */
  error?: { code: string; message: string };
  /** 'reconnecting': ms until the next dial */
  retryInMs?: number;
}

export interface NamedPeer {
  readonly name: string;
  target: PeerTarget;
  /** known once resolved or established */
  key: Uint8Array | null;
  conn: Connection | null;
  dialing: Promise<Connection> | null;
  /** the driver's redial timer (backoff) */
  retryTimer: Timer | null;
  retryDelay: number;
  lastError: SrmudpError | null;
}

/** What the named peers need from the node. */
export interface NamedPeersHost {
  readonly closing: boolean;
  readonly rendezvous: Rendezvous;
  /** the first redial delay (`reconnectDelayMs`), doubled up to 30 s */
  readonly reconnectDelayMs: number;
  after(ms: number, fn: () => void): Timer;
  assertOpen(): void;
  /** throws OWN_CARD for this node's own key */
  refuseOwnKey(key: Uint8Array | null): void;
  /** the established connection with this peer (key in hex), if any */
  liveConnection(hex: string): Connection | undefined;
  /** dials a resolved target on behalf of the named peer `name` */
  dial(resolved: ResolvedTarget, name: string): Promise<Connection>;
  emitPeer(e: PeerEvent): void;
}

interface ReadyWaiter {
  readonly name: string;
  settle(err: unknown, c?: Connection): void;
}

export class NamedPeers {
  readonly #host: NamedPeersHost;
  readonly #named = new Map<string, NamedPeer>();
  /**
   * peers removed on purpose, by key holder (peerIdentityHex: either form of the id, crypto's
   * samePeer): their incoming connections are refused until added again
   */
  readonly #removedKeys = new Set<string>();
  readonly #readyWaiters = new Set<ReadyWaiter>();

  constructor(host: NamedPeersHost) {
    this.#host = host;
  }

  get(name: string): NamedPeer | undefined {
    return this.#named.get(name);
  }

  has(name: string): boolean {
    return this.#named.has(name);
  }

  names(): string[] {
    return [...this.#named.keys()];
  }

  values(): IterableIterator<NamedPeer> {
    return this.#named.values();
  }

  /** Whether the application named this peer (key in hex). */
  hasKey(hex: string): boolean {
    for (const p of this.#named.values()) if (p.key && toHex(p.key) === hex) return true;
    return false;
  }

  /**
   * Whether the holder of `key` was removed on purpose (its incoming connections are refused),
   * whichever form of its id it presents.
   */
  isRemoved(key: Uint8Array): boolean {
    return this.#removedKeys.size > 0 && this.#removedKeys.has(peerIdentityHex(key));
  }

  /**
   * `peers.add(record)`: every name and target validated as `options.peers` are (a typed
   * INVALID_OPTIONS naming each wrong one, before any is added), then each added.
   */
  addAll(peers: Record<string, PeerTarget>): void {
    if (typeof peers !== 'object' || peers === null) throw new TypeError('"peers" expected an object');
    this.addConfigured(parseNodeOptions({ peers }).peers, []);
  }

  /**
   * The node's validated peers (`options.peers`), then its configured gates, named `gate-<i>`
   * so that a hop session to each is kept (and redialled).
   */
  addConfigured(peers: Record<string, PeerTarget>, gates: readonly PeerTarget[]): void {
    for (const [name, target] of Object.entries(peers)) this.add(name, target);
    for (let i = 0; i < gates.length; i++) this.add(`gate-${i}`, gates[i] as PeerTarget);
  }

  /** `peers.remove(names)`. */
  removeAll(names: string[]): void {
    if (!Array.isArray(names)) throw new TypeError('"names" expected an array of peer names');
    for (const name of names) this.remove(name);
  }

  add(name: string, target: PeerTarget): void {
    const h = this.#host;
    h.assertOpen();
    // a card names its peer id; a malformed card is refused here, with what is wrong
    const key =
      typeof target === 'string'
        ? parseCard(target).peerId
        : target.peerId !== undefined
          ? typeof target.peerId === 'string'
            ? parsePeerId(target.peerId)
            : target.peerId
          : null;
    h.refuseOwnKey(key);
    const existing = this.#named.get(name);
    if (existing && key && existing.key && equalBytes(existing.key, key)) {
      // the same peer with a fresh card (new addresses): keep a live connection, redial now if lost
      existing.target = target;
      if (!existing.conn || existing.conn.isClosed) {
        existing.retryTimer?.cancel();
        existing.retryTimer = null;
        existing.retryDelay = h.reconnectDelayMs;
        this.#dial(existing);
      }
      return;
    }
    if (existing) this.remove(name);
    const p: NamedPeer = {
      name,
      target,
      key,
      conn: null,
      dialing: null,
      retryTimer: null,
      retryDelay: h.reconnectDelayMs,
      lastError: null,
    };
    if (key) {
      this.#removedKeys.delete(peerIdentityHex(key));
      const c = h.liveConnection(toHex(key));
      if (c) {
        c.name = name;
        p.conn = c;
      }
    }
    this.#named.set(name, p);
    if (!p.conn) this.#dial(p);
  }

  remove(name: string): void {
    const p = this.#named.get(name);
    if (!p) return;
    this.#named.delete(name);
    this.#settleReady(
      name,
      new SrmudpError('UNKNOWN_PEER', `${name} was removed (peers.remove) while waiting for it`),
    );
    p.retryTimer?.cancel();
    p.retryTimer = null;
    if (p.key) this.#removedKeys.add(peerIdentityHex(p.key));
    if (p.conn && !p.conn.isClosed) void p.conn.close(0, 'peer removed');
  }

  /** The named peer a new connection belongs to: by its key, or the name its dial carried. */
  find(hex: string, dialName: string | undefined): NamedPeer | undefined {
    let named: NamedPeer | undefined;
    for (const p of this.#named.values()) {
      if ((p.key && toHex(p.key) === hex) || p.name === dialName) named = p;
    }
    return named;
  }

  /** The named peer `p` is connected through `conn`: backoff reset, 'established', waiters. */
  established(p: NamedPeer, remoteKey: Uint8Array, conn: Connection): void {
    p.key = remoteKey;
    p.conn = conn;
    p.retryDelay = this.#host.reconnectDelayMs;
    p.lastError = null;
    p.retryTimer?.cancel();
    p.retryTimer = null;
    this.#host.emitPeer({ name: p.name, state: 'established' });
    this.#settleReady(p.name, null, conn);
  }

  /** A connection ended: the named peers it carried are redialled (with the reason kept). */
  lost(c: Connection, e: { code: number; reason: string; remote: boolean }): void {
    for (const p of this.#named.values()) {
      if (p.conn === c) {
        p.conn = null;
        // why it left, for status() and the 'peer' event until it is back
        p.lastError = new SrmudpError(
          lostPeerCode(e) ?? 'CONNECTION_CLOSED',
          e.remote
            ? `closed by the peer${e.reason ? `: ${e.reason}` : ''}`
            : e.reason || `closed (code ${e.code})`,
        );
        this.#scheduleRedial(p);
      }
    }
  }

  /** The node closes: no more redials, every waiter rejected with NODE_CLOSED. */
  close(): void {
    for (const p of this.#named.values()) p.retryTimer?.cancel();
    for (const w of [...this.#readyWaiters]) w.settle(new SrmudpError('NODE_CLOSED', 'the node was closed'));
  }

  /** `peers.ready(name)`: see SrmudpNode.peers. */
  waitReady(name: string, opts: { signal?: AbortSignal; timeout?: number }): Promise<Connection> {
    if (typeof name !== 'string') return Promise.reject(new TypeError('"name" expected a peer name'));
    if (opts.timeout !== undefined && !(Number.isInteger(opts.timeout) && opts.timeout > 0))
      return Promise.reject(
        new RangeError(`"timeout" expected a positive integer (ms), got ${opts.timeout}`),
      );
    if (this.#host.closing) return Promise.reject(new SrmudpError('NODE_CLOSED', 'the node is closed'));
    const p = this.#named.get(name);
    if (!p) {
      return Promise.reject(
        new SrmudpError(
          'UNKNOWN_PEER',
          `no peer named ${JSON.stringify(name)} (add it with peers.add first)`,
        ),
      );
    }
    if (p.conn && !p.conn.isClosed) return Promise.resolve(p.conn);
    if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal));
    return new Promise<Connection>((resolve, reject) => {
      const waiter: ReadyWaiter = {
        name,
        settle: (err: unknown, c?: Connection) => {
          this.#readyWaiters.delete(waiter);
          timer?.cancel();
          opts.signal?.removeEventListener('abort', onAbort);
          if (c) resolve(c);
          else reject(err);
        },
      };
      const onAbort = () => waiter.settle(abortError(opts.signal as AbortSignal));
      const timer =
        opts.timeout !== undefined
          ? this.#host.after(opts.timeout, () => {
              const last = this.#named.get(name)?.lastError ?? null;
              waiter.settle(
                new SrmudpError(
                  'PEER_TIMEOUT',
                  `${name} not connected within ${opts.timeout} ms${last ? ` (last attempt: ${last.code}: ${last.message})` : ' (still dialling)'}`,
                  last ? { cause: last } : undefined,
                ),
              );
            })
          : null;
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#readyWaiters.add(waiter);
    });
  }

  /** Settles the peers.ready() waiters of a name: with its connection, or with an error. */
  #settleReady(name: string, err: unknown, conn?: Connection): void {
    for (const w of [...this.#readyWaiters]) if (w.name === name) w.settle(err, conn);
  }

  #dial(p: NamedPeer): void {
    const h = this.#host;
    if (h.closing || p.dialing || this.#named.get(p.name) !== p) return;
    const attempt = (async () => {
      // the card is resolved again at every attempt: a peer that moved (restart, NAT reboot,
      // new network) has published its new record
      const resolved = await resolveTarget(p.target, h.rendezvous);
      if (resolved.key) {
        p.key = resolved.key;
        this.#removedKeys.delete(peerIdentityHex(resolved.key));
      }
      return h.dial(resolved, p.name);
    })();
    p.dialing = attempt;
    attempt.then(
      (conn) => {
        p.dialing = null;
        if (this.#named.get(p.name) !== p) return;
        p.conn = conn;
        conn.name = p.name;
      },
      (err: unknown) => {
        p.dialing = null;
        p.lastError = err instanceof SrmudpError ? err : new SrmudpError('CONNECT_FAILED', String(err));
        log(`dial ${p.name} failed: ${p.lastError.code}: ${p.lastError.message}`);
        this.#scheduleRedial(p);
      },
    );
  }

  /** The named-peer backoff: the driver's timers (no timer of its own). */
  #scheduleRedial(p: NamedPeer): void {
    const h = this.#host;
    if (h.closing || p.retryTimer || this.#named.get(p.name) !== p) return;
    const delay = p.retryDelay;
    p.retryDelay = Math.min(p.retryDelay * 2, 30_000);
    log(`redial ${p.name} in ${delay} ms`);
    h.emitPeer({
      name: p.name,
      state: 'reconnecting',
      retryInMs: delay,
      ...(p.lastError && !p.conn ? { error: { code: p.lastError.code, message: p.lastError.message } } : {}),
    });
    p.retryTimer = h.after(delay, () => {
      p.retryTimer = null;
      if (p.conn && !p.conn.isClosed) return;
      this.#dial(p);
    });
  }
}
