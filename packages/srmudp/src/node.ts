// SrmudpNode: the façade's public API (named peers, dial, peers.ready, cards and publishing,
// messages, status, NAT status, close) and the glue between core's endpoint and the NAT session.
// Each rule has its own file: the loop (driver.ts), dials (dialer.ts; connect() and the dial of a
// resolved target: node-dials.ts), named peers kept connected (named-peers.ts), the peers by name
// and their status (peer-directory.ts), node-level messages (message-inbox.ts), `node.nat` and
// its waits (node-nat.ts), our record and its publishing (publisher.ts), relays for hopeless or
// lost paths and the way back to UDP (relay-fallback.ts), WebSocket relays (ws-relays.ts),
// punches over relayed connections (relayed-punch.ts), groups (group.ts), the layers' configs
// from the options (layer-config.ts), who may connect (accept-policy.ts), the start-up: options,
// identity, the main socket (create-node.ts, bind.ts). What stays here is the
// construction of those parts and the routing of NAT events; the connection tables and the
// routing of core's endpoint events into them are connection-registry.ts's.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Address, CoreEndpoint } from '@srmudp/core';
import { type Identity, peerIdToString } from '@srmudp/crypto';
import { autoBackend } from '@srmudp/crypto-node';
import { type NatEvent, NatSession, type NatSessionStats } from '@srmudp/punch';
import type { Candidate, Locator, Rendezvous } from '@srmudp/rendezvous';
import { poolHostFor, UdpSocketPool, type UdpTransport } from '@srmudp/transport-node';
import { equalBytes, SrmudpError } from '@srmudp/wire';
import { AcceptPolicy } from './accept-policy.js';
import {
  type BoundSocket,
  gatheringAddresses,
  hostCandidates,
  socketFamilies,
  withReflexive,
} from './candidates.js';
import type { PeerTarget, ResolvedNodeOptions } from './config.js';
import { type CloseInfo, type Connection, type ConnectionOwner, toBytes } from './connection.js';
import { ConnectionRegistry } from './connection-registry.js';
import { Dialer } from './dialer.js';
import { Driver } from './driver.js';
import { type Group, GroupHost, type GroupOptions } from './group.js';
import { enabledLayerLogs, endpointConfig, natSessionConfig, portMappingWanted } from './layer-config.js';
import { logger, short } from './log.js';
import { MessageInbox, type ReceivedMessage } from './message-inbox.js';
import { NamedPeers, type PeerEvent } from './named-peers.js';
import { type DialEvent, NodeDials } from './node-dials.js';
import { NatWaits, type NodeNat } from './node-nat.js';
import { PeerDirectory, type PeerStatus } from './peer-directory.js';
import { RouterPortMapper } from './port-mapper.js';
import { Publisher } from './publisher.js';
import { secureRandom } from './random.js';
import { RelayFallback } from './relay-fallback.js';
import { RelayedPunch } from './relayed-punch.js';
import { parseStunServer } from './stun-servers.js';
import { parseWsRelaySpec, type WsRelayStatus, WsRelays } from './ws-relays.js';

