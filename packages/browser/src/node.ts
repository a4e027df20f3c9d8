// The browser node: one core endpoint holding the hop session with a relay (over the page's
// WebSocket: relay-link.ts) and the end-to-end Noise IK sessions with peers through relay
// circuits (who dials whom, retries, status: peers.ts); a loop on queueMicrotask / setTimeout
// (loop.ts), connections and their Web Streams (connection.ts). This file is the public node
// object, the wiring of those parts (core's events go to the link or to the peers' connections)
// and the node's lifecycle. The relay protocol is core's (relays.ts), as in the Node façade: the
// node says so with an empty CONTROL frame in the hop session, srmudp-relay greets it in CONTROL
// frames, and core asks for circuits, binds them as relayed routes of the end-to-end connections
// and moves a connection to a new circuit after a relay restart (same session).
import { type Address, CoreEndpoint, type EndpointEvent, lostPeerCode } from '@srmudp/core';
import { type Identity, nobleBackend, peerIdToString } from '@srmudp/crypto';
import { globalWebSocket, type WebSocketFactory, type WsStateChange } from '@srmudp/transport-ws/portable';
import {
  type AfterTimer,
  MAX_UNREAD_MESSAGES,
  SrmudpError,
  unreadMessageBytes,
  waitNext,
} from '@srmudp/wire';
import { isPeerIdText, parseRelayAddress } from './addresses.js';
import type { BrowserConnection } from './connection.js';
import { loadOrCreateIdentity, randomBytes } from './identity.js';
import { BrowserLoop } from './loop.js';
import { PeerDirectory, type PeerStatus } from './peers.js';
import { abortError, Inbox, type Waiter, wait } from './queue.js';
import { RelayLink, type RelayLinkHost, type RelayReconnect } from './relay-link.js';

export interface BrowserNodeOptions {
  /** the node's identity (default: the one stored in IndexedDB, created on first use) */
  identity?: Identity;
  /** relays as `<ws(s) url>#<relay peer id>` (srmudp-relay logs it and serves it at /card); the
   * first is used, the others are tried in turn when it cannot be reached */
  relays: string[];
  /** named peers: name → peer id text (`pk…`) */
  peers?: Record<string, string>;
  /** incoming circuits: from any peer (default) or from named peers only */
  accept?: 'any' | 'named';
  /** bearer token for a relay with token admission (sent as `?token=`) */
  token?: string;
  /** closes the node when aborted */
  signal?: AbortSignal;
  /** how to open a WebSocket (default: the global WebSocket) */
  webSocket?: WebSocketFactory;
  /** stop handing packets to the WebSocket above this many buffered bytes (default 256 KiB) */
  highWaterBytes?: number;
  /** the WebSocket's reconnect backoff after it fails or drops: first delay (default 250 ms),
   * doubling up to `maxDelayMs` (default 5,000 ms); each 10..600,000 ms (INVALID_OPTIONS) */
  relayReconnect?: RelayReconnect;
  /** the higher-key end of a named pair dials too after this long without a session (default 3,000 ms) */
  lateDialMs?: number;
  /** e2e idle timeout, ms (default core's) */
  idleTimeoutMs?: number;
}

export interface ReceivedMessage {
  /** the peer's name, or its peer id text when it is not a named peer */
  peer: string;
  data: Uint8Array;
  /** Date.now() when it was delivered */
  timestamp: number;
}

export interface NodeStatus {
  relay: { url: string; peerId: string; state: 'connecting' | 'ready' | 'down' | 'closed' };
  peers: Record<string, PeerStatus>;
}

/** close(): how long the peers' sessions may take to send what was written and their CLOSE */
const CLOSE_DRAIN_MS = 1_000;

