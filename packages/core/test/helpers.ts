import { createHash } from 'node:crypto';
import { type Identity, identityFromSecret } from '@srmudp/crypto';
import { type Address, Network, Rng, type SimNode } from '@srmudp/sim';
import type { ConnectionApi, EndpointConfig, EndpointEvent, Transmit } from '../src/api.js';
import { CoreEndpoint } from '../src/endpoint.js';

export function identity(seed: string): Identity {
  return identityFromSecret(new Rng(`id-${seed}`).bytes(32));
}

export function sha256(chunks: Uint8Array[] | Uint8Array): string {
  const h = createHash('sha256');
  for (const c of Array.isArray(chunks) ? chunks : [chunks]) h.update(c);
  return h.digest('hex');
}

/** Received stream bytes, per connection id and stream id. */
export interface StreamSink {
  chunks: Uint8Array[];
  bytes: number;
  finished: boolean;
}

/**
 * A core Endpoint as a @srmudp/sim node: drains events after every input and keeps them; by
 * default reads every readable stream into `sinks` (a consumer that keeps up).
 */
export class SimEndpoint implements SimNode {
  readonly ep: CoreEndpoint;
  readonly events: EndpointEvent[] = [];
  readonly sinks = new Map<string, StreamSink>();
  readonly messages: { id: number; data: Uint8Array }[] = [];
  readonly datagrams: { id: number; data: Uint8Array }[] = [];
  /** every datagram this node sent */
  readonly sent: Transmit[] = [];
  autoRead = true;
  recordSent = false;
  onEvent: ((e: EndpointEvent, self: SimEndpoint) => void) | null = null;
  /** time of the latest input (the simulated application reads at that time) */
  private clock = 0;

  constructor(
    readonly name: string,
    config: Partial<EndpointConfig> & { seed?: string; rngSeed?: string } = {},
    now = 0,
  ) {
    const { seed: s, rngSeed, ...rest } = config;
    const seed = s ?? name;
    const rng = new Rng(`rng-${rngSeed ?? seed}`);
    this.ep = new CoreEndpoint(
      { identity: identity(seed), random: (n) => rng.bytes(n), ...rest } as EndpointConfig,
      now,
    );
  }

  get key(): Uint8Array {
    return identity(this.name).publicKey;
  }

  handle(now: number, from: Address, _to: Address, data: Uint8Array): void {
    this.clock = now;
    this.ep.handle(now, from, data);
    this.drain();
  }
  handleTimeout(now: number): void {
    this.clock = now;
    this.ep.handleTimeout(now);
    this.drain();
  }
  pollTransmit(now: number): Transmit | null {
    this.clock = now;
    const t = this.ep.pollTransmit(now);
    this.drain();
    if (t !== null && this.recordSent) this.sent.push({ to: { ...t.to }, data: t.data.slice() });
    return t;
  }
  pollTimeout(): number | null {
    return this.ep.pollTimeout();
  }

  sink(id: number, streamId: number): StreamSink {
    const k = `${id}/${streamId}`;
    let s = this.sinks.get(k);
    if (!s) {
      s = { chunks: [], bytes: 0, finished: false };
      this.sinks.set(k, s);
    }
    return s;
  }

  readAll(id: number, streamId: number): void {
    const conn = this.ep.connection(id);
    if (!conn) return;
    const s = this.sink(id, streamId);
    for (let d = conn.read(this.clock, streamId); d !== null; d = conn.read(this.clock, streamId)) {
      s.chunks.push(d);
      s.bytes += d.length;
    }
  }

  drain(): void {
    for (let e = this.ep.pollEvent(); e !== null; e = this.ep.pollEvent()) {
      this.events.push(e);
      if (e.type === 'readable' && this.autoRead) this.readAll(e.id, e.streamId);
      if (e.type === 'stream_finished') {
        if (this.autoRead) this.readAll(e.id, e.streamId);
        this.sink(e.id, e.streamId).finished = true;
      }
      if (e.type === 'message') this.messages.push({ id: e.id, data: e.data });
      if (e.type === 'datagram') this.datagrams.push({ id: e.id, data: e.data });
      this.onEvent?.(e, this);
    }
  }

  count(type: EndpointEvent['type']): number {
    return this.events.filter((e) => e.type === type).length;
  }

  find<T extends EndpointEvent['type']>(type: T): Extract<EndpointEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<EndpointEvent, { type: T }>[];
  }

  connected(): Extract<EndpointEvent, { type: 'connected' }>[] {
    return this.find('connected');
  }
}

/** Writes `data` to a stream as flow control allows, finishing it at the end. */
export class Writer {
  private off = 0;
  done = false;
  constructor(
    readonly conn: ConnectionApi,
    readonly streamId: number,
    readonly data: Uint8Array,
    readonly chunk = 64 * 1024,
  ) {}
  pump(): void {
    while (!this.done) {
      if (this.off >= this.data.length) {
        this.conn.finish(this.streamId);
        this.done = true;
        return;
      }
      const n = this.conn.write(this.streamId, this.data.subarray(this.off, this.off + this.chunk));
      if (n === 0) return;
      this.off += n;
    }
  }
}

export function randomBytes(seed: string, n: number): Uint8Array {
  return new Rng(seed).bytes(n);
}

export const ADDR_A: Address = { host: '10.0.0.1', port: 4433 };
export const ADDR_B: Address = { host: '10.0.0.2', port: 4433 };

/** Two endpoints on a sim network, a at ADDR_A and b at ADDR_B. */
export function simPair(
  seed: string,
  opts: {
    a?: Partial<EndpointConfig>;
    b?: Partial<EndpointConfig>;
    link?: import('@srmudp/sim').LinkConfig;
  } = {},
): { net: Network; a: SimEndpoint; b: SimEndpoint } {
  const net = new Network({ seed, defaultLink: opts.link ?? { latencyMs: 10 } });
  const a = new SimEndpoint('a', opts.a ?? {});
  const b = new SimEndpoint('b', opts.b ?? {});
  net.addHost('a', a, [{ ...ADDR_A }]);
  net.addHost('b', b, [{ ...ADDR_B }]);
  return { net, a, b };
}
