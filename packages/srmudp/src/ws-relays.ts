/**
 * WebSocket relays (`srmudp-relay`) for networks that block UDP (issue 15). Each relay is one
 * `WsTransport` (@srmudp/transport-ws: one binary message = one datagram, reconnecting with
 * backoff) whose address (`wss://host/path`, port) the driver routes core's datagrams to, as it
 * routes the others to the UDP socket. The hop session with the relay is an ordinary core
 * session over that carrier; core's relays.ts drives the relay protocol in it (CONTROL frames:
 * the node says so with an empty one first, and srmudp-relay answers in kind), so circuits,
 * relayed routes, their validation and the upgrade to a UDP path are core's as for a gate.
 *
 * This file owns the carriers and the hop sessions: it opens them, hides their connections from
 * the application, runs the hop handshake again after every reconnect of the WebSocket (a
 * relay restart loses the relay's session), and asks for new circuits for the end-to-end
 * connections whose relayed route died with the old hop (the e2e sessions and streams go on).
 */

import { type Address, type EndpointEvent, RELAY_TO_SERVICE, relayKeyOf } from '@srmudp/core';
import { nodeWebSocket, type WebSocketFactory, type WsAddress, WsTransport } from '@srmudp/transport-ws';
import { toHex } from '@srmudp/wire';
import { parseWsRelay, type WsRelaySpec } from './config.js';
import type { DatagramCarrier, Driver } from './driver.js';
import { logger } from './log.js';
import type { Timer } from './timer-queue.js';

const log = logger('srmudp:ws-relay');

/** A hop handshake that failed is tried again this long after (while the WebSocket is open). */
const HOP_RETRY_MS = 1_000;
const HOP_RETRY_MAX_MS = 30_000;
/** How often readiness is looked at while a hop is up but not greeted yet. */
const READY_POLL_MS = 50;
/** A hop the relay has not greeted within this long (an old relay, admission denied) is closed and retried later. */
const GREETING_TIMEOUT_MS = 10_000;
/** Relays learnt from targets' records (beyond the configured ones) kept at most. */
const MAX_LEARNT = 4;
/**
 * A learnt relay no connection uses (no relayed path through it, not asked for by a dial) is
 * closed after this long: its WebSocket and hop session cost the relay and us for nothing. A
 * connection whose direct path is lost later opens it again from the peer's home relay.
 */
export const LEARNT_IDLE_MS = 60_000;
/** How often learnt relays are looked at for idleness (at most; half the idle time when shorter). */
const SWEEP_MS = 15_000;

export type WsRelayMode = 'auto' | 'always' | 'never';

export type WsRelayState = 'connecting' | 'handshaking' | 'ready' | 'down' | 'closed';

/** What `status()` says about one relay. */
export interface WsRelayStatus {
  url: string;
  peerId: string;
  state: WsRelayState;
  /** whether it is this node's home relay (published in its record) */
  home: boolean;
  /** WebSockets opened so far (1 + reconnects) */
  opens: number;
  /** hop handshakes completed so far */
  hops: number;
}

interface Entry {
  readonly spec: WsRelaySpec;
  readonly keyHex: string;
  readonly home: boolean;
  /** from the `relays` option (else learnt from a target's record) */
  readonly configured: boolean;
  readonly transport: WsTransport;
  readonly address: WsAddress;
  hopId: number | null;
  /** the hop session is established and the relay's greeting arrived (core's client is ready) */
  ready: boolean;
  hops: number;
  /** hop attempts that failed or went ungreeted in a row */
  failures: number;
  retry: Timer | null;
  /** e2e peers (key hex) relayed through this relay, to ask for circuits again after a new hop */
  readonly relayed: Map<string, Uint8Array>;
  /** the driver's clock when it was last used (in use at a sweep, or asked for by a dial) */
  usedAt: number;
}

