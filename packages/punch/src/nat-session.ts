/**
 * The node's NAT traversal as one sans-IO session (DESIGN.md §5, issue 13): gathering and
 * classification (gathering.ts), the dial verdict and the birthday strategy with a host-owned
 * socket pool (dials.ts), keepalives of the server-reflexive binding and every re-gathering rule.
 * The façade's one driver runs it beside core's endpoint (README "How the driver runs it"):
 *
 *   every datagram:   session.handle(now, socket, from, bytes) → false: give it to core
 *   core's transmits: send from socket session.route(to)
 *   timers:           min(session.pollTimeout(), endpoint.pollTimeout())
 *   outputs:          pollTransmit(now) → { socket, to, data }; pollEvent() → NatEvent
 *
 * Never throws on network input (malformed STUN is dropped and counted in `stats()`); API misuse
 * throws TypeError/RangeError.
 */

import { type Address, canonicalHost } from '@srmudp/wire';
import { isPrivateAddress } from './address.js';
import { type BirthdayParams, resolveBirthday } from './birthday.js';
import {
  type DialEvent,
  type DialNext,
  type DialOutcome,
  type DialPlan,
  type DialStats,
  Dials,
  type DialVerdict,
  type LocalView,
  type RemoteCandidate,
} from './dials.js';
import {
  DEFAULT_NAT_TIMING,
  Gathering,
  type GatheringEvent,
  type NatStatus,
  type NatTiming,
  type ReflexiveCandidate,
} from './gathering.js';
import {
  DEFAULT_PORT_MAPPING_TIMING,
  type PortMappedResult,
  PortMapping,
  type PortMappingEvent,
  type PortMappingStatus,
  type PortMappingTiming,
} from './port-mapping.js';
import { isStun, tryDecodeBinding } from './stun-codec.js';
import { checkNow, checkRandom, type RandomBytes, type Transmit } from './transmit.js';

export interface NatSessionConfig {
  readonly random: RandomBytes;
  /**
   * Resolved STUN servers (IP literals; IPv4 and IPv6 are gathered separately). Omitted: the
   * driver resolves its server names when the session emits `resolve` and calls
   * {@link NatSession.setStunServers}. `[]`: gathering is off.
   */
  readonly stunServers?: readonly Address[];
  /** the main socket's interface addresses, with its port (loopback is ignored) */
  readonly hostAddresses?: readonly Address[];
  /** the main socket's bound port (port-preservation detection) */
  readonly localPort?: number;
  readonly timing?: Partial<NatTiming>;
  readonly birthday?: BirthdayParams;
  /** SOFTWARE in our STUN requests; default none */
  readonly software?: string;
  /** component logger (`srmudp:nat`); silent when absent; never given secrets */
  readonly log?: (message: string) => void;
  /**
   * Port mapping on the router (port-mapping.ts): `true` or timings to ask for one (the host then
   * handles `map_port` / `unmap_port`); default off.
   */
  readonly portMapping?: boolean | Partial<PortMappingTiming>;
}

export type NatEvent = GatheringEvent | DialEvent | PortMappingEvent;

/** {@link NatStatus} with the port mapping's state. */
export interface NatSessionStatus extends NatStatus {
  readonly portMapping: PortMappingStatus;
}

export interface NatSessionStats extends DialStats {
  /** STUN datagrams nobody here was waiting for, or malformed: dropped */
  dropped: number;
  /** datagrams on a socket id the session does not know (closed already): dropped */
  unknownSocket: number;
}

export class NatSession {
  readonly #gathering: Gathering;
  readonly #dials: Dials;
  readonly #events: NatEvent[] = [];
  readonly #mapping: PortMapping;
  #candidatesKey = '';
  /** `now` of the latest call (the port mapping's events replan dials at it) */
  #now: number;
  #closed = false;
  #dropped = 0;
  #unknownSocket = 0;

