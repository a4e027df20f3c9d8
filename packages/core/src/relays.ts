/**
 * Relayed paths (RELAYS.md; @srmudp/relay's "How core drives this package"): the endpoint's relay
 * side. It runs, sans-IO like the rest of core,
 *
 * - a `RelayService`, built by the caller's factory (`relay.serve`), when the endpoint serves as
 *   a relay (a gate, a connect-via participant): every established connection is a hop session of
 *   a potential client (`clientUp` / `clientMoved` / `clientDown`), its control messages travel in
 *   CONTROL frames (0x1d) of that connection, and channel datagrams (0x40-0x4f) from a client's
 *   validated address are forwarded as they are;
 * - one `RelayClient` per connection whose peer greeted us as a relay (or that we asked for a
 *   circuit), which turns the circuits it binds into relayed routes.
 *
 * A relayed route is named by a route handle, an `Address` whose host is `relay.<relay key hex>`
 * and whose port is our channel number on that relay. Crypto's channels, the connection's paths
 * (tiers, validation, upgrade, fallback) and the handshake all work on it as on any address; the
 * handle never leaves core: a datagram to it leaves as channel data to the relay's hop address,
 * and channel data from the relay comes in as a datagram from it (4 bytes per packet, no second
 * AEAD: the end-to-end session seals the packet).
 *
 * CONTROL messages start with one protocol byte: `ControlProtocol.Relay` (0x01) for what a relay
 * service sends to its clients, 0x02 for what a client sends to the relay service (both ends of a
 * connection may be relays for each other, so the direction is explicit).
 */
import type { Identity } from '@srmudp/crypto';
import {
  type ChannelCloseReason,
  isChannelData,
  peekChannel,
  RelayClient,
  type RelayClientEvent,
  type RelayClient as RelayClientType,
  type RelayService,
  type RelayServiceFactory,
  type RelayStats,
} from '@srmudp/relay';
import { type Address, addressKey, ControlProtocol, fromHex, toHex } from '@srmudp/wire';

/** CONTROL protocol byte of messages from a relay client to a relay service. */
export const RELAY_TO_SERVICE = 0x02;
/** CONTROL protocol byte of messages from a relay service to its client. */
export const RELAY_TO_CLIENT = ControlProtocol.Relay;

const HANDLE_PREFIX = 'relay.';

/** The route handle of channel `channel` on relay `relayKey` (never sent on the network). */
export function relayRoute(relayKey: Uint8Array, channel: number): Address {
  return { host: HANDLE_PREFIX + toHex(relayKey), port: channel };
}

/** True when `a` is a relayed route handle. */
export function isRelayRoute(a: Address): boolean {
  return a.host.startsWith(HANDLE_PREFIX);
}

/** The relay key and channel of a route handle, or null. */
export function parseRelayRoute(a: Address): { relayHex: string; channel: number } | null {
  if (!isRelayRoute(a)) return null;
  return { relayHex: a.host.slice(HANDLE_PREFIX.length), channel: a.port };
}

/** The relay's peer id named by a route handle. */
export function relayKeyOf(a: Address): Uint8Array | null {
  const r = parseRelayRoute(a);
  if (r === null || r.relayHex.length !== 64) return null;
  try {
    return fromHex(r.relayHex);
  } catch {
    return null;
  }
}

