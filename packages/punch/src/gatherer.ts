/**
 * Sans-IO candidate gathering and NAT classification for one socket: host candidates from the
 * caller's interface list, server-reflexive candidates from STUN reflectors (RFC 8489), mapping
 * classification from ≥ 2 reflectors with distinct IPs, port preservation, and RFC 5780 §4.4
 * filtering tests when a reflector advertises OTHER-ADDRESS. Fails fast with UDP_BLOCKED when no
 * reflector ever answers.
 */
import { type Address, addressFamily, canonicalHost, type StunMessage } from '@srmudp/wire';
import { equivalentAddress } from './address.js';
import { type Candidate, makeCandidate } from './candidate.js';
import {
  classifyMapping,
  type FilteringBehavior,
  type MappingObservation,
  type NatType,
} from './nat-type.js';
import { StunClient, type StunClientEvent, type StunTiming } from './stun-client.js';
import { tryDecodeBinding } from './stun-codec.js';
import { checkNow, checkRandom, type RandomBytes, type Transmit } from './transmit.js';

export interface GathererConfig {
  readonly random: RandomBytes;
  /** local interface addresses with the socket's bound port (the façade reads os.networkInterfaces) */
  readonly hostAddresses: readonly Address[];
  /** STUN servers (public ones, gates, connected srmudp peers); ≥ 2 with distinct IPs classify mapping */
  readonly reflectors: readonly Address[];
  /** socket index the gathering runs on (default 0) */
  readonly socket?: number;
  /** the socket's bound port, for port-preservation detection (default: the first host address's port) */
  readonly localPort?: number;
  /** deadline for the mapping phase (default 5000 ms); UDP_BLOCKED is reported at this point */
  readonly timeoutMs?: number;
  /** retransmission timing of mapping requests (RFC 8489 defaults, cut off by timeoutMs) */
  readonly stun?: StunTiming;
  /** run RFC 5780 filtering tests when OTHER-ADDRESS is advertised (default true) */
  readonly filteringTests?: boolean;
  /** timing of each filtering test (default RTO 500 ms, 3 sends, wait 4 × RTO: gives up after 3.5 s) */
  readonly filteringStun?: StunTiming;
  readonly software?: string;
  /** component logger (e.g. `debug('srmudp:punch')`); silent when absent */
  readonly log?: (message: string) => void;
}

export type GatherFailureCode = 'UDP_BLOCKED';

export type GatherEvent =
  | { readonly type: 'candidate'; readonly candidate: Candidate }
  /** mapping phase done: all candidates known; `nat.filtering` may still be 'unknown' (see 'nat') */
  | { readonly type: 'gathered'; readonly candidates: readonly Candidate[]; readonly nat: NatType }
  /** classification updated after the filtering tests */
  | { readonly type: 'nat'; readonly nat: NatType }
  | { readonly type: 'failed'; readonly code: GatherFailureCode; readonly message: string };

export type GatherState = 'idle' | 'mapping' | 'filtering' | 'done' | 'failed';

export interface GathererStats {
  stunRequests: number;
  stunResponses: number;
  stunTimeouts: number;
  stunErrors: number;
  dropped: number;
}

export class Gatherer {
  readonly #cfg: GathererConfig;
  readonly #socket: number;
  readonly #client: StunClient;
  readonly #events: GatherEvent[] = [];
  #state: GatherState = 'idle';
  #candidates: Candidate[] = [];
  #observations: MappingObservation[] = [];
  #mappingTx = new Set<string>();
  #anyStunReply = false;
  #deadline = 0;
  #filtering: FilteringBehavior = 'unknown';
  /** transaction ids of running filtering tests */
  #filterTx = new Set<string>();
  #filterStarted = false;
  #filterServer: Address | null = null;
  #alternate: Address | null = null;
  #alternateTx: string | null = null;
  #alternateTried = false;
  #gatheredEmitted = false;

