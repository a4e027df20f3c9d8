/**
 * In-memory harness for the control plane: one RelayService and named RelayClients, control
 * messages moved instantly (the host's reliable, ordered delivery), channel datagrams collected
 * per client. Deterministic: time only moves with `advance`, keys come from a seeded Rng.
 */
import { type Identity, identityFromSecret } from '@srmudp/crypto';
import { Rng } from '@srmudp/sim';
import {
  type AdmissionPolicy,
  RelayClient,
  type RelayClientEvent,
  type RelayEvent,
  type RelayLimits,
  RelayService,
} from '../src/index.js';

export interface LocalClient {
  readonly name: string;
  readonly identity: Identity;
  readonly key: Uint8Array;
  client: RelayClient;
  /** hop handle at the relay (a string here) */
  hop: string;
  up: boolean;
  readonly events: RelayClientEvent[];
  /** channel datagrams the relay sent to this client */
  readonly inbox: Uint8Array[];
  /** control messages the relay sent to this client (raw) */
  readonly controlIn: Uint8Array[];
}

export interface LocalOptions {
  seed?: string;
  policy: AdmissionPolicy;
  limits?: Partial<RelayLimits>;
  unixTimeOffsetMs?: number;
  /** duplicate every control message in both directions */
  duplicate?: boolean;
}

export class Local {
  now = 1_000;
  readonly rng: Rng;
  readonly relayIdentity: Identity;
  service: RelayService<string>;
  readonly clients = new Map<string, LocalClient>();
  readonly relayEvents: RelayEvent[] = [];
  readonly duplicate: boolean;
  /** Unix ms = now + this (voucher expiry is wall-clock time) */
  readonly unixOffset: number;
  #opts: LocalOptions;

  constructor(opts: LocalOptions) {
    this.#opts = opts;
    this.rng = new Rng(opts.seed ?? 'local');
    this.relayIdentity = identityFromSecret(this.rng.bytes(32));
    this.duplicate = opts.duplicate === true;
    this.unixOffset = opts.unixTimeOffsetMs ?? 1_700_000_000_000;
    this.service = this.newService();
  }