/** The endpoint's relay options (`EndpointConfig.relay`). */
export interface RelayOptions {
  /**
   * Serve as a relay: every connected peer may open circuits through us, admitted by the policy
   * and within the limits given to @srmudp/relay's `relayService({ policy, limits? })` (policies:
   * `groupPolicy` for a gate, `connectViaPolicy` for connect-via, `openPolicy`, `allowListPolicy`,
   * `predicatePolicy`). A factory rather than the policy itself, so core imports only the client
   * side of @srmudp/relay and an endpoint that never serves (a browser's) bundles no serving code.
   */
  serve?: RelayServiceFactory;
  /**
   * Whether to accept a circuit someone opens to us through a relay (before the end-to-end
   * handshake, which the endpoint's `accept` policy still judges). Default: accept.
   */
  acceptCircuit?: (requester: Uint8Array, relay: Uint8Array) => boolean;
  /**
   * A relay service outside core (srmudp-relay's engine, which holds its own `RelayService` for
   * its WebSocket limits): the clients' control messages (CONTROL frames, protocol 0x02) go to it
   * instead of being dropped as `relay_not_serving`; it answers with
   * `ConnectionApi.sendControl([RELAY_TO_CLIENT, ...])`. Ignored when `serve` is set.
   */
  external?: (now: number, client: Uint8Array, body: Uint8Array) => void;
  /**
   * ms a connection waits for its peer after a relay said the peer is gone (CLOSE `peer_gone`)
   * when that relay route was its last live path (no direct path, no other relay): any
   * authenticated packet of the peer (on a new route too) or a new circuit to it cancels the
   * wait; else the connection closes with `CloseCode.PEER_GONE`. A connection with another live
   * path just drops the closed route. Default 5,000 (`DEFAULTS.peerGoneGraceMs`); 0: at once.
   */
  peerGoneGraceMs?: number;
}

/** What the relay side needs from its endpoint. */
export interface RelayHost {
  readonly identity: Identity;
  random(n: number): Uint8Array;
  /**
   * the connection to `key` as the hop, or null: its active route, and whether it is open
   * (established: control messages and new requests) or in its closing period (until it is gone,
   * channel data still flows on its address, so what its circuits carry, CLOSE included, leaves
   * and arrives)
   */
  hopOf(key: Uint8Array): HopInfo | null;
  /** a circuit to `peer` via `relay` is bound (requester side): its route handle */
  onBound(relay: Uint8Array, peer: Uint8Array, route: Address, requestId: number): void;
  /** a circuit request of ours failed */
  onRejected(relay: Uint8Array, peer: Uint8Array, requestId: number, reason: string): void;
  /** a circuit closed: its route is dead (a connection whose active path it is has lost it now) */
  onChannelClosed(now: number, route: Address, reason: ChannelCloseReason): void;
  /** a channel datagram from a relay carried this end-to-end packet on `route` */
  deliver(now: number, route: Address, packet: Uint8Array): void;
  /** raw datagram to the network */
  transmit(to: Address, data: Uint8Array): void;
  drop(reason: string): void;
}

/** A hop session as the relay side sees it (RelayHost.hopOf). */
export interface HopInfo {
  /** queues a CONTROL message in the hop session; false when it cannot (closing, buffer full) */
  send(data: Uint8Array): boolean;
  address: Address;
  relayed: boolean;
  /** established (false during its closing period) */
  open: boolean;
}

interface ClientEntry {
  readonly key: Uint8Array;
  readonly hex: string;
  readonly client: RelayClientType;
}

/** The relay service (when serving) and the relay clients of one endpoint. */
export class EndpointRelays {
  private readonly service: RelayService<Address> | null;
  private readonly clients = new Map<string, ClientEntry>();
  private readonly acceptCircuit: (requester: Uint8Array, relay: Uint8Array) => boolean;
  private readonly external: RelayOptions['external'];

  constructor(
    private readonly host: RelayHost,
    options: RelayOptions | undefined,
    private readonly unixTimeOffsetMs: number,
  ) {
    this.acceptCircuit = options?.acceptCircuit ?? (() => true);
    this.external = options?.external;
    const serve = options?.serve;
    this.service =
      serve === undefined
        ? null
        : serve<Address>({
            relayId: host.identity.publicKey,
            random: (n) => host.random(n),
            hopKey: addressKey,
            unixTimeOffsetMs,
          });
  }

  get serving(): boolean {
    return this.service !== null;
  }

  stats(): RelayStats | null {
    return this.service?.stats() ?? null;
  }

  // ------------------------------------------------------------------ hop sessions

  /** A connection was established (or moved): as the relay, its peer is a client on that hop. */
  hopUp(now: number, key: Uint8Array, address: Address, relayed: boolean): void {
    this.service?.clientUp(now, key, address, { relayed });
  }

  hopMoved(now: number, key: Uint8Array, address: Address): void {
    this.service?.clientMoved(now, key, address);
  }