/** A node in the page: see createNode. */
export class BrowserNode {
  readonly identity: Identity;
  readonly peerId: string;
  readonly relay: { url: string; key: Uint8Array; peerId: string };
  readonly #endpoint: CoreEndpoint;
  /** the WebSocket to the relay and the hop session over it (relay-link.ts) */
  readonly #link: RelayLink;
  /** the peers: who dials, retries, sessions, status (peers.ts) */
  readonly #directory: PeerDirectory;
  readonly #byConnId = new Map<number, BrowserConnection>();
  /** unread messages: at most 65,536 and 64 MiB, the oldest dropped and counted (as srmudp's) */
  readonly #inbox = new Inbox(
    MAX_UNREAD_MESSAGES,
    unreadMessageBytes((m: ReceivedMessage) => m.data),
  );
  readonly #incomingConns = new Inbox<BrowserConnection>(1024);
  #hook: ((m: ReceivedMessage) => void) | null = null;
  readonly #relayWaiters: Waiter<void>[] = [];
  #closedFlag = false;
  /** the one loop: core's timers, events and transmits (loop.ts) */
  readonly #loop: BrowserLoop;
  readonly #highWater: number;
  /** counters: `backpressureWaits`, the driver's runs that found the WebSocket above its high-water
   * mark and left core's packets queued (counted again at each 2 ms re-check while it stays above,
   * whether or not a packet was ready), and drops by reason */
  readonly counters = {
    backpressureWaits: 0,
    /** a datagram core addressed elsewhere than the relay (the page has no other carrier) */
    not_hop: 0,
    send_dropped: 0,
    /** a second live session with a peer (crossing dials), closed */
    duplicate_sessions: 0,
  };
  readonly carrierChanges: WsStateChange[] = [];

  constructor(o: BrowserNodeOptions & { identity: Identity }) {
    this.identity = o.identity;
    this.peerId = peerIdToString(o.identity.publicKey);
    if (!Array.isArray(o.relays) || o.relays.length === 0)
      throw new SrmudpError('INVALID_RELAY', '"relays" expected at least one "<ws url>#<relay peer id>"');
    const relays = o.relays.map(parseRelayAddress);
    this.relay = relays[0] as BrowserNode['relay'];
    if (o.accept !== undefined && o.accept !== 'any' && o.accept !== 'named')
      throw new TypeError(`"accept" expected 'any' or 'named', got ${JSON.stringify(o.accept)}`);
    this.#highWater = o.highWaterBytes ?? 256 * 1024;
    if (o.lateDialMs !== undefined && !(Number.isFinite(o.lateDialMs) && o.lateDialMs >= 0))
      throw new RangeError(`"lateDialMs" expected a number ≥ 0, got ${o.lateDialMs}`);
    this.#endpoint = new CoreEndpoint(
      {
        identity: this.identity,
        random: randomBytes,
        cryptoBackend: nobleBackend(),
        wallClockOffsetMs: performance.timeOrigin,
        ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
        // circuits others open to us: from anyone, or from named peers only
        relay: { acceptCircuit: (requester) => this.#directory.acceptCircuit(requester) },
      },
      this.now(),
    );
    // what the link, the directory and the connections need from the node
    const host: RelayLinkHost = {
      now: () => this.now(),
      kick: () => this.kick(),
      closed: () => this.#closedFlag,
      onEndpointEvent: (e) => this.#onEndpointEvent(e),
      receive: (data, from) => this.#receivePacket(data, from),
      // the relay greeted the hop session: waiters go on, the peers are dialled or re-bound
      relayUp: (now) => {
        for (const w of this.#relayWaiters.splice(0)) w.resolve();
        this.#directory.relayUp(now);
      },
    };
    // the link owns the carrier policy (how and when the WebSocket is opened); these are its inputs
    const carrier = {
      webSocket: o.webSocket ?? globalWebSocket(),
      token: o.token,
      highWaterBytes: this.#highWater,
      relayReconnect: o.relayReconnect,
    };
    this.#link = new RelayLink(this.#endpoint, relays, host, carrier, this.counters, this.carrierChanges);
    this.#directory = new PeerDirectory(this.identity.publicKey, o, this.#link, host, this.counters);
    // the loop runs core against the link: datagrams and the hop session's events stay there
    this.#loop = new BrowserLoop(this.#endpoint, this.#link, this.#highWater, this.counters);
    if (o.peers) this.peers.add(o.peers);
    this.#link.start();
    if (o.signal) {
      if (o.signal.aborted) void this.close();
      else o.signal.addEventListener('abort', () => void this.close(), { once: true });
    }
  }

  now(): number {
    return performance.now();
  }

  /** Named peers. The peer with the lower key asks the relay for the circuit; the other accepts it. */
  readonly peers = {
    add: (peers: Record<string, string>): void => {
      this.#assertOpen();
      this.#directory.add(peers);
    },
    remove: (names: string[]): void => this.#directory.remove(names),
    list: (): string[] => this.#directory.list(),
    /** Resolves with the connection to a named peer once it is established. */
    ready: (
      name: string,
      opts: { signal?: AbortSignal; timeout?: number } = {},
    ): Promise<BrowserConnection> => this.#directory.ready(name, opts),
  };

  /** Resolves once the relay greeted this node (hop session up). */
  relayReady(opts: { signal?: AbortSignal; timeout?: number } = {}): Promise<void> {
    if (this.#link.up && !this.#closedFlag) return Promise.resolve();
    return wait(
      this.#relayWaiters,
      opts,
      () => `relay ${this.#link.current.url} not ready`,
      this.#closedFlag,
    ).then(() => undefined);
  }

  /** Incoming connections from peers (named or not). */
  connections(signal?: AbortSignal): AsyncIterableIterator<BrowserConnection> {
    return this.#incomingConns.iterate(signal);
  }

  /** The connection to a named peer (or a peer id text), if established. */
  connection(name: string): BrowserConnection | undefined {
    return this.#directory.connection(name);
  }

  /** Sends a message to every connected peer, or to the named subset `to`; returns who it went to. */
  send(data: Uint8Array | string, opts: { to?: string[]; unordered?: boolean } = {}): string[] {
    this.#assertOpen();
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (opts.to !== undefined) {
      if (!Array.isArray(opts.to)) throw new TypeError('"to" expected an array of peer names');
      const unknown = opts.to.filter((n) => !this.#directory.has(n) && !isPeerIdText(n));
      if (unknown.length > 0)
        throw new SrmudpError(
          'UNKNOWN_PEER',
          `no peer named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (add it with peers.add)`,
        );
    }
    const targets = opts.to ?? this.#directory.connectedNames();
    const sent: string[] = [];
    for (const name of targets) {
      const c = this.connection(name);
      if (!c) continue;
      c.send(bytes, opts.unordered ? { unordered: true } : {});
      sent.push(name);
    }
    return sent;
  }

  /** Next message from any peer, or null after `timeout` ms. */
  async receive(opts: { timeout?: number; signal?: AbortSignal } = {}): Promise<ReceivedMessage | null> {
    return waitNext((signal: AbortSignal) => this.#inbox.next(signal), opts, platformAfter, abortError);
  }

  /** Every message from any peer, as an async iterator. */
  messages(signal?: AbortSignal): AsyncIterableIterator<ReceivedMessage> {
    return this.#inbox.iterate(signal);
  }

  /** A hook that consumes messages: while set, receive() and messages() do not see them. */
  onMessage(hook: ((m: ReceivedMessage) => void) | null): void {
    if (hook !== null && typeof hook !== 'function')
      throw new TypeError('"hook" expected a function or null');
    this.#hook = hook;
  }

  status(): NodeStatus {
    const relay = this.#link.current;
    const peers = this.#directory.status(relay);
    return {
      relay: { url: relay.url, peerId: relay.peerId, state: this.#closedFlag ? 'closed' : this.#link.state },
      peers,
    };
  }

  stats(): {
    endpoint: ReturnType<CoreEndpoint['stats']>;
    relay: { url: string; peerId: string; ready: boolean };
    counters: BrowserNode['counters'] & { messages_dropped: number };
  } {
    const r = this.#link.current;
    return {
      endpoint: this.#endpoint.stats(),
      relay: { url: r.url, peerId: r.peerId, ready: this.#link.up },
      counters: { ...this.counters, messages_dropped: this.#inbox.dropped },
    };
  }

  async close(): Promise<void> {
    if (this.#closedFlag) return;
    this.#closedFlag = true;
    this.#directory.close();
    for (const w of this.#relayWaiters.splice(0)) w.reject(new SrmudpError('NODE_CLOSED', 'node closed'));
    // the peers' sessions first (graceful: what was written is acknowledged, then CLOSE), while
    // the hop session still carries their circuits, so the peers see us leave; bounded. Closing
    // the endpoint closes the hop (its relay client with it) and whatever is left at once.
    const now = this.now();
    for (const c of this.#byConnId.values()) c.api.close(now, 0, 'node closed');
    this.#loop.run();
    const until = now + CLOSE_DRAIN_MS;
    const open = () => [...this.#byConnId.values()].some((c) => c.api.state !== 'closed');
    while (open() && this.#link.up && this.now() < until) await new Promise((r) => setTimeout(r, 10));
    this.#loop.stopped = true;
    this.#endpoint.close(this.now());
    this.#loop.run();
    for (const c of this.#byConnId.values()) c.detach();
    this.#inbox.end();
    this.#incomingConns.end();
    this.#loop.clearTimers();
    await this.#link.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closedFlag) throw new SrmudpError('NODE_CLOSED', 'node closed');
  }

  #receivePacket(data: Uint8Array, from: Address): void {
    if (this.#loop.stopped) return;
    // channel data of our circuits too: core's relay client unwraps it (relays.ts)
    this.#endpoint.handle(this.now(), from, data);
    this.kick();
  }

  /** Core's events (the hop session's stay in the link): the peers' sessions' to their connections. */
  #onEndpointEvent(e: EndpointEvent): void {
    switch (e.type) {
      case 'connected': {
        // core announces a connection only while it is established, so it is in core's table (its
        // event contract): one closed in the turn that connected it never gets here, and a dial
        // of it ends in 'connect_failed' (CLOSED), which the directory retries, or follows to the
        // restarted peer's new session that replaced it (its successor, announced here next)
        const api = this.#endpoint.connection(e.id);
        if (api === undefined) return;
        const r = this.#directory.connected(api, e.remoteKey, e.outgoing);
        if (!r) return;
        if (r.replaced) this.#byConnId.delete(r.replaced.api.id);
        this.#byConnId.set(e.id, r.conn);
        this.#incomingConns.push(r.conn);
        return;
      }
      case 'connect_failed':
        this.#directory.dialFailed(e.id, e.error);
        return;
      case 'closed': {
        // only announced connections have a 'closed' (core's event contract); one the directory
        // did not take (a duplicate session it closed) ends its dial, if it was one
        const c = this.#byConnId.get(e.id);
        if (!c) {
          this.#directory.dialFailed(e.id, closeError(e));
          return;
        }
        this.#byConnId.delete(e.id);
        const error = closeError(e);
        c.detach(error);
        this.#directory.lost(c, error);
        return;
      }
      case 'message': {
        const c = this.#byConnId.get(e.id);
        if (!c) return;
        const m: ReceivedMessage = { peer: c.name, data: e.data, timestamp: Date.now() };
        if (this.#hook) this.#hook(m);
        else this.#inbox.push(m);
        return;
      }
      default:
        if ('id' in e) this.#byConnId.get(e.id)?.onEvent(e);
    }
  }

  /** Runs the driver soon (a microtask): after an API call or a received packet. */
  kick(): void {
    this.#loop.kick();
  }
}

/**
 * Starts a node in the page: identity (given, or IndexedDB's), a WebSocket to the first relay,
 * the named peers. Resolves at once; `relayReady()` / `peers.ready(name)` wait for the network.
 */
export async function createNode(options: BrowserNodeOptions): Promise<BrowserNode> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('createNode expected an options object');
  if (options.signal?.aborted) throw abortError(options.signal);
  const identity = options.identity ?? (await loadOrCreateIdentity());
  return new BrowserNode({ ...options, identity });
}

/** receive()'s timeout: the platform's timers (the browser node has no timer queue of its own). */
const platformAfter: AfterTimer = (ms, fn) => {
  const t = setTimeout(fn, ms);
  return { cancel: () => clearTimeout(t) };
};

/**
 * Why a connection closed, as its streams and the named peer's `lastError` report it: the peer
 * went silent (`IDLE_TIMEOUT`), a relay reported it gone and it did not come back (`PEER_GONE`),
 * our keys were lost with no answer from it (`SESSION_EXPIRED`), or a close by either side
 * (`CONNECTION_CLOSED`). The Node façade uses the same codes.
 */
function closeError(e: Extract<EndpointEvent, { type: 'closed' }>): SrmudpError {
  const why = `closed${e.remote ? ' by the peer' : ''}: ${e.reason || e.code}`;
  return new SrmudpError(lostPeerCode(e) ?? 'CONNECTION_CLOSED', why);
}
