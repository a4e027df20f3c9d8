// The browser node: one core endpoint holding the hop session with a relay (over the page's
// WebSocket) and the end-to-end Noise IK sessions with peers through relay circuits; a loop on
// queueMicrotask / setTimeout (loop.ts), connections and their Web Streams (connection.ts). The
// relay protocol is core's (relays.ts), as in the Node façade: the node says so with an empty
// CONTROL frame in the hop session, srmudp-relay greets it in CONTROL frames, and core asks for
// circuits, binds them as relayed routes of the end-to-end connections and moves a connection to
// a new circuit after a relay restart (same session).
import { type Address, CoreEndpoint, type EndpointEvent, lostPeerCode, RELAY_TO_SERVICE } from '@srmudp/core';
import { type Identity, nobleBackend, parsePeerId, peerIdToString } from '@srmudp/crypto';
import {
  globalWebSocket,
  type WebSocketFactory,
  type WsStateChange,
  WsTransport,
} from '@srmudp/transport-ws/portable';
import { type AfterTimer, compareBytes, SrmudpError, toHex, waitNext } from '@srmudp/wire';
import { isPeerIdText, parsePeerTarget, parseRelayAddress } from './addresses.js';
import { BrowserConnection } from './connection.js';
import { loadOrCreateIdentity, randomBytes } from './identity.js';
import { BrowserLoop } from './loop.js';
import { abortError, Inbox } from './queue.js';

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

export interface NodeStatus {
  relay: { url: string; peerId: string; state: 'connecting' | 'ready' | 'down' | 'closed' };
  peers: Record<string, PeerStatus>;
}

/** close(): how long the peers' sessions may take to send what was written and their CLOSE */
const CLOSE_DRAIN_MS = 1_000;
/** how long the higher-key end waits for the lower-key end's circuit before dialling itself */
const LATE_DIAL_MS = 3_000;
interface Peer {
  key: Uint8Array;
  hex: string;
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
  readyWaiters: Array<{ resolve: (c: BrowserConnection) => void; reject: (e: unknown) => void }>;
}

/** A node in the page: see createNode. */
export class BrowserNode {
  readonly identity: Identity;
  readonly peerId: string;
  readonly relay: { url: string; key: Uint8Array; peerId: string };
  private readonly relays: Array<{ url: string; key: Uint8Array; peerId: string }>;
  private relayIndex = 0;
  private readonly endpoint: CoreEndpoint;
  private carrier!: WsTransport;
  private hopAddress!: Address;
  private hopId: number | null = null;
  /** the relay greeted our hop session (core's relay client of it is ready for circuits) */
  private relayUp = false;
  private readonly byHex = new Map<string, Peer>();
  private readonly byName = new Map<string, Peer>();
  private readonly byConnId = new Map<number, BrowserConnection>();
  private readonly inbox = new Inbox<ReceivedMessage>();
  private readonly incomingConns = new Inbox<BrowserConnection>();
  private hook: ((m: ReceivedMessage) => void) | null = null;
  private readonly relayWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private closedFlag = false;
  /** the one loop: core's timers, events and transmits (loop.ts) */
  private readonly loop: BrowserLoop;
  private readonly highWater: number;
  /** counters: packets held back by WebSocket backpressure, drops by reason */
  readonly counters = {
    backpressureWaits: 0,
    /** a datagram core addressed elsewhere than the relay (the page has no other carrier) */
    not_hop: 0,
    send_dropped: 0,
    /** a second live session with a peer (crossing dials), closed */
    duplicate_sessions: 0,
  };
  readonly carrierChanges: WsStateChange[] = [];

