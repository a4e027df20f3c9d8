/**
 * Test harness: a node made of a NatSession and a toy core, driven the way the façade's driver will
 * drive the real session and @srmudp/core (README "How the driver runs it"), inside @srmudp/sim.
 *
 * `ToyCore` keeps exactly the connection-level rules of core that NAT traversal depends on: a dial
 * sends its initiation to every candidate address at once and again every second until a 10 s
 * handshake timeout; a peer is accepted at whatever address its authenticated packets come from
 * (simultaneous open, peer-reflexive addresses, migration); keepalive every 15 s, idle timeout
 * 30 s; Binding requests on the main socket are answered. "Authenticated" is a toy: a 15-byte
 * frame carrying a shared secret, answered only by a peer that knows it.
 *
 * `SimNatHost` is the driver: every datagram goes to `session.handle` first, the rest to core;
 * core's transmits leave from `session.route(to)`; pool sockets are opened and closed on the
 * session's events (sim addresses added to / removed from the host); dial plans, hits, retries and
 * failures are carried between the two machines.
 */
import type { Address, Network, Rng, SimNode, Transmit as SimTransmit } from '@srmudp/sim';
import {
  buildBindingResponse,
  type DialNext,
  type Endpoint,
  endpointFamily,
  handleStunRequest,
  isPrivateAddress,
  isStun,
  type NatEvent,
  NatSession,
  type NatSessionConfig,
  parseBindingRequest as parseRequest,
  type RemoteCandidate,
  sameEndpoint,
} from '../src/index.js';

export function rngRandom(rng: Rng): (n: number) => Uint8Array {
  return (n) => rng.bytes(n);
}

function minOf(...ts: (number | null)[]): number | null {
  let m: number | null = null;
  for (const t of ts) if (t !== null && (m === null || t < m)) m = t;
  return m;
}

// ------------------------------------------------------------------------------------------ core

export const FRAME = { init: 1, resp: 2, ping: 3, pong: 4 } as const;
const SECRET = [0x5e, 0xc2, 0x37, 0x91, 0x0a, 0xbd, 0x44, 0xe8];

export type CoreEvent =
  | {
      readonly type: 'connected';
      readonly peer: string;
      readonly remote: Endpoint;
      readonly outgoing: boolean;
    }
  | { readonly type: 'connect_failed'; readonly peer: string; readonly code: string }
  | { readonly type: 'closed'; readonly peer: string; readonly remote: Endpoint };

interface ToyConn {
  readonly peer: string;
  state: 'handshaking' | 'established';
  outgoing: boolean;
  addresses: Endpoint[];
  startedAt: number;
  nextInitAt: number;
  path: Endpoint | null;
  lastSend: number;
  lastRecv: number;
}

export interface ToyCoreOptions {
  retransmitMs?: number;
  handshakeTimeoutMs?: number;
  keepaliveMs?: number;
  idleTimeoutMs?: number;
}

export class ToyCore {
  readonly conns = new Map<string, ToyConn>();
  readonly #me: string;
  readonly #o: Required<ToyCoreOptions>;
  readonly #out: { to: Endpoint; data: Uint8Array }[] = [];
  readonly #events: CoreEvent[] = [];
  #counter = 0;

