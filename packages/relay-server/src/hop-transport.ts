// The seam between core and the carriers: one `send(data, host, port)` and one receive callback
// over the UDP socket and every WebSocket. A WebSocket client is addressed as
// `{ host: 'ws~<client ip>', port: <slot> }` (transport-ws' acceptor), which is never an IP
// literal, so core keeps one hop session per address exactly as for UDP clients, and its
// per-source handshake budgets (grouped by host when it is not an IP literal) apply per client IP.
import type { Address } from '@srmudp/core';
import type { UdpTransport } from '@srmudp/transport-node';
import { isWsHost } from '@srmudp/transport-ws';
import type { WsAcceptor } from '@srmudp/transport-ws/server';

export type HopCarrier = 'udp' | 'websocket';

export class HopTransport {
  private handler: ((data: Uint8Array, from: Address, carrier: HopCarrier) => void) | undefined;

  constructor(
    readonly udp: UdpTransport | null,
    readonly ws: WsAcceptor,
  ) {
    udp?.onDatagram((data, from) => this.handler?.(data, { host: from.host, port: from.port }, 'udp'));
    ws.onDatagram((data, from) => this.handler?.(data, from, 'websocket'));
  }

  static carrierOf(address: Address): HopCarrier {
    return isWsHost(address.host) ? 'websocket' : 'udp';
  }

  onDatagram(handler: ((data: Uint8Array, from: Address, carrier: HopCarrier) => void) | undefined): void {
    this.handler = handler;
  }

  /** false when dropped (no such WebSocket, UDP disabled or its queue full). */
  send(data: Uint8Array, host: string, port: number): boolean {
    if (isWsHost(host)) return this.ws.send(data, host, port);
    return this.udp?.send(data, host, port) ?? false;
  }

  /** Stops reading a WebSocket client for `ms` (TCP back-pressure). UDP cannot be paused: the
   * relay drops instead (counted `rate_limited`), and the ends' congestion control slows down. */
  pause(address: Address, ms: number, requeue?: Uint8Array): void {
    if (isWsHost(address.host)) this.ws.pause(address, ms, requeue);
  }
}
