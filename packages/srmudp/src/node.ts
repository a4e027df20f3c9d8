// SrmudpNode: the façade's public API (named peers, dial, peers.ready, cards and publishing,
// messages, status, NAT status, close) and the glue between core's endpoint and the NAT session.
// Each rule has its own file: the loop (driver.ts), dials (dialer.ts), named peers kept connected
// (named-peers.ts), our record and its publishing (publisher.ts), relays for hopeless or lost
// paths and the way back to UDP (relay-fallback.ts), WebSocket relays (ws-relays.ts), punches
// over relayed connections (relayed-punch.ts), groups (group.ts), the layers' configs from the
// options (layer-config.ts), the main socket (bind.ts). What stays here is the construction of
// those parts and the routing of NAT events; the connection tables and the routing of core's
// endpoint events into them are connection-registry.ts's.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Address, CoreEndpoint, type PathInfo } from '@srmudp/core';
import {
  generateIdentity,
  type Identity,
  identityFromSecret,
  parsePeerId,
  peerIdToString,
} from '@srmudp/crypto';
import { autoBackend, loadOrCreateIdentity } from '@srmudp/crypto-node';
import {
  type NatEvent,
  NatSession,
  type NatSessionStats,
  type NatSessionStatus,
  type ReflexiveCandidate,
} from '@srmudp/punch';
import { type Candidate, isRendezvousBackend, type Locator, Rendezvous } from '@srmudp/rendezvous';
import { poolHostFor, UdpSocketPool, type UdpTransport } from '@srmudp/transport-node';
import { SrmudpError } from '@srmudp/wire';
import { AsyncQueue, abortError } from './async-queue.js';
import { bindMain } from './bind.js';
import {
  type BoundSocket,
  gatheringAddresses,
  hostCandidates,
  socketFamilies,
  withReflexive,
} from './candidates.js';
import {
  type NodeOptions,
  type PeerTarget,
  parseNodeOptions,
  parsePeerTarget,
  type ResolvedNodeOptions,
} from './config.js';
import { type CloseInfo, type Connection, type ConnectionOwner, toBytes } from './connection.js';
import { ConnectionRegistry } from './connection-registry.js';
import { Dialer, keyHex } from './dialer.js';
import { Driver } from './driver.js';
import { type Group, GroupHost, type GroupOptions } from './group.js';
import { enabledLayerLogs, endpointConfig, natSessionConfig, portMappingWanted } from './layer-config.js';
import { logger, short } from './log.js';
import { NamedPeers, type PeerEvent } from './named-peers.js';
import { RouterPortMapper } from './port-mapper.js';
import { Publisher } from './publisher.js';
import { secureRandom } from './random.js';
import { RelayFallback } from './relay-fallback.js';
import { PUNCH_MS, RelayedPunch } from './relayed-punch.js';
import { type ResolvedTarget, recordVerify, resolveTarget } from './resolve.js';
import { parseStunServer } from './stun-servers.js';
import { parseWsRelaySpec, type WsRelayStatus, WsRelays } from './ws-relays.js';

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
  /**
   * the smallest round-trip time seen on the connection (the path's own latency, without the
   * queueing and event-loop delays the smoothed value carries from its first samples); null until measured
   */
  minRttMs: number | null;
  lossRate: number | null;
  bytesSent: number;
  bytesReceived: number;
  /** why the last dial failed ('PUNCH_IMPOSSIBLE', 'UDP_BLOCKED', 'HANDSHAKE_TIMEOUT', ...), until it connects */
  lastError: { code: string; message: string } | null;
  /**
   * What carries the path from here: 'udp', or 'websocket' for a path relayed through one of
   * the node's WebSocket relays (`relayed (websocket)`); null without a path.
   */
  carrier: 'udp' | 'websocket' | null;
}

/** Façade log lines (`DEBUG=srmudp:node`): dials, handshakes done, paths, closes, redials. */
const log = logger('srmudp:node');
/** What the 'dial' event carries: a dial (connect() or a named peer) about to start. */
export interface DialEvent {
  /** the named peer's name, when the dial is for one */
  name?: string;
  /** the peer id we expect, or null for an address dialled without one (Noise XX) */
  peerId: string | null;
  addresses: Address[];
}