  /** `me`: a one-letter peer id (carried in every frame). */
  constructor(me: string, options: ToyCoreOptions = {}) {
    this.#me = me;
    this.#o = {
      retransmitMs: 1000,
      handshakeTimeoutMs: 10_000,
      keepaliveMs: 15_000,
      idleTimeoutMs: 30_000,
      ...options,
    };
  }

  dial(now: number, peer: string, addresses: readonly Endpoint[]): void {
    const c = this.conns.get(peer);
    if (c?.state === 'established') return;
    if (c?.state === 'handshaking') {
      // core.connect on a handshaking connection adds the candidates (next initiation goes there too)
      for (const a of addresses) if (!c.addresses.some((x) => sameEndpoint(x, a))) c.addresses.push(a);
      c.outgoing = true;
      return;
    }
    this.conns.set(peer, {
      peer,
      state: 'handshaking',
      outgoing: true,
      addresses: addresses.map((a) => ({ host: a.host, port: a.port })),
      startedAt: now,
      nextInitAt: now,
      path: null,
      lastSend: now,
      lastRecv: now,
    });
    this.#sendInits(now, this.conns.get(peer)!);
  }

  abort(peer: string): void {
    if (this.conns.get(peer)?.state === 'handshaking') this.conns.delete(peer);
  }

  established(peer: string): ToyConn | undefined {
    const c = this.conns.get(peer);
    return c?.state === 'established' ? c : undefined;
  }

  handle(now: number, from: Endpoint, data: Uint8Array): void {
    if (isStun(data)) {
      // core's responder: every node answers Binding requests on its main socket
      const reply = handleStunRequest(data, from, null);
      if (reply !== null) this.#out.push({ to: from, data: reply });
      return;
    }
    if (data.length !== 15 || data[0] !== 0xa0) return;
    for (let i = 0; i < 8; i++) if (data[3 + i] !== SECRET[i]) return; // not authentic: dropped
    const kind = data[1]!;
    const peer = String.fromCharCode(data[2]!);
    const at = { host: from.host, port: from.port };
    let c = this.conns.get(peer);
    if (kind === FRAME.init) {
      this.#frame(at, FRAME.resp);
      if (c === undefined || c.state === 'handshaking') {
        c = this.#establish(now, peer, at, c?.outgoing ?? false);
      }
    } else if (kind === FRAME.resp) {
      if (c?.state === 'handshaking') c = this.#establish(now, peer, at, true);
    } else if (kind === FRAME.ping) {
      this.#frame(at, FRAME.pong);
      if (c !== undefined) c.lastSend = now;
    }
    if (c?.state !== 'established') return;
    c.lastRecv = now;
    // the peer is accepted wherever its authenticated packets come from (core migrates there)
    if (!sameEndpoint(c.path!, at)) c.path = at;
  }

  handleTimeout(now: number): void {
    for (const c of [...this.conns.values()]) {
      if (c.state === 'handshaking') {
        if (now >= c.startedAt + this.#o.handshakeTimeoutMs) {
          this.conns.delete(c.peer);
          this.#events.push({ type: 'connect_failed', peer: c.peer, code: 'HANDSHAKE_TIMEOUT' });
        } else if (now >= c.nextInitAt) {
          this.#sendInits(now, c);
        }
        continue;
      }
      if (now >= c.lastRecv + this.#o.idleTimeoutMs) {
        this.conns.delete(c.peer);
        this.#events.push({ type: 'closed', peer: c.peer, remote: c.path! });
        continue;
      }
      if (now >= c.lastSend + this.#o.keepaliveMs) {
        this.#frame(c.path!, FRAME.ping);
        c.lastSend = now;
      }
    }
  }

  pollTransmit(): { to: Endpoint; data: Uint8Array } | null {
    return this.#out.shift() ?? null;
  }

  pollTimeout(): number | null {
    let t: number | null = null;
    for (const c of this.conns.values()) {
      t =
        c.state === 'handshaking'
          ? minOf(t, c.nextInitAt, c.startedAt + this.#o.handshakeTimeoutMs)
          : minOf(t, c.lastRecv + this.#o.idleTimeoutMs, c.lastSend + this.#o.keepaliveMs);
    }
    return t;
  }

  pollEvent(): CoreEvent | null {
    return this.#events.shift() ?? null;
  }

  /** Application data on the connection (a ping that the peer answers). */
  ping(now: number, peer: string): boolean {
    const c = this.established(peer);
    if (c === undefined) return false;
    this.#frame(c.path!, FRAME.ping);
    c.lastSend = now;
    return true;
  }

  #establish(now: number, peer: string, at: Endpoint, outgoing: boolean): ToyConn {
    const c: ToyConn = {
      peer,
      state: 'established',
      outgoing,
      addresses: [],
      startedAt: now,
      nextInitAt: now,
      path: at,
      lastSend: now,
      lastRecv: now,
    };
    this.conns.set(peer, c);
    this.#events.push({ type: 'connected', peer, remote: at, outgoing });
    return c;
  }

  #sendInits(now: number, c: ToyConn): void {
    for (const a of c.addresses) this.#frame(a, FRAME.init);
    c.nextInitAt = now + this.#o.retransmitMs;
  }

  #frame(to: Endpoint, kind: number): void {
    const b = new Uint8Array(15);
    b[0] = 0xa0;
    b[1] = kind;
    b[2] = this.#me.charCodeAt(0);
    b.set(SECRET, 3);
    const n = this.#counter++;
    b[11] = n >>> 24;
    b[12] = (n >>> 16) & 0xff;
    b[13] = (n >>> 8) & 0xff;
    b[14] = n & 0xff;
    this.#out.push({ to: { host: to.host, port: to.port }, data: b });
  }
}

