/**
 * Test harness: srmudp-like peers built from the punch machines, run in @srmudp/sim.
 * The "authenticated" protocol is a toy: a datagram 0xA0, kind, 8-byte shared secret, 4-byte
 * counter. Only a peer knowing the secret is answered, as core's Noise probes would be.
 */
import type { Address, Network, Rng, SimNode, Transmit as SimTransmit } from '@srmudp/sim';
import {
  buildBindingResponse,
  type Candidate,
  type CandidatePair,
  type Endpoint,
  type GatherEvent,
  Gatherer,
  type GathererConfig,
  handleStunRequest,
  isStun,
  Keepalive,
  type KeepaliveConfig,
  type KeepaliveEvent,
  type NatType,
  type PunchEvent,
  Puncher,
  type PuncherConfig,
  parseBindingRequest,
  sameEndpoint,
  type Transmit,
} from '../src/index.js';

export const KIND = { probe: 1, ack: 2, ping: 3, pong: 4 } as const;

export function rngRandom(rng: Rng): (n: number) => Uint8Array {
  return (n) => rng.bytes(n);
}

/** Merges several sans-IO machines' timeouts. */
function minTimeout(...ts: (number | null)[]): number | null {
  let m: number | null = null;
  for (const t of ts) if (t !== null && (m === null || t < m)) m = t;
  return m;
}

export interface PeerOptions {
  name: string;
  secret: Uint8Array;
  rng: Rng;
  /** addresses[0] is the main socket; the rest are birthday sockets (same IP, other ports) */
  addresses: Address[];
  reflectors: Endpoint[];
  gather?: Partial<GathererConfig>;
  punch?: Partial<PuncherConfig>;
  keepalive?: KeepaliveConfig | false;
}

export interface PeerInfo {
  candidates: readonly Candidate[];
  nat: NatType;
}

export class PeerNode implements SimNode {
  readonly opts: PeerOptions;
  gatherer: Gatherer;
  puncher: Puncher | null = null;
  keepalive: Keepalive | null = null;
  readonly gatherEvents: GatherEvent[] = [];
  readonly punchEvents: (PunchEvent & { at: number })[] = [];
  readonly keepaliveEvents: (KeepaliveEvent & { at: number })[] = [];
  readonly received: { at: number; kind: number; from: Address; socket: number }[] = [];
  gathered: PeerInfo | null = null;
  failed: GatherEvent | null = null;
  selected: CandidatePair | null = null;
  openSockets = 0;
  releasedTo: readonly number[] | null = null;
  #out: SimTransmit[] = [];
  #counter = 0;
  #pendingStart = false;

  constructor(opts: PeerOptions) {
    this.opts = opts;
    this.gatherer = this.#newGatherer();
  }