/** What the node knows about its NAT, and what it can be asked (`node.nat`). */
export interface NodeNat {
  /**
   * State of gathering, classification (mapping, filtering) for IPv4 and IPv6 apart in
   * `families` (`nat` is IPv4's when both have one), server-reflexive endpoints, and why the last
   * gathering failed (`NO_STUN_SERVER`: none resolved or reachable, e.g. offline;
   * `UDP_BLOCKED`: no server answered), and the router port mapping (`portMapping`: state,
   * external address, protocol, lease end, last error).
   */
  status(): NatSessionStatus;
  /**
   * Resolves with the status once the first gathering has a result (or gathering is off or has
   * no server), at most `timeoutMs` (default 15 s) later. Start-up never waits for it.
   */
  ready(opts?: { timeoutMs?: number }): Promise<NatSessionStatus>;
  /** Gathers again now; resolves with the status when that gathering has a result. */
  regather(opts?: { timeoutMs?: number }): Promise<NatSessionStatus>;
  /** The server-reflexive candidates now (cards and records carry them). */
  candidates(): ReflexiveCandidate[];
  /** Dial and birthday counters (attempts, probes, pool hits…) and dropped STUN datagrams. */
  stats(): Readonly<NatSessionStats>;
}

/** How long node.close() keeps the socket for the closing period of its connections (3 PTO, a
 * few ms to a few hundred on real paths), to answer late packets with CLOSE again. */
const CLOSING_WAIT_MS = 500;

/**
 * One UDP socket, many authenticated peers. Create with {@link createNode}.
 *
 * Events: 'connection' (Connection, incoming or outgoing once established), 'message'
 * (ReceivedMessage, node-level), 'peer' ({@link PeerEvent}: a named peer connecting with N
 * addresses, established, reconnecting with the reason and the delay), 'dial' ({@link DialEvent}),
 * 'nat' (the NAT session's events: `gathering`, `gathered`, `nat`, `candidates`, `no_server`
 * once), 'error' is never emitted for network input.
 */
export class SrmudpNode extends EventEmitter implements ConnectionOwner {
  readonly identity: Identity;
  readonly peerId: string;
  /** name of the crypto backend in use: 'sodium' (libsodium), 'node' (node:crypto) or 'noble' */
  readonly cryptoBackend: string;
  /** @internal the one loop: core's endpoint, the NAT session, sockets and timers */
  readonly driver: Driver;
  private readonly session: NatSession;
  private readonly pool: UdpSocketPool | null;
  private readonly dialer: Dialer;
  private readonly bound: BoundSocket;
  /** the connection tables and the routing of core's events (connection-registry.ts) */
  private readonly registry: ConnectionRegistry;
  /** named peers: kept connected, redialled (named-peers.ts) */
  private readonly named: NamedPeers;
  private readonly inbox = new AsyncQueue<ReceivedMessage>();
  private hook: ((m: ReceivedMessage) => void) | null = null;
  private natWaiters: Array<{ after: number; resolve: () => void }> = [];
  /** our record: its contents, publishing, republishing, the card (publisher.ts) */
  private readonly publisher: Publisher;
  closing = false;
  private closedPromise: Promise<void> | null = null;
  /** groups (gossip), created at the first group() */
  private groupHost: GroupHost | null = null;
  /** WebSocket relays (`relays`): carriers, hop sessions (ws-relays.ts) */
  private readonly wsRelays: WsRelays;

