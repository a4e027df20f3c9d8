/**
 * A light P4 client: a bare `@srmudp/core` endpoint on its own UDP socket (`@srmudp/transport-node`,
 * the façade's transport), driven by a minimal loop: datagrams in, `pollTransmit` out, one timer
 * for `pollTimeout`. It runs the real protocol (Noise IK with cookies under load, reliability,
 * keepalives) without the façade's NAT session, STUN gathering, interface polling and
 * rendezvous, so that P4's client processes cost little next to the server they measure.
 */
import { webcrypto } from 'node:crypto';
import { type Address, CoreEndpoint, type EndpointConfig } from '@srmudp/core';
import { type CryptoBackend, generateIdentity } from '@srmudp/crypto';
import { UdpTransport } from '@srmudp/transport-node';

const random = (n: number): Uint8Array => webcrypto.getRandomValues(new Uint8Array(n));
const clock = (): number => performance.now();

export class LightClient {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private deadline = Number.POSITIVE_INFINITY;
  private waiting: { id: number; resolve: () => void; reject: (e: Error) => void } | null = null;
  private readonly onTimer = (): void => {
    this.timer = null;
    this.deadline = Number.POSITIVE_INFINITY;
    this.ep.handleTimeout(clock());
    this.flush();
  };

  private constructor(
    private readonly transport: UdpTransport,
    private readonly ep: CoreEndpoint,
  ) {
    transport.onDatagram((data, from) => {
      this.ep.handle(clock(), { host: from.host, port: from.port }, data);
      this.flush();
    });
  }

  static async create(opts: {
    host: string;
    backend?: CryptoBackend;
    keepaliveMs?: number;
  }): Promise<LightClient> {
    const transport = await UdpTransport.bind({ host: opts.host, port: 0 });
    const config: EndpointConfig = {
      identity: generateIdentity(random),
      random,
      workClock: clock,
      wallClockOffsetMs: performance.timeOrigin,
      ...(opts.backend ? { cryptoBackend: opts.backend } : {}),
      ...(opts.keepaliveMs ? { keepaliveMs: opts.keepaliveMs } : {}),
    };
    return new LightClient(transport, new CoreEndpoint(config, clock()));
  }

  /** Noise IK to `remoteKey` at `to`; resolves when the connection is established. */
  connect(to: Address, remoteKey: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const conn = this.ep.connect(clock(), { addresses: [to], remoteKey });
      this.waiting = { id: conn.id, resolve, reject };
      this.flush();
    });
  }

  close(): Promise<void> {
    this.ep.close(clock());
    this.flush();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return this.transport.close();
  }

  private flush(): void {
    const now = clock();
    const ep = this.ep;
    for (let t = ep.pollTransmit(now); t !== null; t = ep.pollTransmit(now)) {
      this.transport.send(t.data, t.to.host, t.to.port);
    }
    for (let e = ep.pollEvent(); e !== null; e = ep.pollEvent()) {
      const w = this.waiting;
      if (w === null || !('id' in e) || e.id !== w.id) continue;
      if (e.type === 'connected') {
        this.waiting = null;
        w.resolve();
      } else if (e.type === 'connect_failed' || e.type === 'closed') {
        this.waiting = null;
        w.reject(e.type === 'connect_failed' ? e.error : new Error(`closed: ${e.reason}`));
      }
    }
    const d = ep.pollTimeout();
    const at = d ?? Number.POSITIVE_INFINITY;
    if (at === this.deadline) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.deadline = at;
    if (at !== Number.POSITIVE_INFINITY) this.timer = setTimeout(this.onTimer, Math.max(0, at - now));
  }
}
