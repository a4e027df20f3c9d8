// Why ~1,170 lines: SrmudpNode is the façade's whole public API (named peers, dial and redial,
// peers.ready, contact cards and publishing, messages, status, NAT status, close) and the glue
// between core's endpoint and the NAT session (the loop itself is driver.ts, dials are dialer.ts).
// Named-peer bookkeeping (addPeer/removePeer/redial/ready waiters, ~300 lines) is the next file
// to split out, once relayed paths and groups (issues 14, 18), which both change it, have landed.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import {
  type Address,
  CloseCode,
  type ConnectionApi,
  CoreEndpoint,
  type EndpointConfig,
  type EndpointEvent,
  type EndpointLogs,
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
  isPrivateAddress,
  type Endpoint as NatEndpoint,
  type NatEvent,
  NatSession,
  type NatSessionStats,
  type NatSessionStatus,
  type ReflexiveCandidate,
} from '@srmudp/punch';
import { CONNECT_VIA_CIRCUIT_LIMITS, connectViaPolicy, createVoucher, groupPolicy } from '@srmudp/relay';
import {
  type Candidate,
  type CandidateUpdate,
  encodeCard,
  type Gate,
  isRendezvousBackend,
  type Locator,
  parseCard,
  Rendezvous,
} from '@srmudp/rendezvous';
import { poolHostFor, UdpSocketPool, UdpTransport } from '@srmudp/transport-node';
import { SrmudpError } from '@srmudp/wire';
import { AsyncQueue, abortError } from './async-queue.js';
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
  type WsRelaySpec,
} from './config.js';
import { type CloseInfo, Connection, type ConnectionOwner, toBytes } from './connection.js';
import { Dialer, keyHex } from './dialer.js';
import { Driver } from './driver.js';
import { GateBook, gatesToPublish, type KnownGate } from './gates.js';
import { type Group, GroupHost, type GroupOptions } from './group.js';
import { logger, short } from './log.js';
import { RouterPortMapper } from './port-mapper.js';
import { PUNCH_MS, RelayedPunch } from './relayed-punch.js';
import { type ResolvedTarget, resolveTarget } from './resolve.js';
import { allLiterals, parseStunServer, type StunServerName } from './stun-servers.js';
import type { Timer } from './timer-queue.js';
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

interface NamedPeer {
  name: string;
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

/** Façade log lines (`DEBUG=srmudp:node`): dials, handshakes done, paths, closes, redials. */
const log = logger('srmudp:node');
/**
 * The inner layers' loggers: core (dials, establishment, paths, closes), crypto (handshakes,
 * rekeys, cookies, load), reliability (loss bursts, PTOs, PMTU, idle timeout), the NAT session.
 */
const layerLogs = {
  core: logger('srmudp:core'),
  crypto: logger('srmudp:crypto'),
  reliability: logger('srmudp:reliability'),
  nat: logger('srmudp:nat'),
};

/**
 * The layers' sinks for a node created now: only those DEBUG enables, so a silent layer does not
 * even build its lines (the pure layers check for a sink, not a level).
 */
function enabledLayerLogs(): EndpointLogs & { nat?: (message: string) => void } {
  const out: EndpointLogs & { nat?: (message: string) => void } = {};
  for (const k of ['core', 'crypto', 'reliability', 'nat'] as const) {
    if (layerLogs[k].enabled) out[k] = layerLogs[k];
  }
  return out;
}

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
/** records keep this many candidates (DESIGN.md §7) */
const RECORD_CANDIDATES = 8;

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
  private readonly byCoreId = new Map<number, Connection>();
  private readonly byKey = new Map<string, Connection>();
  private readonly named = new Map<string, NamedPeer>();
  /** peers removed on purpose: their incoming connections are refused until added again */
  private readonly removedKeys = new Set<string>();
  private readonly incoming = new AsyncQueue<Connection>(1024);
  private readonly inbox = new AsyncQueue<ReceivedMessage>();
  private hook: ((m: ReceivedMessage) => void) | null = null;
  private natWaiters: Array<{ after: number; resolve: () => void }> = [];
  private republishing: Promise<void> | null = null;
  private republishAgain = false;
  private published = false;
  closing = false;
  private closedPromise: Promise<void> | null = null;
  /** groups (gossip), created at the first group() */
  private groupHost: GroupHost | null = null;
  /** WebSocket relays (`relays`): carriers, hop sessions (ws-relays.ts) */
  private readonly wsRelays: WsRelays;