  #newGatherer(): Gatherer {
    const primary = this.opts.addresses[0]!;
    return new Gatherer({
      random: rngRandom(this.opts.rng),
      hostAddresses: [{ host: primary.host, port: primary.port }],
      reflectors: this.opts.reflectors,
      ...this.opts.gather,
    });
  }

  /** Starts gathering at `now` (the first one starts at construction time 0 via startGather). */
  startGather(now: number): void {
    this.gathered = null;
    this.failed = null;
    this.gatherer = this.#newGatherer();
    this.gatherer.start(now);
  }

  info(): PeerInfo {
    if (this.gathered === null) throw new Error(`${this.opts.name} has not gathered`);
    return this.gathered;
  }

  /** Starts punching towards a peer whose info came through "rendezvous". */
  connect(now: number, remote: PeerInfo, controlling: boolean, shareNat = true): void {
    const me = this.info();
    this.selected = null;
    this.puncher = new Puncher({
      random: rngRandom(this.opts.rng),
      controlling,
      localCandidates: me.candidates,
      remoteCandidates: remote.candidates,
      localNat: me.nat,
      // without it the puncher infers the peer's mapping from its candidates (records carry no NAT type)
      ...(shareNat ? { remoteNat: remote.nat } : {}),
      probeFactory: () => this.#auth(KIND.probe),
      ...this.opts.punch,
    });
    this.puncher.start(now);
    this.#pendingStart = true;
  }

  /** Sends an authenticated ping on the selected path (application traffic). */
  ping(now: number): boolean {
    if (this.selected === null) return false;
    this.#send(this.selected.remote.address, this.#auth(KIND.ping), this.selected.local.socket);
    this.keepalive?.onSend(now);
    return true;
  }

  receivedKinds(kind: number): number {
    return this.received.filter((r) => r.kind === kind).length;
  }

  #auth(kind: number): Uint8Array {
    const b = new Uint8Array(14);
    b[0] = 0xa0;
    b[1] = kind;
    b.set(this.opts.secret, 2);
    const c = this.#counter++;
    b[10] = c >>> 24;
    b[11] = (c >>> 16) & 0xff;
    b[12] = (c >>> 8) & 0xff;
    b[13] = c & 0xff;
    return b;
  }

  #isAuthentic(data: Uint8Array): number | null {
    if (data.length !== 14 || data[0] !== 0xa0) return null;
    for (let i = 0; i < 8; i++) if (data[2 + i] !== this.opts.secret[i]) return null;
    return data[1]!;
  }

  #socketOf(to: Address): number {
    return this.opts.addresses.findIndex((a) => a.host === to.host && a.port === to.port);
  }

  #send(to: Endpoint, data: Uint8Array, socket: number): void {
    const from = this.opts.addresses[socket];
    if (from === undefined) throw new Error(`${this.opts.name}: socket ${socket} not bound`);
    this.#out.push({ to: { host: to.host, port: to.port }, data, from });
  }

  handle(now: number, from: Address, to: Address, data: Uint8Array): void {
    const socket = this.#socketOf(to);
    if (isStun(data)) {
      if (this.gatherer.handle(now, from, data, socket)) {
        this.#drainGather(now);
        return;
      }
      const res = handleStunRequest(data, from, to);
      if (res !== null) this.#send(from, res, socket);
      return;
    }
    const kind = this.#isAuthentic(data);
    if (kind === null) return; // unauthenticated: never answered
    this.received.push({ at: now, kind, from: { ...from }, socket });
    if (kind === KIND.probe) this.#send(from, this.#auth(KIND.ack), socket);
    if (kind === KIND.ping) this.#send(from, this.#auth(KIND.pong), socket);
    this.puncher?.authenticated(now, from, socket);
    this.#drainPunch(now);
    if (this.selected !== null && sameEndpoint(this.selected.remote.address, from))
      this.keepalive?.onReceive(now);
  }

  handleTimeout(now: number): void {
    this.gatherer.handleTimeout(now);
    this.#drainGather(now);
    this.puncher?.handleTimeout(now);
    this.#drainPunch(now);
    this.keepalive?.handleTimeout(now);
    this.#drainKeepalive(now);
  }

  pollTransmit(now: number): SimTransmit | null {
    if (this.#pendingStart) {
      this.#pendingStart = false;
      this.#drainPunch(now);
    }
    const q = this.#out.shift();
    if (q !== undefined) return q;
    const g = this.gatherer.pollTransmit(now);
    if (g !== null) return this.#toSim(g);
    const p = this.puncher?.pollTransmit(now) ?? null;
    if (p !== null) return this.#toSim(p);
    return null;
  }

  pollTimeout(): number | null {
    return minTimeout(
      this.gatherer.pollTimeout(),
      this.puncher?.pollTimeout() ?? null,
      this.keepalive?.pollTimeout() ?? null,
    );
  }

  #toSim(t: Transmit): SimTransmit {
    const from = this.opts.addresses[t.socket];
    if (from === undefined) throw new Error(`${this.opts.name}: transmit on unbound socket ${t.socket}`);
    return { to: { host: t.to.host, port: t.to.port }, data: t.data, from };
  }

  #drainGather(_now: number): void {
    for (let e = this.gatherer.pollEvent(); e !== null; e = this.gatherer.pollEvent()) {
      this.gatherEvents.push(e);
      if (e.type === 'gathered') this.gathered = { candidates: e.candidates, nat: e.nat };
      if (e.type === 'nat' && this.gathered !== null) this.gathered = { ...this.gathered, nat: e.nat };
      if (e.type === 'failed') this.failed = e;
    }
  }

  #drainPunch(now: number): void {
    if (this.puncher === null) return;
    for (let e = this.puncher.pollEvent(); e !== null; e = this.puncher.pollEvent()) {
      this.punchEvents.push({ ...e, at: now });
      switch (e.type) {
        case 'open_sockets':
          if (e.count + 1 > this.opts.addresses.length) {
            throw new Error(
              `${this.opts.name}: ${e.count} sockets asked, ${this.opts.addresses.length - 1} bound`,
            );
          }
          this.openSockets = e.count;
          break;
        case 'nominated':
        case 'upgraded':
        case 'migrated':
          this.selected = e.pair;
          if (this.opts.keepalive !== false) {
            if (this.keepalive === null) this.keepalive = new Keepalive(now, this.opts.keepalive ?? {});
            else this.keepalive.reset(now);
          }
          break;
        case 'release_sockets':
          this.releasedTo = e.keep;
          break;
        default:
      }
    }
  }

  #drainKeepalive(now: number): void {
    if (this.keepalive === null) return;
    for (let e = this.keepalive.pollEvent(); e !== null; e = this.keepalive.pollEvent()) {
      this.keepaliveEvents.push({ ...e, at: now });
      if (e.type === 'keepalive' && this.selected !== null) {
        this.#send(this.selected.remote.address, this.#auth(KIND.ping), this.selected.local.socket);
      }
    }
  }

  punchEvent<T extends PunchEvent['type']>(
    type: T,
  ): (Extract<PunchEvent, { type: T }> & { at: number }) | undefined {
    return this.punchEvents.find((e) => e.type === type) as
      | (Extract<PunchEvent, { type: T }> & { at: number })
      | undefined;
  }
}