// ---------------------------------------------------------------------------------------- driver

export interface HostOptions {
  /** one-letter peer id */
  name: string;
  rng: Rng;
  /** the main socket: one address per family (a dual-stack socket has two) */
  main: Address[];
  /** behind this sim NAT */
  nat?: string;
  /** resolved servers; 'resolve': the session asks, `resolver` answers */
  servers: Endpoint[] | 'resolve';
  /** what name resolution gives when the session asks (default: nothing: offline) */
  resolver?: () => Endpoint[];
  session?: Partial<Omit<NatSessionConfig, 'random' | 'stunServers' | 'hostAddresses' | 'localPort'>>;
  core?: ToyCoreOptions;
  /** add connected peers as reflectors (DESIGN.md §5) */
  reflectPeers?: boolean;
  /** redial a lost peer after this long with its current card (the façade's named peers) */
  redialMs?: number;
}

export interface DialRecord {
  state: 'dialing' | 'connected' | 'failed';
  startedAt: number;
  endedAt: number | null;
  code: string | null;
  remote: Endpoint | null;
  retries: number;
}

/** Cards as a rendezvous would hand them out: the peer's current candidates. */
export type Directory = Map<string, SimNatHost>;

export class SimNatHost implements SimNode {
  readonly name: string;
  readonly session: NatSession;
  readonly core: ToyCore;
  readonly events: (NatEvent & { at: number })[] = [];
  readonly coreEvents: (CoreEvent & { at: number })[] = [];
  readonly dials = new Map<string, DialRecord>();
  /** pool socket id -> its sim address */
  readonly pool = new Map<number, Address>();
  readonly #poolByPort = new Map<number, number>();
  /** sockets the session asked for, in total */
  socketsAsked = 0;
  readonly #o: HostOptions;
  readonly #net: Network;
  readonly #dir: Directory;
  #nextId = 1;
  #nextPort = 40001;
  #published: RemoteCandidate[] = [];
  #redials = new Map<string, number>();

  constructor(net: Network, dir: Directory, o: HostOptions) {
    this.#net = net;
    this.#dir = dir;
    this.#o = o;
    this.name = o.name;
    const primary = o.main[0]!;
    this.session = new NatSession(
      {
        random: rngRandom(o.rng),
        hostAddresses: o.main,
        localPort: primary.port,
        ...(o.servers === 'resolve' ? {} : { stunServers: o.servers }),
        ...o.session,
      },
      net.now,
    );
    this.core = new ToyCore(o.name, o.core);
    net.addHost(o.name, this, o.main, o.nat === undefined ? {} : { nat: o.nat });
    dir.set(o.name, this);
    this.#pump(net.now);
  }

