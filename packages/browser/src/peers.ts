// The named-peer directory of a browser node: the peers by key and by name, who dials (the lower
// key; the higher key too after the late dial), retry with backoff, which of two crossing sessions
// both ends keep, and each peer's status and last error. A dial is a circuit through the relay
// link (relay-link.ts); the node routes core's events for the peers' sessions here (node.ts).
import type { ClosedWhileConnecting, ConnectionApi } from '@srmudp/core';
import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import { compareBytes, SrmudpError, toHex } from '@srmudp/wire';
import { isPeerIdText, parsePeerTarget } from './addresses.js';
import { BrowserConnection, type ConnectionHost } from './connection.js';
import { type Waiter, wait } from './queue.js';

export interface RelayedPath {
  kind: 'relayed';
  /** the relay's peer id text */
  relay: string;
  url: string;
}

export interface PeerStatus {
  name: string;
  peerId: string;
  state: 'connecting' | 'established' | 'reconnecting' | 'waiting' | 'closed';
  path: RelayedPath | null;
  rttMs: number | null;
  lossRate: number | null;
  bytesSent: number;
  bytesReceived: number;
  lastError: { code: string; message: string } | null;
}

/** how long the higher-key end waits for the lower-key end's circuit before dialling itself */
const LATE_DIAL_MS = 3_000;

interface Peer {
  key: Uint8Array;
  /** the name it was added under (null: an incoming peer that is not named) */
  name: string | null;
  conn: BrowserConnection | null;
  /** a circuit request and e2e handshake (one core dial) is under way */
  dialing: boolean;
  handshakeId: number | null;
  retryTimer: ReturnType<typeof setTimeout> | null;
  retryDelay: number;
  /** the higher-key end dials too when the other has not within LATE_DIAL_MS (it may not know us) */
  lateTimer: ReturnType<typeof setTimeout> | null;
  lateDial: boolean;
  lastError: SrmudpError | null;
  readyWaiters: Waiter<BrowserConnection>[];
}

/** What the directory needs from its node (its connections get the clock and the nudge too). */
export interface PeersHost extends ConnectionHost {
  /** the node is closed: nothing dials or retries */
  closed(): boolean;
}

/** The way to the peers: the relay link (relay-link.ts). */
export interface PeerRoute {
  /** the relay greeted the hop session: circuits can be asked for */
  readonly up: boolean;
  /** Core asks the relay for a circuit to `key` and runs the IK handshake on it (or binds it as a
   * new route of the established connection); the connection id. Throws without a relay client. */
  connect(now: number, key: Uint8Array): number;
}

/** Named peers and the peers that reached this node: dials, retries, sessions, status. */
export class PeerDirectory {
  readonly #byHex = new Map<string, Peer>();
  readonly #byName = new Map<string, Peer>();

  readonly #ownKey: Uint8Array;
  readonly #opts: { accept?: 'any' | 'named' | undefined; lateDialMs?: number | undefined };
  readonly #route: PeerRoute;
  readonly #host: PeersHost;
  readonly #counters: { duplicate_sessions: number };

  constructor(
    ownKey: Uint8Array,
    opts: { accept?: 'any' | 'named' | undefined; lateDialMs?: number | undefined },
    route: PeerRoute,
    host: PeersHost,
    counters: { duplicate_sessions: number },
  ) {
    this.#ownKey = ownKey;
    this.#opts = opts;
    this.#route = route;
    this.#host = host;
    this.#counters = counters;
  }