/** Façade log lines (`DEBUG=srmudp:node`): dials, handshakes done, paths, closes, redials. */
const log = logger('srmudp:node');
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
  /** who may connect (accept-policy.ts) */
  private readonly accept: AcceptPolicy;
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
  /** connect() and the dials of resolved targets (node-dials.ts) */
  private readonly dials: NodeDials;
  /** the waits behind `nat.ready()` and `nat.regather()` (node-nat.ts) */
  private readonly natWaits: NatWaits;
  /** the node-level messages: receive(), messages(), onMessage() (message-inbox.ts) */
  private readonly inbox: MessageInbox;
  /** the peers by name: status(), connection(name), send()'s targets (peer-directory.ts) */
  private readonly directory: PeerDirectory;

  /** @internal use createNode() */
  constructor(
    options: ResolvedNodeOptions,
    identity: Identity,
    readonly transport: UdpTransport,
    /** resolves contact cards through the configured backends and publishes our record */
    readonly rendezvous: Rendezvous,
  ) {
    super();
    this.identity = identity;
    this.peerId = peerIdToString(identity.publicKey);
    this.registry = new ConnectionRegistry(this);
    const backend = options.cryptoBackend ?? autoBackend();
    this.cryptoBackend = backend.name;
    const random = secureRandom;
    const { nat: natLog, ...layers } = enabledLayerLogs();
    const config = endpointConfig(options, {
      identity,
      random,
      backend,
      accepts: (key) => this.accept.accepts(key),
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
      inUse: (key) => this.registry.relayInUse(key),
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
    this.natWaits = new NatWaits(this.session, this.driver);
    this.nat = this.natWaits.api(
      () => this.assertOpen(),
      () => this.kick(),
    );
    this.inbox = new MessageInbox(this.driver);
    const node = this;
    this.named = new NamedPeers({
      get closing() {
        return node.closing;
      },
      rendezvous: this.rendezvous,
      reconnectDelayMs: options.reconnectDelayMs,
      after: (ms, fn) => this.driver.after(ms, fn),
      assertOpen: () => this.assertOpen(),
      refuseOwnKey: (key) => this.dials.refuseOwnKey(key),
      liveConnection: (hex) => this.liveConnection(hex),
      dial: (resolved, name) => this.dials.dial(resolved, undefined, name),
      emitPeer: (e) => this.emit('peer', e),
    });
    this.accept = new AcceptPolicy(
      {
        get closing() {
          return node.closing;
        },
        acceptUnknown: options.acceptUnknown,
        get groupAccepting() {
          return node.groupHost?.accepting === true;
        },
        named: this.named,
      },
      options.allow,
    );
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
      relayed: (id) => this.registry.isRelayed(id),
      punch: (id, direct, maxMs) => {
        const c = this.registry.byCoreId.get(id);
        if (c === undefined) return;
        log(`punching ${short(c.peerId)} over its relayed path: ${direct.length} candidate(s)`);
        this.dialer.upgrade(c.remoteKey, direct, maxMs);
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
    this.dials = new NodeDials({
      ownKey: identity.publicKey,
      rendezvous: this.rendezvous,
      driver: this.driver,
      fallback: this.fallback,
      dialer: this.dialer,
      emit: (event: 'dial' | 'peer', e: DialEvent | PeerEvent) => this.emit(event, e),
    });
    this.directory = new PeerDirectory(this.named, this.registry, this.wsRelays);
    this.named.addConfigured(options.peers, options.relay?.gates ?? []);
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
      self: equalBytes(g.peerId, this.identity.publicKey),
    }));
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
    add: (peers: Record<string, PeerTarget>): void => this.named.addAll(peers),
    remove: (names: string[]): void => this.named.removeAll(names),
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
    return this.dials.connect(target, opts);
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
    return this.directory.connection(name);
  }

  /** Per named peer (and per unnamed connected peer): state, path, RTT, loss, bytes. */
  status(): Record<string, PeerStatus> {
    return this.directory.status();
  }

  /**
   * Sends a message to every connected peer, or to the named subset `to`. Returns the names it
   * was sent to (a named peer that is not connected right now is skipped).
   */
  send(data: Uint8Array | string, opts: { to?: string[]; unordered?: boolean } = {}): string[] {
    this.assertOpen();
    const bytes = toBytes(data);
    const sentTo: string[] = [];
    const targets = this.directory.sendTargets(opts.to);
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
    return this.inbox.receive(opts);
  }

  /** Every message from any peer, as an async iterator (consumes what `receive()` would). */
  messages(signal?: AbortSignal): AsyncIterableIterator<ReceivedMessage> {
    return this.inbox.iterate(signal);
  }

  /** A hook that consumes messages: while set, `receive()` and `messages()` do not see them. */
  onMessage(hook: ((m: ReceivedMessage) => void) | null): void {
    this.inbox.setHook(hook);
  }

  /**
   * Endpoint counters (connections, drops by reason), socket counters and NAT counters;
   * `contained`: datagrams dropped because handling them threw (a bug, never expected: the
   * node carries on instead of ending the process).
   */
  stats(): {
    endpoint: ReturnType<CoreEndpoint['stats']>;
    transport: ReturnType<UdpTransport['stats']>;
    nat: Readonly<NatSessionStats>;
    contained: number;
    messagesDropped: number;
  } {
    return {
      endpoint: this.driver.endpoint.stats(),
      transport: this.transport.stats(),
      nat: this.session.stats(),
      contained: this.driver.contained,
      messagesDropped: this.inbox.dropped,
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
      this.natWaits.close();
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
    this.inbox.deliver(m);
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

  /** The socket as bound now (rebind() changes the port). */
  private boundNow(): BoundSocket {
    return { ...this.bound, port: this.transport.address().port };
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
          this.natWaits.gathered(e.status.gatherings);
          this.fallback.onGathered(e.status.error?.code === 'UDP_BLOCKED');
        }
        break;
      default:
    }
    this.emit('nat', e);
  }
}

export { bindDualStack } from './bind.js';
export type { Address, CloseInfo, DialEvent, NodeNat, PeerEvent, PeerStatus, ReceivedMessage };