  /**
   * The connection to `key` is gone (after its closing period, not when it began to close: until
   * then its circuits still carry what their end-to-end sessions send, their CLOSE included, in
   * either direction and in any order with the hop's own CLOSE): its client (on the relay) and
   * our client of it go down (what that client already sent through the service still leaves
   * first: RelayService.clientDown).
   */
  hopDown(now: number, key: Uint8Array, address: Address | null): void {
    this.service?.clientDown(now, key, address ?? undefined);
    const hex = toHex(key);
    const e = this.clients.get(hex);
    if (e !== undefined) {
      e.client.hopDown(now);
      this.drainClient(now, e);
      this.clients.delete(hex);
    }
  }

  /** A CONTROL message of the relay protocol from the connection to `key`. */
  onControl(now: number, key: Uint8Array, data: Uint8Array): void {
    const proto = data[0];
    const body = data.subarray(1);
    if (proto === RELAY_TO_SERVICE) {
      if (this.service === null) {
        if (this.external !== undefined) this.external(now, key.slice(), body.slice());
        else this.host.drop('relay_not_serving');
        return;
      }
      this.service.handleControl(now, key, body);
      return;
    }
    if (proto !== RELAY_TO_CLIENT) {
      this.host.drop('control_unknown_protocol');
      return;
    }
    // from a relay to us as its client: the first message (its greeting) creates the client
    const e = this.clientFor(now, key);
    e.client.handleControl(now, body);
    this.drainClient(now, e);
  }

  /** Asks relay `relay` (an established connection) for a circuit to `target`. */
  connect(now: number, relay: Uint8Array, target: Uint8Array, voucher?: Uint8Array): number | null {
    if (this.host.hopOf(relay)?.open !== true) return null;
    const e = this.clientFor(now, relay);
    try {
      const id = e.client.connect(now, target, voucher ? { voucher } : {});
      return id;
    } catch {
      return null;
    } finally {
      this.drainClient(now, e);
    }
  }