  /** NAT traversal: gathering, classification, dial verdicts, birthday (`@srmudp/punch`'s session). */
  readonly nat: NodeNat;
  /** gates learned from the records of dialled peers (gates.ts) */
  private readonly gateBook = new GateBook();
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
    const allow = options.allow?.map((t) => keyHex(parsePeerId(t)));
    const backend = options.cryptoBackend ?? autoBackend();
    this.cryptoBackend = backend.name;
    const random = (n: number) => new Uint8Array(randomBytes(n));
    const { nat: natLog, ...layers } = enabledLayerLogs();
    const config: EndpointConfig = {
      identity,
      random,
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
      log: layers,
      ...(options.relay?.serve
        ? {
            relay: {
              serve: {
                // a gate: both ends must be peers this node accepts (its group)
                policy: groupPolicy({ members: (key) => this.acceptPolicy(key, allow) }),
                limits: {
                  rateBytesPerSec: options.relay.rateBytesPerSec ?? GATE_RATE,
                  burstBytes: Math.max(
                    256 * 1024,
                    Math.floor((options.relay.rateBytesPerSec ?? GATE_RATE) / 8),
                  ),
                },
              },
            },
          }
        : options.relay?.connectVia
          ? {
              relay: {
                // connect-via: between two of our live peers, with the requester's voucher
                serve: {
                  policy: connectViaPolicy({
                    peers: (key) => this.acceptPolicy(key, allow),
                    limits: {
                      ...CONNECT_VIA_CIRCUIT_LIMITS,
                      ...stripUndefined(options.relay.connectViaLimits ?? {}),
                    },
                  }),
                },
              },
            }
          : {}),
      // times the handshakes this node answers: under load their cap follows their cost
      workClock: () => performance.now(),
    };
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
    // a router can map only for an IPv4 socket that is not bound to loopback
    const portMapping =
      options.portMapping &&
      families.has(4) &&
      this.bound.host !== '::1' &&
      !this.bound.host.startsWith('127.');
    this.session = new NatSession(
      {
        random,
        ...stunServersConfig(names, this.bound, families),
        hostAddresses: gatheringAddresses(hostCandidates(this.bound)),
        localPort: this.bound.port,
        ...(options.nat?.timing ? { timing: stripUndefined(options.nat.timing) } : {}),
        ...(options.nat?.birthday ? { birthday: stripUndefined(options.nat.birthday) } : {}),
        ...(natLog ? { log: natLog } : {}),
        portMapping,
      },
      now,
    );
    this.wsRelays = new WsRelays({
      relays: options.relays.map(parseWsRelaySpec),
      mode: options.relayMode,
      ...(options.relayToken !== undefined ? { token: options.relayToken } : {}),
      learntIdleMs: options.relayIdleMs,
      inUse: (key) => {
        const hex = keyHex(key);
        for (const c of this.byCoreId.values()) {
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
        onEndpointEvent: (e) => this.onEndpointEvent(e),
        onNatEvent: (e) => this.onNatEvent(e),
        hostAddresses: () => gatheringAddresses(hostCandidates(this.boundNow())),
        onHostAddressesChanged: () => this.republish(),
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
    this.dialer = new Dialer(this, this.session);
    this.relayedPunch = new RelayedPunch({
      clock: () => this.driver.clock(),
      after: (ms, fn) => this.driver.after(ms, fn),
      random32: () => randomBytes(4).readUInt32BE(0),
      candidates: () => this.recordCandidates(),
      send: (id, data) => {
        const ok = this.driver.endpoint.sendPunch(id, data);
        this.kick();
        return ok;
      },
      relayed: (id) => {
        const c = this.byCoreId.get(id);
        return c !== undefined && !c.isClosed && c.path?.kind === 'relayed';
      },
      punch: (id, candidates) => {
        const c = this.byCoreId.get(id);
        const direct = candidates.filter((x) => x.kind !== 'relay');
        if (c === undefined || direct.length === 0) return;
        log(`punching ${short(c.peerId)} over its relayed path: ${direct.length} candidate(s)`);
        this.dialer.upgrade(c.remoteKey, direct, PUNCH_MS);
      },
      drop: (reason) => log(`punch message dropped: ${reason}`),
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
    for (const [name, target] of Object.entries(options.peers)) this.addPeer(name, target);
    // gates: named peers, so that a hop session to each is kept (and redialled)
    const gates = options.relay?.gates ?? [];
    for (let i = 0; i < gates.length; i++) this.addPeer(`gate-${i}`, gates[i] as PeerTarget);
  }

  /**
   * @internal Relays to reach `remoteKey` through when a direct dial is hopeless: the gates we
   * have a live connection with (not the target itself).
   */
  relaysFor(remoteKey: Uint8Array): { key: Uint8Array; voucher?: Uint8Array }[] {
    const out: { key: Uint8Array; voucher?: Uint8Array }[] = [];
    const n = this.options.relay?.gates.length ?? 0;
    const same = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((b, j) => b === y[j]);
    for (let i = 0; i < n; i++) {
      const c = this.named.get(`gate-${i}`)?.conn;
      const key = c && !c.isClosed ? c.remoteKey : null;
      if (key && !same(key, remoteKey)) out.push({ key });
    }
    // gates the target's record lists (or self-announced ones), once connected
    for (const g of this.gateBook.for(remoteKey)) {
      const c = this.liveConnection(keyHex(g.key));
      if (c && !same(g.key, remoteKey) && !out.some((r) => same(r.key, g.key))) out.push({ key: g.key });
    }
    // connect-via: any other peer that serves as a relay for us, with our voucher (it may be
    // connected to the target too; if not, it refuses with target_unavailable)
    for (const key of this.driver.endpoint.relays()) {
      if (same(key, remoteKey) || out.some((r) => same(r.key, key))) continue;
      const voucher = createVoucher(
        this.identity,
        { relay: key, target: remoteKey, expiresAt: Date.now() + VOUCHER_TTL_MS },
        (n) => new Uint8Array(randomBytes(n)),
      );
      out.push({ key, voucher });
    }
    // WebSocket relays whose hop is up (the target is reached if it is a client there too)
    for (const key of this.wsRelays.readyKeys()) {
      if (same(key, remoteKey) || out.some((r) => same(r.key, key))) continue;
      out.push({ key });
    }
    return out;
  }

  /** @internal notes the gates a dialled peer's record lists */
  learnGates(remoteKey: Uint8Array, gates: readonly Gate[] | undefined): void {
    this.gateBook.learn(remoteKey, gates);
  }

  /** @internal dials the learned gates of `remoteKey` not connected yet (null: none to dial) */
  reachGates(remoteKey: Uint8Array): Promise<boolean> | null {
    const self = keyHex(this.identity.publicKey);
    const todo = this.gateBook
      .for(remoteKey)
      .filter((g) => keyHex(g.key) !== self && this.liveConnection(keyHex(g.key)) === undefined);
    if (todo.length === 0) return null;
    log(
      `direct dial of ${short(peerIdToString(remoteKey))} hopeless: dialling ${todo.length} gate(s) from its record`,
    );
    const dialGate = (g: KnownGate) =>
      this.dialer.dial(
        {
          addresses: [{ host: g.host, port: g.port }],
          candidates: [{ host: g.host, port: g.port }],
          key: g.key,
        },
        AbortSignal.timeout(GATE_DIAL_MS),
      );
    return Promise.allSettled(todo.map(dialGate)).then((rs) => rs.some((r) => r.status === 'fulfilled'));
  }

  /**
   * The gates this node's record and card carry: itself when it serves as a gate and is reachable
   * (a port mapping it opened, or a public address of its own), then its configured gates at the
   * address its hop session reaches each one.
   */
  gates(): { peerId: string; host: string; port: number; self: boolean }[] {
    return this.recordGates().map((g) => ({
      peerId: peerIdToString(g.peerId),
      host: g.host,
      port: g.port,
      self: keyHex(g.peerId) === keyHex(this.identity.publicKey),
    }));
  }

  private recordGates(): Gate[] {
    const configured = (this.options.relay?.gates ?? []).map((t, i) => {
      const p = this.named.get(`gate-${i}`);
      const c = p?.conn && !p.conn.isClosed ? p.conn : null;
      const path = c?.path;
      const address =
        path?.kind === 'direct'
          ? { host: path.address.host, port: path.address.port }
          : typeof t !== 'string' && isIP(t.host)
            ? { host: t.host, port: t.port }
            : null;
      return { key: p?.key ?? null, address };
    });
    return gatesToPublish({
      self: this.identity.publicKey,
      serving: this.options.relay?.serve === true,
      mapped: this.session.status().portMapping.external,
      host: hostCandidates(this.boundNow()),
      configured,
    });
  }

  /** the last path event of each connection (core id): a loss, or a move */
  private readonly pathEvents = new Map<number, { lost: boolean; seq: number }>();
  private pathEventSeq = 0;

  /**
   * The direct path of `c` was lost: asks the gates (and connect-via relays) for a circuit, a
   * standby route core falls back to; again every {@link LOST_RETRY_MS} (at most
   * {@link LOST_RETRIES} times) while the last path event of the connection is a loss, since the
   * far end's hop may be unreachable for a while too (its NAT rebooted: its gate hears from it
   * again at its next keepalive).
   */
  private circuitsForLostPath(c: Connection, attempt: number): void {
    if (c.isClosed || this.closing || attempt >= LOST_RETRIES) return;
    // the peer's home relay, if we learnt one and closed it for idleness: open again (ready for
    // one of the next attempts)
    const home = this.homeOf.get(keyHex(c.remoteKey));
    if (home !== undefined && attempt === 0) this.wsRelays.ensure(home);
    const relays = this.relaysFor(c.remoteKey);
    if (relays.length > 0) {
      log(`path of ${short(c.peerId)} lost: asking ${relays.length} relay(s) for a circuit`);
      this.driver.endpoint.connect(this.driver.clock(), { addresses: [], remoteKey: c.remoteKey, relays });
      this.kick();
    }
    this.driver.after(LOST_RETRY_MS, () => {
      const last = this.pathEvents.get(c.core.id);
      if (last?.lost === true) this.circuitsForLostPath(c, attempt + 1);
    });
  }

  /**
   * A relayed path of `c` through `via` was lost: the relay may have restarted (its hop session
   * with us is gone on its side, and ours would idle out only after 30 s), so a configured gate's
   * hop session is closed and redialled now (the named peer's redial), and circuits are asked for
   * again until the connection moves ({@link circuitsForLostPath}).
   */
  private relayLost(c: Connection, via: Uint8Array): void {
    const hex = keyHex(via);
    for (const p of this.named.values()) {
      if (!p.name.startsWith('gate-') || p.key === null || keyHex(p.key) !== hex) continue;
      const hop = p.conn;
      if (hop && !hop.isClosed) {
        log(`relayed path of ${short(c.peerId)} via ${p.name} lost: redialling the gate`);
        void hop.close(0, 'relayed path lost: redial').catch(() => {});
      }
    }
    this.circuitsForLostPath(c, 0);
  }

  private carrierOf(path: PathInfo | null): 'udp' | 'websocket' | null {
    if (path === null) return null;
    return path.kind === 'relayed' ? this.wsRelays.carrierOf(path.address) : 'udp';
  }

  /**
   * Before a dial: the target's home relay (from its record) is opened when we have none in
   * common with it, and when dials go through the WebSocket relays (mode 'always', or UDP is
   * blocked here) we wait for one to be ready (bounded), so the dialer finds it in relaysFor.
   */
  private async relaysBeforeDial(target: ResolvedTarget, signal: AbortSignal | undefined): Promise<void> {
    if (this.wsRelays.mode === 'never') return;
    if (target.homeRelay && target.key) {
      this.wsRelays.ensure(target.homeRelay);
      // bounded: one entry per peer dialled with a home relay (a map of the last 256)
      const hex = keyHex(target.key);
      this.homeOf.delete(hex);
      this.homeOf.set(hex, target.homeRelay);
      if (this.homeOf.size > 256) this.homeOf.delete(this.homeOf.keys().next().value as string);
    }
    if (!this.wsRelays.configured && !target.homeRelay) return;
    if (this.wsRelays.mode === 'auto' && !this.session.udpBlocked() && target.addresses.length > 0) {
      // UDP not known to be blocked: the dial goes out at once; if the verdict comes during it,
      // the session ends the dial (dial_failed) and the dialer goes through the relays then
      return;
    }
    const ready = await this.wsRelays.whenReady(RELAY_READY_WAIT_MS, signal);
    if (ready && this.wsRelays.mode === 'always' && target.key && !this.liveConnection(keyHex(target.key))) {
      // 'always': the circuits are asked for beside the UDP dial (core's handshake takes the
      // first route that answers; a direct one found later is preferred by its path tiers)
      const relays = this.relaysFor(target.key);
      if (relays.length > 0 && !this.closing) {
        this.driver.endpoint.connect(this.driver.clock(), { addresses: [], remoteKey: target.key, relays });
        this.kick();
      }
    }
  }

  /**
   * A connection that came up relayed keeps the target's direct candidates: core probes them
   * in the background and moves to the first that validates (UDP that works again, a NAT that
   * lets a punch through later), streams carrying on.
   */
  private keepDirectCandidates(conn: Connection, target: ResolvedTarget): void {
    if (conn.isClosed || conn.path?.kind !== 'relayed' || target.addresses.length === 0 || !target.key)
      return;
    const addresses = target.addresses.map((a) => ({ host: a.host, port: a.port }));
    // kept for when UDP comes back here (udpBack): probed again then (bounded: one entry per
    // live relayed connection, dropped when it closes)
    this.directOf.set(keyHex(target.key), addresses);
    this.driver.endpoint.connect(this.driver.clock(), { addresses, remoteKey: target.key });
    this.kick();
  }

  /** the home relays of dialled peers (their records), by key hex: reopened on a lost path */
  private readonly homeOf = new Map<string, WsRelaySpec>();
  /** the direct candidates of relayed connections' targets (keepDirectCandidates), by key hex */
  private readonly directOf = new Map<string, { host: string; port: number }[]>();
  /** the last gathering said UDP_BLOCKED (udpBack runs when one succeeds again) */
  private udpWasBlocked = false;

  /**
   * UDP works again here (a gathering succeeded after UDP_BLOCKED): every connection still on a
   * relayed path tries a UDP one without breaking its streams. Core probes the target's direct
   * candidates again at once (its upgrade; otherwise only every 60 s), a punch over the relayed
   * session runs now with our new reflexive candidates (the far end's NAT needs it to open), and
   * a background punch still running from the blocked time is replaced.
   */
  private udpBack(): void {
    let n = 0;
    for (const c of this.byCoreId.values()) {
      if (c.isClosed || c.path?.kind !== 'relayed') continue;
      n++;
      const direct = this.directOf.get(keyHex(c.remoteKey));
      if (direct !== undefined && direct.length > 0)
        this.driver.endpoint.connect(this.driver.clock(), { addresses: direct, remoteKey: c.remoteKey });
      this.relayedPunch.again(c.core.id);
    }
    log(`UDP works again: ${n} relayed connection(s) try a UDP path`);
    this.kick();
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

  private locators: Locator[] = [];

  /**
   * Publishes this node's signed record (its current candidates) to every rendezvous backend;
   * the locators of the backends that took it go into {@link contactCard}. Returns them. It is
   * published again by itself when the candidates change (gathering found a new NAT mapping, an
   * interface changed) once it has been published.
   */
  async publish(opts: { signal?: AbortSignal } = {}): Promise<Locator[]> {
    this.assertOpen();
    if (this.rendezvous.backends.length === 0) {
      throw new SrmudpError('NO_BACKEND', 'no rendezvous backends configured (option "rendezvous")');
    }
    this.published = true;
    const report = await this.rendezvous.publish(this.recordUpdate(), opts);
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
    opts: { name?: string; app?: string; locators?: Locator[]; candidates?: boolean; ttlMs?: number } = {},
  ): string {
    const locators = opts.locators ?? this.locators;
    const embed = opts.candidates ?? (locators.length === 0 || locators.some((l) => l.backend === 'manual'));
    // one sequence counter (the Rendezvous one) for card records and published records, so two
    // records of this node never share a seq with different bytes
    const record = embed
      ? this.rendezvous.sign(this.recordUpdate(), { ttlMs: opts.ttlMs ?? 24 * 3600_000 }).bytes
      : undefined;
    return encodeCard({
      peerId: this.identity.publicKey,
      locators,
      ...(record ? { record } : {}),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.app !== undefined ? { app: opts.app } : {}),
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
    /**
     * Resolves with the connection to a named peer once it is established (at once if it is).
     * Rejects with SrmudpError 'UNKNOWN_PEER' for a name never added (or removed while waiting),
     * 'PEER_TIMEOUT' after `timeout` ms (its message and `cause` carry the last dial error, e.g.
     * HANDSHAKE_TIMEOUT), 'NODE_CLOSED' when the node closes, or the signal's abort error.
     */
    ready: (name: string, opts: { signal?: AbortSignal; timeout?: number } = {}): Promise<Connection> =>
      this.waitReady(name, opts),
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
      await this.relaysBeforeDial(resolved, signal);
      this.emitDial(resolved);
      const conn = await this.dialer.dial(resolved, signal);
      this.keepDirectCandidates(conn, resolved);
      return conn;
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
    for (const p of this.named.values()) if (p.key && keyHex(p.key) === hex) return true;
    return false;
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
        carrier: this.carrierOf(s?.path ?? null),
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
        const known = [...new Set([...this.named.keys(), ...this.connectedNames()])];
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
      for (const p of this.named.values()) p.retryTimer?.cancel();
      for (const w of [...this.readyWaiters]) w.settle(new SrmudpError('NODE_CLOSED', 'the node was closed'));
      log(`close: ${this.byCoreId.size} connection(s)`);
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
      for (const c of this.byCoreId.values()) c.markClosed({ code: 0, reason: 'node closed', remote: false });
      this.incoming.end();
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
    const c = this.byKey.get(hex);
    return c && !c.isClosed ? c : undefined;
  }

  connectionOf(id: number): Connection | undefined {
    return this.byCoreId.get(id);
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

  private readonly readyWaiters = new Set<{ name: string; settle: (err: unknown, c?: Connection) => void }>();

  private waitReady(name: string, opts: { signal?: AbortSignal; timeout?: number }): Promise<Connection> {
    if (typeof name !== 'string') return Promise.reject(new TypeError('"name" expected a peer name'));
    if (opts.timeout !== undefined && !(Number.isInteger(opts.timeout) && opts.timeout > 0))
      return Promise.reject(
        new RangeError(`"timeout" expected a positive integer (ms), got ${opts.timeout}`),
      );
    if (this.closing) return Promise.reject(new SrmudpError('NODE_CLOSED', 'the node is closed'));
    const p = this.named.get(name);
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
      const waiter = {
        name,
        settle: (err: unknown, c?: Connection) => {
          this.readyWaiters.delete(waiter);
          timer?.cancel();
          opts.signal?.removeEventListener('abort', onAbort);
          if (c) resolve(c);
          else reject(err);
        },
      };
      const onAbort = () => waiter.settle(abortError(opts.signal as AbortSignal));
      const timer =
        opts.timeout !== undefined
          ? this.driver.after(opts.timeout, () => {
              const last = this.named.get(name)?.lastError ?? null;
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
      this.readyWaiters.add(waiter);
    });
  }

  /** Settles the peers.ready() waiters of a name: with its connection, or with an error. */
  private settleReady(name: string, err: unknown, conn?: Connection): void {
    for (const w of [...this.readyWaiters]) if (w.name === name) w.settle(err, conn);
  }

  /** The socket as bound now (rebind() changes the port). */
  private boundNow(): BoundSocket {
    return { ...this.bound, port: this.transport.address().port };
  }

  /** What our record says: the candidates, the gates, and the home relay when we keep one. */
  private recordUpdate(): CandidateUpdate {
    const home = this.wsRelays.home();
    const gates = this.recordGates();
    return {
      candidates: this.recordCandidates(),
      ...(gates.length > 0 ? { gates } : {}),
      ...(home ? { homeRelay: home } : {}),
    };
  }

  private recordCandidates(): Candidate[] {
    return withReflexive(hostCandidates(this.boundNow()), this.session.candidates(), RECORD_CANDIDATES);
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
        this.republish();
        break;
      case 'gathered':
      case 'no_server':
        if (e.type === 'gathered') {
          for (const w of [...this.natWaiters]) if (e.status.gatherings > w.after) w.resolve();
          const blocked = e.status.error?.code === 'UDP_BLOCKED';
          if (this.udpWasBlocked && !blocked && !this.closing) this.udpBack();
          this.udpWasBlocked = blocked;
        }
        break;
      default:
    }
    this.emit('nat', e);
  }

  /** Publishes the record again (coalesced; best effort) once it has been published. */
  private republish(): void {
    if (!this.published || this.closing || this.rendezvous.backends.length === 0) return;
    if (this.republishing) {
      this.republishAgain = true;
      return;
    }
    this.republishing = this.publish()
      .then(
        () => {},
        () => {
          /* best effort: the next change or an explicit publish() tries again */
        },
      )
      .finally(() => {
        this.republishing = null;
        if (this.republishAgain) {
          this.republishAgain = false;
          this.republish();
        }
      });
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
    if (this.options.acceptUnknown || this.groupHost?.accepting) return true;
    for (const p of this.named.values()) if (p.key && keyHex(p.key) === hex) return true;
    return false;
  }

  private onEndpointEvent(e: EndpointEvent): void {
    // the hop sessions with WebSocket relays are not the application's
    if (this.wsRelays.onEndpointEvent(e)) return;
    if (e.type === 'connected' || e.type === 'path_changed') {
      const key = e.type === 'connected' ? e.remoteKey : this.byCoreId.get(e.id)?.remoteKey;
      if (key && e.path.kind === 'relayed') this.wsRelays.noteRelayed(e.path.address, key);
    }
    switch (e.type) {
      case 'connected':
        this.onConnected(e.id, e.remoteKey, e.outgoing, e.path);
        return;
      case 'connect_failed':
        if (e.error.code !== 'ALREADY_CONNECTED') log(`dial failed: ${e.error.code}: ${e.error.message}`);
        this.dialer.onConnectFailed(e.id, e.error);
        return;
      case 'closed': {
        const c = this.byCoreId.get(e.id);
        if (!c) {
          this.dialer.onClosedEarly(e.id, e.reason);
          return;
        }
        log(
          `closed ${c.name === c.peerId ? short(c.peerId) : `${c.name} (${short(c.peerId)})`}: ${e.remote ? 'by the peer' : 'here'}, code ${e.code}${e.reason ? `, ${e.reason}` : ''}`,
        );
        this.byCoreId.delete(e.id);
        this.relayedPunch.forget(e.id);
        this.pathEvents.delete(e.id);
        this.wsRelays.forget(c.remoteKey);
        this.directOf.delete(keyHex(c.remoteKey));
        // a closed connection nobody took from connections() yet is of no use there, and would
        // keep its state alive (an app that uses the 'connection' event never drains the queue)
        this.incoming.remove(c);
        const hex = keyHex(c.remoteKey);
        if (this.byKey.get(hex) === c) this.byKey.delete(hex);
        const path = c.path;
        c.handleEvent(e);
        this.onPathGone(path?.address ?? null, e.code === CloseCode.IDLE_TIMEOUT && !e.remote);
        this.onPeerLost(c, e);
        return;
      }
      case 'stun':
        this.emit('stun', e);
        return;
      case 'punch':
        this.relayedPunch.onMessage(e.id, e.data);
        return;
      default: {
        const c = this.byCoreId.get(e.id);
        if (c && e.type === 'path_changed' && e.path.kind === 'direct') {
          this.relayedPunch.forget(e.id);
          this.dialer.upgraded(c.remoteKey, e.path.address);
        }
        if (c && e.type === 'path_changed' && e.path.kind === 'relayed' && e.reason === 'fallback') {
          // back on a relay: punch again over it (one end starts: the lower key)
          this.relayedPunch.relayedStart(e.id, this.peerId < c.peerId);
        }
        // the direct path died (a NAT reboot, a network change): a circuit through a gate, if
        // any, becomes a standby route the connection falls back to (core validates it)
        if (c && (e.type === 'path_lost' || e.type === 'path_changed')) {
          this.pathEvents.set(e.id, { lost: e.type === 'path_lost', seq: this.pathEventSeq++ });
        }
        if (c && e.type === 'path_lost' && e.path.kind === 'direct') this.circuitsForLostPath(c, 0);
        if (c && e.type === 'path_lost' && e.path.kind === 'relayed') this.relayLost(c, e.path.via);
        if (c && e.type === 'path_changed' && log.enabled) {
          log(`path of ${short(c.peerId)}: ${e.path.kind} ${e.path.address.host}:${e.path.address.port}`);
        }
        c?.handleEvent(e);
      }
    }
  }

  /**
   * A connection ended. Its birthday socket (if it ran over one) is given back and it is no
   * longer a reflector; when its path died (our idle timeout) the NAT may have changed under us,
   * so the session gathers again (rate limited).
   *
   * PATH-LOST (issue 12): core will emit an event when a connection loses its path without
   * closing; until it lands, a closed connection stands for it. Switch this one call site to it.
   */
  private onPathGone(address: NatEndpoint | null, lost: boolean): void {
    const now = this.driver.clock();
    if (address !== null) {
      this.session.releaseRoute(now, address);
      this.session.removeReflector(address);
    }
    if (lost) this.session.regather(now, 'path_lost');
    this.kick();
  }

  private onConnected(id: number, remoteKey: Uint8Array, outgoing: boolean, path: PathInfo): void {
    const core = this.driver.endpoint.connection(id) as ConnectionApi;
    const hex = keyHex(remoteKey);
    const dialName = this.dialer.nameFor(id);
    let named: NamedPeer | undefined;
    for (const p of this.named.values()) {
      if ((p.key && keyHex(p.key) === hex) || p.name === dialName) named = p;
    }
    const conn = new Connection(this, core, remoteKey, named?.name);
    this.byCoreId.set(id, conn);
    this.byKey.set(hex, conn);
    if (named) {
      named.key = remoteKey;
      named.conn = conn;
      named.retryDelay = this.options.reconnectDelayMs;
      named.lastError = null;
      named.retryTimer?.cancel();
      named.retryTimer = null;
      this.emitPeer({ name: named.name, state: 'established' });
      this.settleReady(named.name, null, conn);
    }
    log(
      `connected ${named ? `${named.name} ` : ''}${short(conn.peerId)} (${outgoing ? 'outgoing' : 'incoming'}, ${`${path.kind} ${path.address.host}:${path.address.port}`})`,
    );
    this.dialer.onConnected(id, remoteKey, path, conn);
    // relayed: punch through it in the background (the dialling end starts)
    if (path.kind === 'relayed') this.relayedPunch.relayedStart(id, outgoing);
    // a configured gate's hop session (re)established: our record lists it at this address
    if (named?.name.startsWith('gate-')) this.republish();
    // every srmudp node answers Binding requests: a peer at a public address is a reflector too
    // (one STUN server plus one connected peer classify the mapping)
    if (path.kind === 'direct' && !isPrivateAddress(path.address.host)) {
      this.session.addReflector(this.driver.clock(), path.address);
    }
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
    this.refuseOwnKey(key);
    const existing = this.named.get(name);
    if (existing && key && existing.key && keyHex(existing.key) === keyHex(key)) {
      // the same peer with a fresh card (new addresses): keep a live connection, redial now if lost
      existing.target = target;
      if (!existing.conn || existing.conn.isClosed) {
        existing.retryTimer?.cancel();
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
    this.settleReady(
      name,
      new SrmudpError('UNKNOWN_PEER', `${name} was removed (peers.remove) while waiting for it`),
    );
    p.retryTimer?.cancel();
    p.retryTimer = null;
    if (p.key) this.removedKeys.add(keyHex(p.key));
    if (p.conn && !p.conn.isClosed) void p.conn.close(0, 'peer removed');
  }

  private dialNamed(p: NamedPeer): void {
    if (this.closing || p.dialing || this.named.get(p.name) !== p) return;
    const attempt = (async () => {
      // the card is resolved again at every attempt: a peer that moved (restart, NAT reboot,
      // new network) has published its new record
      const resolved = await resolveTarget(p.target, this.rendezvous);
      if (resolved.key) {
        p.key = resolved.key;
        this.removedKeys.delete(keyHex(resolved.key));
      }
      await this.relaysBeforeDial(resolved, undefined);
      this.emitDial(resolved, p.name);
      const conn = await this.dialer.dial(resolved, undefined, p.name);
      this.keepDirectCandidates(conn, resolved);
      return conn;
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
        log(`dial ${p.name} failed: ${p.lastError.code}: ${p.lastError.message}`);
        this.scheduleRedial(p);
      },
    );
  }

  private onPeerLost(c: Connection, e: { code: number; reason: string; remote: boolean }): void {
    for (const p of this.named.values()) {
      if (p.conn === c) {
        p.conn = null;
        // why it left, for status() and the 'peer' event until it is back
        p.lastError = new SrmudpError(
          !e.remote && e.code === CloseCode.IDLE_TIMEOUT ? 'IDLE_TIMEOUT' : 'CONNECTION_CLOSED',
          e.remote
            ? `closed by the peer${e.reason ? `: ${e.reason}` : ''}`
            : e.reason || `closed (code ${e.code})`,
        );
        this.scheduleRedial(p);
      }
    }
  }

  /** The named-peer backoff: the driver's timers (no timer of its own). */
  private scheduleRedial(p: NamedPeer): void {
    if (this.closing || p.retryTimer || this.named.get(p.name) !== p) return;
    const delay = p.retryDelay;
    p.retryDelay = Math.min(p.retryDelay * 2, 30_000);
    log(`redial ${p.name} in ${delay} ms`);
    this.emitPeer({
      name: p.name,
      state: 'reconnecting',
      retryInMs: delay,
      ...(p.lastError && !p.conn ? { error: { code: p.lastError.code, message: p.lastError.message } } : {}),
    });
    p.retryTimer = this.driver.after(delay, () => {
      p.retryTimer = null;
      if (p.conn && !p.conn.isClosed) return;
      this.dialNamed(p);
    });
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

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/**
 * The session's `stunServers`: omitted (the driver resolves names, the default list when the
 * application gave none), `[]` (off: the application's `stunServers: []`, or a socket bound to
 * loopback, which cannot reach any server), or the literals given.
 */
function stunServersConfig(
  names: readonly StunServerName[] | undefined,
  bound: BoundSocket,
  families: ReadonlySet<4 | 6>,
): { stunServers?: NatEndpoint[] } {
  const loopback = bound.host === '::1' || bound.host.startsWith('127.');
  if (names === undefined) return loopback ? { stunServers: [] } : {};
  if (names.length === 0) return { stunServers: [] };
  if (!allLiterals(names)) return {};
  const usable = names.filter((n) => families.has(n.host.includes(':') ? 6 : 4));
  // literals of a family this socket cannot use: the driver's resolution says "no server" once
  return usable.length > 0 ? { stunServers: usable.map((n) => ({ host: n.host, port: n.port })) } : {};
}

/** Binds the main socket: the given address, or dual-stack '::' with IPv4 where IPv6 is missing. */
async function bindMain(o: ResolvedNodeOptions): Promise<UdpTransport> {
  if (o.host !== undefined || o.ipv6Only) {
    const host = o.host !== undefined ? await bindAddress(o.host) : '::';
    try {
      const t = await UdpTransport.bind({ host, port: o.port, ipv6Only: o.ipv6Only });
      log(
        `bound ${host}:${t.address().port}${host !== o.host && o.host !== undefined ? ` (${o.host})` : ''}`,
      );
      return t;
    } catch (e) {
      throw bindError(e, host, o.port);
    }
  }
  try {
    const t = await bindDualStack((host) => UdpTransport.bind({ host, port: o.port, ipv6Only: false }));
    log(`bound ${t.address().host}:${t.address().port}`);
    return t;
  } catch (e) {
    throw bindError(e, '::', o.port);
  }
}

/** A host name (`localhost`, `myhost.lan`) resolved to the IP literal the socket binds. */
async function bindAddress(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (cause) {
    throw new SrmudpError('RESOLVE_FAILED', `cannot bind to "${host}": the host name does not resolve`, {
      cause,
    });
  }
}

/** Typed errors for the bind failures a user can act on (port taken, address not ours). */
function bindError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return new SrmudpError(
      'ADDRESS_IN_USE',
      `UDP port ${port} on ${host} is already in use (another srmudp node?); choose another port or 0 for any`,
      { cause: e },
    );
  if (code === 'EADDRNOTAVAIL')
    return new SrmudpError('ADDRESS_UNAVAILABLE', `${host} is not an address of this machine`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM')
    return new SrmudpError('ADDRESS_DENIED', `not allowed to bind UDP ${host}:${port}`, { cause: e });
  return e;
}

/**
 * '::' with IPV6_V6ONLY off (one socket for both families, IPv4 peers seen as IPv4), else
 * '0.0.0.0' when this host has no IPv6 (kernel without it: EAFNOSUPPORT; IPv6 disabled:
 * EADDRNOTAVAIL / EINVAL / EPROTONOSUPPORT). Any other error (EADDRINUSE for a fixed port) is
 * the user's to see.
 */
export async function bindDualStack<T>(bind: (host: string) => Promise<T>): Promise<T> {
  try {
    return await bind('::');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const noIpv6 = ['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EINVAL', 'EPROTONOSUPPORT'];
    if (code === undefined || !noIpv6.includes(code)) throw e;
    return bind('0.0.0.0');
  }
}

/**
 * Creates a node: validates options (SrmudpError 'INVALID_OPTIONS' naming each bad field), loads or
 * creates the identity, binds the UDP socket (dual-stack by default) and starts the driver loop.
 * NAT traversal starts in the background: nothing here waits for STUN servers or their names.
 */
/** How long a dial waits for a WebSocket relay's hop to be ready. */
const RELAY_READY_WAIT_MS = 10_000;
/** How long a connect-via voucher of ours is valid (the relay checks it once, at CONNECT). */
const VOUCHER_TTL_MS = 60_000;

/** Circuits asked for again this often while a connection's last path event is a loss ... */
const LOST_RETRY_MS = 4000;
/** ... at most this many times. */
const LOST_RETRIES = 8;

/** How long the dial of a gate learned from a record may take before the fallback gives up on it. */
const GATE_DIAL_MS = 10_000;

/** A gate's rate per client in its group (RELAYS.md: a gate lifts the public 1 MiB/s). */
const GATE_RATE = 64 * 1024 * 1024;

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
  const rendezvous = new Rendezvous({ backends, secretKey: identity.secret });
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

export type { Address, CloseInfo };