/**
 * An RFC 5780-capable reflector: addresses primary (ip1:p1), ip1:p2, ip2:p1, ip2:p2. Answers from
 * the address CHANGE-REQUEST asks for, advertising OTHER-ADDRESS = ip2:p2.
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
    const req = parseBindingRequest(data);
    if (req === null) return;
    this.requests++;
    const cr = req.changeRequest;
    let src = to;
    if (this.addresses.length > 1 && cr !== null) {
      const host = cr.changeIp
        ? to.host === this.addresses[0]!.host
          ? this.addresses[2]!.host
          : this.addresses[0]!.host
        : to.host;
      const port = cr.changePort
        ? to.port === this.addresses[0]!.port
          ? this.addresses[1]!.port
          : this.addresses[0]!.port
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

/** Adds a reflector host (RFC 5780 capable when ip2 is given). */
export function addReflector(net: Network, name: string, ip1: string, ip2: string | null): ReflectorNode {
  const r = new ReflectorNode(ip1, ip2);
  net.addHost(name, r, r.addresses);
  return r;
}

export function socketsFor(host: string, port: number, extra: number): Address[] {
  const out: Address[] = [{ host, port }];
  for (let i = 1; i <= extra; i++) out.push({ host, port: 40000 + i });
  return out;
}

export function secret(seed: number): Uint8Array {
  const s = new Uint8Array(8);
  for (let i = 0; i < 8; i++) s[i] = (seed * 31 + i * 17) & 0xff;
  return s;
}

/** Gathers on both peers, exchanges info as a rendezvous would, and starts punching. */
export function gatherBoth(net: Network, a: PeerNode, b: PeerNode, maxTimeMs = 20_000): void {
  a.startGather(net.now);
  b.startGather(net.now);
  net.drive({
    until: () =>
      (a.gatherer.state === 'done' || a.gatherer.state === 'failed') &&
      (b.gatherer.state === 'done' || b.gatherer.state === 'failed'),
    maxTimeMs,
  });
}

export function punchBoth(net: Network, a: PeerNode, b: PeerNode, maxTimeMs = 40_000, shareNat = true): void {
  a.connect(net.now, b.info(), true, shareNat);
  b.connect(net.now, a.info(), false, shareNat);
  const done = (p: PeerNode) => p.puncher!.state === 'completed' || p.puncher!.state === 'failed';
  net.drive({ until: () => done(a) && done(b), maxTimeMs });
}
