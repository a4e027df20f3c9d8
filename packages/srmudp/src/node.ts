// Why ~730 lines: SrmudpNode is the façade's whole public API (named peers, dial and redial,
// contact cards and publishing, messages, status, close). Its NAT glue is moving into the driver
// (issue 13) and named-peer bookkeeping is the next file to split out; both are being changed
// elsewhere now, so the structure step (issue 12) leaves this file's shape alone.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  type Address,
  type ConnectionApi,
  CoreEndpoint,
  type EndpointConfig,
  type EndpointEvent,
  type PathInfo,
} from '@srmudp/core';
import {
  generateIdentity,
  type Identity,
  identityFromSecret,
  parsePeerId,
  peerIdToString,
} from '@srmudp/crypto';
import { autoBackend, loadOrCreateIdentity } from '@srmudp/crypto-node';
import {
  type Candidate,
  encodeCard,
  isRendezvousBackend,
  type Locator,
  parseCard,
  Rendezvous,
} from '@srmudp/rendezvous';
import { localInterfaces, UdpTransport } from '@srmudp/transport-node';
import { SrmudpError } from '@srmudp/wire';
import { AsyncQueue, abortError } from './async-queue.js';
import {
  type NodeOptions,
  type PeerTarget,
  parseNodeOptions,
  parsePeerTarget,
  type ResolvedNodeOptions,
} from './config.js';
import { type CloseInfo, Connection, type ConnectionOwner, toBytes } from './connection.js';
import { DialPacer } from './dial-pacer.js';
import { Driver } from './driver.js';
// NAT traversal (issue 6)
import { attachNat, type NatTraversal, withReflexive } from './nat/index.js';
import { type ResolvedTarget, resolveTarget } from './resolve.js';

/** A message received through the node-level API. */
export interface ReceivedMessage {
  /** the peer's name ('alice'), or its peer id text when it is not a named peer */
  peer: string;
  data: Uint8Array;
  /** Date.now() when it was delivered */
  timestamp: number;
}

export interface PeerStatus {
  name: string;
  peerId: string | null;
  state: 'connecting' | 'established' | 'reconnecting' | 'closed';
  path: PathInfo | null;
  /** smoothed round-trip time; null until it has been measured (just after connecting) */
  rttMs: number | null;
  lossRate: number | null;
  bytesSent: number;
  bytesReceived: number;
  /** why the last dial failed ('PUNCH_IMPOSSIBLE', 'UDP_BLOCKED', 'HANDSHAKE_TIMEOUT', ...), until it connects */
  lastError: { code: string; message: string } | null;
}

interface NamedPeer {
  name: string;
  target: PeerTarget;
  /** known once resolved or established */
  key: Uint8Array | null;
  conn: Connection | null;
  dialing: Promise<Connection> | null;
  retryTimer: NodeJS.Timeout | null;
  retryDelay: number;
  lastError: SrmudpError | null;
}

/** How long node.close() keeps the socket for the closing period of its connections (3 PTO, a
 * few ms to a few hundred on real paths), to answer late packets with CLOSE again. */
const CLOSING_WAIT_MS = 500;

const keyHex = (k: Uint8Array) => Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');

/**
 * One UDP socket, many authenticated peers. Create with {@link createNode}.
 *
 * Events: 'connection' (Connection, incoming or outgoing once established), 'message'
 * (ReceivedMessage, node-level), 'peer' ({ name, state }), 'error' is never emitted for network input.
 */