  constructor(config: NatSessionConfig, now: number) {
    if (typeof config !== 'object' || config === null) throw new TypeError('"config" expected an object');
    checkRandom(config.random);
    checkNow(now);
    this.#now = now;
    const timing = checkTiming(config.timing ?? {});
    if (config.localPort !== undefined && !(Number.isInteger(config.localPort) && config.localPort >= 0)) {
      throw new RangeError(`"localPort" expected a port number, got ${String(config.localPort)}`);
    }
    this.#dials = new Dials({
      random: config.random,
      timing,
      birthday: resolveBirthday(config.birthday),
      ...(config.software !== undefined ? { software: config.software } : {}),
      ...(config.log !== undefined ? { log: config.log } : {}),
      emit: (e) => this.#events.push(e),
    });
    this.#gathering = new Gathering(
      {
        random: config.random,
        timing,
        ...(config.stunServers !== undefined ? { stunServers: config.stunServers } : {}),
        ...(config.hostAddresses !== undefined ? { hostAddresses: config.hostAddresses } : {}),
        ...(config.localPort !== undefined ? { localPort: config.localPort } : {}),
        ...(config.software !== undefined ? { software: config.software } : {}),
        ...(config.log !== undefined ? { log: config.log } : {}),
      },
      now,
    );
    const pm = config.portMapping ?? false;
    this.#mapping = new PortMapping(
      pm !== false,
      checkPortMappingTiming(typeof pm === 'object' ? pm : {}),
      (e) => this.#onMapping(e),
      config.log,
    );
    this.#candidatesKey = candidatesKey(this.candidates());
    this.#afterGathering(now);
    this.#mapping.setHostAddresses(now, mappable(config.hostAddresses ?? [], config.localPort));
  }

  // ---------------------------------------------------------------- network input

  /**
   * Offers a datagram received on local socket `socket` (0 = main socket, else a pool socket).
   * Returns true when the session consumed it; false: hand it to core's endpoint. Binding
   * requests on socket 0 are core's to answer (its responder and amplification limit).
   */
  handle(now: number, socket: number, from: Address, bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    if (socket !== 0 && !this.#dials.pool.has(socket)) {
      this.#unknownSocket++;
      return true;
    }
    if (this.#gathering.udpBlocked() !== null && !isPrivateAddress(from.host)) {
      this.#gathering.heardPublic(now);
      this.#afterGathering(now);
    }
    if (!isStun(bytes)) {
      if (socket !== 0) this.#dials.noteRoute(from, socket);
      return false;
    }
    const msg = tryDecodeBinding(bytes);
    if (msg === null || msg.class === 'indication') {
      this.#dropped++;
      return true;
    }
    if (msg.class === 'request') {
      if (socket === 0) return false;
      this.#dials.answer(socket, from, bytes);
      return true;
    }
    const f = { host: canonicalHost(from.host), port: from.port };
    if (socket === 0) {
      if (this.#gathering.handleMessage(now, f, msg)) {
        this.#afterGathering(now);
        return true;
      }
      if (this.#dials.response(f, msg)) return true;
    }
    this.#dropped++;
    return true;
  }

  handleTimeout(now: number): void {
    checkNow(now);
    if (this.#closed) return;
    this.#now = now;
    this.#gathering.handleTimeout(now);
    this.#afterGathering(now);
    this.#dials.handleTimeout(now);
    const m = this.#mapping.pollTimeout();
    if (m !== null && m <= now) this.#mapping.handleTimeout(now);
  }

  /** The next datagram to send: `socket` names the local socket it leaves from. */
  pollTransmit(now: number): Transmit | null {
    if (this.#closed) return null;
    return this.#dials.pollTransmit(now) ?? this.#gathering.pollTransmit(now);
  }

  pollTimeout(): number | null {
    if (this.#closed) return null;
    let t: number | null = null;
    for (const v of [this.#gathering.pollTimeout(), this.#dials.pollTimeout(), this.#mapping.pollTimeout()]) {
      if (v !== null && (t === null || v < t)) t = v;
    }
    return t;
  }

  pollEvent(): NatEvent | null {
    return this.#events.shift() ?? null;
  }

  // ---------------------------------------------------------------- host input

  /** Resolved STUN servers (after a `resolve` event, or when they change). [] = none found. */
  setStunServers(now: number, servers: readonly Address[]): void {
    checkNow(now);
    if (this.#closed) return;
    this.#gathering.setStunServers(now, servers);
    this.#afterGathering(now);
  }

  /** The main socket's interface addresses (polled by the driver); a change gathers again. */
  setHostAddresses(now: number, addresses: readonly Address[]): void {
    checkNow(now);
    if (this.#closed) return;
    this.#now = now;
    this.#gathering.setHostAddresses(now, addresses);
    this.#afterGathering(now);
    this.#mapping.setHostAddresses(now, mappable(addresses));
  }

  /** The router mapped our port (answer to `map_port` `request`). */
  portMapped(now: number, request: number, result: PortMappedResult): void {
    checkNow(now);
    if (typeof result !== 'object' || result === null) throw new TypeError('"result" expected an object');
    this.#now = now;
    this.#mapping.mapped(now, request, result);
  }

  /**
   * The router did not map our port (answer to `map_port` `request`): `NO_GATEWAY` when no router
   * answered, `REFUSED` when one did and said no (or the I/O failed).
   */
  portMapFailed(now: number, request: number, code: 'NO_GATEWAY' | 'REFUSED', message: string): void {
    checkNow(now);
    this.#now = now;
    this.#mapping.failed(now, request, code, message);
  }

  /**
   * Adds a reflector: a connected peer, relay or gate at its public address (every srmudp node
   * answers Binding requests). While the mapping is unknown this gathers again (rate limited), so
   * one STUN server plus one connected peer classify the NAT. Returns false when ignored
   * (private address, duplicate, gathering off).
   */
  addReflector(now: number, reflector: Address): boolean {
    checkNow(now);
    if (this.#closed) return false;
    const added = this.#gathering.addReflector(now, reflector);
    this.#afterGathering(now);
    return added;
  }

  removeReflector(reflector: Address): void {
    this.#gathering.removeReflector(reflector);
  }

  /**
   * Gathers again: `requested` (the application) at once, `path_lost` (core lost a connection's
   * path) rate limited to one gathering per `regatherMinGapMs`.
   */
  regather(now: number, reason: 'requested' | 'path_lost' = 'requested'): void {
    checkNow(now);
    if (reason !== 'requested' && reason !== 'path_lost') {
      throw new TypeError(`"reason" expected 'requested' or 'path_lost', got ${String(reason)}`);
    }
    if (this.#closed) return;
    this.#gathering.regather(now, reason);
    this.#afterGathering(now);
  }

  /** A send failed (the socket's error code, e.g. ENETUNREACH): offline is told from UDP blocked. */
  sendFailed(_now: number, socket: number, to: Address, code: string): void {
    if (socket === 0 && typeof code === 'string') this.#gathering.sendFailed(to, code);
  }

  /** The host bound pool sockets for an `open_sockets` request (possibly fewer than asked). */
  socketsOpened(now: number, request: number, ids: readonly number[], localPorts: readonly number[]): void {
    checkNow(now);
    if (this.#closed) {
      if (Array.isArray(ids) && ids.length > 0)
        this.#events.push({ type: 'close_sockets', ids: ids.slice() });
      return;
    }
    this.#dials.socketsOpened(now, request, ids, localPorts);
  }

  // ---------------------------------------------------------------- dials

  /** The verdict on a peer with these candidates, without starting anything. */
  judge(candidates: readonly RemoteCandidate[]): DialVerdict {
    return this.#dials.judge(this.#local(), candidates);
  }

  /**
   * Starts (or extends) the dial of `peer` (any stable key, e.g. the peer id in hex): what core
   * should dial now. No addresses and a verdict error: fail at once with `verdict.error`.
   * Report the end with {@link dialEnded}.
   */
  dial(now: number, peer: string, candidates: readonly RemoteCandidate[]): DialPlan {
    checkNow(now);
    if (this.#closed) throw new TypeError('the NAT session is closed');
    return this.#dials.dial(now, peer, candidates, this.#local());
  }

  /** Core's dial of `peer` ended: connected (at `remote`), or failed with core's error code. */
  dialEnded(now: number, peer: string, outcome: DialOutcome): DialNext {
    checkNow(now);
    return this.#dials.ended(now, peer, outcome);
  }

  /** The dial of `peer` was abandoned (aborted, node closing): its sockets are given back. */
  cancelDial(_now: number, peer: string): void {
    this.#dials.cancel(peer);
  }

  /** A connection whose path ran over a pool socket ended: that socket is closed. */
  releaseRoute(_now: number, remote: Address): void {
    this.#dials.releaseRoute(remote);
  }

  /** The local socket datagrams to `to` leave from: 0 unless a birthday socket carries that peer. */
  route(to: Address): number {
    return this.#dials.pool.route(to);
  }

  // ---------------------------------------------------------------- queries

  status(): NatSessionStatus {
    return { ...this.#gathering.status(), portMapping: this.#mapping.status() };
  }

  /**
   * Whether the verdict "UDP is blocked" stands: `status().error` says UDP_BLOCKED, or a gathering
   * that retries it runs (`timing.blockedRetryMs`), until a reflector or any public datagram
   * answers.
   */
  udpBlocked(): boolean {
    return this.#gathering.udpBlocked() !== null;
  }

  /**
   * Public candidates for records and cards: the router's port mapping first (while it holds),
   * then the server-reflexive ones (every one: see README "Candidates"), except the IPv4 ones
   * while a mapping holds: the mapping reaches us unsolicited, a reflexive endpoint only by a
   * punch, and two of those on one IP would tell peers our NAT maps per destination.
   */
  candidates(): ReflexiveCandidate[] {
    const ext = this.#mapping.external();
    const refl = this.#gathering.candidates();
    if (ext === null) return refl;
    return [
      { kind: 'srflx', family: 4, host: ext.host, port: ext.port },
      ...refl.filter((c) => c.family !== 4),
    ];
  }

  stats(): Readonly<NatSessionStats> {
    return { ...this.#dials.stats(), dropped: this.#dropped, unknownSocket: this.#unknownSocket };
  }

  /** Stops everything; `close_sockets` for every pool socket is the last event. */
  close(_now: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mapping.close();
    this.#gathering.close();
    this.#dials.close();
  }

  // ---------------------------------------------------------------- internals

  #local(): LocalView {
    const publicIps: string[] = [];
    for (const c of this.#gathering.candidates()) if (!publicIps.includes(c.host)) publicIps.push(c.host);
    const mapped = this.#mapping.external();
    if (mapped !== null && !publicIps.includes(mapped.host)) publicIps.push(mapped.host);
    return {
      nat: this.#gathering.nat(),
      blocked: this.#gathering.udpBlocked(),
      publicIps,
      mapped: mapped !== null,
    };
  }

  /** The port mapping's events go out; a mapping that comes or goes changes candidates and verdicts. */
  #onMapping(e: PortMappingEvent): void {
    this.#events.push(e);
    if (e.type !== 'port_mapping') return;
    if (this.#noteCandidates()) this.#dials.replan(this.#now, this.#local());
  }

  /** A `candidates` event when the merged list changed; true when it did. */
  #noteCandidates(): boolean {
    const list = this.candidates();
    const key = candidatesKey(list);
    if (key === this.#candidatesKey) return false;
    this.#candidatesKey = key;
    this.#events.push({ type: 'candidates', candidates: list });
    return true;
  }

  /** Moves the gathering's events out; a new classification re-judges running dials. */
  #afterGathering(now: number): void {
    let replan = false;
    for (let e = this.#gathering.pollEvent(); e !== null; e = this.#gathering.pollEvent()) {
      if (e.type === 'candidates') {
        // the merged list (port mapping first) is what records carry
        this.#noteCandidates();
        continue;
      }
      this.#events.push(e);
      if (e.type === 'gathered' || e.type === 'nat') replan = true;
    }
    if (replan) this.#dials.replan(now, this.#local());
  }
}

function checkTiming(t: Partial<NatTiming>): NatTiming {
  if (typeof t !== 'object' || t === null) throw new TypeError('"timing" expected an object');
  const out = { ...DEFAULT_NAT_TIMING, ...t };
  for (const [k, v] of Object.entries(out)) {
    if (!(k in DEFAULT_NAT_TIMING)) throw new TypeError(`"timing.${k}" is not a NAT timing`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`"timing.${k}" expected a non-negative finite number, got ${String(v)}`);
    }
  }
  if (out.gatherTimeoutMs <= 0) throw new RangeError('"timing.gatherTimeoutMs" expected a positive number');
  return out;
}

function checkPortMappingTiming(t: Partial<PortMappingTiming>): PortMappingTiming {
  const out = { ...DEFAULT_PORT_MAPPING_TIMING, ...t };
  for (const [k, v] of Object.entries(out)) {
    if (!(k in DEFAULT_PORT_MAPPING_TIMING))
      throw new TypeError(`"portMapping.${k}" is not a port mapping timing`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`"portMapping.${k}" expected a positive finite number, got ${String(v)}`);
    }
  }
  return out;
}

/** Host addresses with the bound port (the port mapping maps the main socket's port). */
function mappable(addresses: readonly Address[], localPort?: number): Address[] {
  return addresses.map((a) => ({ host: a.host, port: localPort ?? a.port }));
}

function candidatesKey(list: readonly ReflexiveCandidate[]): string {
  return list.map((c) => `${c.host}|${c.port}`).join(',');
}