  /** Peers that greeted us as relays (their service is ready for our requests). */
  readyRelays(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const e of this.clients.values())
      if (e.client.isReady && this.host.hopOf(e.key)?.open === true) out.push(e.key.slice());
    return out;
  }

  // ------------------------------------------------------------------ data plane

  /**
   * A channel datagram (0x40-0x4f) from `from`: for us (from a relay we are a client of) it is
   * unwrapped and delivered on its route; else, when serving, forwarded. Returns false when it
   * is not channel data at all.
   */
  handleChannelData(now: number, from: Address, data: Uint8Array): boolean {
    if (!isChannelData(data)) return false;
    for (const e of this.clients.values()) {
      const hop = this.host.hopOf(e.key);
      if (hop === null || hop.address.port !== from.port || hop.address.host !== from.host) continue;
      // both ends of a connection may be relays for each other (connect-via peers): a channel our
      // client of this relay does not hold is the peer's own circuit through us, for our service
      // (each service starts its channel numbers at a random place per client, so the two
      // directions rarely share a number; if they do, the client's circuit wins and the other
      // one's packets fail end-to-end authentication: lost, never misdelivered as data)
      if (this.service !== null && !e.client.hasChannel(peekChannel(data))) break;
      const got = e.client.unwrap(now, data);
      if (got === null) {
        this.host.drop('relay_unwrap');
        return true;
      }
      if (isChannelData(got.packet)) {
        this.host.drop('relay_chain');
        return true;
      }
      this.host.deliver(now, relayRoute(e.key, got.channel), got.packet);
      return true;
    }
    if (this.service !== null) this.service.handleChannelData(now, from, data);
    else this.host.drop('relay_not_serving');
    return true;
  }

  /** A datagram for route handle `to`: the channel datagram to send to the relay, or null (counted). */
  wrap(now: number, to: Address, packet: Uint8Array): { to: Address; data: Uint8Array } | null {
    const r = parseRelayRoute(to);
    const e = r === null ? undefined : this.clients.get(r.relayHex);
    const hop = e === undefined ? null : this.host.hopOf(e.key);
    if (r === null || e === undefined || hop === null || hop.relayed) {
      this.host.drop('relay_route_gone');
      return null;
    }
    const data = e.client.wrap(now, r.channel, packet);
    if (data === null) {
      this.host.drop('relay_channel_closed');
      return null;
    }
    return { to: hop.address, data };
  }

  // ------------------------------------------------------------------ timers, output

  nextTimeout(): number {
    let t = this.service?.pollTimeout() ?? Number.POSITIVE_INFINITY;
    for (const e of this.clients.values())
      t = Math.min(t, e.client.pollTimeout() ?? Number.POSITIVE_INFINITY);
    return t;
  }

  handleTimeout(now: number): void {
    const s = this.service;
    if (s !== null) {
      const t = s.pollTimeout();
      if (t !== null && t <= now) s.handleTimeout(now);
    }
    for (const e of [...this.clients.values()]) {
      const t = e.client.pollTimeout();
      if (t !== null && t <= now) e.client.handleTimeout(now);
      this.drainClient(now, e);
    }
  }

  /** Moves the service's output to the hop sessions and the network. */
  pump(now: number): void {
    const s = this.service;
    if (s === null) return;
    for (let t = s.pollTransmit(now); t !== null; t = s.pollTransmit(now)) {
      if (t.kind === 'channel') {
        this.host.transmit(t.hop, t.data);
        continue;
      }
      const hop = this.host.hopOf(t.client);
      if (hop === null || !hop.send(prefixed(RELAY_TO_CLIENT, t.data)))
        this.host.drop('relay_control_unsent');
    }
    // service events are visible in stats(); nothing else consumes them
    while (s.pollEvent() !== null) {}
  }

  // ------------------------------------------------------------------ internals

  private clientFor(now: number, key: Uint8Array): ClientEntry {
    const hex = toHex(key);
    let e = this.clients.get(hex);
    if (e === undefined) {
      const client = new RelayClient({
        relayId: key.slice(),
        self: this.host.identity.publicKey,
        unixTimeOffsetMs: this.unixTimeOffsetMs,
      });
      e = { key: key.slice(), hex, client };
      this.clients.set(hex, e);
      client.hopUp(now);
    }
    return e;
  }

  /** The client's control output into its hop session, and its events. */
  private drainClient(now: number, e: ClientEntry): void {
    const hop = this.host.hopOf(e.key);
    for (let d = e.client.pollTransmit(now); d !== null; d = e.client.pollTransmit(now)) {
      if (hop === null || !hop.send(prefixed(RELAY_TO_SERVICE, d))) this.host.drop('relay_control_unsent');
    }
    for (let ev = e.client.pollEvent(); ev !== null; ev = e.client.pollEvent())
      this.onClientEvent(now, e, ev);
    // accepting may have produced more control output
    for (let d = e.client.pollTransmit(now); d !== null; d = e.client.pollTransmit(now)) {
      if (hop === null || !hop.send(prefixed(RELAY_TO_SERVICE, d))) this.host.drop('relay_control_unsent');
    }
  }

  private onClientEvent(now: number, e: ClientEntry, ev: RelayClientEvent): void {
    switch (ev.type) {
      case 'incoming': {
        let ok = false;
        try {
          ok = this.acceptCircuit(ev.requester.slice(), e.key.slice()) === true;
        } catch {
          ok = false;
        }
        if (ok) e.client.accept(now, ev.incomingId);
        else e.client.reject(now, ev.incomingId, 'refused');
        return;
      }
      case 'bound':
        if (ev.role === 'requester')
          this.host.onBound(e.key, ev.peer, relayRoute(e.key, ev.channel), ev.requestId);
        return;
      case 'rejected':
        if (ev.kind === 'connect') this.host.onRejected(e.key, ev.peer, ev.requestId, ev.reason);
        return;
      case 'closed':
        this.host.onChannelClosed(now, relayRoute(e.key, ev.channel), ev.reason);
        return;
      default:
        return; // ready, rate_limited, same_key_elsewhere, restarting, denied: in the client's stats
    }
  }
}

function prefixed(proto: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 1);
  out[0] = proto;
  out.set(data, 1);
  return out;
}