export class SrmudpNode extends EventEmitter implements ConnectionOwner {
  readonly identity: Identity;
  readonly peerId: string;
  /** name of the crypto backend in use: 'sodium' (libsodium), 'node' (node:crypto) or 'noble' */
  readonly cryptoBackend: string;
  private readonly driver: Driver;
  private readonly byCoreId = new Map<number, Connection>();
  private readonly byKey = new Map<string, Connection>();
  private readonly pendingConnects = new Map<
    number,
    { resolve: (c: Connection) => void; reject: (e: unknown) => void; name?: string }
  >();
  private readonly named = new Map<string, NamedPeer>();
  /** peers removed on purpose: their incoming connections are refused until added again */
  private readonly removedKeys = new Set<string>();
  private readonly incoming = new AsyncQueue<Connection>(1024);
  private readonly inbox = new AsyncQueue<ReceivedMessage>();
  private hook: ((m: ReceivedMessage) => void) | null = null;
  /** paces first contact to addresses no connection came through yet (issue 22, item 6) */
  private readonly pacer = new DialPacer();
  private closing = false;
  private closedPromise: Promise<void> | null = null;
  /** NAT traversal (issue 6): STUN gathering and NAT verdicts; null without `stunServers` */
  nat: NatTraversal | null = null;

  /** @internal use createNode() */
  constructor(
    private readonly options: ResolvedNodeOptions,
    identity: Identity,
    readonly transport: UdpTransport,
    /** resolves contact cards through the configured backends and publishes our record */
    readonly rendezvous: Rendezvous,
  ) {
    super();
    this.identity = identity;
    this.peerId = peerIdToString(identity.publicKey);
    const allow = options.allow?.map((t) => keyHex(parsePeerId(t)));
    const backend = options.cryptoBackend ?? autoBackend();
    this.cryptoBackend = backend.name;
    const config: EndpointConfig = {
      identity,
      random: (n) => new Uint8Array(randomBytes(n)),
      cryptoBackend: backend,
      accept: { policy: (key) => this.acceptPolicy(key, allow) },
      ...(options.congestion ? { congestion: options.congestion } : {}),
      ...(options.keepaliveMs ? { keepaliveMs: options.keepaliveMs } : {}),
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(options.handshakeTimeoutMs ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
      ...(options.limits ? { limits: stripUndefined(options.limits) } : {}),
      // initiation timestamps: performance.now() + timeOrigin ≈ wall clock, monotonic in this
      // process and larger after a restart (a responder refuses replays of older initiations)
      wallClockOffsetMs: performance.timeOrigin,
    };
    const endpoint = new CoreEndpoint(config, performance.now());
    // NAT traversal (issue 6): datagrams to a peer heard on a birthday socket leave through it
    const socket = {
      send: (data: Uint8Array, host: string, port: number): void => {
        if (this.nat === null || !this.nat.route(data, host, port)) transport.send(data, host, port);
      },
      close: () => transport.close(),
    };
    this.driver = new Driver(endpoint, socket, (e) => this.onEndpointEvent(e));
    transport.onDatagram((data, from) => this.driver.receive(data, from));
    transport.onError((err) =>
      this.driver.sendError(
        err.code,
        err.host !== undefined && err.port !== undefined ? { host: err.host, port: err.port } : undefined,
      ),
    );
    for (const [name, target] of Object.entries(options.peers)) this.addPeer(name, target);
  }

  /** The bound socket address. */
  address(): { host: string; port: number; family: 4 | 6 } {
    const a = this.transport.address();
    return { host: a.host, port: a.port, family: a.family === 'IPv6' ? 6 : 4 };
  }

  /**
   * Host candidates of this node: the bound address, or every interface address when bound to a
   * wildcard (loopback last, for peers on the same machine).
   */
  candidates(): Candidate[] {
    const { host, port, family } = this.address();
    const wildcard = host === '0.0.0.0' || host === '::';
    // NAT traversal (issue 6): reflexive candidates after the LAN ones
    const reflexive = this.nat?.candidates() ?? [];
    if (!wildcard) return withReflexive([{ kind: 'host', family, host, port }], reflexive);
    const fam = host === '0.0.0.0' ? 'IPv4' : this.options.ipv6Only ? 'IPv6' : undefined;
    const list = localInterfaces({ internal: true, ...(fam ? { family: fam } : {}) }).sort(
      (a, b) => Number(a.internal) - Number(b.internal),
    );
    return withReflexive(
      list.map((a) => ({ kind: 'host', family: a.family === 'IPv4' ? 4 : 6, host: a.host, port })),
      reflexive,
    );
  }

  private locators: Locator[] = [];

  /**
   * Publishes this node's signed record (its current candidates) to every rendezvous backend;
   * the locators of the backends that took it go into {@link contactCard}. Returns them.
   */
  async publish(opts: { signal?: AbortSignal } = {}): Promise<Locator[]> {
    this.assertOpen();
    if (this.rendezvous.backends.length === 0) {
      throw new SrmudpError('NO_BACKEND', 'no rendezvous backends configured (option "rendezvous")');
    }
    const report = await this.rendezvous.publish({ candidates: this.candidates().slice(0, 8) }, opts);
    const locators: Locator[] = [];
    for (const b of report.backends) if (b.status === 'published') locators.push(b.locator);
    if (locators.length > 0) this.locators = locators;
    return this.locators;
  }

  /**
   * This node's contact card: its peer id, its locators and, when it has no rendezvous locator
   * (or `candidates: true`), a signed record of its current candidates valid for `ttlMs` (the
   * manual case). With a rendezvous the card holds locators only, so it stays the same across
   * restarts as long as the identity does (the record with the current port is resolved).
   */
  contactCard(
    opts: { name?: string; locators?: Locator[]; candidates?: boolean; ttlMs?: number } = {},
  ): string {
    const locators = opts.locators ?? this.locators;
    const embed = opts.candidates ?? (locators.length === 0 || locators.some((l) => l.backend === 'manual'));
    // one sequence counter (the Rendezvous one) for card records and published records, so two
    // records of this node never share a seq with different bytes
    const record = embed
      ? this.rendezvous.sign(
          { candidates: this.candidates().slice(0, 8) },
          { ttlMs: opts.ttlMs ?? 24 * 3600_000 },
        ).bytes
      : undefined;
    return encodeCard({
      peerId: this.identity.publicKey,
      locators,
      ...(record ? { record } : {}),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
    });
  }

  /** Named peers: `add({ alice: card, bob: { host, port, peerId } })`, `remove(['bob'])`, `list()`. */
  readonly peers = {
    add: (peers: Record<string, PeerTarget>): void => {
      if (typeof peers !== 'object' || peers === null) throw new TypeError('"peers" expected an object');
      const parsed = parseNodeOptions({ peers }).peers;
      for (const [name, target] of Object.entries(parsed)) this.addPeer(name, target);
    },
    remove: (names: string[]): void => {
      if (!Array.isArray(names)) throw new TypeError('"names" expected an array of peer names');
      for (const name of names) this.removePeer(name);
    },
    list: (): string[] => [...this.named.keys()],
  };

  /** Opens (or returns the existing) connection to a target: contact card or `{ host, port, peerId? }`. */
  async connect(target: PeerTarget, opts: { signal?: AbortSignal } = {}): Promise<Connection> {
    this.assertOpen();
    const t = parsePeerTarget(target);
    const resolved = await resolveTarget(t, this.rendezvous, opts.signal);
    return this.natDial(resolved, opts.signal); // NAT traversal (issue 6)
  }

  /** Incoming connections (also emitted as 'connection'). */
  connections(signal?: AbortSignal): AsyncIterableIterator<Connection> {
    return this.incoming.iterate(signal);
  }

  /** The connection to a named peer (or to a peer id text), if established. */
  connection(name: string): Connection | undefined {
    const p = this.named.get(name);
    if (p) return p.conn ?? undefined;
    for (const c of this.byCoreId.values()) if (c.name === name || c.peerId === name) return c;
    return undefined;
  }

  /** Per named peer (and per unnamed connected peer): state, path, RTT, loss, bytes. */
  status(): Record<string, PeerStatus> {
    const out: Record<string, PeerStatus> = {};
    for (const p of this.named.values()) {
      const s = p.conn && !p.conn.isClosed ? p.conn.stats() : null;
      out[p.name] = {
        name: p.name,
        peerId: p.key ? peerIdToString(p.key) : null,
        state: s ? 'established' : p.retryTimer ? 'reconnecting' : p.dialing ? 'connecting' : 'closed',
        path: s?.path ?? null,
        rttMs: s?.rttMeasured ? s.rttMs : null,
        lossRate: s ? s.lossRate : null,
        bytesSent: s?.bytesSent ?? 0,
        bytesReceived: s?.bytesReceived ?? 0,
        lastError: s || !p.lastError ? null : { code: p.lastError.code, message: p.lastError.message },
      };
    }
    for (const c of this.byCoreId.values()) {
      if (out[c.name] || c.isClosed) continue;
      const s = c.stats();
      out[c.name] = {
        name: c.name,
        peerId: c.peerId,
        state: 'established',
        path: s.path,
        rttMs: s.rttMeasured ? s.rttMs : null,
        lossRate: s.lossRate,
        bytesSent: s.bytesSent,
        bytesReceived: s.bytesReceived,
        lastError: null,
      };
    }
    return out;
  }

  /**
   * Sends a message to every connected peer, or to the named subset `to`. Returns the names it
   * was sent to (a named peer that is not connected right now is skipped).
   */
  send(data: Uint8Array | string, opts: { to?: string[]; unordered?: boolean } = {}): string[] {
    this.assertOpen();
    const bytes = toBytes(data);
    const sentTo: string[] = [];
    const targets = opts.to ?? [...this.connectedNames()];
    for (const name of targets) {
      const c = this.connection(name);
      if (!c || c.isClosed) continue;
      c.send(bytes, opts.unordered ? { unordered: true } : {});
      sentTo.push(name);
    }
    return sentTo;
  }

  /** Next message from any peer, or null after `timeout` ms (never its own messages). */
  async receive(opts: { timeout?: number; signal?: AbortSignal } = {}): Promise<ReceivedMessage | null> {
    const now = this.inbox.shift();
    if (now !== undefined) return now;
    if (this.inbox.isEnded) return null;
    const ac = new AbortController();
    const onAbort = () => ac.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = opts.timeout !== undefined ? setTimeout(() => ac.abort('timeout'), opts.timeout) : null;
    try {
      const r = await this.inbox.next(ac.signal);
      return r.done ? null : r.value;
    } catch (e) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (ac.signal.aborted) return null;
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Every message from any peer, as an async iterator (consumes what `receive()` would). */
  messages(signal?: AbortSignal): AsyncIterableIterator<ReceivedMessage> {
    return this.inbox.iterate(signal);
  }

  /** A hook that consumes messages: while set, `receive()` and `messages()` do not see them. */
  onMessage(hook: ((m: ReceivedMessage) => void) | null): void {
    if (hook !== null && typeof hook !== 'function')
      throw new TypeError('"hook" expected a function or null');
    this.hook = hook;
  }

  /** Endpoint counters (connections, drops by reason) and socket counters. */
  stats(): {
    endpoint: ReturnType<CoreEndpoint['stats']>;
    transport: ReturnType<UdpTransport['stats']>;
  } {
    return { endpoint: this.driver.endpoint.stats(), transport: this.transport.stats() };
  }

  /**
   * Moves to a new local UDP socket (a new port), as a network change or NAT rebinding would:
   * connections continue on the new address (the peers validate it and migrate).
   */
  async rebind(port = 0): Promise<{ host: string; port: number }> {
    this.assertOpen();
    const a = await this.transport.rebind(port);
    this.kick();
    return { host: a.host, port: a.port };
  }

  /**
   * Closes every connection at once and then the socket. Each peer gets CLOSE as the next packet
   * (ahead of data still queued, which is abandoned, as QUIC's CONNECTION_CLOSE) and reports a
   * remote close within a round trip. For a graceful end that delivers queued data first, await
   * `connection.close()` before this. Resolves once the socket is closed: after the closing period
   * of the connections (3 PTO, in which a late packet is answered with CLOSE again), at most
   * `CLOSING_WAIT_MS`.
   */
  close(): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this.closing = true;
    this.closedPromise = (async () => {
      this.nat?.close(); // NAT traversal (issue 6)
      this.pacer.close();
      for (const p of this.named.values()) if (p.retryTimer) clearTimeout(p.retryTimer);
      const endpoint = this.driver.endpoint;
      endpoint.close(this.driver.clock(), 0, 'node closed');
      this.driver.schedule(); // CLOSE packets go out on this turn
      const until = Date.now() + CLOSING_WAIT_MS;
      while (endpoint.stats().connections > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 10));
      }
      this.driver.schedule();
      await new Promise((r) => setImmediate(r));
      this.driver.stop();
      for (const c of this.byCoreId.values()) c.markClosed({ code: 0, reason: 'node closed', remote: false });
      for (const p of this.pendingConnects.values()) {
        p.reject(new SrmudpError('NODE_CLOSED', 'the node was closed'));
      }
      this.pendingConnects.clear();
      this.incoming.end();
      this.inbox.end();
      await Promise.allSettled([this.transport.close(), this.rendezvous.close()]);
    })();
    return this.closedPromise;
  }

  // --- ConnectionOwner
  kick(): void {
    this.driver.schedule();
  }

  now(): number {
    return this.driver.clock();
  }

  deliverMessage(conn: Connection, data: Uint8Array): void {
    const m: ReceivedMessage = { peer: conn.name, data, timestamp: Date.now() };
    if (this.hook) {
      try {
        this.hook(m);
      } catch (e) {
        // a throwing hook must not break the driver loop; surface it asynchronously
        queueMicrotask(() => {
          throw e;
        });
      }
    } else this.inbox.push(m);
    this.emit('message', m);
  }

  // --- internals
  private assertOpen(): void {
    if (this.closing) throw new SrmudpError('NODE_CLOSED', 'the node is closed');
  }

  private *connectedNames(): Iterable<string> {
    const seen = new Set<string>();
    for (const p of this.named.values()) {
      if (p.conn && !p.conn.isClosed) {
        seen.add(p.name);
        yield p.name;
      }
    }
    for (const c of this.byCoreId.values()) if (!c.isClosed && !seen.has(c.name)) yield c.name;
  }

  private acceptPolicy(key: Uint8Array, allow: string[] | undefined): boolean {
    const hex = keyHex(key);
    if (this.closing || this.removedKeys.has(hex)) return false;
    if (allow && !allow.includes(hex)) return false;
    if (this.options.acceptUnknown) return true;
    for (const p of this.named.values()) if (p.key && keyHex(p.key) === hex) return true;
    return false;
  }

  private dial(resolved: ResolvedTarget, signal?: AbortSignal, name?: string): Promise<Connection> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (resolved.key) {
      const existing = this.byKey.get(keyHex(resolved.key));
      if (existing && !existing.isClosed) return Promise.resolve(existing);
      this.removedKeys.delete(keyHex(resolved.key));
    }
    const core = this.driver.endpoint.connect(this.driver.clock(), {
      addresses: resolved.addresses,
      ...(resolved.key ? { remoteKey: resolved.key } : {}),
    });
    const ready = this.byCoreId.get(core.id);
    if (ready && !ready.isClosed) return Promise.resolve(ready);
    this.kick();
    return new Promise<Connection>((resolve, reject) => {
      const onAbort = () => {
        this.pendingConnects.delete(core.id);
        core.close(this.driver.clock(), 0, 'aborted');
        this.kick();
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pendingConnects.set(core.id, {
        resolve: (c) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(c);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        ...(name !== undefined ? { name } : {}),
      });
    });
  }

  // --- NAT traversal (issue 6): a dial judged by the NAT module first (random x random ->
  // PUNCH_IMPOSSIBLE, blocked UDP -> UDP_BLOCKED, fast; only LAN addresses get a short grace)
  /** @internal NAT traversal (issue 6): a datagram received on one of the NAT module's extra sockets. */
  receiveFromNat(data: Uint8Array, from: { host: string; port: number }): void {
    this.driver.receive(data, from);
  }

  private async natDial(resolved: ResolvedTarget, signal?: AbortSignal, name?: string): Promise<Connection> {
    try {
      await this.pacer.admit(resolved.addresses, signal);
    } catch (e) {
      throw signal?.aborted ? abortError(signal) : e;
    }
    const nat = this.nat;
    if (nat === null) return this.dial(resolved, signal, name);
    return nat.guardDial(
      resolved.addresses,
      (addresses, s) => this.dial({ ...resolved, addresses }, s, name),
      signal,
    );
  }

  private onEndpointEvent(e: EndpointEvent): void {
    switch (e.type) {
      case 'connected':
        this.onConnected(e.id, e.remoteKey, e.outgoing);
        return;
      case 'connect_failed': {
        const p = this.pendingConnects.get(e.id);
        this.pendingConnects.delete(e.id);
        // an XX dial that reached a peer we already have a connection with: that connection is the answer
        const cause = e.error.cause as { connectionId?: number } | undefined;
        const existing =
          e.error.code === 'ALREADY_CONNECTED' && cause?.connectionId !== undefined
            ? this.byCoreId.get(cause.connectionId)
            : undefined;
        if (existing && !existing.isClosed) p?.resolve(existing);
        else if (this.closing && e.error.code === 'CLOSED')
          p?.reject(new SrmudpError('NODE_CLOSED', 'the node was closed', { cause: e.error }));
        else p?.reject(e.error);
        return;
      }
      case 'closed': {
        const c = this.byCoreId.get(e.id);
        const p = this.pendingConnects.get(e.id);
        this.pendingConnects.delete(e.id);
        p?.reject(
          new SrmudpError('CONNECT_FAILED', `connection closed before it was established: ${e.reason}`),
        );
        if (!c) return;
        this.byCoreId.delete(e.id);
        // a closed connection nobody took from connections() yet is of no use there, and would
        // keep its state alive (an app that uses the 'connection' event never drains the queue)
        this.incoming.remove(c);
        const hex = keyHex(c.remoteKey);
        if (this.byKey.get(hex) === c) this.byKey.delete(hex);
        c.handleEvent(e);
        this.onPeerLost(c);
        return;
      }
      case 'stun':
        this.emit('stun', e);
        return;
      default: {
        const c = this.byCoreId.get(e.id);
        c?.handleEvent(e);
      }
    }
  }

  private onConnected(id: number, remoteKey: Uint8Array, outgoing: boolean): void {
    const core = this.driver.endpoint.connection(id) as ConnectionApi;
    const hex = keyHex(remoteKey);
    const pending = this.pendingConnects.get(id);
    this.pendingConnects.delete(id);
    let named: NamedPeer | undefined;
    for (const p of this.named.values()) {
      if ((p.key && keyHex(p.key) === hex) || p.name === pending?.name) named = p;
    }
    const conn = new Connection(this, core, remoteKey, named?.name);
    if (conn.path) this.pacer.validated(conn.path.address);
    this.byCoreId.set(id, conn);
    this.byKey.set(hex, conn);
    if (named) {
      named.key = remoteKey;
      named.conn = conn;
      named.retryDelay = this.options.reconnectDelayMs;
      named.lastError = null;
      if (named.retryTimer) clearTimeout(named.retryTimer);
      named.retryTimer = null;
      this.emit('peer', { name: named.name, state: 'established' });
    }
    pending?.resolve(conn);
    if (!outgoing) this.incoming.push(conn);
    this.emit('connection', conn);
  }

  private addPeer(name: string, target: PeerTarget): void {
    this.assertOpen();
    // a card names its peer id; a malformed card is refused here, with what is wrong
    const key =
      typeof target === 'string'
        ? parseCard(target).peerId
        : target.peerId !== undefined
          ? typeof target.peerId === 'string'
            ? parsePeerId(target.peerId)
            : target.peerId
          : null;
    const existing = this.named.get(name);
    if (existing && key && existing.key && keyHex(existing.key) === keyHex(key)) {
      // the same peer with a fresh card (new addresses): keep a live connection, redial now if lost
      existing.target = target;
      if (!existing.conn || existing.conn.isClosed) {
        if (existing.retryTimer) clearTimeout(existing.retryTimer);
        existing.retryTimer = null;
        existing.retryDelay = this.options.reconnectDelayMs;
        this.dialNamed(existing);
      }
      return;
    }
    if (existing) this.removePeer(name);
    const p: NamedPeer = {
      name,
      target,
      key,
      conn: null,
      dialing: null,
      retryTimer: null,
      retryDelay: this.options.reconnectDelayMs,
      lastError: null,
    };
    if (key) {
      this.removedKeys.delete(keyHex(key));
      const c = this.byKey.get(keyHex(key));
      if (c && !c.isClosed) {
        c.name = name;
        p.conn = c;
      }
    }
    this.named.set(name, p);
    if (!p.conn) this.dialNamed(p);
  }

  private removePeer(name: string): void {
    const p = this.named.get(name);
    if (!p) return;
    this.named.delete(name);
    if (p.retryTimer) clearTimeout(p.retryTimer);
    p.retryTimer = null;
    if (p.key) this.removedKeys.add(keyHex(p.key));
    if (p.conn && !p.conn.isClosed) void p.conn.close(0, 'peer removed');
  }

  private dialNamed(p: NamedPeer): void {
    if (this.closing || p.dialing || this.named.get(p.name) !== p) return;
    const attempt = (async () => {
      const resolved = await resolveTarget(p.target, this.rendezvous);
      if (resolved.key) p.key = resolved.key;
      return this.natDial(resolved, undefined, p.name); // NAT traversal (issue 6)
    })();
    p.dialing = attempt;
    attempt.then(
      (conn) => {
        p.dialing = null;
        if (this.named.get(p.name) !== p) return;
        p.conn = conn;
        conn.name = p.name;
      },
      (err: unknown) => {
        p.dialing = null;
        p.lastError = err instanceof SrmudpError ? err : new SrmudpError('CONNECT_FAILED', String(err));
        this.scheduleRedial(p);
      },
    );
  }

  private onPeerLost(c: Connection): void {
    for (const p of this.named.values()) {
      if (p.conn === c) {
        p.conn = null;
        this.emit('peer', { name: p.name, state: 'reconnecting' });
        this.scheduleRedial(p);
      }
    }
  }

  private scheduleRedial(p: NamedPeer): void {
    if (this.closing || p.retryTimer || this.named.get(p.name) !== p) return;
    const delay = p.retryDelay;
    p.retryDelay = Math.min(p.retryDelay * 2, 30_000);
    p.retryTimer = setTimeout(() => {
      p.retryTimer = null;
      if (p.conn && !p.conn.isClosed) return;
      this.dialNamed(p);
    }, delay);
  }
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/**
 * Creates a node: validates options (SrmudpError 'INVALID_OPTIONS' naming each bad field), loads or
 * creates the identity, binds the UDP socket and starts the driver loop.
 */