  add(peers: Record<string, string>): void {
    if (typeof peers !== 'object' || peers === null) throw new TypeError('"peers" expected an object');
    for (const [name, target] of Object.entries(peers)) {
      // an own "__proto__" key (JSON.parse makes one) would be lost in status()'s plain object
      if (name === '__proto__')
        throw new SrmudpError('INVALID_PEER', 'the peer name "__proto__" is reserved');
      const key = parsePeerTarget(name, target);
      if (compareBytes(key, this.#ownKey) === 0)
        throw new SrmudpError('OWN_KEY', `peer ${JSON.stringify(name)} is this node's own key`);
      if (this.#byName.has(name)) continue;
      const p = this.#peerOf(key);
      if (p.name !== null && p.name !== name)
        throw new SrmudpError(
          'DUPLICATE_PEER',
          `${JSON.stringify(name)} is already added as ${JSON.stringify(p.name)}`,
        );
      p.name = name;
      if (p.conn) p.conn.name = name;
      this.#byName.set(name, p);
      this.#dialIfOurs(p);
    }
  }

  remove(names: string[]): void {
    for (const name of names) {
      const p = this.#byName.get(name);
      if (!p) continue;
      this.#byName.delete(name);
      p.name = null;
      stopTimers(p);
      p.retryTimer = p.lateTimer = null;
      p.lateDial = false;
      p.conn?.close();
      for (const w of p.readyWaiters.splice(0))
        w.reject(new SrmudpError('UNKNOWN_PEER', `peer ${JSON.stringify(name)} was removed`));
    }
  }

  list(): string[] {
    return [...this.#byName.keys()];
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  ready(name: string, opts: { signal?: AbortSignal; timeout?: number }): Promise<BrowserConnection> {
    const p = this.#byName.get(name);
    if (!p) return Promise.reject(new SrmudpError('UNKNOWN_PEER', `no peer named ${JSON.stringify(name)}`));
    const c = live(p);
    if (c) return Promise.resolve(c);
    return wait(
      p.readyWaiters,
      opts,
      () => `peer ${name} not connected${p.lastError ? ` (${p.lastError.message})` : ''}`,
      this.#host.closed(),
    );
  }

  /** The live connection to a named peer (or a peer id text). */
  connection(name: string): BrowserConnection | undefined {
    const p =
      this.#byName.get(name) ?? (isPeerIdText(name) ? this.#byHex.get(toHex(parsePeerId(name))) : undefined);
    return (p && live(p)) || undefined;
  }

  connectedNames(): string[] {
    const out: string[] = [];
    for (const p of this.#byHex.values()) {
      const c = live(p);
      if (c) out.push(p.name ?? c.peerId);
    }
    return out;
  }

  /** Whether a circuit `requester` opens to us is accepted: from anyone, or from named peers only. */
  acceptCircuit(requester: Uint8Array): boolean {
    return this.#opts.accept !== 'named' || this.#byHex.get(toHex(requester))?.name != null;
  }

  /**
   * The relay greeted the hop session: named peers are dialled, and every live connection asks
   * for a new circuit (after a relay restart its old one is gone; core adds it to the established
   * connection as a route, the session and streams carry on).
   */
  relayUp(now: number): void {
    for (const p of this.#byHex.values()) {
      if (live(p)) this.#route.connect(now, p.key);
      else this.#dialIfOurs(p);
    }
  }

  /**
   * A session with `remoteKey` is up (core's `connected`): its connection, and the one it
   * replaced (closed here), or null when it is refused (not a named peer with `accept: 'named'`, or the losing
   * one of two crossing dials) and closed.
   */
  connected(
    api: ConnectionApi,
    remoteKey: Uint8Array,
    outgoing: boolean,
  ): { conn: BrowserConnection; replaced: BrowserConnection | null } | null {
    const p = this.#peerOf(remoteKey);
    if (p.name === null && this.#opts.accept === 'named') {
      api.close(this.#host.now(), 0, 'not a named peer');
      return null;
    }
    const old = live(p);
    let replaced: BrowserConnection | null = null;
    if (old && old.api.id !== api.id) {
      // Two live sessions with one peer: both ends keep the one the lower key initiated (the
      // canonical dial), so a late dial that crossed it is dropped the same way at both ends; a
      // canonical session that arrives second replaces the old one (the peer came back: a reload).
      const canonical = outgoing === compareBytes(this.#ownKey, p.key) < 0;
      if (!canonical) {
        this.#counters.duplicate_sessions++;
        api.close(this.#host.now(), 0, 'duplicate session');
        this.#host.kick();
        return null;
      }
      replaced = old;
      old.close();
    }
    const c = new BrowserConnection(this.#host, api, remoteKey, p.name ?? peerIdToString(remoteKey));
    p.conn = c;
    p.dialing = false;
    p.handshakeId = null;
    p.lastError = null;
    p.retryDelay = 500;
    stopTimers(p);
    p.retryTimer = p.lateTimer = null;
    p.lateDial = false;
    for (const w of p.readyWaiters.splice(0)) w.resolve(c);
    return { conn: c, replaced };
  }

  /**
   * A dial failed (core's `connect_failed`: circuit refused, handshake failed, or `CLOSED`: its
   * session closed in the turn that connected it, never announced): retried. Unless core names
   * the restarted peer's new session that replaced it (`cause.successor`, ClosedWhileConnecting):
   * that connection is the dial now, no timer, no second dial; its 'connected' comes next
   * (`connected` takes it as this dial's), or its own 'connect_failed', which ends the dial here.
   */
  dialFailed(id: number, error: { code: string; message: string; cause?: unknown }): void {
    const successor = (error.cause as ClosedWhileConnecting | undefined)?.successor ?? null;
    for (const p of this.#byHex.values())
      if (p.handshakeId === id) {
        if (error.code === 'CLOSED' && successor !== null) {
          p.handshakeId = successor;
          continue;
        }
        p.handshakeId = null;
        this.#retry(p, new SrmudpError(error.code, error.message));
      }
  }

  /** The connection `c` closed with `error`: its peer's lastError, and a redial if it is ours. */
  lost(c: BrowserConnection, error: SrmudpError): void {
    const p = this.#byHex.get(toHex(c.remoteKey));
    if (p && p.conn === c) {
      p.conn = null;
      this.#retry(p, error);
    }
  }

  /** Per peer (named ones, and others while connected): state, path through `relay`, RTT, loss, bytes. */
  status(relay: { url: string; peerId: string }): Record<string, PeerStatus> {
    const peers: Record<string, PeerStatus> = {};
    for (const p of this.#byHex.values()) {
      const name = p.name ?? peerIdToString(p.key);
      const c = live(p);
      if (p.name === null && !c) continue;
      const s = c ? c.stats() : null;
      peers[name] = {
        name,
        peerId: peerIdToString(p.key),
        state: s
          ? 'established'
          : p.retryTimer
            ? 'reconnecting'
            : p.dialing
              ? 'connecting'
              : this.#host.closed()
                ? 'closed'
                : 'waiting',
        path: s ? { kind: 'relayed', relay: relay.peerId, url: relay.url } : null,
        rttMs: s?.rttMeasured ? s.rttMs : null,
        lossRate: s ? s.lossRate : null,
        bytesSent: s?.bytesSent ?? 0,
        bytesReceived: s?.bytesReceived ?? 0,
        lastError: s || !p.lastError ? null : { code: p.lastError.code, message: p.lastError.message },
      };
    }
    return peers;
  }

  /** The node closes: timers stop, waiters get NODE_CLOSED. */
  close(): void {
    for (const p of this.#byHex.values()) {
      stopTimers(p);
      for (const w of p.readyWaiters.splice(0)) w.reject(new SrmudpError('NODE_CLOSED', 'node closed'));
    }
  }

  #peerOf(key: Uint8Array): Peer {
    const hex = toHex(key);
    let p = this.#byHex.get(hex);
    if (!p) {
      p = {
        key: key.slice(),
        name: null,
        conn: null,
        dialing: false,
        handshakeId: null,
        retryTimer: null,
        retryDelay: 500,
        lateTimer: null,
        lateDial: false,
        lastError: null,
        readyWaiters: [],
      };
      this.#byHex.set(hex, p);
    }
    return p;
  }

  #weDial(p: Peer): boolean {
    return p.lateDial || compareBytes(this.#ownKey, p.key) < 0;
  }

  /** Circuit + e2e handshake to a named peer when we are the side that dials (lower key). */
  #dialIfOurs(p: Peer): void {
    if (this.#host.closed() || p.name === null || p.dialing || p.retryTimer) return;
    if (!this.#route.up) return; // when the relay greets us
    if (!this.#weDial(p)) {
      // the lower key dials; if it has not within LATE_DIAL_MS (it may not have named us), we do
      if (!p.lateTimer && !live(p))
        p.lateTimer = setTimeout(
          () => {
            p.lateTimer = null;
            if (live(p)) return;
            p.lateDial = true;
            this.#dialIfOurs(p);
          },
          (this.#opts.lateDialMs ?? LATE_DIAL_MS) * (1 + Math.random() / 2),
        );
      return;
    }
    if (live(p)) return; // established (a relay restart re-binds: relayUp)
    p.dialing = true;
    try {
      // core asks the relay for a circuit and runs the handshake on it (connect_failed otherwise)
      p.handshakeId = this.#route.connect(this.#host.now(), p.key);
    } catch (e) {
      p.dialing = false;
      this.#retry(p, new SrmudpError('RELAY_DOWN', (e as Error).message));
      return;
    }
    this.#host.kick();
  }

  #retry(p: Peer, error: SrmudpError): void {
    p.lastError = error;
    p.dialing = false;
    p.handshakeId = null;
    if (this.#host.closed() || p.name === null || p.retryTimer) return;
    if (!this.#weDial(p)) {
      this.#dialIfOurs(p); // arms the late dial
      return;
    }
    const delay = p.retryDelay * (0.75 + Math.random() / 2);
    p.retryDelay = Math.min(p.retryDelay * 2, 5_000);
    p.retryTimer = setTimeout(() => {
      p.retryTimer = null;
      this.#dialIfOurs(p);
    }, delay);
  }
}

/** The peer's connection while it is open. */
function live(p: Peer): BrowserConnection | null {
  return p.conn && !p.conn.isClosed ? p.conn : null;
}

/** Stops the peer's retry and late-dial timers (the fields keep their values). */
function stopTimers(p: Peer): void {
  if (p.retryTimer) clearTimeout(p.retryTimer);
  if (p.lateTimer) clearTimeout(p.lateTimer);
}