  /** This node's card: host addresses (LAN first) and its published reflexive candidates. */
  card(): RemoteCandidate[] {
    return [...this.#o.main.map((a) => ({ ...a, kind: 'host' as const })), ...this.#published];
  }

  /** Dials a peer from its current card (connect() / peers.add() in the façade). */
  connect(now: number, peer: string): void {
    const card = this.#dir.get(peer)!.card();
    const plan = this.session.dial(now, peer, card);
    const rec: DialRecord = {
      state: 'dialing',
      startedAt: now,
      endedAt: null,
      code: null,
      remote: null,
      retries: 0,
    };
    this.dials.set(peer, rec);
    if (plan.addresses.length === 0) {
      this.#ended(now, rec, 'failed', plan.verdict.error?.code ?? 'NO_ADDRESS');
      return;
    }
    this.core.dial(now, peer, plan.addresses);
  }

  /** After calling the session directly (between steps): carry out what it asked for. */
  poke(now: number): void {
    this.#pump(now);
  }

  event<T extends NatEvent['type']>(type: T): (Extract<NatEvent, { type: T }> & { at: number })[] {
    return this.events.filter((e) => e.type === type) as (Extract<NatEvent, { type: T }> & { at: number })[];
  }

  connected(peer: string): boolean {
    return this.core.established(peer) !== undefined;
  }

  // ---------------------------------------------------------------- SimNode

  handle(now: number, from: Address, to: Address, data: Uint8Array): void {
    const socket = this.#socketOf(to);
    if (!this.session.handle(now, socket, from, data)) this.core.handle(now, from, data);
    this.#pump(now);
  }

  handleTimeout(now: number): void {
    const s = this.session.pollTimeout();
    if (s !== null && s <= now) this.session.handleTimeout(now);
    const c = this.core.pollTimeout();
    if (c !== null && c <= now) this.core.handleTimeout(now);
    for (const [peer, at] of [...this.#redials]) {
      if (at > now) continue;
      this.#redials.delete(peer);
      if (!this.connected(peer)) this.connect(now, peer);
    }
    this.#pump(now);
  }

  pollTransmit(now: number): SimTransmit | null {
    for (;;) {
      const t = this.session.pollTransmit(now);
      if (t === null) break;
      const from = this.#addressOf(t.socket, t.to);
      if (from !== null) return { to: { host: t.to.host, port: t.to.port }, data: t.data, from };
    }
    for (;;) {
      const t = this.core.pollTransmit();
      if (t === null) return null;
      const from = this.#addressOf(this.session.route(t.to), t.to);
      if (from !== null) return { to: t.to, data: t.data, from };
    }
  }

  pollTimeout(): number | null {
    return minOf(this.session.pollTimeout(), this.core.pollTimeout(), ...this.#redials.values());
  }

  // ---------------------------------------------------------------- internals

  #socketOf(to: Address): number {
    if (this.pool.size === 0) return 0;
    const id = this.#poolByPort.get(to.port);
    return id !== undefined && this.pool.get(id)?.host === to.host ? id : 0;
  }

  /** The sim address of a socket for a destination; null when gone (a real send would fail). */
  #addressOf(socket: number, to: Endpoint): Address | null {
    if (socket !== 0) return this.pool.get(socket) ?? null;
    return this.#o.main.find((a) => endpointFamily(a) === endpointFamily(to)) ?? null;
  }

  #pump(now: number): void {
    for (let round = 0; round < 16; round++) {
      let progressed = false;
      for (let e = this.session.pollEvent(); e !== null; e = this.session.pollEvent()) {
        progressed = true;
        this.events.push({ ...e, at: now });
        this.#onNatEvent(now, e);
      }
      for (let e = this.core.pollEvent(); e !== null; e = this.core.pollEvent()) {
        progressed = true;
        this.coreEvents.push({ ...e, at: now });
        this.#onCoreEvent(now, e);
      }
      if (!progressed) return;
    }
  }

  #onNatEvent(now: number, e: NatEvent): void {
    switch (e.type) {
      case 'resolve':
        this.session.setStunServers(now, this.#o.resolver?.() ?? []);
        return;
      case 'candidates':
        // the façade republishes the record: peers resolving the card from now on see these
        this.#published = e.candidates.map((c) => ({ host: c.host, port: c.port, kind: 'srflx' as const }));
        return;
      case 'open_sockets': {
        this.socketsAsked += e.count;
        const ids: number[] = [];
        const ports: number[] = [];
        const ip = this.#o.main.find((a) => endpointFamily(a) === 4)!.host;
        for (let i = 0; i < e.count; i++) {
          const id = this.#nextId++;
          const port = this.#nextPort++;
          this.pool.set(id, { host: ip, port });
          this.#poolByPort.set(port, id);
          ids.push(id);
          ports.push(port);
        }
        this.#rebind();
        this.session.socketsOpened(now, e.request, ids, ports);
        return;
      }
      case 'close_sockets':
        for (const id of e.ids) {
          const a = this.pool.get(id);
          if (a !== undefined) this.#poolByPort.delete(a.port);
          this.pool.delete(id);
        }
        this.#rebind();
        return;
      case 'dial_addresses':
        this.core.dial(now, e.peer, e.addresses);
        return;
      case 'dial_failed': {
        this.core.abort(e.peer);
        const rec = this.dials.get(e.peer);
        if (rec?.state === 'dialing') this.#ended(now, rec, 'failed', e.error.code);
        return;
      }
      default:
    }
  }