  newService(): RelayService<string> {
    return new RelayService<string>({
      relayId: this.relayIdentity.publicKey,
      random: (n) => this.rng.bytes(n),
      policy: this.#opts.policy,
      ...(this.#opts.limits ? { limits: this.#opts.limits } : {}),
      unixTimeOffsetMs: this.unixOffset,
    });
  }

  get unixNow(): number {
    return this.now + this.unixOffset;
  }

  /** A client with a hop session to the relay (both sides told), greeted. */
  add(name: string, opts: { relayed?: boolean; identity?: Identity } = {}): LocalClient {
    const identity = opts.identity ?? identityFromSecret(this.rng.bytes(32));
    const c: LocalClient = {
      name,
      identity,
      key: identity.publicKey,
      client: new RelayClient({
        relayId: this.relayIdentity.publicKey,
        self: identity.publicKey,
        unixTimeOffsetMs: this.unixOffset,
      }),
      hop: `hop:${name}`,
      up: false,
      events: [],
      inbox: [],
      controlIn: [],
    };
    this.clients.set(name, c);
    this.up(name, opts.relayed === true);
    return c;
  }

  up(name: string, relayed = false): void {
    const c = this.get(name);
    c.up = true;
    c.client.hopUp(this.now);
    this.service.clientUp(this.now, c.key, c.hop, { relayed });
    this.pump();
  }

  down(name: string): void {
    const c = this.get(name);
    c.up = false;
    this.service.clientDown(this.now, c.key);
    c.client.hopDown(this.now);
    this.pump();
  }

  get(name: string): LocalClient {
    const c = this.clients.get(name);
    if (!c) throw new Error(`no client ${name}`);
    return c;
  }

  /** Moves control messages and channel datagrams until nothing is left to send. */
  pump(): void {
    for (let round = 0; round < 10_000; round++) {
      let moved = false;
      for (let t = this.service.pollTransmit(this.now); t; t = this.service.pollTransmit(this.now)) {
        moved = true;
        const c = [...this.clients.values()].find((x) => x.hop === t.hop);
        if (!c?.up) continue;
        if (t.kind === 'control') {
          c.controlIn.push(t.data);
          c.client.handleControl(this.now, t.data);
          if (this.duplicate) c.client.handleControl(this.now, t.data);
        } else c.inbox.push(t.data);
      }
      for (const c of this.clients.values()) {
        for (let m = c.client.pollTransmit(this.now); m; m = c.client.pollTransmit(this.now)) {
          moved = true;
          if (!c.up) continue;
          this.service.handleControl(this.now, c.key, m);
          if (this.duplicate) this.service.handleControl(this.now, c.key, m);
        }
        for (let e = c.client.pollEvent(); e; e = c.client.pollEvent()) c.events.push(e);
      }
      for (let e = this.service.pollEvent(); e; e = this.service.pollEvent()) this.relayEvents.push(e);
      if (!moved) return;
    }
    throw new Error('pump did not settle');
  }

  /** Advances the clock, firing every timer due on the way (in time order). */
  advance(ms: number): void {
    const end = this.now + ms;
    for (let i = 0; i < 100_000; i++) {
      let next = this.service.pollTimeout() ?? Number.POSITIVE_INFINITY;
      for (const c of this.clients.values())
        next = Math.min(next, c.client.pollTimeout() ?? Number.POSITIVE_INFINITY);
      if (next > end) break;
      this.now = Math.max(this.now, next);
      this.service.handleTimeout(this.now);
      for (const c of this.clients.values()) c.client.handleTimeout(this.now);
      this.pump();
    }
    this.now = end;
    this.pump();
  }

  /** Sends the client's control bytes as they are (a hostile or buggy client). */
  raw(name: string, bytes: Uint8Array): void {
    this.service.handleControl(this.now, this.get(name).key, bytes);
    this.pump();
  }

  /** Opens a circuit from `a` to `b` (b accepts); returns both channels. */
  circuit(
    a: string,
    b: string,
    opts: Parameters<RelayClient['connect']>[2] = {},
  ): { chA: number; chB: number } {
    const A = this.get(a);
    const B = this.get(b);
    const id = A.client.connect(this.now, B.key, opts);
    this.pump();
    const inc = B.events.findLast((e) => e.type === 'incoming');
    if (inc?.type !== 'incoming') throw new Error('no incoming');
    B.client.accept(this.now, inc.incomingId);
    this.pump();
    const bound = A.events.find((e) => e.type === 'bound' && e.requestId === id);
    if (bound?.type !== 'bound') throw new Error(`not bound: ${JSON.stringify(A.events.at(-1))}`);
    return { chA: bound.channel, chB: B.client.channelOf(A.key) };
  }

  /** `from` sends an end-to-end packet to `to` through its circuit; the relay processes it. */
  send(from: string, to: string, packet: Uint8Array): void {
    const F = this.get(from);
    const ch = F.client.channelOf(this.get(to).key);
    const d = F.client.wrap(this.now, ch, packet);
    if (!d) throw new Error(`${from} has no channel to ${to}`);
    this.service.handleChannelData(this.now, F.hop, d);
    this.pump();
  }
}

/** A fake end-to-end data packet: type 0x90, a sequence number, filler. */
export function fakePacket(seq: number, size = 100, type = 0x90): Uint8Array {
  const p = new Uint8Array(size);
  p[0] = type;
  p[1] = seq >>> 24;
  p[2] = (seq >>> 16) & 0xff;
  p[3] = (seq >>> 8) & 0xff;
  p[4] = seq & 0xff;
  return p;
}

export function seqOf(datagram: Uint8Array): number {
  return ((datagram[5]! << 24) | (datagram[6]! << 16) | (datagram[7]! << 8) | datagram[8]!) >>> 0;
}

export function lastOf<T extends { type: string }, K extends T['type']>(
  events: readonly T[],
  type: K,
): Extract<T, { type: K }> | undefined {
  return events.findLast((e): e is Extract<T, { type: K }> => e.type === type);
}

export function allOf<T extends { type: string }, K extends T['type']>(
  events: readonly T[],
  type: K,
): Extract<T, { type: K }>[] {
  return events.filter((e): e is Extract<T, { type: K }> => e.type === type);
}