export interface WsRelaysOptions {
  relays: readonly WsRelaySpec[];
  mode: WsRelayMode;
  token?: string;
  /** how to open WebSockets (default: `ws`) */
  webSocket?: WebSocketFactory;
  /** whether a connection's path runs through relay `key` now (learnt relays idle out otherwise) */
  inUse?: (key: Uint8Array) => boolean;
  /** idle time after which a learnt relay is closed (default {@link LEARNT_IDLE_MS}) */
  learntIdleMs?: number;
}

/** A relay option that config.ts validated: its parts. */
export function parseWsRelaySpec(text: string): WsRelaySpec {
  const r = parseWsRelay(text);
  if (typeof r === 'string') throw new TypeError(`relay ${JSON.stringify(text)}: ${r}`);
  return r;
}

const addrKey = (a: Address) => `${a.host}|${a.port}`;

/** The WebSocket relays of a node: carriers, hop sessions, readiness. */
export class WsRelays implements DatagramCarrier {
  readonly mode: WsRelayMode;
  readonly #byAddress = new Map<string, Entry>();
  readonly #byKey = new Map<string, Entry>();
  readonly #byHop = new Map<number, Entry>();
  readonly #waiters = new Set<() => void>();
  /**
   * hop sessions of relays closed for idleness, with their carrier address: their last events are
   * swallowed, and what core still sends there (the CLOSE, while the session drains) is dropped
   * here rather than handed to the UDP socket; forgotten at the session's 'closed'
   */
  readonly #retiredHops = new Map<number, string>();
  readonly #retiredAddresses = new Set<string>();
  readonly #o: WsRelaysOptions;
  #driver: Driver | null = null;
  #closed = false;
  #sweep: Timer | null = null;
  #idleClosed = 0;

  constructor(options: WsRelaysOptions) {
    this.#o = options;
    this.mode = options.mode;
  }

  /** Configured relays (mode not 'never'). */
  get configured(): boolean {
    return this.mode !== 'never' && this.#o.relays.length > 0;
  }

  /** Starts the home relay's carrier (and hop), once the driver runs. */
  start(driver: Driver): void {
    this.#driver = driver;
    if (!this.configured) return;
    const home = this.#o.relays[0] as WsRelaySpec;
    this.#add(home, true, true);
  }

  /** The home relay (published in our record), or null. */
  home(): { url: string; peerId: Uint8Array } | null {
    if (!this.configured) return null;
    const h = this.#o.relays[0] as WsRelaySpec;
    return { url: h.url, peerId: h.key };
  }

  // ------------------------------------------------------------------ the driver's carrier