  constructor(config: GathererConfig) {
    checkRandom(config?.random);
    if (!Array.isArray(config.hostAddresses))
      throw new TypeError('"hostAddresses" expected array of endpoints');
    if (!Array.isArray(config.reflectors)) throw new TypeError('"reflectors" expected array of endpoints');
    this.#cfg = config;
    this.#socket = config.socket ?? 0;
    this.#client = new StunClient({
      random: config.random,
      ...(config.software !== undefined ? { software: config.software } : {}),
      ...config.stun,
    });
  }

  get state(): GatherState {
    return this.#state;
  }

  /** Starts (or restarts, e.g. after a 'regather' trigger) gathering. */
  start(now: number): void {
    checkNow(now);
    for (const id of [...this.#mappingTx, ...this.#filterTx]) this.#client.cancel(id);
    if (this.#alternateTx !== null) this.#client.cancel(this.#alternateTx);
    while (this.#client.pollEvent() !== null) {
      /* discard cancellations of the previous run */
    }
    this.#state = 'mapping';
    this.#candidates = [];
    this.#observations = [];
    this.#mappingTx.clear();
    this.#filterTx.clear();
    this.#filterStarted = false;
    this.#filterServer = null;
    this.#filtering = 'unknown';
    this.#alternate = null;
    this.#alternateTx = null;
    this.#alternateTried = false;
    this.#anyStunReply = false;
    this.#gatheredEmitted = false;
    this.#deadline = now + (this.#cfg.timeoutMs ?? 5000);
    for (const h of this.#cfg.hostAddresses) this.#addCandidate(makeCandidate('host', h, this.#socket));
    const seen: Address[] = [];
    for (const r of this.#cfg.reflectors) {
      if (seen.some((s) => equivalentAddress(s, r))) continue;
      seen.push(r);
      // a reflector of a family we have no host address for cannot be reached from this socket
      if (
        this.#cfg.hostAddresses.length > 0 &&
        !this.#cfg.hostAddresses.some((h) => addressFamily(h) === addressFamily(r))
      ) {
        continue;
      }
      this.#mappingTx.add(this.#client.request(now, r, { socket: this.#socket }));
    }
    if (this.#mappingTx.size === 0) this.#finishMapping(now);
  }

  /** Offers a received datagram; true when it was a STUN response for this gatherer. Never throws. */
  handle(now: number, from: Address, bytes: Uint8Array, socket = 0): boolean {
    const msg = tryDecodeBinding(bytes);
    return msg !== null && this.handleMessage(now, from, msg, socket);
  }

  /** {@link handle} for a message the caller already decoded (`tryDecodeBinding`). */
  handleMessage(now: number, from: Address, msg: StunMessage, socket = 0): boolean {
    if (socket !== this.#socket) return false;
    const consumed = this.#client.handleMessage(now, from, msg, socket);
    if (consumed) this.#drain(now);
    return consumed;
  }

  handleTimeout(now: number): void {
    this.#client.handleTimeout(now);
    this.#drain(now);
    if (this.#state === 'mapping' && now >= this.#deadline) {
      for (const id of this.#mappingTx) this.#client.cancel(id);
      this.#mappingTx.clear();
      while (this.#client.pollEvent() !== null) {
        /* cancellations */
      }
      this.#finishMapping(now);
    }
  }

  pollTransmit(now?: number): Transmit | null {
    return this.#client.pollTransmit(now);
  }

  pollTimeout(): number | null {
    const t = this.#client.pollTimeout();
    if (this.#state === 'mapping') return t === null ? this.#deadline : Math.min(t, this.#deadline);
    return t;
  }

  pollEvent(): GatherEvent | null {
    return this.#events.shift() ?? null;
  }

  candidates(): readonly Candidate[] {
    return this.#candidates.slice();
  }

  /** Which reflector saw which mapped endpoint (mapping-phase responses, in arrival order). */
  observations(): readonly MappingObservation[] {
    return this.#observations.slice();
  }

  /** Current classification (mapping known after 'gathered', filtering after 'nat'). */
  nat(): NatType {
    return {
      ...classifyMapping(this.#cfg.hostAddresses, this.#observations, this.#cfg.localPort),
      filtering: this.#filtering,
    };
  }

  /**
   * Adds a local peer-reflexive candidate: our address as an authenticated peer reports seeing it
   * (e.g. an observed-address field in the handshake). Returns the candidate when it is new.
   */
  learnPeerReflexive(address: Address): Candidate | null {
    if (this.#candidates.some((c) => equivalentAddress(c.address, address))) return null;
    const base = this.#cfg.hostAddresses.find((h) => addressFamily(h) === addressFamily(address));
    const c = makeCandidate('prflx', address, this.#socket, base);
    this.#addCandidate(c);
    return c;
  }

  stats(): Readonly<GathererStats> {
    const s = this.#client.stats();
    return {
      stunRequests: s.requests,
      stunResponses: s.responses,
      stunTimeouts: s.timeouts,
      stunErrors: s.errors,
      dropped: s.dropped,
    };
  }

  #drain(now: number): void {
    for (let ev = this.#client.pollEvent(); ev !== null; ev = this.#client.pollEvent()) this.#onStun(now, ev);
  }

  #onStun(now: number, ev: StunClientEvent): void {
    if (ev.type === 'response' || ev.code === 'STUN_ERROR_RESPONSE') this.#anyStunReply = true;
    if (this.#mappingTx.delete(ev.id)) {
      if (ev.type === 'response') {
        this.#observe(ev.server, ev.mapped);
        if (ev.otherAddress !== undefined) {
          this.#alternate ??= ev.otherAddress;
          // any RFC 5780 reflector whose alternate IP we never contact can run the filtering tests
          this.#maybeStartFiltering(now, ev.server, ev.otherAddress);
        }
      }
      if (this.#mappingTx.size === 0 && this.#state === 'mapping') this.#finishMapping(now);
      return;
    }
    if (this.#filterTx.delete(ev.id)) {
      this.#onFilteringResult(now, ev);
      return;
    }
    if (ev.id === this.#alternateTx) {
      this.#alternateTx = null;
      if (ev.type === 'response') this.#observe(ev.server, ev.mapped);
      this.#maybeFinish();
    }
  }

  #observe(reflector: Address, mapped: Address): void {
    this.#observations.push({ reflector, mapped });
    if (!this.#candidates.some((c) => equivalentAddress(c.address, mapped))) {
      const base = this.#cfg.hostAddresses.find((h) => addressFamily(h) === addressFamily(mapped));
      this.#addCandidate(makeCandidate('srflx', mapped, this.#socket, base));
    }
  }

  #maybeStartFiltering(now: number, server: Address, other: Address): void {
    if (this.#filterStarted || this.#cfg.filteringTests === false) return;
    // RFC 5780 §4.4 is only valid while we never sent to the alternate IP ourselves (NATLAB-NOTES §8.7).
    const otherIp = canonicalHost(other.host);
    if (this.#cfg.reflectors.some((r) => canonicalHost(r.host) === otherIp)) return;
    if (canonicalHost(server.host) === otherIp) return;
    this.#filterStarted = true;
    this.#filterServer = server;
    this.#filterTx.add(
      this.#client.request(now, server, {
        socket: this.#socket,
        changeRequest: { changeIp: true, changePort: true },
        ...this.#filteringTiming(),
      }),
    );
  }

  #filteringTiming(): StunTiming {
    return { rtoMs: 500, rc: 3, rm: 4, ...this.#cfg.filteringStun };
  }

  #onFilteringResult(now: number, ev: StunClientEvent): void {
    const server = this.#filterServer!;
    const changeIp = ev.changeRequest?.changeIp === true;
    if (ev.type === 'response') {
      // A server that ignored CHANGE-REQUEST answers from the address we sent to: that proves nothing.
      const honoured = !equivalentAddress(ev.responseOrigin ?? ev.from, server);
      this.#filtering = !honoured ? 'unknown' : changeIp ? 'endpoint-independent' : 'address-dependent';
      this.#afterFiltering(now);
    } else if (ev.code === 'STUN_TIMEOUT' && changeIp) {
      // Test II failed: Test III, change port only.
      this.#filterTx.add(
        this.#client.request(now, server, {
          socket: this.#socket,
          changeRequest: { changeIp: false, changePort: true },
          ...this.#filteringTiming(),
        }),
      );
    } else if (ev.code === 'STUN_TIMEOUT') {
      this.#filtering = 'address-and-port-dependent';
      this.#afterFiltering(now);
    } else {
      this.#filtering = 'unknown'; // 420 etc.: the server cannot run the test
      this.#afterFiltering(now);
    }
  }

  #afterFiltering(now: number): void {
    if (this.#gatheredEmitted) this.#events.push({ type: 'nat', nat: this.nat() });
    this.#cfg.log?.(`filtering ${this.#filtering}`);
    this.#maybeStartAlternateMapping(now);
    this.#maybeFinish();
  }

  #finishMapping(now: number): void {
    if (this.#observations.length === 0 && !this.#anyStunReply && this.#cfg.reflectors.length > 0) {
      for (const id of this.#filterTx) this.#client.cancel(id);
      this.#filterTx.clear();
      while (this.#client.pollEvent() !== null) {
        /* cancellations */
      }
      this.#state = 'failed';
      this.#cfg.log?.('no reflector answered: UDP_BLOCKED');
      this.#events.push({
        type: 'failed',
        code: 'UDP_BLOCKED',
        message: `no STUN reply from any of ${this.#cfg.reflectors.length} reflector(s): outbound UDP appears blocked`,
      });
      return;
    }
    this.#state = this.#filterTx.size > 0 ? 'filtering' : 'done';
    this.#maybeStartAlternateMapping(now);
    this.#maybeFinish();
  }

  /** RFC 5780 §4.3 test II: with one reflector IP only, ask its alternate IP (after filtering tests). */
  #maybeStartAlternateMapping(now: number): void {
    if (!this.#alternateWanted() || this.#filterTx.size > 0) return;
    if (this.#state === 'mapping' || this.#state === 'failed') return;
    this.#alternateTried = true;
    const primary = this.#observations[0]!.reflector;
    const target = { host: this.#alternate!.host, port: primary.port };
    if (this.#observations.some((o) => equivalentAddress(o.reflector, target))) return;
    this.#alternateTx = this.#client.request(now, target, {
      socket: this.#socket,
      ...this.#filteringTiming(),
    });
  }

  #alternateWanted(): boolean {
    return (
      !this.#alternateTried &&
      this.#alternate !== null &&
      this.#observations.length > 0 &&
      this.nat().mapping === 'unknown'
    );
  }

  #maybeFinish(): void {
    if (this.#state === 'mapping' || this.#state === 'failed') return;
    const waitingForMapping = this.#alternateTx !== null || this.#alternateWanted();
    if (!this.#gatheredEmitted && !waitingForMapping) {
      this.#gatheredEmitted = true;
      const nat = this.nat();
      this.#events.push({ type: 'gathered', candidates: this.candidates(), nat });
      this.#cfg.log?.(`gathered ${this.#candidates.length} candidates, mapping ${nat.mapping}`);
    }
    if (this.#filterTx.size === 0 && !waitingForMapping) this.#state = 'done';
  }

  #addCandidate(c: Candidate): void {
    this.#candidates.push(c);
    this.#events.push({ type: 'candidate', candidate: c });
  }
}
