/**
 * The relay fallback (issues 14, 18, DESIGN.md §6), one rule: which relays a connection goes
 * through when its direct route is hopeless or lost, and how a relayed connection finds its way
 * back to UDP.
 *
 * - Relays for a dial ({@link RelayFallback.relaysFor}): the configured gates we keep a hop
 *   session with, the gates the target's record lists (gates.ts's book, dialled on demand by
 *   {@link RelayFallback.reachGates}), connect-via peers (with our voucher), WebSocket relays
 *   whose hop is up.
 * - Before a dial: the target's home relay is opened, and the dial waits for a WebSocket relay
 *   when it must go through one (mode 'always', or UDP blocked here).
 * - A lost path: circuits are asked for again until the connection moves; a lost relayed path
 *   redials the configured gate it went through.
 * - The way back: a relayed connection keeps the target's direct candidates, probed again (with
 *   a new punch) when UDP works again here.
 *
 * The carriers and hop sessions of WebSocket relays are ws-relays.ts's; the punch over a relayed
 * connection is relayed-punch.ts's; the dial itself is dialer.ts's.
 */

import { randomBytes } from 'node:crypto';
import type { EndpointEvent } from '@srmudp/core';
import type { Identity } from '@srmudp/crypto';
import { peerIdToString } from '@srmudp/crypto';
import type { NatSession } from '@srmudp/punch';
import { createVoucher } from '@srmudp/relay';
import type { Gate } from '@srmudp/rendezvous';
import { equalBytes, keyToHex, toHex } from '@srmudp/wire';
import type { WsRelaySpec } from './config.js';
import { type Connection, onRelayedPath } from './connection.js';
import type { Driver } from './driver.js';
import { GateBook, type KnownGate } from './gates.js';
import { logger, short } from './log.js';
import type { ResolvedTarget } from './resolve.js';
import type { WsRelays } from './ws-relays.js';

/** Same namespace as the façade's lines (`DEBUG=srmudp:node`). */
const log = logger('srmudp:node');

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

/** A named peer as the fallback sees it (a configured gate is the named peer `gate-<i>`). */
export interface HopPeer {
  readonly name: string;
  readonly key: Uint8Array | null;
  readonly conn: Connection | null;
}

/** What the fallback needs from the node. */
export interface RelayFallbackHost {
  readonly identity: Identity;
  readonly driver: Driver;
  readonly closing: boolean;
  readonly wsRelays: Pick<WsRelays, 'mode' | 'configured' | 'ensure' | 'whenReady' | 'readyKeys'>;
  readonly session: Pick<NatSession, 'udpBlocked'>;
  /** how many gates are configured (`relay.gates`): named peers `gate-0` … */
  readonly gateCount: number;
  /** the named peer `name`, if any */
  namedPeer(name: string): HopPeer | undefined;
  /** every named peer */
  namedPeers(): Iterable<HopPeer>;
  /** the established connection with this peer (key in hex), if any */
  liveConnection(hex: string): Connection | undefined;
  /** every connection known by core id (closed ones are skipped by the caller) */
  connections(): Iterable<Connection>;
  /** dials a resolved target (dialer.ts) */
  dial(target: ResolvedTarget, signal?: AbortSignal): Promise<Connection>;
  /** a new punch over the relayed connection of core id `id` (relayed-punch.ts) */
  punchAgain(id: number): void;
  kick(): void;
}

type RelayChoice = { key: Uint8Array; voucher?: Uint8Array };

const same = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((b, j) => b === y[j]);

export class RelayFallback {
  readonly #host: RelayFallbackHost;
  /** gates learned from the records of dialled peers (gates.ts) */
  readonly #gateBook = new GateBook();
  /** the last path event of each connection (core id): a loss, or a move */
  readonly #pathEvents = new Map<number, { lost: boolean; seq: number }>();
  #pathEventSeq = 0;
  /** the home relays of dialled peers (their records), by key hex: reopened on a lost path */
  readonly #homeOf = new Map<string, WsRelaySpec>();
  /** the direct candidates of relayed connections' targets (afterDial), by key hex */
  readonly #directOf = new Map<string, { host: string; port: number }[]>();
  /** the last gathering said UDP_BLOCKED (udpBack runs when one succeeds again) */
  #udpWasBlocked = false;

  constructor(host: RelayFallbackHost) {
    this.#host = host;
  }