export async function createNode(options: NodeOptions = {}): Promise<SrmudpNode> {
  const o = parseNodeOptions(options);
  let identity: Identity;
  if (o.identity === undefined) identity = generateIdentity((n) => new Uint8Array(randomBytes(n)));
  else if (typeof o.identity === 'string') identity = await loadOrCreateIdentity(o.identity);
  else identity = identityFromSecret(o.identity.secret);
  const backends = (o.rendezvous ?? []).filter(isRendezvousBackend);
  if (backends.length !== (o.rendezvous ?? []).length) {
    throw new SrmudpError('INVALID_OPTIONS', 'option "rendezvous" must hold rendezvous backends only');
  }
  const transport = await UdpTransport.bind({ host: o.host, port: o.port, ipv6Only: o.ipv6Only });
  const rendezvous = new Rendezvous({ backends, secretKey: identity.secret });
  const node = new SrmudpNode(o, identity, transport, rendezvous);
  // NAT traversal (issue 6): gather reflexive candidates on the bound socket before the first publish
  if (o.stunServers && o.stunServers.length > 0) {
    try {
      node.nat = await attachNat(node, o.stunServers, { republish: o.publish });
    } catch (e) {
      await node.close();
      throw e;
    }
  }
  if (backends.length > 0 && o.publish) await node.publish();
  return node;
}

export type { Address, CloseInfo };
