/**
 * Nodes for @srmudp/sim: a relay host and client hosts whose datagrams travel over simulated
 * links. The hop session is stood in for by a test framing (0xc1 || control message) over a
 * lossless link, and the relay maps the source address to the key as the host's authenticated
 * session would. Clients can run a real end-to-end Noise session (@srmudp/crypto) through the
 * circuit, so the tests see sealed packets cross the relay.
 */
import { type Identity, identityFromSecret, type SecureChannel, SecureEndpoint } from '@srmudp/crypto';
import { type Address, addressKey, type Rng, type SimNode, sameAddress, type Transmit } from '@srmudp/sim';
import {
  type AdmissionPolicy,
  isChannelData,
  RelayClient,
  type RelayClientEvent,
  type RelayLimits,
  RelayService,
} from '../src/index.js';

export const CONTROL_PREFIX = 0xc1;

function framed(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = CONTROL_PREFIX;
  out.set(bytes, 1);
  return out;
}

export class RelayNode implements SimNode {
  service: RelayService<Address>;
  readonly identity: Identity;
  /** hop sessions: source address → authenticated key */
  readonly sessions = new Map<string, Uint8Array>();
  /** every channel datagram the relay sent (what a curious relay operator can see) */
  readonly forwarded: Uint8Array[] = [];
  /** a hostile relay: replaces each forwarded datagram by these transmits (none = drop it) */
  tamper: ((data: Uint8Array, to: Address) => Transmit[]) | null = null;
  readonly #out: Transmit[] = [];
  readonly #rng: Rng;
  readonly #policy: AdmissionPolicy;
  readonly #limits: Partial<RelayLimits>;

  constructor(rng: Rng, policy: AdmissionPolicy, limits: Partial<RelayLimits> = {}) {
    this.#rng = rng;
    this.#policy = policy;
    this.#limits = limits;
    this.identity = identityFromSecret(rng.bytes(32));
    this.service = this.restart();
  }

  /** A new service instance (state lost, as after a crash and restart). */
  restart(): RelayService<Address> {
    this.service = new RelayService<Address>({
      relayId: this.identity.publicKey,
      random: (n) => this.#rng.bytes(n),
      policy: this.#policy,
      limits: this.#limits,
      hopKey: addressKey,
    });
    this.sessions.clear();
    return this.service;
  }

  up(now: number, key: Uint8Array, addr: Address): void {
    this.sessions.set(addressKey(addr), key);
    this.service.clientUp(now, key, addr);
  }

  handle(now: number, from: Address, _to: Address, data: Uint8Array): void {
    if (data[0] === CONTROL_PREFIX) {
      const key = this.sessions.get(addressKey(from));
      if (key) this.service.handleControl(now, key, data.subarray(1));
    } else if (isChannelData(data)) {
      this.service.handleChannelData(now, from, data);
    }
  }

  handleTimeout(now: number): void {
    this.service.handleTimeout(now);
  }

  pollTransmit(now: number): Transmit | null {
    const queued = this.#out.shift();
    if (queued) return queued;
    const t = this.service.pollTransmit(now);
    if (!t) return null;
    if (t.kind === 'control') return { to: t.hop, data: framed(t.data) };
    this.forwarded.push(t.data);
    if (!this.tamper) return { to: t.hop, data: t.data };
    this.#out.push(...this.tamper(t.data, t.hop));
    return this.pollTransmit(now);
  }

  pollTimeout(): number | null {
    return this.service.pollTimeout();
  }
}

/** Pseudo-address of "the peer behind the relay" for the end-to-end SecureEndpoint. */
function circuitAddress(peer: Uint8Array): Address {
  let h = '';
  for (const b of peer.subarray(0, 8)) h += b.toString(16).padStart(2, '0');
  return { host: `via-relay-${h}`, port: 1 };
}

export interface ClientNodeOptions {
  rng: Rng;
  relay: Address;
  relayId: Uint8Array;
  /** run a real end-to-end Noise session over the circuits */
  e2e?: boolean;
  /** host decision for INCOMING: default accept */
  decide?: (ev: Extract<RelayClientEvent, { type: 'incoming' }>) => 'accept' | 'reject' | 'wait';
}

export class ClientNode implements SimNode {
  readonly identity: Identity;
  readonly relay: RelayClient;
  readonly relayAddr: Address;
  readonly events: RelayClientEvent[] = [];
  /** end-to-end packets received through circuits */
  readonly packets: { peer: Uint8Array; packet: Uint8Array; at: number }[] = [];
  /** end-to-end plaintexts (with e2e) */
  readonly plaintexts: { peer: Uint8Array; data: Uint8Array }[] = [];
  readonly e2e: SecureEndpoint | null;
  readonly #out: Transmit[] = [];
  readonly #timers: { at: number; fn: (now: number) => void }[] = [];
  readonly #peers = new Map<string, Uint8Array>();
  readonly #firstPackets = new Map<number, Uint8Array>();
  readonly #connecting = new Set<string>();
  readonly #pn = new Map<SecureChannel, number>();
  readonly #decide: NonNullable<ClientNodeOptions['decide']>;

