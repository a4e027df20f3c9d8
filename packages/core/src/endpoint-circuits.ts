/**
 * Relayed paths as the endpoint's connections see them (README "Relayed paths"): the circuit
 * requests of dials (`connect({ relays })`), what a bound circuit becomes (one more candidate
 * route of a handshake, or a standby route of an established connection) and a refused one (a
 * relay-only dial fails `RELAY_REFUSED` once every relay refused), a closed circuit (a dead route
 * for the connections that use it), and the connections as relay hop sessions (up at
 * `connected`, moved at `path_changed`, down once the connection is gone).
 *
 * The relay protocol itself (the relay service, one relay client per relay, channel data in and
 * out) is relays.ts, which this module owns and the endpoint's datagram routing drives through it;
 * which connection is which is connection-table.ts; starting a handshake is the endpoint's.
 */
import type { Identity } from '@srmudp/crypto';
import { type Address, equalBytes, toHex } from '@srmudp/wire';
import type { EndpointEvent } from './api.js';
import type { CoreConnection } from './connection.js';
import type { ConnectionTable } from './connection-table.js';
import { CoreError } from './errors.js';
import { EndpointRelays, type HopInfo, type RelayOptions } from './relays.js';

/** What the relay side of the endpoint needs from the endpoint. */
export interface CircuitsHost {
  readonly identity: Identity;
  random(n: number): Uint8Array;
  /** the connections and their indexes (by key, by id) */
  readonly table: ConnectionTable;
  /** a relay-only dial's first circuit is bound: start its handshake now (its candidates hold the route) */
  startHandshake(now: number, conn: CoreConnection): void;
  /** a channel datagram from a relay carried this end-to-end packet on `route`: handle it as a datagram */
  deliver(now: number, route: Address, packet: Uint8Array): void;
  /** a raw datagram to the network */
  transmit(to: Address, data: Uint8Array): void;
  drop(reason: string): void;
}

/** A circuit request of a dial, until the relay binds or refuses it. */
interface CircuitDial {
  readonly conn: CoreConnection;
  readonly relay: Uint8Array;
}

/** The relay service and clients of one endpoint (relays.ts), and what their circuits mean to its connections. */
export class EndpointCircuits {
  private readonly relays: EndpointRelays;
  /** relay circuit requests of relay-routed dials: `relayHex/requestId` → connection */
  private readonly dials = new Map<string, CircuitDial>();
  private readonly localKey: Uint8Array;
  /**
   * the `now` of the endpoint's latest call: circuits bound or refused and connection events
   * reach the relay side without one of their own
   */
  private lastNow: number;

  constructor(
    private readonly host: CircuitsHost,
    options: RelayOptions | undefined,
    wallClockOffsetMs: number,
    now: number,
  ) {
    this.localKey = host.identity.publicKey;
    this.lastNow = now;
    this.relays = new EndpointRelays(
      {
        identity: host.identity,
        random: host.random,
        hopOf: (key) => this.hopOf(key),
        onBound: (relay, _peer, route, requestId) => this.onBound(relay, route, requestId),
        onRejected: (relay, _peer, requestId, reason) => this.onRejected(relay, requestId, reason),
        onChannelClosed: (at, route, reason) => this.onRouteClosed(at, route, reason === 'peer_gone'),
        deliver: (at, route, packet) => host.deliver(at, route, packet),
        transmit: (to, data) => host.transmit(to, data),
        drop: (reason) => host.drop(reason),
      },
      options,
      wallClockOffsetMs,
    );
  }

  /** The endpoint was called at `now` (handle, handleTimeout, pollTransmit, connect). */
  at(now: number): void {
    this.lastNow = now;
  }

  // ------------------------------------------------------------------ data plane (relays.ts)

  /** Channel data (0x40-0x4f) from `from`: for us, or to forward; false when it is not channel data. */
  handleChannelData(now: number, from: Address, data: Uint8Array): boolean {
    return this.relays.handleChannelData(now, from, data);
  }

  /** A datagram for route handle `to`: the channel datagram to the relay, or null (counted). */
  wrap(now: number, to: Address, packet: Uint8Array): { to: Address; data: Uint8Array } | null {
    return this.relays.wrap(now, to, packet);
  }

  /** The relay service's output to the hop sessions and the network. */
  pump(now: number): void {
    this.relays.pump(now);
  }

  nextTimeout(): number {
    return this.relays.nextTimeout();
  }

  handleTimeout(now: number): void {
    this.relays.handleTimeout(now);
  }

  /** A CONTROL message of the relay protocol from the connection to `key`. */
  onControl(now: number, key: Uint8Array, data: Uint8Array): void {
    this.relays.onControl(now, key, data);
  }

  /** Peers that greeted us as relays (`CoreEndpoint.relays`). */
  readyRelays(): Uint8Array[] {
    return this.relays.readyRelays();
  }

  /** The relay service's counters when serving, else null. */
  stats(): ReturnType<EndpointRelays['stats']> {
    return this.relays.stats();
  }

