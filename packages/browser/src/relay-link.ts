// The relay link of a browser node: the WebSocket to the current relay (the carrier of every
// datagram the node sends and receives: hop session packets and its circuits' channel data), the
// hop session with the relay over it (dialled when the socket opens, again when it fails), "I
// speak CONTROL frames" once it is up, the relay's greeting (core's relay client of it is ready:
// circuits can be asked for), and the next relay after three failed connection attempts in a row.
// It is the one owner of the carrier policy: how the WebSocket is opened (factory, token, buffer
// bound), its reconnect backoff, and when to give up on a relay for the next.
import { type Address, type CoreEndpoint, type EndpointEvent, RELAY_TO_SERVICE } from '@srmudp/core';
import {
  type WebSocketFactory,
  type WsStateChange,
  WsTransport,
  type WsTransportOptions,
} from '@srmudp/transport-ws/portable';
import { compareBytes, SrmudpError } from '@srmudp/wire';
import type { LoopHost } from './loop.js';

/** The WebSocket's reconnect backoff: the first delay, doubling (jittered) up to the last. */
export interface RelayReconnect {
  /** ms before the first reconnect attempt (default 250) */
  initialDelayMs?: number;
  /** ms between attempts at most (default 5,000) */
  maxDelayMs?: number;
}

/** The node's options the link opens its WebSockets with. */
export interface CarrierOptions {
  webSocket: WebSocketFactory;
  /** bearer token for a relay with token admission */
  token?: string | undefined;
  /** the loop's high-water mark; the WebSocket's own bound is 4x that, at least 1 MiB */
  highWaterBytes: number;
  relayReconnect?: RelayReconnect | undefined;
}

/** Opens a carrier with the link's policy (tests pass their own; default `new WsTransport`). */
export type CarrierFactory = (options: WsTransportOptions) => WsTransport;

/** another relay after this many failed connection attempts in a row (when there is one) */
const FAILURES_BEFORE_NEXT_RELAY = 3;
const RECONNECT_MIN_MS = 10;
const RECONNECT_MAX_MS = 600_000;

/** The reconnect backoff of `relayReconnect` with its defaults; SrmudpError INVALID_OPTIONS when wrong. */
export function relayReconnectDelays(r: RelayReconnect | undefined): {
  initialDelayMs: number;
  maxDelayMs: number;
} {
  if (r !== undefined && (typeof r !== 'object' || r === null))
    throw new SrmudpError('INVALID_OPTIONS', '"relayReconnect" expected { initialDelayMs?, maxDelayMs? }');
  const initialDelayMs = r?.initialDelayMs ?? 250;
  const maxDelayMs = r?.maxDelayMs ?? Math.max(5_000, initialDelayMs);
  for (const [name, v] of [
    ['initialDelayMs', initialDelayMs],
    ['maxDelayMs', maxDelayMs],
  ] as const)
    if (!(Number.isFinite(v) && v >= RECONNECT_MIN_MS && v <= RECONNECT_MAX_MS))
      throw new SrmudpError(
        'INVALID_OPTIONS',
        `"relayReconnect.${name}" expected ${RECONNECT_MIN_MS}..${RECONNECT_MAX_MS} ms, got ${v}`,
      );
  if (maxDelayMs < initialDelayMs)
    throw new SrmudpError(
      'INVALID_OPTIONS',
      `"relayReconnect.maxDelayMs" (${maxDelayMs}) expected ≥ initialDelayMs (${initialDelayMs})`,
    );
  return { initialDelayMs, maxDelayMs };
}

/** What the link needs from its node. */
export interface RelayLinkHost {
  now(): number;
  kick(): void;
  /** core's events that are not the hop session's */
  onEndpointEvent(e: EndpointEvent): void;
  /** the node is closed: no hop dial, no next relay */
  closed(): boolean;
  /** a datagram from the relay, for the endpoint */
  receive(data: Uint8Array, from: Address): void;
  /** the relay greeted the hop session */
  relayUp(now: number): void;
}

/** The relay link; it is also the loop's host (loop.ts). */
export class RelayLink implements LoopHost {
  #index = 0;
  #carrier!: WsTransport;
  #hopAddress!: Address;
  #hopId: number | null = null;
  /** the relay greeted our hop session (core's relay client of it is ready for circuits) */
  #up = false;

  readonly #endpoint: CoreEndpoint;
  readonly #relays: Array<{ url: string; key: Uint8Array; peerId: string }>;
  readonly #host: RelayLinkHost;
  /** what every WebSocket to a relay is opened with but its URL (the carrier policy) */
  readonly #carrierOptions: Omit<WsTransportOptions, 'url'>;
  readonly #openCarrier: CarrierFactory;
  readonly #counters: { not_hop: number; send_dropped: number };
  /** every state change of the WebSocket, in order */
  readonly #changes: WsStateChange[];

