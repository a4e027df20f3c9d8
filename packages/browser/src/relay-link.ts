// The relay link of a browser node: the WebSocket to the current relay (the carrier of every
// datagram the node sends and receives: hop session packets and its circuits' channel data), the
// hop session with the relay over it (dialled when the socket opens, again when it fails), "I
// speak CONTROL frames" once it is up, the relay's greeting (core's relay client of it is ready:
// circuits can be asked for), and the next relay after three failed connection attempts in a row.
import { type Address, type CoreEndpoint, type EndpointEvent, RELAY_TO_SERVICE } from '@srmudp/core';
import type { WsStateChange, WsTransport } from '@srmudp/transport-ws/portable';
import { compareBytes } from '@srmudp/wire';
import type { LoopHost } from './loop.js';

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
  /** opens the WebSocket to a relay's URL (the node's options: WebSocket factory, token, buffer bound) */
  readonly #open: (url: string) => WsTransport;
  readonly #counters: { not_hop: number; send_dropped: number };
  /** every state change of the WebSocket, in order */
  readonly #changes: WsStateChange[];

  constructor(
    endpoint: CoreEndpoint,
    relays: Array<{ url: string; key: Uint8Array; peerId: string }>,
    host: RelayLinkHost,
    open: (url: string) => WsTransport,
    counters: { not_hop: number; send_dropped: number },
    changes: WsStateChange[],
  ) {
    this.#endpoint = endpoint;
    this.#relays = relays;
    this.#host = host;
    this.#open = open;
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
    const carrier = this.#open(this.current.url);
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
        // another relay after three failed attempts in a row (when there is one)
        if (
          c.state === 'reconnecting' &&
          ++failures >= 3 &&
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