  /** NAT traversal: gathering, classification, dial verdicts, birthday (`@srmudp/punch`'s session). */
  readonly nat: NodeNat;
  /** relays for hopeless or lost paths, and the way back to UDP (relay-fallback.ts) */
  private readonly fallback: RelayFallback;
  /** punches coordinated over relayed connections (relayed-punch.ts) */
  private readonly relayedPunch: RelayedPunch;

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
    this.registry = new ConnectionRegistry(this);
    const allow = options.allow?.map((t) => keyHex(parsePeerId(t)));
    const backend = options.cryptoBackend ?? autoBackend();
    this.cryptoBackend = backend.name;
    const random = secureRandom;
    const { nat: natLog, ...layers } = enabledLayerLogs();
    const config = endpointConfig(options, {
      identity,
      random,
      backend,
      accepts: (key) => this.acceptPolicy(key, allow),
      logs: layers,
    });
    const now = performance.now();
    const endpoint = new CoreEndpoint(config, now);
    const a = transport.address();
    this.bound = {
      host: a.host,
      port: a.port,
      family: a.family === 'IPv6' ? 6 : 4,
      ipv6Only: transport.type === 'udp6' && !transport.dualStack,
    };
    const families = socketFamilies(this.bound);
    // NAT traversal (DESIGN.md §5): the session is created at once and never awaited; servers
    // given as names (and the default list) are resolved by the driver when the session asks
    const names = options.stunServers?.map(parseStunServer);
    const portMapping = portMappingWanted(options, this.bound, families);
    this.session = new NatSession(
      natSessionConfig(options, { random, bound: this.bound, families, names, portMapping, log: natLog }),
      now,
    );
    this.wsRelays = new WsRelays({
      relays: options.relays.map(parseWsRelaySpec),
      mode: options.relayMode,
      ...(options.relayToken !== undefined ? { token: options.relayToken } : {}),
      learntIdleMs: options.relayIdleMs,
      inUse: (key) => {
        const hex = keyHex(key);
        for (const c of this.registry.byCoreId.values()) {
          const p = c.isClosed ? null : c.path;
          if (p?.kind === 'relayed' && keyHex(p.via) === hex) return true;
        }
        return false;
      },
    });
    const poolHost = poolHostFor(a, this.bound.ipv6Only);
    this.pool = poolHost === null ? null : new UdpSocketPool({ host: poolHost });
    this.driver = new Driver(
      endpoint,
      this.session,
      transport,
      {
        onEndpointEvent: (e) => this.registry.onEndpointEvent(e),
        onNatEvent: (e) => this.onNatEvent(e),
        hostAddresses: () => gatheringAddresses(hostCandidates(this.boundNow())),
        onHostAddressesChanged: () => this.publisher.republish(),
      },
      {
        families,
        pool: this.pool,
        portMapper: portMapping ? new RouterPortMapper(log) : null,
        carrier: this.wsRelays,
        ...(names !== undefined ? { stunServers: names } : {}),
        ...(natLog ? { log: natLog } : {}),
      },
    );
    const node = this;
    this.named = new NamedPeers({
      get closing() {
        return node.closing;
      },
      rendezvous: this.rendezvous,
      reconnectDelayMs: options.reconnectDelayMs,
      after: (ms, fn) => this.driver.after(ms, fn),
      assertOpen: () => this.assertOpen(),
      refuseOwnKey: (key) => this.refuseOwnKey(key),
      liveConnection: (hex) => this.liveConnection(hex),
      dial: (resolved, name) => this.dialResolved(resolved, undefined, name),
      emitPeer: (e) => this.emitPeer(e),
    });
    this.publisher = new Publisher({
      identity,
      rendezvous: this.rendezvous,
      get closing() {
        return node.closing;
      },
      configuredGates: options.relay?.gates ?? [],
      servingGate: options.relay?.serve === true,
      namedPeer: (name) => this.named.get(name),
      hostCandidates: () => hostCandidates(this.boundNow()),
      reflexive: () => this.session.candidates(),
      mapped: () => this.session.status().portMapping.external,
      homeRelay: () => this.wsRelays.home(),
    });
    this.fallback = new RelayFallback({
      identity,
      driver: this.driver,
      get closing() {
        return node.closing;
      },
      wsRelays: this.wsRelays,
      session: this.session,
      gateCount: options.relay?.gates.length ?? 0,
      namedPeer: (name) => this.named.get(name),
      namedPeers: () => this.named.values(),
      liveConnection: (hex) => this.liveConnection(hex),
      connections: () => this.registry.byCoreId.values(),
      dial: (target, signal) => this.dialer.dial(target, signal),
      punchAgain: (id) => this.relayedPunch.again(id),
      kick: () => this.kick(),
    });
    this.dialer = new Dialer(
      {
        driver: this.driver,
        get closing() {
          return node.closing;
        },
        liveConnection: (hex) => this.liveConnection(hex),
        connectionOf: (id) => this.connectionOf(id),
        relaysFor: (key) => this.fallback.relaysFor(key),
        learnGates: (key, gates) => this.fallback.learnGates(key, gates),
        reachGates: (key) => this.fallback.reachGates(key),
        kick: () => this.kick(),
      },
      this.session,
    );
    this.relayedPunch = new RelayedPunch({
      clock: () => this.driver.clock(),
      after: (ms, fn) => this.driver.after(ms, fn),
      random32: () => randomBytes(4).readUInt32BE(0),
      candidates: () => this.publisher.recordCandidates(),
      send: (id, data) => {
        const ok = this.driver.endpoint.sendPunch(id, data);
        this.kick();
        return ok;
      },
      relayed: (id) => {
        const c = this.registry.byCoreId.get(id);
        return c !== undefined && !c.isClosed && c.path?.kind === 'relayed';
      },
      punch: (id, candidates) => {
        const c = this.registry.byCoreId.get(id);
        const direct = candidates.filter((x) => x.kind !== 'relay');
        if (c === undefined || direct.length === 0) return;
        log(`punching ${short(c.peerId)} over its relayed path: ${direct.length} candidate(s)`);
        this.dialer.upgrade(c.remoteKey, direct, PUNCH_MS);
      },
      drop: (reason) => log(`punch message dropped: ${reason}`),
    });
    this.registry.attach({
      driver: this.driver,
      session: this.session,
      wsRelays: this.wsRelays,
      dialer: this.dialer,
      named: this.named,
      fallback: this.fallback,
      relayedPunch: this.relayedPunch,
      publisher: this.publisher,
    });
    this.wsRelays.start(this.driver);
    this.nat = {
      status: () => this.session.status(),
      ready: (o = {}) => this.natSettled(o.timeoutMs ?? 15_000),
      regather: (o = {}) => {
        this.assertOpen();
        this.session.regather(this.driver.clock(), 'requested');
        this.kick();
        return this.natSettled(o.timeoutMs ?? 15_000);
      },
      candidates: () => this.session.candidates(),
      stats: () => this.session.stats(),
    };
    for (const [name, target] of Object.entries(options.peers)) this.named.add(name, target);
    // gates: named peers, so that a hop session to each is kept (and redialled)
    const gates = options.relay?.gates ?? [];
    for (let i = 0; i < gates.length; i++) this.named.add(`gate-${i}`, gates[i] as PeerTarget);
  }

  /**
   * The gates this node's record and card carry: itself when it serves as a gate and is reachable
   * (a port mapping it opened, or a public address of its own), then its configured gates at the
   * address its hop session reaches each one.
   */
  gates(): { peerId: string; host: string; port: number; self: boolean }[] {
    return this.publisher.recordGates().map((g) => ({
      peerId: peerIdToString(g.peerId),
      host: g.host,
      port: g.port,
      self: keyHex(g.peerId) === keyHex(this.identity.publicKey),
    }));
  }

  private carrierOf(path: PathInfo | null): 'udp' | 'websocket' | null {
    if (path === null) return null;
    return path.kind === 'relayed' ? this.wsRelays.carrierOf(path.address) : 'udp';
  }

  /** The WebSocket relays (`relays`): state, home, reconnects. */
  relayStatus(): WsRelayStatus[] {
    return this.wsRelays.status();
  }

  /** The bound socket address. */
  address(): { host: string; port: number; family: 4 | 6 } {
    const a = this.transport.address();
    return { host: a.host, port: a.port, family: a.family === 'IPv6' ? 6 : 4 };
  }

  /**
   * Host candidates of this node: the bound address, or every interface address when bound to a
   * wildcard (loopback last, for peers on the same machine), with the server-reflexive ones (its
   * public NAT mappings, once gathered) before loopback.
   */
  candidates(): Candidate[] {
    return withReflexive(hostCandidates(this.boundNow()), this.session.candidates());
  }

  /**
   * Publishes this node's signed record (its current candidates) to every rendezvous backend;
   * the locators of the backends that took it go into {@link contactCard}. Returns them. It is
   * published again by itself when the candidates change (gathering found a new NAT mapping, an
   * interface changed) once it has been published.
   */
  async publish(opts: { signal?: AbortSignal } = {}): Promise<Locator[]> {
    this.assertOpen();
    return this.publisher.publish(opts);
  }

  /**
   * This node's contact card: its peer id, its locators and, when it has no rendezvous locator
   * (or `candidates: true`), a signed record of its current candidates valid for `ttlMs` (the
   * manual case). With a rendezvous the card holds locators only, so it stays the same across
   * restarts as long as the identity does (the record with the current port is resolved).
   */
  contactCard(
    opts: { name?: string; app?: string; locators?: Locator[]; candidates?: boolean; ttlMs?: number } = {},
  ): string {
    return this.publisher.contactCard(opts);
  }

  /** Named peers: `add({ alice: card, bob: { host, port, peerId } })`, `remove(['bob'])`, `list()`. */
  readonly peers = {
    add: (peers: Record<string, PeerTarget>): void => {
      if (typeof peers !== 'object' || peers === null) throw new TypeError('"peers" expected an object');
      const parsed = parseNodeOptions({ peers }).peers;
      for (const [name, target] of Object.entries(parsed)) this.named.add(name, target);
    },
    remove: (names: string[]): void => {
      if (!Array.isArray(names)) throw new TypeError('"names" expected an array of peer names');
      for (const name of names) this.named.remove(name);
    },
    list: (): string[] => this.named.names(),
    /**
     * Resolves with the connection to a named peer once it is established (at once if it is).
     * Rejects with SrmudpError 'UNKNOWN_PEER' for a name never added (or removed while waiting),
     * 'PEER_TIMEOUT' after `timeout` ms (its message and `cause` carry the last dial error, e.g.
     * HANDSHAKE_TIMEOUT), 'NODE_CLOSED' when the node closes, or the signal's abort error.
     */
    ready: (name: string, opts: { signal?: AbortSignal; timeout?: number } = {}): Promise<Connection> =>
      this.named.waitReady(name, opts),
  };

  /**
   * Opens (or returns the existing) connection to a target: contact card or `{ host, port, peerId? }`.
   * The NAT session judges the dial first: `PUNCH_IMPOSSIBLE` (both NATs map per destination) or
   * `UDP_BLOCKED` fail at once (after a 2.5 s grace for LAN addresses); a pair that needs the
   * birthday strategy keeps trying for up to 30 s (`PUNCH_TIMEOUT` after).
   */
  async connect(
    target: PeerTarget,
    opts: { signal?: AbortSignal; timeout?: number } = {},
  ): Promise<Connection> {
    this.assertOpen();
    const t = parsePeerTarget(target);
    if (opts.timeout !== undefined && !(Number.isInteger(opts.timeout) && opts.timeout > 0))
      throw new RangeError(`"timeout" expected a positive integer (ms), got ${opts.timeout}`);
    // a timeout is our own abort, told apart from the caller's signal so it can say why
    const timer = opts.timeout !== undefined ? new AbortController() : null;
    const handle = timer ? this.driver.after(opts.timeout as number, () => timer.abort()) : null;
    const signal = timer
      ? opts.signal
        ? AbortSignal.any([opts.signal, timer.signal])
        : timer.signal
      : opts.signal;
    let resolved: ResolvedTarget | null = null;
    try {
      resolved = await resolveTarget(t, this.rendezvous, signal);
      this.refuseOwnKey(resolved.key);
      return await this.dialResolved(resolved, signal);
    } catch (e) {
      if (timer?.signal.aborted && !opts.signal?.aborted) {
        const where = resolved ? ` at ${resolved.addresses.length} address(es)` : '';
        const who = resolved?.key ? short(peerIdToString(resolved.key)) : 'the peer';
        throw new SrmudpError(
          'CONNECT_TIMEOUT',
          `no answer from ${who}${where} within ${opts.timeout} ms (offline, or UDP blocked on the way)`,
          { cause: e },
        );
      }
      throw e;
    } finally {
      handle?.cancel();
    }
  }

  /**
   * Joins (or returns) the group `name` through the members whose contact cards are given as
   * `bootstrap` (none: the first member, waiting to be joined): gossip (HyParView membership and
   * Plumtree broadcast, `@srmudp/gossip`), each member holding a handful of connections. While a
   * group is open the node accepts incoming connections from anyone who has its card (subject to
   * `allow`): group members dial each other. See group.ts and the README's Groups section.
   */
  group(name: string, opts: GroupOptions = {}): Group {
    this.assertOpen();
    if (typeof opts !== 'object' || opts === null) throw new TypeError('"opts" expected an object');
    this.groupHost ??= new GroupHost(this, opts);
    return this.groupHost.group(name, opts);
  }

  /** @internal gossip counters (frames, deliveries, drops, penalties), once a group exists */
  groupStats(): ReturnType<GroupHost['stats']> | null {
    return this.groupHost?.stats() ?? null;
  }

  /** @internal whether the application named this peer (group.ts leaves its connection open) */
  isNamedKey(hex: string): boolean {
    return this.named.hasKey(hex);
  }

  /** Incoming connections (also emitted as 'connection'). */
  connections(signal?: AbortSignal): AsyncIterableIterator<Connection> {
    return this.registry.incoming.iterate(signal);
  }

  /** The connection to a named peer (or to a peer id text), if established. */
  connection(name: string): Connection | undefined {
    const p = this.named.get(name);
    if (p) return p.conn ?? undefined;
    for (const c of this.registry.byCoreId.values()) if (c.name === name || c.peerId === name) return c;
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
        minRttMs: s?.rttMeasured ? s.minRttMs : null,
        lossRate: s ? s.lossRate : null,
        bytesSent: s?.bytesSent ?? 0,
        bytesReceived: s?.bytesReceived ?? 0,
        lastError: s || !p.lastError ? null : { code: p.lastError.code, message: p.lastError.message },
        carrier: this.carrierOf(s?.path ?? null),
      };
    }
    for (const c of this.registry.byCoreId.values()) {
      if (out[c.name] || c.isClosed) continue;
      const s = c.stats();
      out[c.name] = {
        name: c.name,
        peerId: c.peerId,
        state: 'established',
        path: s.path,
        rttMs: s.rttMeasured ? s.rttMs : null,
        minRttMs: s.rttMeasured ? s.minRttMs : null,
        lossRate: s.lossRate,
        bytesSent: s.bytesSent,
        bytesReceived: s.bytesReceived,
        lastError: null,
        carrier: this.carrierOf(s.path),
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
    if (opts.to !== undefined) {
      if (!Array.isArray(opts.to)) throw new TypeError('"to" expected an array of peer names');
      // a peer id text counts as known (an unnamed peer that may just have left: skipped like a
      // named peer that is not connected); any other name must be a named or connected peer
      const unknown = opts.to.filter(
        (n) => !this.named.has(n) && this.connection(n) === undefined && !isPeerIdText(n),
      );
      if (unknown.length > 0) {
        const known = [...new Set([...this.named.names(), ...this.connectedNames()])];
        throw new SrmudpError(
          'UNKNOWN_PEER',
          `no peer named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${known.length > 0 ? known.join(', ') : 'none'}; add it with peers.add)`,
        );
      }
    }
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
    const timer =
      opts.timeout !== undefined && !this.driver.stopped
        ? this.driver.after(opts.timeout, () => ac.abort('timeout'))
        : null;
    try {
      const r = await this.inbox.next(ac.signal);
      return r.done ? null : r.value;
    } catch (e) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (ac.signal.aborted) return null;
      throw e;
    } finally {
      timer?.cancel();
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

  /** Endpoint counters (connections, drops by reason), socket counters and NAT counters. */
  stats(): {
    endpoint: ReturnType<CoreEndpoint['stats']>;
    transport: ReturnType<UdpTransport['stats']>;
    nat: Readonly<NatSessionStats>;
  } {
    return {
      endpoint: this.driver.endpoint.stats(),
      transport: this.transport.stats(),
      nat: this.session.stats(),
    };
  }

  /**
   * Moves to a new local UDP socket (a new port), as a network change or NAT rebinding would:
   * connections continue on the new address (the peers validate it and migrate).
   */
  async rebind(port = 0): Promise<{ host: string; port: number }> {
    this.assertOpen();
    const a = await this.transport.rebind(port);
    this.driver.pollInterfaces(); // the port is part of the host candidates: gather again
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
      const d = this.driver;
      this.groupHost?.close();
      this.dialer.close();
      this.named.close();
      log(`close: ${this.registry.byCoreId.size} connection(s)`);
      d.closing(); // CLOSE frames go ahead of the send queue and past its limit
      d.endpoint.close(d.clock(), 0, 'node closed');
      d.schedule(); // CLOSE packets go out on this turn
      const until = d.clock() + CLOSING_WAIT_MS;
      while (d.endpoint.stats().connections > 0 && d.clock() < until) await d.sleep(10);
      // the NAT session last: a peer found by the birthday is reached through its pool socket
      // (session.route), CLOSE included
      this.session.close(d.clock());
      await d.turn();
      // the router's port mapping is deleted (bounded: a router that does not answer keeps it
      // until the lease ends)
      await d.settlePortMapping(2000);
      d.stop();
      for (const w of this.natWaiters.splice(0)) w.resolve();
      for (const c of this.registry.byCoreId.values())
        c.markClosed({ code: 0, reason: 'node closed', remote: false });
      this.registry.incoming.end();
      this.inbox.end();
      await Promise.allSettled([
        this.wsRelays.close(),
        this.transport.close(),
        this.pool?.closeAll() ?? Promise.resolve(),
        this.rendezvous.close(),
      ]);
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

  deliverInternal(conn: Connection, channel: number, body: Uint8Array): void {
    this.groupHost?.onInternal(conn, channel, body);
  }

  // --- DialerOwner
  liveConnection(hex: string): Connection | undefined {
    return this.registry.liveConnection(hex);
  }

  connectionOf(id: number): Connection | undefined {
    return this.registry.connectionOf(id);
  }

  // --- internals
  private assertOpen(): void {
    if (this.closing) throw new SrmudpError('NODE_CLOSED', 'the node is closed');
  }

  /** Our own card or key as a target: a typed error instead of core's RangeError. */
  private refuseOwnKey(key: Uint8Array | undefined | null): void {
    if (key && keyHex(key) === keyHex(this.identity.publicKey)) {
      throw new SrmudpError(
        'OWN_CARD',
        "that is this node's own contact card (or peer id): a node cannot connect to itself",
      );
    }
  }

  private emitDial(resolved: ResolvedTarget, name?: string): void {
    const peerId = resolved.key ? peerIdToString(resolved.key) : null;
    log(
      `dial ${name !== undefined ? `${name} ` : ''}${peerId ? short(peerId) : '(key unknown, Noise XX)'}: ${resolved.addresses.length} address(es)`,
    );
    const e: DialEvent = { peerId, addresses: resolved.addresses, ...(name !== undefined ? { name } : {}) };
    this.emit('dial', e);
    if (name !== undefined)
      this.emitPeer({ name, state: 'connecting', addresses: resolved.addresses.length });
  }

  private emitPeer(e: PeerEvent): void {
    this.emit('peer', e);
  }

  /**
   * The dial of a resolved target (connect() and the named peers): the relays first
   * (relay-fallback.ts), the 'dial' event, the dialer; a connection that came up relayed keeps
   * the target's direct candidates.
   */
  private async dialResolved(
    resolved: ResolvedTarget,
    signal: AbortSignal | undefined,
    name?: string,
  ): Promise<Connection> {
    await this.fallback.beforeDial(resolved, signal);
    this.emitDial(resolved, name);
    const conn = await this.dialer.dial(resolved, signal, name);
    this.fallback.afterDial(conn, resolved);
    return conn;
  }

  /** The socket as bound now (rebind() changes the port). */
  private boundNow(): BoundSocket {
    return { ...this.bound, port: this.transport.address().port };
  }

  /**
   * Resolves with the status once the NAT session is not resolving names or gathering (at once
   * when it is not), at most `timeoutMs` later.
   */
  private natSettled(timeoutMs: number): Promise<NatSessionStatus> {
    const st = this.session.status().state;
    if (this.driver.stopped || (st !== 'resolving' && st !== 'gathering')) {
      return Promise.resolve(this.session.status());
    }
    return new Promise((resolve) => {
      const timer = this.driver.after(timeoutMs, () => done());
      const w = { after: this.session.status().gatherings, resolve: () => done() };
      const done = () => {
        timer.cancel();
        const i = this.natWaiters.indexOf(w);
        if (i >= 0) this.natWaiters.splice(i, 1);
        resolve(this.session.status());
      };
      this.natWaiters.push(w);
    });
  }

  private onNatEvent(e: NatEvent): void {
    switch (e.type) {
      case 'dial_addresses':
      case 'dial_failed':
        this.dialer.onNatEvent(e);
        return;
      case 'candidates':
        // a new public mapping (first gathering, NAT reboot, network change): peers resolving our
        // card through the rendezvous must find it
        this.publisher.republish();
        break;
      case 'gathered':
      case 'no_server':
        if (e.type === 'gathered') {
          for (const w of [...this.natWaiters]) if (e.status.gatherings > w.after) w.resolve();
          this.fallback.onGathered(e.status.error?.code === 'UDP_BLOCKED');
        }
        break;
      default:
    }
    this.emit('nat', e);
  }

  private *connectedNames(): Iterable<string> {
    const seen = new Set<string>();
    for (const p of this.named.values()) {
      if (p.conn && !p.conn.isClosed) {
        seen.add(p.name);
        yield p.name;
      }
    }
    for (const c of this.registry.byCoreId.values()) if (!c.isClosed && !seen.has(c.name)) yield c.name;
  }

  private acceptPolicy(key: Uint8Array, allow: string[] | undefined): boolean {
    const hex = keyHex(key);
    if (this.closing || this.named.isRemoved(hex)) return false;
    if (allow && !allow.includes(hex)) return false;
    if (this.options.acceptUnknown || this.groupHost?.accepting) return true;
    return this.named.hasKey(hex);
  }
}

function isPeerIdText(text: string): boolean {
  try {
    parsePeerId(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates a node: validates options (SrmudpError 'INVALID_OPTIONS' naming each bad field), loads or
 * creates the identity, binds the UDP socket (dual-stack by default) and starts the driver loop.
 * NAT traversal starts in the background: nothing here waits for STUN servers or their names.
 */
/** A gate's rate per client in its group (RELAYS.md: a gate lifts the public 1 MiB/s). */
const _GATE_RATE = 64 * 1024 * 1024;

export async function createNode(options: NodeOptions = {}): Promise<SrmudpNode> {
  const o = parseNodeOptions(options);
  // malformed STUN server entries are refused now, not in the background
  o.stunServers?.forEach(parseStunServer);
  let identity: Identity;
  if (o.identity === undefined) identity = generateIdentity((n) => new Uint8Array(randomBytes(n)));
  else if (typeof o.identity === 'string') identity = await loadOrCreateIdentity(o.identity);
  else identity = identityFromSecret(o.identity.secret);
  const backends = (o.rendezvous ?? []).filter(isRendezvousBackend);
  if (backends.length !== (o.rendezvous ?? []).length) {
    throw new SrmudpError('INVALID_OPTIONS', 'option "rendezvous" must hold rendezvous backends only');
  }
  const transport = await bindMain(o);
  const rendezvous = new Rendezvous({ backends, secretKey: identity.secret, verify: recordVerify });
  let node: SrmudpNode;
  try {
    node = new SrmudpNode(o, identity, transport, rendezvous);
  } catch (e) {
    await transport.close();
    // the NAT session refuses bad timing / birthday values with TypeError / RangeError
    if (e instanceof TypeError || e instanceof RangeError) {
      throw new SrmudpError('INVALID_OPTIONS', `invalid srmudp node options: ${e.message}`, { cause: e });
    }
    throw e;
  }
  if (backends.length > 0 && o.publish) await node.publish();
  return node;
}

export { bindDualStack } from './bind.js';
export type { Address, CloseInfo, PeerEvent };