  constructor(
    endpoint: CoreEndpoint,
    relays: Array<{ url: string; key: Uint8Array; peerId: string }>,
    host: RelayLinkHost,
    carrier: CarrierOptions,
    counters: { not_hop: number; send_dropped: number },
    changes: WsStateChange[],
    openCarrier: CarrierFactory = (o) => new WsTransport(o),
  ) {
    this.#endpoint = endpoint;
    this.#relays = relays;
    this.#host = host;
    this.#carrierOptions = {
      webSocket: carrier.webSocket,
      reconnect: relayReconnectDelays(carrier.relayReconnect),
      // core paces and retransmits; a deep WebSocket buffer is only queueing delay
      maxBufferedBytes: Math.max(4 * carrier.highWaterBytes, 1 << 20),
      ...(carrier.token !== undefined ? { token: carrier.token } : {}),
    };
    this.#openCarrier = openCarrier;
    this.#counters = counters;
    this.#changes = changes;
  }

  /** The relay in use. */
  get current(): { url: string; key: Uint8Array; peerId: string } {
    return this.#relays[this.#index] as { url: string; key: Uint8Array; peerId: string };
  }

  get up(): boolean {
    return this.#up;
  }

  get state(): 'ready' | 'connecting' | 'down' {
    return this.#up ? 'ready' : this.#carrier.state === 'open' ? 'connecting' : 'down';
  }

  // ---- the loop's side (loop.ts): core's datagrams and events --------------------------------

  now(): number {
    return this.#host.now();
  }

  /** bytes the WebSocket has yet to write */
  bufferedAmount(): number {
    return this.#carrier.bufferedAmount;
  }

  /** Opens the WebSocket to the current relay (and keeps it open, or moves to the next relay). */
  start(): void {
    const carrier = this.#openCarrier({ ...this.#carrierOptions, url: this.current.url });
    this.#carrier = carrier;
    this.#hopAddress = carrier.remote;
    carrier.onDatagram((data, from) => this.#host.receive(data, { host: from.host, port: from.port }));
    let failures = 0;
    carrier.onState((c) => {
      this.#changes.push(c);
      if (c.state === 'open') {
        failures = 0;
        this.#dialHop();
      } else {
        this.#hopLost();
        // another relay after a few failed attempts in a row (when there is one)
        if (
          c.state === 'reconnecting' &&
          ++failures >= FAILURES_BEFORE_NEXT_RELAY &&
          this.#relays.length > 1 &&
          !this.#host.closed()
        ) {
          this.#index = (this.#index + 1) % this.#relays.length;
          void carrier.close();
          this.start();
        }
      }
    });
    carrier.start();
  }

  /** Core dials `key` through the current relay (a circuit, bound as a relayed route): the connection id. */
  connect(now: number, key: Uint8Array): number {
    return this.#endpoint.connect(now, { addresses: [], remoteKey: key, relays: [{ key: this.current.key }] })
      .id;
  }

  /** A datagram from core: everything goes to the relay (hop session packets and channel data alike). */
  transmit(data: Uint8Array, to: Address): void {
    if (to.host !== this.#hopAddress.host || to.port !== this.#hopAddress.port) {
      this.#counters.not_hop++;
      return;
    }
    if (!this.#carrier.send(data)) this.#counters.send_dropped++;
  }

  /** Core's events: the hop session's are handled here, the others go to the node. */
  onEndpointEvent(e: EndpointEvent): void {
    if (!('id' in e) || e.id !== this.#hopId) {
      this.#host.onEndpointEvent(e);
      return;
    }
    if (e.type === 'connected') {
      // "I speak CONTROL frames": srmudp-relay greets the session in them
      this.#endpoint.connection(e.id)?.sendControl(Uint8Array.of(RELAY_TO_SERVICE));
    } else if (e.type === 'stream_opened') {
      this.#endpoint.connection(e.id)?.reset(e.streamId, 1); // the relay serves no streams
    } else if (e.type === 'closed' || e.type === 'connect_failed') {
      this.#hopId = null;
      this.#up = false;
      if (!this.#host.closed() && this.#carrier.state === 'open') setTimeout(() => this.#dialHop(), 300);
    }
    // its greeting in a MESSAGE (before it heard our CONTROL frame), path events: nothing to do
  }

  /** After core's events: whether the relay just greeted the hop session (then host.relayUp). */
  afterEvents(now: number): boolean {
    if (this.#up || this.#hopId === null || !this.#greeted()) return false;
    this.#up = true;
    this.#host.relayUp(now);
    return true;
  }

  close(): Promise<void> {
    return this.#carrier.close();
  }

  #dialHop(): void {
    if (this.#host.closed() || this.#hopId !== null) return;
    const conn = this.#endpoint.connect(this.#host.now(), {
      addresses: [this.#hopAddress],
      remoteKey: this.current.key,
    });
    this.#hopId = conn.id;
    this.#host.kick();
  }

  #hopLost(): void {
    const now = this.#host.now();
    // core's relay client of it goes down with the session (its circuits close; the e2e
    // connections keep their sessions and get new circuits once a new hop is greeted)
    if (this.#hopId !== null) this.#endpoint.connection(this.#hopId)?.close(now);
    this.#hopId = null;
    this.#up = false;
    this.#host.kick();
  }

  /** Whether core's relay client of the current relay was greeted (endpoint.relays() names it). */
  #greeted(): boolean {
    const key = this.current.key;
    return this.#endpoint.relays().some((k) => compareBytes(k, key) === 0);
  }
}