  /**
   * Relays to reach `remoteKey` through when a direct dial is hopeless: the gates we have a live
   * connection with (not the target itself), the target's learned gates we are connected to,
   * connect-via relays (with our voucher), WebSocket relays whose hop is up.
   */
  relaysFor(remoteKey: Uint8Array): RelayChoice[] {
    const h = this.#host;
    const out: RelayChoice[] = [];
    for (let i = 0; i < h.gateCount; i++) {
      const c = h.namedPeer(`gate-${i}`)?.conn;
      const key = c && !c.isClosed ? c.remoteKey : null;
      if (key && !same(key, remoteKey)) out.push({ key });
    }
    // gates the target's record lists (or self-announced ones), once connected
    for (const g of this.#gateBook.for(remoteKey)) {
      const c = h.liveConnection(toHex(g.key));
      if (c && !same(g.key, remoteKey) && !out.some((r) => same(r.key, g.key))) out.push({ key: g.key });
    }
    // connect-via: any other peer that serves as a relay for us, with our voucher (it may be
    // connected to the target too; if not, it refuses with target_unavailable)
    for (const key of h.driver.endpoint.relays()) {
      if (same(key, remoteKey) || out.some((r) => same(r.key, key))) continue;
      const voucher = createVoucher(
        h.identity,
        { relay: key, target: remoteKey, expiresAt: Date.now() + VOUCHER_TTL_MS },
        (n) => new Uint8Array(randomBytes(n)),
      );
      out.push({ key, voucher });
    }
    // WebSocket relays whose hop is up (the target is reached if it is a client there too)
    for (const key of h.wsRelays.readyKeys()) {
      if (same(key, remoteKey) || out.some((r) => same(r.key, key))) continue;
      out.push({ key });
    }
    return out;
  }

  /** Notes the gates a dialled peer's record lists. */
  learnGates(remoteKey: Uint8Array, gates: readonly Gate[] | undefined): void {
    this.#gateBook.learn(remoteKey, gates);
  }