  #onCoreEvent(now: number, e: CoreEvent): void {
    const rec = this.dials.get(e.peer);
    switch (e.type) {
      case 'connected':
        this.session.dialEnded(now, e.peer, { connected: true, remote: e.remote });
        if (rec !== undefined && rec.state === 'dialing') {
          rec.remote = e.remote;
          this.#ended(now, rec, 'connected', null);
        }
        if (this.#o.reflectPeers && !isPrivateAddress(e.remote.host))
          this.session.addReflector(now, e.remote);
        return;
      case 'connect_failed': {
        const next: DialNext = this.session.dialEnded(now, e.peer, { connected: false, code: e.code });
        if (rec === undefined || rec.state !== 'dialing') return;
        if (next.kind === 'retry') {
          rec.retries++;
          this.core.dial(now, e.peer, next.addresses);
        } else if (next.kind === 'fail') {
          this.#ended(now, rec, 'failed', next.error?.code ?? e.code);
        }
        return;
      }
      case 'closed':
        // core lost the path: gather again (the mapping may have changed), free its pool socket
        this.session.releaseRoute(now, e.remote);
        this.session.regather(now, 'path_lost');
        this.session.removeReflector(e.remote);
        if (this.#o.redialMs !== undefined) this.#redials.set(e.peer, now + this.#o.redialMs);
        return;
    }
  }

  #ended(now: number, rec: DialRecord, state: 'connected' | 'failed', code: string | null): void {
    rec.state = state;
    rec.endedAt = now;
    rec.code = code;
  }

  #rebind(): void {
    this.#net.moveHost(
      this.name,
      [...this.#o.main, ...this.pool.values()],
      this.#o.nat === undefined ? {} : { nat: this.#o.nat },
    );
  }
}

// -------------------------------------------------------------------------------------- reflector

/**
 * A STUN server: plain (one address) or RFC 5780 capable (ip1:p1, ip1:p2, ip2:p1, ip2:p2; answers
 * from the address CHANGE-REQUEST asks for, advertises OTHER-ADDRESS = ip2:p2), as coturn does
 * when it listens on two addresses.
 */
export class ReflectorNode implements SimNode {
  readonly addresses: Address[];
  #out: SimTransmit[] = [];
  requests = 0;

  constructor(ip1: string, ip2: string | null, p1 = 3478, p2 = 3479) {
    this.addresses =
      ip2 === null
        ? [{ host: ip1, port: p1 }]
        : [
            { host: ip1, port: p1 },
            { host: ip1, port: p2 },
            { host: ip2, port: p1 },
            { host: ip2, port: p2 },
          ];
  }

  handle(_now: number, from: Address, to: Address, data: Uint8Array): void {
    const req = parseRequest(data);
    if (req === null) return;
    this.requests++;
    let src = to;
    if (this.addresses.length > 1 && req.changeRequest !== null) {
      const a = this.addresses;
      const host = req.changeRequest.changeIp ? (to.host === a[0]!.host ? a[2]!.host : a[0]!.host) : to.host;
      const port = req.changeRequest.changePort
        ? to.port === a[0]!.port
          ? a[1]!.port
          : a[0]!.port
        : to.port;
      src = { host, port };
    }
    const res = buildBindingResponse({
      transactionId: req.transactionId,
      mapped: from,
      responseOrigin: src,
      ...(this.addresses.length > 1 ? { otherAddress: this.addresses[3]! } : {}),
    });
    if (res !== null) this.#out.push({ to: from, data: res, from: src });
  }

  handleTimeout(): void {}

  pollTransmit(): SimTransmit | null {
    return this.#out.shift() ?? null;
  }

  pollTimeout(): number | null {
    return null;
  }
}

export function addReflector(net: Network, name: string, ip1: string, ip2: string | null): ReflectorNode {
  const r = new ReflectorNode(ip1, ip2);
  net.addHost(name, r, r.addresses);
  return r;
}
