// A thin client driver for tests and the bench: one core Endpoint holding the hop session with
// the relay (over UDP or a WebSocket) and end-to-end sessions with other peers through circuits,
// one @srmudp/relay RelayClient, and a loop. It stands in for the façade until core has relayed
// paths (issue 14): the end-to-end session is a real Noise IK session of core, its packets ride
// as channel data. A peer reached through the relay has the stable synthetic address
// { host: 'via~<peer key hex>', port: 1 }; the channel is looked up at send time, so a circuit
// re-established after a relay restart carries the same end-to-end session on.
import { randomBytes } from 'node:crypto';
import { type Address, type ConnectionApi, CoreEndpoint, type EndpointEvent } from '@srmudp/core';
import { generateIdentity, type Identity } from '@srmudp/crypto';
import { autoBackend } from '@srmudp/crypto-node';
import { isChannelData, RelayClient, type RelayClientEvent } from '@srmudp/relay';
import { UdpTransport } from '@srmudp/transport-node';
import { nodeWebSocket, type WsStateChange, WsTransport } from '@srmudp/transport-ws';
import { equalBytes, toHex } from '@srmudp/wire';

export type Carrier =
  | { kind: 'udp'; host: string; port: number }
  | { kind: 'ws'; url: string; token?: string; maxMessageSize?: number };

export interface RelayPeerOptions {
  relayKey: Uint8Array;
  carrier: Carrier;
  identity?: Identity;
  /** accept every incoming circuit (default true) */
  autoAccept?: boolean;
  idleTimeoutMs?: number;
  /** re-dial the hop session this long after it went down (default 300 ms) */
  redialMs?: number;
}

const random = (n: number) => new Uint8Array(randomBytes(n));
const VIA = 'via~';

export class RelayPeer {
  readonly identity: Identity;
  readonly endpoint: CoreEndpoint;
  readonly client: RelayClient;
  readonly relayEvents: RelayClientEvent[] = [];
  readonly hopAddress: Address;
  hopId: number | null = null;
  hopUp = false;
  /** e2e connection id by peer key hex */
  readonly peers = new Map<string, number>();
  readonly drops = { no_channel: 0, wrap_failed: 0, unwrap_failed: 0 };
  /** the WebSocket carrier's state changes, in order */
  readonly carrierChanges: WsStateChange[] = [];
  private readonly listeners = new Set<(e: EndpointEvent) => void>();
  private readonly relayListeners = new Set<(e: RelayClientEvent) => void>();
  private timer: NodeJS.Timeout | null = null;
  private redialTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private closed = false;

  private constructor(
    private readonly o: RelayPeerOptions,
    readonly carrier: UdpTransport | WsTransport,
  ) {
    this.identity = o.identity ?? generateIdentity(random);
    const now = performance.now();
    this.endpoint = new CoreEndpoint(
      {
        identity: this.identity,
        random,
        cryptoBackend: autoBackend(),
        wallClockOffsetMs: performance.timeOrigin,
        ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
      },
      now,
    );
    this.client = new RelayClient({
      relayId: o.relayKey,
      self: this.identity.publicKey,
      unixTimeOffsetMs: performance.timeOrigin,
    });
    this.hopAddress =
      carrier instanceof WsTransport
        ? carrier.remote
        : { host: (o.carrier as { host: string }).host, port: (o.carrier as { port: number }).port };
    carrier.onDatagram((data, from) => this.receive(data, { host: from.host, port: from.port }));
  }

  static async start(o: RelayPeerOptions): Promise<RelayPeer> {
    let carrier: UdpTransport | WsTransport;
    if (o.carrier.kind === 'udp') carrier = await UdpTransport.bind({ host: '127.0.0.1' });
    else
      carrier = new WsTransport({
        url: o.carrier.url,
        webSocket: nodeWebSocket(),
        reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
        ...(o.carrier.token !== undefined ? { token: o.carrier.token } : {}),
        ...(o.carrier.maxMessageSize !== undefined ? { maxMessageSize: o.carrier.maxMessageSize } : {}),
      });
    const peer = new RelayPeer(o, carrier);
    if (carrier instanceof WsTransport) {
      carrier.onState((c) => {
        peer.carrierChanges.push(c);
        if (c.state === 'open') peer.dialHop();
        else peer.hopLost();
      });
      carrier.start();
    } else peer.dialHop();
    return peer;
  }

  get publicKey(): Uint8Array {
    return this.identity.publicKey;
  }