  /** Dials the learned gates of `remoteKey` not connected yet (null: none to dial). */
  reachGates(remoteKey: Uint8Array): Promise<boolean> | null {
    const h = this.#host;
    const self = h.identity.publicKey;
    const todo = this.#gateBook
      .for(remoteKey)
      .filter((g) => !equalBytes(g.key, self) && h.liveConnection(toHex(g.key)) === undefined);
    if (todo.length === 0) return null;
    log(
      `direct dial of ${short(peerIdToString(remoteKey))} hopeless: dialling ${todo.length} gate(s) from its record`,
    );
    const dialGate = (g: KnownGate) =>
      h.dial(
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
   * Before a dial: the target's home relay (from its record) is opened when we have none in
   * common with it, and when dials go through the WebSocket relays (mode 'always', or UDP is
   * blocked here) we wait for one to be ready (bounded), so the dialer finds it in relaysFor.
   */
  async beforeDial(target: ResolvedTarget, signal: AbortSignal | undefined): Promise<void> {
    const h = this.#host;
    const ws = h.wsRelays;
    if (ws.mode === 'never') return;
    if (target.homeRelay && target.key) {
      ws.ensure(target.homeRelay);
      // bounded: one entry per peer dialled with a home relay (a map of the last 256)
      const hex = toHex(target.key);
      this.#homeOf.delete(hex);
      this.#homeOf.set(hex, target.homeRelay);
      if (this.#homeOf.size > 256) this.#homeOf.delete(this.#homeOf.keys().next().value as string);
    }
    if (!ws.configured && !target.homeRelay) return;
    if (ws.mode === 'auto' && !h.session.udpBlocked() && target.addresses.length > 0) {
      // UDP not known to be blocked: the dial goes out at once; if the verdict comes during it,
      // the session ends the dial (dial_failed) and the dialer goes through the relays then
      return;
    }
    const ready = await ws.whenReady(RELAY_READY_WAIT_MS, signal);
    if (ready && ws.mode === 'always' && target.key && !h.liveConnection(toHex(target.key))) {
      // 'always': the circuits are asked for beside the UDP dial (core's handshake takes the
      // first route that answers; a direct one found later is preferred by its path tiers)
      const relays = this.relaysFor(target.key);
      if (relays.length > 0 && !h.closing) {
        h.driver.endpoint.connect(h.driver.clock(), { addresses: [], remoteKey: target.key, relays });
        h.kick();
      }
    }
  }

  /**
   * After a dial: a connection that came up relayed keeps the target's direct candidates; core
   * probes them in the background and moves to the first that validates (UDP that works again,
   * a NAT that lets a punch through later), streams carrying on.
   */
  afterDial(conn: Connection, target: ResolvedTarget): void {
    if (!onRelayedPath(conn) || target.addresses.length === 0 || !target.key) return;
    const h = this.#host;
    const addresses = target.addresses.map((a) => ({ host: a.host, port: a.port }));
    // kept for when UDP comes back here (udpBack): probed again then (bounded: one entry per
    // live relayed connection, dropped when it closes)
    this.#directOf.set(toHex(target.key), addresses);
    h.driver.endpoint.connect(h.driver.clock(), { addresses, remoteKey: target.key });
    h.kick();
  }

  /**
   * A path event of connection `c`: the direct path died (a NAT reboot, a network
   * change), so a circuit through a gate, if any, becomes a standby route the connection falls
   * back to (core validates it); a relayed path died, so its relay is redialled.
   */
  onPathEvent(c: Connection, e: Extract<EndpointEvent, { type: 'path_lost' | 'path_changed' }>): void {
    this.#pathEvents.set(e.id, { lost: e.type === 'path_lost', seq: this.#pathEventSeq++ });
    if (e.type === 'path_lost' && e.path.kind === 'direct') this.#circuitsForLostPath(c, 0);
    if (e.path.kind === 'relayed' && e.type === 'path_lost') this.#relayLost(c, e.path.via);
  }

  /** A gathering ended: UDP blocked here, or working again after it was (udpBack). */
  onGathered(blocked: boolean): void {
    if (this.#udpWasBlocked && !blocked && !this.#host.closing) this.#udpBack();
    this.#udpWasBlocked = blocked;
  }

  /** Connection `c` (core id `id`) closed. */
  forget(id: number, c: Connection): void {
    this.#pathEvents.delete(id);
    this.#directOf.delete(keyToHex(c.remoteKey));
  }

  /**
   * The direct path of `c` was lost: asks the gates (and connect-via relays) for a circuit, a
   * standby route core falls back to; again every {@link LOST_RETRY_MS} (at most
   * {@link LOST_RETRIES} times) while the last path event of the connection is a loss, since the
   * far end's hop may be unreachable for a while too (its NAT rebooted: its gate hears from it
   * again at its next keepalive).
   */
  #circuitsForLostPath(c: Connection, attempt: number): void {
    const h = this.#host;
    if (c.isClosed || h.closing || attempt >= LOST_RETRIES) return;
    // the peer's home relay, if we learnt one and closed it for idleness: open again (ready for
    // one of the next attempts)
    const home = this.#homeOf.get(keyToHex(c.remoteKey));
    if (home !== undefined && attempt === 0) h.wsRelays.ensure(home);
    const relays = this.relaysFor(c.remoteKey);
    if (relays.length > 0) {
      log(`path of ${short(c.peerId)} lost: asking ${relays.length} relay(s) for a circuit`);
      h.driver.endpoint.connect(h.driver.clock(), { addresses: [], remoteKey: c.remoteKey, relays });
      h.kick();
    }
    h.driver.after(LOST_RETRY_MS, () => {
      const last = this.#pathEvents.get(c.core.id);
      if (last?.lost === true) this.#circuitsForLostPath(c, attempt + 1);
    });
  }

  /**
   * A relayed path of `c` through `via` was lost: the relay may have restarted (its hop session
   * with us is gone on its side, and ours would idle out only after 30 s), so a configured gate's
   * hop session is closed and redialled now (the named peer's redial), and circuits are asked for
   * again until the connection moves ({@link RelayFallback.#circuitsForLostPath}).
   */
  #relayLost(c: Connection, via: Uint8Array): void {
    for (const p of this.#host.namedPeers()) {
      if (!p.name.startsWith('gate-') || p.key === null || !equalBytes(p.key, via)) continue;
      const hop = p.conn;
      if (hop && !hop.isClosed) {
        log(`relayed path of ${short(c.peerId)} via ${p.name} lost: redialling the gate`);
        void hop.close(0, 'relayed path lost: redial').catch(() => {});
      }
    }
    this.#circuitsForLostPath(c, 0);
  }

  /**
   * UDP works again here (a gathering succeeded after UDP_BLOCKED): every connection still on a
   * relayed path tries a UDP one without breaking its streams. Core probes the target's direct
   * candidates again at once (its upgrade; otherwise only every 60 s), a punch over the relayed
   * session runs now with our new reflexive candidates (the far end's NAT needs it to open), and
   * a background punch still running from the blocked time is replaced.
   */
  #udpBack(): void {
    const h = this.#host;
    let n = 0;
    for (const c of h.connections()) {
      if (!onRelayedPath(c)) continue;
      n++;
      const direct = this.#directOf.get(keyToHex(c.remoteKey));
      if (direct !== undefined && direct.length > 0)
        h.driver.endpoint.connect(h.driver.clock(), { addresses: direct, remoteKey: c.remoteKey });
      h.punchAgain(c.core.id);
    }
    log(`UDP works again: ${n} relayed connection(s) try a UDP path`);
    h.kick();
  }
}