  // ------------------------------------------------------------------ dials

  /**
   * Asks each of `relays` (an established connection) for a circuit to `conn`'s peer, once per
   * relay and dial: a handshaking connection gets more candidate routes, an established one
   * standby routes (its direct path was lost, or its relayed route died with a relay).
   */
  request(
    now: number,
    conn: CoreConnection,
    relays: readonly { key: Uint8Array; voucher?: Uint8Array }[],
  ): void {
    const target = conn.remoteKey;
    if (target === null) return;
    for (const r of relays) {
      if (equalBytes(r.key, target) || equalBytes(r.key, this.localKey)) continue;
      if (this.pendingVia(conn, r.key)) continue; // asked already: one circuit per relay
      const id = this.relays.connect(now, r.key, target, r.voucher);
      if (id !== null) this.dials.set(`${toHex(r.key)}/${id}`, { conn, relay: r.key.slice() });
    }
  }

  /** True while a circuit request of `conn` awaits its relay's answer. */
  pending(conn: CoreConnection): boolean {
    for (const d of this.dials.values()) if (d.conn === conn) return true;
    return false;
  }

  private pendingVia(conn: CoreConnection, relay: Uint8Array): boolean {
    for (const d of this.dials.values()) if (d.conn === conn && equalBytes(d.relay, relay)) return true;
    return false;
  }

  private onBound(relay: Uint8Array, route: Address, requestId: number): void {
    const k = `${toHex(relay)}/${requestId}`;
    const d = this.dials.get(k);
    this.dials.delete(k);
    if (d === undefined || d.conn.isFinished) return;
    const conn = d.conn;
    const now = this.lastNow;
    if (conn.state === 'handshaking') {
      const started = conn.channels.size > 0;
      conn.channels.addCandidates([route]);
      if (!started) this.host.startHandshake(now, conn);
      return;
    }
    // established (a direct path answered first, or it was lost since): a standby route
    conn.addStandbyAt(now, route);
  }

  private onRejected(relay: Uint8Array, requestId: number, reason: string): void {
    const k = `${toHex(relay)}/${requestId}`;
    const d = this.dials.get(k);
    this.dials.delete(k);
    if (d === undefined) return;
    const conn = d.conn;
    if (conn.isFinished || conn.state !== 'handshaking' || conn.channels.size > 0 || this.pending(conn))
      return;
    conn.fail(
      this.lastNow,
      new CoreError('RELAY_REFUSED', `the relay refused the circuit: ${reason}`, { cause: { reason } }),
    );
  }

  /**
   * A circuit closed (the relay said so, or our hop session with it went down): a connection whose
   * active path is that route has lost it now, not 3 probe timeouts later (an idle one would only
   * notice at its next send), so a standby or new circuit takes over at once. `peerGone`: the
   * relay said the peer's hop session ended (paths.ts: a connection left without a live path
   * waits `relay.peerGoneGraceMs` for the peer, then closes).
   */
  private onRouteClosed(now: number, route: Address, peerGone: boolean): void {
    this.host.drop('relay_channel_closed');
    for (const conn of [...this.host.table.all()]) conn.routeClosedAt(now, route, peerGone);
  }

  // ------------------------------------------------------------------ hop sessions

  /** A connection event, as the relay side learns of its hop sessions. */
  onEvent(ev: EndpointEvent): void {
    const now = this.lastNow;
    if (ev.type === 'connected') {
      this.relays.hopUp(now, ev.remoteKey, ev.path.address, ev.path.kind === 'relayed');
    } else if (ev.type === 'path_changed') {
      const key = this.host.table.get(ev.id)?.remoteKey;
      if (key) this.relays.hopMoved(now, key, ev.path.address);
    }
    // 'closed': the hop goes down once the connection is gone (gone())
  }

  /**
   * `conn` is gone (out of the table). A hop session is up for the relay side until its
   * connection is gone, its closing period included (its 'closed' event comes at the start of
   * it): what the circuits through it carry meanwhile, their CLOSE above all, still leaves and
   * arrives. Not when another connection to the same peer took its place (it reconnected while
   * this one drained): that one is the hop.
   */
  gone(now: number, conn: CoreConnection): void {
    const key = conn.remoteKey;
    if (key === null || conn.path === null) return;
    const current = this.host.table.ofKey(key);
    if (current === undefined || current.isFinished || current.state === 'handshaking')
      this.relays.hopDown(now, key, conn.path.address);
  }

  /** The connection to `key` as a relay hop session: established, or in its closing period. */
  private hopOf(key: Uint8Array): HopInfo | null {
    const conn = this.host.table.ofKey(key);
    if (conn === undefined || conn.isFinished) return null;
    const open = conn.state === 'established';
    if (!open && conn.state !== 'closing') return null;
    const path = conn.path;
    if (path === null) return null;
    return {
      send: (d) => conn.sendControl(d),
      address: path.address,
      relayed: path.kind === 'relayed',
      open,
    };
  }
}