  on(fn: (e: EndpointEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onRelay(fn: (e: RelayClientEvent) => void): () => void {
    this.relayListeners.add(fn);
    return () => this.relayListeners.delete(fn);
  }

  /** Resolves once the hop session is up and the relay greeted us. */
  ready(timeoutMs = 20_000): Promise<void> {
    if (this.client.isReady) return Promise.resolve();
    return this.waitRelay((e) => e.type === 'ready', timeoutMs).then(() => undefined);
  }

  waitRelay(pred: (e: RelayClientEvent) => boolean, timeoutMs = 20_000): Promise<RelayClientEvent> {
    return bounded(timeoutMs, 'relay event', (resolve) => {
      const off = this.onRelay((e) => {
        if (pred(e)) {
          off();
          resolve(e);
        }
      });
      return off;
    });
  }

  waitEndpoint(pred: (e: EndpointEvent) => boolean, timeoutMs = 20_000): Promise<EndpointEvent> {
    return bounded(timeoutMs, 'endpoint event', (resolve) => {
      const off = this.on((e) => {
        if (pred(e)) {
          off();
          resolve(e);
        }
      });
      return off;
    });
  }

  /** Asks the relay for a circuit to `peer`; resolves with the bound channel or rejects with the reason. */
  async circuit(peer: Uint8Array, timeoutMs = 20_000): Promise<number> {
    const id = this.client.connect(performance.now(), peer);
    this.schedule();
    const e = await this.waitRelay(
      (e) => (e.type === 'bound' || e.type === 'rejected') && e.requestId === id,
      timeoutMs,
    );
    if (e.type === 'rejected')
      throw Object.assign(new Error(`circuit rejected: ${e.reason}`), { reason: e.reason });
    return (e as { channel: number }).channel;
  }

  /** Circuit + end-to-end IK handshake with `peer`; resolves with the e2e connection. */
  async connectTo(peer: Uint8Array, timeoutMs = 20_000): Promise<ConnectionApi> {
    await this.circuit(peer, timeoutMs);
    const established = this.waitEndpoint(
      (e) => (e.type === 'connected' || e.type === 'connect_failed') && e.id === conn.id,
      timeoutMs,
    );
    const conn = this.endpoint.connect(performance.now(), { addresses: [viaAddress(peer)], remoteKey: peer });
    this.schedule();
    const e = await established;
    if (e.type === 'connect_failed') throw e.error;
    this.peers.set(toHex(peer), conn.id);
    return conn;
  }

  /** The e2e connection a peer opened to us (waits for it). */
  async acceptedFrom(peer: Uint8Array, timeoutMs = 20_000): Promise<ConnectionApi> {
    const known = this.peers.get(toHex(peer));
    if (known !== undefined) return this.endpoint.connection(known) as ConnectionApi;
    const e = await this.waitEndpoint(
      (e) => e.type === 'connected' && equalBytes(e.remoteKey, peer),
      timeoutMs,
    );
    return this.endpoint.connection((e as { id: number }).id) as ConnectionApi;
  }

  /** Writes `data` on a new stream of `conn` and finishes it, honouring flow control. */
  async sendStream(conn: ConnectionApi, data: Uint8Array, timeoutMs = 60_000): Promise<number> {
    const stream = conn.openStream();
    let off = 0;
    const deadline = performance.now() + timeoutMs;
    while (off < data.length) {
      const n = conn.write(stream, data.subarray(off, Math.min(data.length, off + 64 * 1024)));
      off += n;
      this.schedule();
      if (n === 0) {
        if (performance.now() > deadline)
          throw new Error(`sendStream: ${off} of ${data.length} bytes after ${timeoutMs} ms`);
        await this.waitEndpoint((e) => e.type === 'writable' && e.id === conn.id, 5_000).catch(
          () => undefined,
        );
      }
    }
    conn.finish(stream);
    this.schedule();
    return stream;
  }

  /** Reads the first stream `conn` receives to its end. */
  receiveStream(conn: ConnectionApi, timeoutMs = 60_000): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let stream: number | null = null;
    return bounded(timeoutMs, 'receiveStream', (resolve) => {
      const drain = () => {
        if (stream === null) return;
        for (
          let c = conn.read(performance.now(), stream);
          c !== null;
          c = conn.read(performance.now(), stream)
        )
          chunks.push(c.slice());
        this.schedule();
      };
      const off = this.on((e) => {
        if (!('id' in e) || e.id !== conn.id) return;
        if (e.type === 'stream_opened' && stream === null) stream = e.streamId;
        if ((e.type === 'readable' || e.type === 'stream_finished') && stream === null) stream = e.streamId;
        if (e.type === 'readable') drain();
        if (e.type === 'stream_finished' && e.streamId === stream) {
          drain();
          off();
          resolve(Buffer.concat(chunks));
        }
      });
      return off;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redialTimer) clearTimeout(this.redialTimer);
    this.endpoint.close(performance.now());
    this.run();
    if (this.timer) clearTimeout(this.timer);
    await this.carrier.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  private dialHop(): void {
    if (this.closed || this.hopId !== null) return;
    const conn = this.endpoint.connect(performance.now(), {
      addresses: [this.hopAddress],
      remoteKey: this.o.relayKey,
    });
    this.hopId = conn.id;
    this.schedule();
  }

  private hopLost(): void {
    const now = performance.now();
    if (this.hopId !== null) this.endpoint.connection(this.hopId)?.close(now);
    this.hopId = null;
    if (this.hopUp) this.client.hopDown(now);
    this.hopUp = false;
    this.schedule();
  }

  private redialLater(): void {
    if (this.closed || this.redialTimer) return;
    this.redialTimer = setTimeout(() => {
      this.redialTimer = null;
      if (this.carrier instanceof WsTransport && this.carrier.state !== 'open') return; // its 'open' redials
      this.dialHop();
    }, this.o.redialMs ?? 300);
  }

  private receive(data: Uint8Array, from: Address): void {
    if (this.closed) return;
    const now = performance.now();
    if (isChannelData(data)) {
      const got = this.client.unwrap(now, data);
      if (got === null) this.drops.unwrap_failed++;
      else this.endpoint.handle(now, viaAddress(got.peer), got.packet);
    } else this.endpoint.handle(now, from, data);
    this.schedule();
  }

  private send(data: Uint8Array, to: Address): void {
    if (to.host.startsWith(VIA)) {
      const channel = this.client.channelOf(Buffer.from(to.host.slice(VIA.length), 'hex'));
      if (channel < 0) {
        this.drops.no_channel++;
        return;
      }
      const wrapped = this.client.wrap(performance.now(), channel, data);
      if (wrapped === null) this.drops.wrap_failed++;
      else this.carrier.send(wrapped, this.hopAddress.host, this.hopAddress.port);
      return;
    }
    this.carrier.send(data, to.host, to.port);
  }

  private onEvent(now: number, e: EndpointEvent): void {
    if ('id' in e && e.id === this.hopId) {
      if (e.type === 'connected') {
        this.hopUp = true;
        this.client.hopUp(now);
      } else if (e.type === 'message') {
        this.client.handleControl(now, e.data);
      } else if (e.type === 'closed' || e.type === 'connect_failed') {
        this.hopId = null;
        if (this.hopUp) this.client.hopDown(now);
        this.hopUp = false;
        this.redialLater();
      }
    } else if (e.type === 'connected') {
      this.peers.set(toHex(e.remoteKey), e.id);
    }
    for (const l of [...this.listeners]) l(e);
  }

  private onRelayEvent(now: number, e: RelayClientEvent): void {
    this.relayEvents.push(e);
    if (e.type === 'incoming' && (this.o.autoAccept ?? true)) this.client.accept(now, e.incomingId);
    for (const l of [...this.relayListeners]) l(e);
  }

  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const now = performance.now();
    const a = this.endpoint.pollTimeout();
    if (a !== null && a <= now) this.endpoint.handleTimeout(now);
    const b = this.client.pollTimeout();
    if (b !== null && b <= now) this.client.handleTimeout(now);
    let sent = 0;
    for (let round = 0; round < 32; round++) {
      let progressed = false;
      for (let e = this.endpoint.pollEvent(); e !== null; e = this.endpoint.pollEvent()) {
        this.onEvent(now, e);
        progressed = true;
      }
      for (let m = this.client.pollTransmit(now); m !== null; m = this.client.pollTransmit(now)) {
        const hop = this.hopId === null ? undefined : this.endpoint.connection(this.hopId);
        hop?.sendMessage(m);
        progressed = true;
      }
      for (let e = this.client.pollEvent(); e !== null; e = this.client.pollEvent()) {
        this.onRelayEvent(now, e);
        progressed = true;
      }
      while (sent < 1024) {
        const t = this.endpoint.pollTransmit(now);
        if (t === null) break;
        this.send(t.data, t.to);
        sent++;
        progressed = true;
      }
      if (!progressed || sent >= 1024) break;
    }
    if (this.closed) return;
    if (sent >= 1024) {
      this.schedule();
      return;
    }
    const x = this.endpoint.pollTimeout();
    const y = this.client.pollTimeout();
    const at = x === null ? y : y === null ? x : Math.min(x, y);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (at === null) return;
    if (at <= now + 0.5) this.schedule();
    else this.timer = setTimeout(this.run, Math.max(1, Math.ceil(at - now)));
  };
}

export function viaAddress(peer: Uint8Array): Address {
  return { host: `${VIA}${toHex(peer)}`, port: 1 };
}

/** A promise that rejects after `ms` unless `make`'s resolve ran first; `make` returns a cleanup. */
export function bounded<T>(
  ms: number,
  what: string,
  make: (resolve: (v: T) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let cleanup: (() => void) | undefined;
    const timer = setTimeout(() => {
      cleanup?.();
      reject(new Error(`${what}: not within ${ms} ms`));
    }, ms);
    cleanup = make((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