  constructor(opts: ClientNodeOptions) {
    this.identity = identityFromSecret(opts.rng.bytes(32));
    this.relayAddr = opts.relay;
    this.relay = new RelayClient({ relayId: opts.relayId, self: this.identity.publicKey });
    const rng = opts.rng;
    this.e2e = opts.e2e ? new SecureEndpoint({ identity: this.identity, random: (n) => rng.bytes(n) }) : null;
    this.#decide = opts.decide ?? (() => 'accept');
  }

  get key(): Uint8Array {
    return this.identity.publicKey;
  }

  /** Opens the end-to-end session to `peer` through the relay (the init rides in CONNECT). */
  dial(now: number, peer: Uint8Array): void {
    this.#peers.set(circuitAddress(peer).host, peer);
    this.e2e!.connect(now, { address: circuitAddress(peer), remoteKey: peer });
    this.#process(now);
  }

  /** Seals and sends `data` to `peer` over the end-to-end session. */
  sendSealed(now: number, peer: Uint8Array, data: Uint8Array): void {
    const ch = this.e2e!.channel(peer)!;
    const pn = this.#pn.get(ch) ?? 0;
    this.#pn.set(ch, pn + 1);
    this.sendRaw(now, peer, ch.seal(pn, data));
  }

  /** Sends an end-to-end packet to `peer` through its circuit; false when there is none. */
  sendRaw(now: number, peer: Uint8Array, packet: Uint8Array): boolean {
    const d = this.relay.wrap(now, this.relay.channelOf(peer), packet);
    if (!d) return false;
    this.#out.push({ to: this.relayAddr, data: d });
    return true;
  }

  at(at: number, fn: (now: number) => void): void {
    this.#timers.push({ at, fn });
    this.#timers.sort((a, b) => a.at - b.at);
  }

  handle(now: number, from: Address, _to: Address, data: Uint8Array): void {
    if (!sameAddress(from, this.relayAddr)) return;
    if (data[0] === CONTROL_PREFIX) this.relay.handleControl(now, data.subarray(1));
    else if (isChannelData(data)) {
      const r = this.relay.unwrap(now, data);
      if (r) {
        this.packets.push({ peer: r.peer, packet: r.packet.slice(), at: now });
        this.#e2eIn(now, r.peer, r.packet);
      }
    }
    this.#process(now);
  }

  handleTimeout(now: number): void {
    this.relay.handleTimeout(now);
    this.e2e?.handleTimeout(now);
    while (this.#timers.length > 0 && this.#timers[0]!.at <= now) this.#timers.shift()!.fn(now);
    this.#process(now);
  }

  pollTransmit(now: number): Transmit | null {
    const c = this.relay.pollTransmit(now);
    if (c) return { to: this.relayAddr, data: framed(c) };
    return this.#out.shift() ?? null;
  }

  pollTimeout(): number | null {
    let t = this.relay.pollTimeout() ?? Number.POSITIVE_INFINITY;
    const e = this.e2e?.pollTimeout();
    if (e !== null && e !== undefined) t = Math.min(t, e);
    if (this.#timers.length > 0) t = Math.min(t, this.#timers[0]!.at);
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  #e2eIn(now: number, peer: Uint8Array, packet: Uint8Array): void {
    if (!this.e2e) return;
    this.#peers.set(circuitAddress(peer).host, peer);
    const r = this.e2e.handle(now, circuitAddress(peer), packet);
    // the empty key-confirmation packet is not application data
    if (r.type === 'data' && r.plaintext.length > 0)
      this.plaintexts.push({ peer, data: r.plaintext.slice() });
  }

  #process(now: number): void {
    for (let e = this.relay.pollEvent(); e; e = this.relay.pollEvent()) {
      this.events.push(e);
      if (e.type === 'incoming') {
        const d = this.#decide(e);
        if (d === 'accept') {
          const id = this.relay.accept(now, e.incomingId);
          if (e.firstPacket) this.#firstPackets.set(id, e.firstPacket);
        } else if (d === 'reject') this.relay.reject(now, e.incomingId);
      } else if (e.type === 'bound') {
        const first = this.#firstPackets.get(e.requestId);
        this.#firstPackets.delete(e.requestId);
        if (first) this.#e2eIn(now, e.peer, first);
      } else if (e.type === 'rejected' || e.type === 'closed') {
        this.#connecting.clear();
      }
    }
    if (!this.e2e) return;
    for (let e = this.e2e.pollEvent(); e; e = this.e2e.pollEvent()) {
      // Key confirmation (WireGuard §5.4.3): an IK responder uses the session only once the
      // initiator sends under it, so the initiator sends an empty packet at once, as core's PING
      if (e.type === 'established' && e.initiator) this.sendSealed(now, e.remoteKey, new Uint8Array(0));
    }
    for (let t = this.e2e.pollTransmit(now); t; t = this.e2e.pollTransmit(now)) {
      const peer = this.#peers.get(t.to.host);
      if (!peer) continue;
      if (this.relay.channelOf(peer) >= 0) this.sendRaw(now, peer, t.data);
      else if (!this.#connecting.has(t.to.host) && this.relay.isReady) {
        // no circuit yet: ask for one, carrying this (handshake) packet; retransmissions wait
        this.#connecting.add(t.to.host);
        this.relay.connect(now, peer, { firstPacket: t.data });
      }
    }
  }
}