  constructor(private readonly o: BrowserNodeOptions & { identity: Identity }) {
    this.identity = o.identity;
    this.peerId = peerIdToString(o.identity.publicKey);
    if (!Array.isArray(o.relays) || o.relays.length === 0)
      throw new SrmudpError('INVALID_RELAY', '"relays" expected at least one "<ws url>#<relay peer id>"');
    this.relays = o.relays.map(parseRelayAddress);
    this.relay = this.relays[0] as BrowserNode['relay'];
    if (o.accept !== undefined && o.accept !== 'any' && o.accept !== 'named')
      throw new TypeError(`"accept" expected 'any' or 'named', got ${JSON.stringify(o.accept)}`);
    this.highWater = o.highWaterBytes ?? 256 * 1024;
    if (o.lateDialMs !== undefined && !(Number.isFinite(o.lateDialMs) && o.lateDialMs >= 0))
      throw new RangeError(`"lateDialMs" expected a number ≥ 0, got ${o.lateDialMs}`);
    this.endpoint = new CoreEndpoint(
      {
        identity: this.identity,
        random: randomBytes,
        cryptoBackend: nobleBackend(),
        wallClockOffsetMs: performance.timeOrigin,
        ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
        // circuits others open to us: from anyone, or from named peers only
        relay: {
          acceptCircuit: (requester) =>
            this.o.accept !== 'named' || this.byHex.get(toHex(requester))?.name != null,
        },
      },
      this.now(),
    );
    this.loop = new BrowserLoop(
      this.endpoint,
      {
        now: () => this.now(),
        onEndpointEvent: (e) => this.onEndpointEvent(e),
        afterEvents: (now) => {
          if (this.relayUp || this.hopId === null || !this.greeted()) return false;
          this.relayGreeted(now);
          return true;
        },
        transmit: (data, to) => this.transmit(data, to),
        bufferedAmount: () => this.carrier.bufferedAmount,
      },
      this.highWater,
      this.counters,
    );
    if (o.peers) this.peers.add(o.peers);
    this.startCarrier();
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
      this.assertOpen();
      if (typeof peers !== 'object' || peers === null) throw new TypeError('"peers" expected an object');
      for (const [name, target] of Object.entries(peers)) {
        const key = parsePeerTarget(name, target);
        if (compareBytes(key, this.identity.publicKey) === 0)
          throw new SrmudpError('OWN_KEY', `peer ${JSON.stringify(name)} is this node's own key`);
        if (this.byName.has(name)) continue;
        const p = this.peerOf(key);
        if (p.name !== null && p.name !== name)
          throw new SrmudpError(
            'DUPLICATE_PEER',
            `${JSON.stringify(name)} is already added as ${JSON.stringify(p.name)}`,
          );
        p.name = name;
        if (p.conn) p.conn.name = name;
        this.byName.set(name, p);
        this.dialIfOurs(p);
      }
    },
    remove: (names: string[]): void => {
      for (const name of names) {
        const p = this.byName.get(name);
        if (!p) continue;
        this.byName.delete(name);
        p.name = null;
        if (p.retryTimer) clearTimeout(p.retryTimer);
        if (p.lateTimer) clearTimeout(p.lateTimer);
        p.retryTimer = p.lateTimer = null;
        p.lateDial = false;
        p.conn?.close();
        for (const w of p.readyWaiters.splice(0))
          w.reject(new SrmudpError('UNKNOWN_PEER', `peer ${JSON.stringify(name)} was removed`));
      }
    },
    list: (): string[] => [...this.byName.keys()],
    /** Resolves with the connection to a named peer once it is established. */
    ready: (
      name: string,
      opts: { signal?: AbortSignal; timeout?: number } = {},
    ): Promise<BrowserConnection> => {
      const p = this.byName.get(name);
      if (!p) return Promise.reject(new SrmudpError('UNKNOWN_PEER', `no peer named ${JSON.stringify(name)}`));
      if (p.conn && !p.conn.isClosed) return Promise.resolve(p.conn);
      return this.wait(
        p.readyWaiters,
        opts,
        () => `peer ${name} not connected${p.lastError ? ` (${p.lastError.message})` : ''}`,
      );
    },
  };

  /** Resolves once the relay greeted this node (hop session up). */
  relayReady(opts: { signal?: AbortSignal; timeout?: number } = {}): Promise<void> {
    if (this.relayUp && !this.closedFlag) return Promise.resolve();
    return this.wait(this.relayWaiters, opts, () => `relay ${this.currentRelay().url} not ready`).then(
      () => undefined,
    );
  }

  /** Incoming connections from peers (named or not). */
  connections(signal?: AbortSignal): AsyncIterableIterator<BrowserConnection> {
    return this.incomingConns.iterate(signal);
  }

  /** The connection to a named peer (or a peer id text), if established. */
  connection(name: string): BrowserConnection | undefined {
    const p =
      this.byName.get(name) ?? (isPeerIdText(name) ? this.byHex.get(toHex(parsePeerId(name))) : undefined);
    return p?.conn && !p.conn.isClosed ? p.conn : undefined;
  }

  /** Sends a message to every connected peer, or to the named subset `to`; returns who it went to. */
  send(data: Uint8Array | string, opts: { to?: string[]; unordered?: boolean } = {}): string[] {
    this.assertOpen();
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (opts.to !== undefined) {
      if (!Array.isArray(opts.to)) throw new TypeError('"to" expected an array of peer names');
      const unknown = opts.to.filter((n) => !this.byName.has(n) && !isPeerIdText(n));
      if (unknown.length > 0)
        throw new SrmudpError(
          'UNKNOWN_PEER',
          `no peer named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (add it with peers.add)`,
        );
    }
    const targets = opts.to ?? this.connectedNames();
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
    return waitNext((signal: AbortSignal) => this.inbox.next(signal), opts, platformAfter, abortError);
  }

  /** Every message from any peer, as an async iterator. */
  messages(signal?: AbortSignal): AsyncIterableIterator<ReceivedMessage> {
    return this.inbox.iterate(signal);
  }

  /** A hook that consumes messages: while set, receive() and messages() do not see them. */
  onMessage(hook: ((m: ReceivedMessage) => void) | null): void {
    if (hook !== null && typeof hook !== 'function')
      throw new TypeError('"hook" expected a function or null');
    this.hook = hook;
  }

  status(): NodeStatus {
    const relay = this.currentRelay();
    const peers: Record<string, PeerStatus> = {};
    for (const p of this.byHex.values()) {
      const name = p.name ?? peerIdToString(p.key);
      if (p.name === null && (!p.conn || p.conn.isClosed)) continue;
      const s = p.conn && !p.conn.isClosed ? p.conn.stats() : null;
      peers[name] = {
        name,
        peerId: peerIdToString(p.key),
        state: s
          ? 'established'
          : p.retryTimer
            ? 'reconnecting'
            : p.dialing
              ? 'connecting'
              : this.closedFlag
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
    return {
      relay: {
        url: relay.url,
        peerId: relay.peerId,
        state: this.closedFlag
          ? 'closed'
          : this.relayUp
            ? 'ready'
            : this.carrier.state === 'open'
              ? 'connecting'
              : 'down',
      },
      peers,
    };
  }

  stats(): {
    endpoint: ReturnType<CoreEndpoint['stats']>;
    relay: { url: string; peerId: string; ready: boolean };
    counters: BrowserNode['counters'];
  } {
    const r = this.currentRelay();
    return {
      endpoint: this.endpoint.stats(),
      relay: { url: r.url, peerId: r.peerId, ready: this.relayUp },
      counters: { ...this.counters },
    };
  }

  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const p of this.byHex.values()) {
      if (p.retryTimer) clearTimeout(p.retryTimer);
      if (p.lateTimer) clearTimeout(p.lateTimer);
      for (const w of p.readyWaiters.splice(0)) w.reject(new SrmudpError('NODE_CLOSED', 'node closed'));
    }
    for (const w of this.relayWaiters.splice(0)) w.reject(new SrmudpError('NODE_CLOSED', 'node closed'));
    // the peers' sessions first (graceful: what was written is acknowledged, then CLOSE), while
    // the hop session still carries their circuits, so the peers see us leave; bounded. Closing
    // the endpoint closes the hop (its relay client with it) and whatever is left at once.
    const now = this.now();
    for (const c of this.byConnId.values()) c.api.close(now, 0, 'node closed');
    this.loop.run();
    const until = now + CLOSE_DRAIN_MS;
    const open = () => [...this.byConnId.values()].some((c) => c.api.state !== 'closed');
    while (open() && this.relayUp && this.now() < until) await new Promise((r) => setTimeout(r, 10));
    this.loop.stopped = true;
    this.endpoint.close(this.now());
    this.loop.run();
    for (const c of this.byConnId.values()) c.detach();
    this.inbox.end();
    this.incomingConns.end();
    this.loop.clearTimers();
    await this.carrier.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  private currentRelay() {
    return this.relays[this.relayIndex] as BrowserNode['relay'];
  }

  private startCarrier(): void {
    const r = this.currentRelay();
    const carrier = new WsTransport({
      url: r.url,
      webSocket: this.o.webSocket ?? globalWebSocket(),
      reconnect: { initialDelayMs: 250, maxDelayMs: 5_000 },
      maxBufferedBytes: Math.max(4 * this.highWater, 1 << 20),
      ...(this.o.token !== undefined ? { token: this.o.token } : {}),
    });
    this.carrier = carrier;
    this.hopAddress = carrier.remote;
    carrier.onDatagram((data, from) => this.receivePacket(data, { host: from.host, port: from.port }));
    let failures = 0;
    carrier.onState((c) => {
      this.carrierChanges.push(c);
      if (c.state === 'open') {
        failures = 0;
        this.dialHop();
      } else {
        this.hopLost();
        // another relay after three failed attempts in a row (when there is one)
        if (c.state === 'reconnecting' && ++failures >= 3 && this.relays.length > 1 && !this.closedFlag) {
          this.relayIndex = (this.relayIndex + 1) % this.relays.length;
          void carrier.close();
          this.startCarrier();
        }
      }
    });
    carrier.start();
  }

  private wait<T>(
    list: Array<{ resolve: (v: T) => void; reject: (e: unknown) => void }>,
    opts: { signal?: AbortSignal; timeout?: number },
    why: () => string,
  ): Promise<T> {
    if (this.closedFlag) return Promise.reject(new SrmudpError('NODE_CLOSED', 'node closed'));
    if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal));
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        const i = list.indexOf(w);
        if (i >= 0) list.splice(i, 1);
        if (t) clearTimeout(t);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const w = {
        resolve: (v: T) => {
          done();
          resolve(v);
        },
        reject: (e: unknown) => {
          done();
          reject(e);
        },
      };
      const onAbort = () => w.reject(abortError(opts.signal as AbortSignal));
      const t =
        opts.timeout !== undefined
          ? setTimeout(
              () => w.reject(new SrmudpError('PEER_TIMEOUT', `${why()} within ${opts.timeout} ms`)),
              opts.timeout,
            )
          : null;
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      list.push(w);
    });
  }

  private assertOpen(): void {
    if (this.closedFlag) throw new SrmudpError('NODE_CLOSED', 'node closed');
  }

  private peerOf(key: Uint8Array): Peer {
    const hex = toHex(key);
    let p = this.byHex.get(hex);
    if (!p) {
      p = {
        key: key.slice(),
        hex,
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
      this.byHex.set(hex, p);
    }
    return p;
  }

  private connectedNames(): string[] {
    const out: string[] = [];
    for (const p of this.byHex.values()) if (p.conn && !p.conn.isClosed) out.push(p.name ?? p.conn.peerId);
    return out;
  }

  private weDial(p: Peer): boolean {
    return p.lateDial || compareBytes(this.identity.publicKey, p.key) < 0;
  }

  /** Circuit + e2e handshake to a named peer when we are the side that dials (lower key). */
  private dialIfOurs(p: Peer): void {
    if (this.closedFlag || p.name === null || p.dialing || p.retryTimer) return;
    if (!this.relayUp) return; // when the relay greets us
    if (!this.weDial(p)) {
      // the lower key dials; if it has not within LATE_DIAL_MS (it may not have named us), we do
      if (!p.lateTimer && !(p.conn && !p.conn.isClosed))
        p.lateTimer = setTimeout(
          () => {
            p.lateTimer = null;
            if (p.conn && !p.conn.isClosed) return;
            p.lateDial = true;
            this.dialIfOurs(p);
          },
          (this.o.lateDialMs ?? LATE_DIAL_MS) * (1 + Math.random() / 2),
        );
      return;
    }
    if (p.conn && !p.conn.isClosed) return; // established (a relay restart re-binds: relayGreeted)
    p.dialing = true;
    try {
      // core asks the relay for a circuit and runs the handshake on it (connect_failed otherwise)
      p.handshakeId = this.endpoint.connect(this.now(), {
        addresses: [],
        remoteKey: p.key,
        relays: [{ key: this.currentRelay().key }],
      }).id;
    } catch (e) {
      p.dialing = false;
      this.retry(p, new SrmudpError('RELAY_DOWN', (e as Error).message));
      return;
    }
    this.kick();
  }

  private retry(p: Peer, error: SrmudpError): void {
    p.lastError = error;
    p.dialing = false;
    p.handshakeId = null;
    if (this.closedFlag || p.name === null || p.retryTimer) return;
    if (!this.weDial(p)) {
      this.dialIfOurs(p); // arms the late dial
      return;
    }
    const delay = p.retryDelay * (0.75 + Math.random() / 2);
    p.retryDelay = Math.min(p.retryDelay * 2, 5_000);
    p.retryTimer = setTimeout(() => {
      p.retryTimer = null;
      this.dialIfOurs(p);
    }, delay);
  }

  private dialHop(): void {
    if (this.closedFlag || this.hopId !== null) return;
    const conn = this.endpoint.connect(this.now(), {
      addresses: [this.hopAddress],
      remoteKey: this.currentRelay().key,
    });
    this.hopId = conn.id;
    this.kick();
  }

  private hopLost(): void {
    const now = this.now();
    // core's relay client of it goes down with the session (its circuits close; the e2e
    // connections keep their sessions and get new circuits once a new hop is greeted)
    if (this.hopId !== null) this.endpoint.connection(this.hopId)?.close(now);
    this.hopId = null;
    this.relayUp = false;
    this.kick();
  }

  /**
   * The relay greeted the hop session: waiters go on, named peers are dialled, and every live
   * connection asks for a new circuit (after a relay restart its old one is gone; core adds it
   * to the established connection as a route, the session and streams carry on).
   */
  private relayGreeted(now: number): void {
    this.relayUp = true;
    for (const w of this.relayWaiters.splice(0)) w.resolve();
    const relays = [{ key: this.currentRelay().key }];
    for (const p of this.byHex.values()) {
      if (p.conn && !p.conn.isClosed) this.endpoint.connect(now, { addresses: [], remoteKey: p.key, relays });
      else this.dialIfOurs(p);
    }
  }

  private receivePacket(data: Uint8Array, from: Address): void {
    if (this.loop.stopped) return;
    // channel data of our circuits too: core's relay client unwraps it (relays.ts)
    this.endpoint.handle(this.now(), from, data);
    this.kick();
  }

  private transmit(data: Uint8Array, to: Address): void {
    // everything goes to the relay (hop session packets and channel data alike)
    if (to.host !== this.hopAddress.host || to.port !== this.hopAddress.port) {
      this.counters.not_hop++;
      return;
    }
    if (!this.carrier.send(data)) this.counters.send_dropped++;
  }

  private onEndpointEvent(e: EndpointEvent): void {
    if ('id' in e && e.id === this.hopId) {
      if (e.type === 'connected') {
        // "I speak CONTROL frames": srmudp-relay greets the session in them
        this.endpoint.connection(e.id)?.sendControl(Uint8Array.of(RELAY_TO_SERVICE));
      } else if (e.type === 'stream_opened') {
        this.endpoint.connection(e.id)?.reset(e.streamId, 1); // the relay serves no streams
      } else if (e.type === 'closed' || e.type === 'connect_failed') {
        this.hopId = null;
        this.relayUp = false;
        if (!this.closedFlag && this.carrier.state === 'open') setTimeout(() => this.dialHop(), 300);
      }
      // its greeting in a MESSAGE (before it heard our CONTROL frame), path events: nothing to do
      return;
    }
    switch (e.type) {
      case 'connected':
        this.onConnected(e.id, e.remoteKey, e.outgoing);
        return;
      case 'connect_failed': {
        for (const p of this.byHex.values())
          if (p.handshakeId === e.id) {
            p.handshakeId = null;
            this.retry(p, new SrmudpError(e.error.code, e.error.message));
          }
        return;
      }
      case 'closed': {
        const c = this.byConnId.get(e.id);
        if (!c) return;
        this.byConnId.delete(e.id);
        const error = closeError(e);
        c.detach(error);
        const p = this.byHex.get(toHex(c.remoteKey));
        if (p && p.conn === c) {
          p.conn = null;
          this.retry(p, error);
        }
        return;
      }
      case 'message': {
        const c = this.byConnId.get(e.id);
        if (!c) return;
        const m: ReceivedMessage = { peer: c.name, data: e.data, timestamp: Date.now() };
        if (this.hook) this.hook(m);
        else this.inbox.push(m);
        return;
      }
      default:
        if ('id' in e) this.byConnId.get(e.id)?.onEvent(e);
    }
  }

  private onConnected(id: number, remoteKey: Uint8Array, outgoing: boolean): void {
    const api = this.endpoint.connection(id);
    if (!api) return;
    const p = this.peerOf(remoteKey);
    if (p.name === null && this.o.accept === 'named') {
      api.close(this.now(), 0, 'not a named peer');
      return;
    }
    const old = p.conn && !p.conn.isClosed ? p.conn : null;
    if (old && old.api.id !== id) {
      // Two live sessions with one peer: both ends keep the one the lower key initiated (the
      // canonical dial), so a late dial that crossed it is dropped the same way at both ends; a
      // canonical session that arrives second replaces the old one (the peer came back: a reload).
      const canonical = outgoing === compareBytes(this.identity.publicKey, p.key) < 0;
      if (!canonical) {
        this.counters.duplicate_sessions++;
        api.close(this.now(), 0, 'duplicate session');
        this.kick();
        return;
      }
      this.byConnId.delete(old.api.id);
      old.close();
    }
    const c = new BrowserConnection(this, api, remoteKey, p.name ?? peerIdToString(remoteKey));
    this.byConnId.set(id, c);
    p.conn = c;
    p.dialing = false;
    p.handshakeId = null;
    p.lastError = null;
    p.retryDelay = 500;
    if (p.retryTimer) clearTimeout(p.retryTimer);
    p.retryTimer = null;
    if (p.lateTimer) clearTimeout(p.lateTimer);
    p.lateTimer = null;
    p.lateDial = false;
    for (const w of p.readyWaiters.splice(0)) w.resolve(c);
    this.incomingConns.push(c);
  }

  /** Whether core's relay client of the current relay was greeted (endpoint.relays() names it). */
  private greeted(): boolean {
    const key = this.currentRelay().key;
    return this.endpoint.relays().some((k) => compareBytes(k, key) === 0);
  }

  /** Runs the driver soon (a microtask): after an API call or a received packet. */
  kick(): void {
    this.loop.kick();
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
 * or a close by either side (`CONNECTION_CLOSED`). The Node façade uses the same codes.
 */
function closeError(e: Extract<EndpointEvent, { type: 'closed' }>): SrmudpError {
  const why = `closed${e.remote ? ' by the peer' : ''}: ${e.reason || e.code}`;
  return new SrmudpError(lostPeerCode(e) ?? 'CONNECTION_CLOSED', why);
}