  owns(to: Address): boolean {
    // asked for every datagram the node sends: no key string when no relay address exists
    if (this.#byAddress.size === 0 && this.#retiredAddresses.size === 0) return false;
    const k = addrKey(to);
    return this.#byAddress.has(k) || this.#retiredAddresses.has(k);
  }

  send(data: Uint8Array, to: Address): void {
    // to a retired relay: its WebSocket closes now, the datagram is lost (as on a closed socket)
    this.#byAddress.get(addrKey(to))?.transport.send(data);
  }

  // ------------------------------------------------------------------ readiness

  /** Peer ids of relays whose hop is up and greeted: candidates for core's `relays`. */
  readyKeys(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const e of this.#byKey.values()) if (e.ready) out.push(e.spec.key);
    return out;
  }

  /** Whether `relayKey` is one of our WebSocket relays (a relayed path through it is over WebSocket). */
  isWsRelay(relayKey: Uint8Array): boolean {
    return this.#byKey.has(toHex(relayKey));
  }

  /** The carrier of a relayed path, from its route handle: 'websocket' or 'udp'. */
  carrierOf(route: Address): 'websocket' | 'udp' {
    const key = relayKeyOf(route);
    return key !== null && this.isWsRelay(key) ? 'websocket' : 'udp';
  }

  /**
   * Resolves true once a relay is ready (at once when one is), false after `timeoutMs` or when
   * the signal aborts or the node closes.
   */
  whenReady(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.readyKeys().length > 0) return Promise.resolve(true);
    if (this.#closed || this.#driver === null || signal?.aborted) return Promise.resolve(false);
    const driver = this.#driver;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        timer.cancel();
        this.#waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const check = () => {
        if (this.readyKeys().length > 0) done(true);
        else if (this.#closed) done(false);
      };
      const onAbort = () => done(false);
      const timer = driver.after(timeoutMs, () => done(false));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(check);
    });
  }

  /**
   * A relay to reach a peer at (its home relay, from its record or card): a carrier and hop to
   * it are opened when it is not one of ours yet. Returns whether it is ready now.
   */
  ensure(spec: WsRelaySpec): boolean {
    if (this.#closed || this.#driver === null || this.mode === 'never') return false;
    let e = this.#byKey.get(toHex(spec.key));
    if (e === undefined) {
      // a hostile or stale record must not make us open WebSockets without bound
      let learnt = 0;
      for (const x of this.#byKey.values()) if (!x.configured) learnt++;
      if (learnt >= MAX_LEARNT) return false;
      e = this.#add(spec, false, false);
      this.#scheduleSweep();
    }
    e.usedAt = this.#driver.clock();
    return e.ready;
  }

  /** An e2e connection to `peer` now runs through relay route `route`: remembered for after a new hop. */
  noteRelayed(route: Address, peer: Uint8Array): void {
    const key = relayKeyOf(route);
    const e = key === null ? undefined : this.#byKey.get(toHex(key));
    if (e !== undefined && e.relayed.size < 4096) e.relayed.set(toHex(peer), peer.slice());
  }

  /** An e2e connection to `peer` ended. */
  forget(peer: Uint8Array): void {
    const hex = toHex(peer);
    for (const e of this.#byKey.values()) e.relayed.delete(hex);
  }

  /** Learnt relays closed because no connection used them ({@link LEARNT_IDLE_MS}). */
  get idleClosed(): number {
    return this.#idleClosed;
  }

  status(): WsRelayStatus[] {
    return [...this.#byKey.values()].map((e) => ({
      url: e.spec.url,
      peerId: e.spec.peerId,
      state: this.#closed
        ? 'closed'
        : e.ready
          ? 'ready'
          : e.hopId !== null
            ? 'handshaking'
            : e.transport.state === 'open'
              ? 'handshaking'
              : e.transport.state === 'connecting'
                ? 'connecting'
                : 'down',
      home: e.home,
      opens: e.transport.stats().opens,
      hops: e.hops,
    }));
  }

  // ------------------------------------------------------------------ core's events

  /**
   * An endpoint event: true when it belongs to a hop session (the façade leaves it alone).
   * Also called for every 'connected' / 'closed' of other connections (relayed e2e bookkeeping
   * is done by the caller through noteRelayed / forget).
   */
  onEndpointEvent(ev: EndpointEvent): boolean {
    if (!('id' in ev)) return false;
    const retired = this.#retiredHops.get(ev.id);
    if (retired !== undefined) {
      if (ev.type === 'closed' || ev.type === 'connect_failed') {
        this.#retiredHops.delete(ev.id);
        if (![...this.#retiredHops.values()].includes(retired)) this.#retiredAddresses.delete(retired);
      }
      return true;
    }
    const e = this.#byHop.get(ev.id);
    if (e === undefined) return false;
    const driver = this.#driver as Driver;
    switch (ev.type) {
      case 'connected': {
        e.hops++;
        // "I speak CONTROL frames": srmudp-relay greets this session in them (again)
        // core announces a session only while it is established (one closed in the turn that
        // connected it ends in 'connect_failed' instead, which retries the hop)
        driver.endpoint.connection(ev.id)?.sendControl(Uint8Array.of(RELAY_TO_SERVICE));
        log(`hop to ${e.spec.url} up (${e.hops})`);
        this.#pollReady(e, driver.clock() + GREETING_TIMEOUT_MS);
        return true;
      }
      case 'connect_failed':
      case 'closed': {
        this.#byHop.delete(ev.id);
        e.hopId = null;
        this.#setReady(e, false);
        log(`hop to ${e.spec.url} ${ev.type === 'closed' ? 'closed' : 'failed'}`);
        this.#scheduleHop(e);
        return true;
      }
      case 'stream_opened':
        // the relay serves no streams
        driver.endpoint.connection(ev.id)?.reset(ev.streamId, 1);
        return true;
      default:
        // its greeting in a MESSAGE (before it heard our CONTROL frame), path changes: nothing to do
        return true;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sweep?.cancel();
    this.#sweep = null;
    for (const e of this.#byKey.values()) {
      e.retry?.cancel();
      e.retry = null;
    }
    for (const w of [...this.#waiters]) w();
    await Promise.allSettled([...this.#byKey.values()].map((e) => e.transport.close()));
  }

  // ------------------------------------------------------------------ internals

  #add(spec: WsRelaySpec, home: boolean, configured: boolean): Entry {
    const transport = new WsTransport({
      url: spec.url,
      webSocket: this.#o.webSocket ?? nodeWebSocket(),
      ...(this.#o.token !== undefined ? { token: this.#o.token } : {}),
      // core paces and retransmits; a deep WebSocket buffer is only queueing delay
      maxBufferedBytes: 2 << 20,
      reconnect: { initialDelayMs: 250, maxDelayMs: 5_000 },
    });
    const e: Entry = {
      spec,
      keyHex: toHex(spec.key),
      home,
      configured,
      transport,
      address: transport.remote,
      hopId: null,
      ready: false,
      hops: 0,
      failures: 0,
      retry: null,
      relayed: new Map(),
      usedAt: this.#driver?.clock() ?? 0,
    };
    this.#byAddress.set(addrKey(e.address), e);
    this.#byKey.set(e.keyHex, e);
    transport.onDatagram((data, from) => this.#driver?.receiveCarried(data, from));
    transport.onError((err) => log(`${spec.url}: ${err.code}: ${err.message}`));
    transport.onState((change) => {
      // closed (the node, or this learnt relay for idleness): nothing more to do with it
      if (this.#closed || this.#byKey.get(e.keyHex) !== e) return;
      log(`${spec.url}: ${change.state}${change.error ? ` (${change.error.code})` : ''}`);
      if (change.state === 'open') this.#newHop(e);
      else if (change.state === 'reconnecting' || change.state === 'closed') this.#setReady(e, false);
    });
    transport.start();
    return e;
  }

  #scheduleSweep(): void {
    const driver = this.#driver;
    if (driver === null || this.#closed || this.#sweep !== null) return;
    const idleMs = this.#o.learntIdleMs ?? LEARNT_IDLE_MS;
    this.#sweep = driver.after(Math.min(SWEEP_MS, Math.ceil(idleMs / 2)), () => {
      this.#sweep = null;
      this.#closeIdle();
    });
  }

  /** Learnt relays no connection used for `learntIdleMs` are closed (configured ones never). */
  #closeIdle(): void {
    const driver = this.#driver;
    if (driver === null || this.#closed) return;
    const now = driver.clock();
    const idleMs = this.#o.learntIdleMs ?? LEARNT_IDLE_MS;
    let learnt = 0;
    for (const e of [...this.#byKey.values()]) {
      if (e.configured) continue;
      if (this.#o.inUse?.(e.spec.key) === true) e.usedAt = now;
      if (now - e.usedAt < idleMs) {
        learnt++;
        continue;
      }
      log(`learnt relay ${e.spec.url} unused for ${Math.round((now - e.usedAt) / 1000)} s: closed`);
      this.#idleClosed++;
      this.#byKey.delete(e.keyHex);
      this.#byAddress.delete(addrKey(e.address));
      e.retry?.cancel();
      e.retry = null;
      e.ready = false;
      if (e.hopId !== null) {
        this.#byHop.delete(e.hopId);
        this.#retiredHops.set(e.hopId, addrKey(e.address));
        this.#retiredAddresses.add(addrKey(e.address));
        driver.endpoint.connection(e.hopId)?.close(now, 0, 'relay unused');
        e.hopId = null;
      }
      // the CLOSE frame goes out before the WebSocket closes (best effort)
      driver.schedule();
      const transport = e.transport;
      driver.after(100, () => void transport.close().catch(() => {}));
    }
    if (learnt > 0) this.#scheduleSweep();
  }

  /** A (re)opened WebSocket: the hop handshake runs again (the relay may have restarted). */
  #newHop(e: Entry): void {
    const driver = this.#driver;
    if (driver === null || driver.stopped || this.#closed) return;
    const now = driver.clock();
    e.retry?.cancel();
    e.retry = null;
    if (e.hopId !== null) {
      // the old session is of no use: its relay instance may be gone; core's relay client of it
      // goes down with it (its circuits close, the e2e connections keep their sessions)
      const old = e.hopId;
      this.#byHop.delete(old);
      e.hopId = null;
      this.#setReady(e, false);
      driver.endpoint.connection(old)?.close(now, 0, 'carrier reconnected');
    }
    try {
      const c = driver.endpoint.connect(now, { addresses: [{ ...e.address }], remoteKey: e.spec.key });
      e.hopId = c.id;
      this.#byHop.set(c.id, e);
    } catch (err) {
      log(`hop to ${e.spec.url}: ${err instanceof Error ? err.message : String(err)}`);
      this.#scheduleHop(e);
    }
    driver.schedule();
  }

  #scheduleHop(e: Entry): void {
    const driver = this.#driver;
    if (driver === null || this.#closed || e.retry !== null) return;
    // 1 s, doubling per failed hop in a row up to 30 s (reset when the relay greets)
    const delay = Math.min(HOP_RETRY_MAX_MS, HOP_RETRY_MS * 2 ** Math.min(5, e.failures++));
    e.retry = driver.after(delay, () => {
      e.retry = null;
      if (e.hopId === null && e.transport.state === 'open') this.#newHop(e);
    });
  }

  /** Ready once core's relay client of this relay was greeted (endpoint.relays() names it). */
  #pollReady(e: Entry, deadline: number): void {
    const driver = this.#driver;
    if (driver === null || this.#closed || e.hopId === null) return;
    const ready = driver.endpoint.relays().some((k) => toHex(k) === e.keyHex);
    if (ready) {
      this.#setReady(e, true);
      return;
    }
    if (driver.clock() >= deadline) {
      // no greeting (a relay that does not speak CONTROL frames, or that denies us): closed; its
      // 'closed' event schedules another attempt
      log(`hop to ${e.spec.url}: no greeting within ${GREETING_TIMEOUT_MS} ms`);
      driver.endpoint.connection(e.hopId)?.close(driver.clock(), 0, 'no relay greeting');
      return;
    }
    driver.after(READY_POLL_MS, () => this.#pollReady(e, deadline));
  }

  #setReady(e: Entry, ready: boolean): void {
    if (e.ready === ready) return;
    e.ready = ready;
    log(`relay ${e.spec.url} ${ready ? 'ready' : 'not ready'}`);
    if (!ready) return;
    e.failures = 0;
    const driver = this.#driver as Driver;
    // the e2e connections whose relayed route died with the previous hop: a new circuit each
    // (core adds it to the established connection as a route; streams go on)
    for (const peer of e.relayed.values()) {
      try {
        driver.endpoint.connect(driver.clock(), {
          addresses: [],
          remoteKey: peer,
          relays: [{ key: e.spec.key }],
        });
      } catch {
        e.relayed.delete(toHex(peer));
      }
    }
    driver.schedule();
    for (const w of [...this.#waiters]) w();
  }
}
