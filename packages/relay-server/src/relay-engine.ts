// The headless srmudp node of the relay: core's Endpoint holds one hop session per client (UDP
// address or WebSocket alike), @srmudp/relay's RelayService decides and forwards, and this loop
// is the only code that touches the carriers and timers (DESIGN.md §1, as the façade's driver).

import { randomBytes } from 'node:crypto';
import {
  type Address,
  CoreEndpoint,
  type EndpointEvent,
  type EndpointLimits,
  RELAY_TO_CLIENT,
} from '@srmudp/core';
import type { CryptoBackend, Identity } from '@srmudp/crypto';
import { type AdmissionPolicy, isChannelData, type RelayLimits, RelayService } from '@srmudp/relay';
import { ContainedCount, toHex } from '@srmudp/wire';
import { type HopCarrier, HopTransport } from './hop-transport.js';
import type { Logger } from './log.js';

export interface RelayEngineOptions {
  identity: Identity;
  /** circuits: who may request and be reached (RelayService) */
  policy: AdmissionPolicy;
  /** hop sessions: who may complete a handshake at all (core's accept policy) */
  acceptKey: (key: Uint8Array, from: Address) => boolean;
  limits: Partial<RelayLimits>;
  endpointLimits: EndpointLimits;
  transport: HopTransport;
  log: Logger;
  cryptoBackend?: CryptoBackend;
}

interface Hop {
  readonly key: Uint8Array;
  readonly keyHex: string;
  address: Address;
  /** control messages waiting for room in the session's message buffer */
  readonly pending: Uint8Array[];
  /**
   * The client speaks the relay protocol in CONTROL frames (core's relays.ts: a Node srmudp
   * node) rather than in MESSAGEs (the browser node): set by its first CONTROL frame.
   */
  control: boolean;
}

/** Control messages queued per hop session while its message buffer is full (then dropped). */
const MAX_PENDING_CONTROL = 256;
const MAX_TRANSMITS_PER_TURN = 1024;
/** Bound of the keys remembered between a CONTROL frame and the session's 'connected' event. */
const MAX_EARLY_CONTROL = 1024;

/** Map key of a hop address (the carrier hands a fresh object per datagram). */
const addressKey = (a: Address) => `${a.host}|${a.port}`;

/**
 * Control messages travel as srmudp MESSAGEs in the hop session (reliable, ordered, whole):
 * core has no RELAY_CONTROL frame yet (@srmudp/relay README, "How core drives this package",
 * step 2). The relay has no application, so every message a client sends it is a control message.
 * Channel data (first byte 0x40-0x4f) never reaches core: {@link RelayEngine.receive} routes it.
 */
export class RelayEngine {
  readonly endpoint: CoreEndpoint;
  readonly service: RelayService<Address>;
  private readonly hops = new Map<number, Hop>();
  private readonly byKey = new Map<string, number>();
  /** hop session id by carrier address (a closing WebSocket ends its session at once) */
  private readonly byAddress = new Map<string, number>();
  /** keys whose "I speak CONTROL frames" came before their session's 'connected' event */
  private readonly earlyControl = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private scheduled = false;
  private stopped = false;
  /** datagrams whose handling threw (a bug): dropped, the relay carries on */
  private readonly contained = new ContainedCount();
  private readonly counters = {
    handshakesCompleted: 0,
    controlDropped: 0,
    carrierSendFailed: { udp: 0, websocket: 0 } as Record<HopCarrier, number>,
    received: { udp: 0, websocket: 0 } as Record<HopCarrier, number>,
  };

  constructor(private readonly o: RelayEngineOptions) {
    const now = performance.now();
    this.endpoint = new CoreEndpoint(
      {
        identity: o.identity,
        random: (n) => new Uint8Array(randomBytes(n)),
        ...(o.cryptoBackend !== undefined ? { cryptoBackend: o.cryptoBackend } : {}),
        accept: { policy: (key, from) => o.acceptKey(key, from) },
        // clients whose core drives the relay client send CONTROL frames (protocol 0x02)
        relay: { external: (now, key, body) => this.onControlFrame(now, key, body) },
        limits: o.endpointLimits,
        wallClockOffsetMs: performance.timeOrigin,
      },
      now,
    );
    this.service = new RelayService<Address>({
      relayId: o.identity.publicKey,
      random: (n) => new Uint8Array(randomBytes(n)),
      policy: o.policy,
      limits: o.limits,
      hopKey: addressKey,
      unixTimeOffsetMs: performance.timeOrigin,
    });
    o.transport.onDatagram((data, from, carrier) => this.receive(data, from, carrier));
    o.transport.ws.onClose((address) => this.carrierGone(address));
    o.transport.ws.onWritable((address, writable) => {
      this.service.setHopWritable(address, writable);
      if (writable) this.schedule();
    });
  }

  /** A datagram from a carrier: channel data to the relay service, everything else to core. */
  receive(data: Uint8Array, from: Address, carrier: HopCarrier): void {
    if (this.stopped) return;
    this.counters.received[carrier]++;
    try {
      this.handleDatagram(data, from, carrier);
    } catch (error) {
      // A bug reached by some input: that datagram is dropped and counted, and the relay keeps
      // serving every other client (an uncaught exception in the carrier's listener would end
      // the process).
      if (this.contained.add())
        this.o.log.error('datagram dropped: its handling threw', {
          contained: this.contained.count,
          error: String(error),
        });
    }
    this.schedule();
  }

  private handleDatagram(data: Uint8Array, from: Address, carrier: HopCarrier): void {
    const now = performance.now();
    if (isChannelData(data)) {
      if (carrier === 'websocket') {
        // over its rate: stop reading the WebSocket until the bucket allows (iroh's way), so TCP
        // slows the client down instead of the relay dropping its packets; this datagram waits
        const early = this.service.readDelay(now, from);
        if (early > 0) {
          this.o.transport.pause(from, early, data);
          return;
        }
        this.service.handleChannelData(now, from, data);
        const delay = this.service.readDelay(now, from);
        if (delay > 0) this.o.transport.pause(from, delay);
      } else this.service.handleChannelData(now, from, data);
    } else {
      this.endpoint.handle(now, from, data);
    }
  }

  stats() {
    return {
      endpoint: this.endpoint.stats(),
      relay: this.service.stats(),
      hops: this.hops.size,
      handshakesCompleted: this.counters.handshakesCompleted,
      controlDropped: this.counters.controlDropped,
      contained: this.contained.count,
      carrierSendFailed: { ...this.counters.carrierSendFailed },
      received: { ...this.counters.received },
    };
  }

  /** Hop sessions by carrier (for /metrics). */
  hopsByCarrier(): Record<HopCarrier, number> {
    const out: Record<HopCarrier, number> = { udp: 0, websocket: 0 };
    for (const h of this.hops.values()) out[HopTransport.carrierOf(h.address)]++;
    return out;
  }

  /**
   * Graceful shutdown, step 1: every client gets STATUS restarting (reconnect in / try for),
   * circuits close `relay_shutdown`; the messages are flushed and given `drainMs` to be
   * delivered and acknowledged; then every hop session is closed (CLOSE first). The carriers
   * are closed by the caller afterwards.
   */
  async shutdown(hint: { reconnectInMs: number; tryForMs: number }, drainMs: number): Promise<void> {
    if (this.stopped) return;
    this.service.shutdown(performance.now(), hint);
    this.run();
    const deadline = performance.now() + drainMs;
    // wait until every hop session has nothing in flight, or the drain time is over
    while (performance.now() < deadline) {
      let busy = false;
      for (const id of this.hops.keys()) {
        const c = this.endpoint.connection(id);
        if (c && c.stats().bytesInFlight > 0) busy = true;
      }
      if (!busy) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.endpoint.close(performance.now(), 0, 'relay shutting down');
    this.run();
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  // ---- the loop -------------------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    if (this.stopped) return;
    const now = performance.now();
    const e = this.endpoint.pollTimeout();
    if (e !== null && e <= now) this.endpoint.handleTimeout(now);
    const s = this.service.pollTimeout();
    if (s !== null && s <= now) this.service.handleTimeout(now);
    let sent = 0;
    for (let round = 0; round < 32 && sent < MAX_TRANSMITS_PER_TURN; round++) {
      let progressed = false;
      for (let ev = this.endpoint.pollEvent(); ev !== null; ev = this.endpoint.pollEvent()) {
        this.onEndpointEvent(now, ev);
        progressed = true;
      }
      for (let ev = this.service.pollEvent(); ev !== null; ev = this.service.pollEvent()) {
        this.o.log.debug('relay event', { event: ev.type, ...describe(ev) });
        progressed = true;
      }
      // control first (into the hop sessions), then channel data straight to the carriers
      for (let t = this.service.pollTransmit(now); t !== null; t = this.service.pollTransmit(now)) {
        progressed = true;
        if (t.kind === 'control') this.sendControl(t.client, t.data);
        else {
          if (!this.o.transport.send(t.data, t.hop.host, t.hop.port))
            this.counters.carrierSendFailed[HopTransport.carrierOf(t.hop)]++;
          if (++sent >= MAX_TRANSMITS_PER_TURN) break;
        }
      }
      while (sent < MAX_TRANSMITS_PER_TURN) {
        const t = this.endpoint.pollTransmit(now);
        if (t === null) break;
        if (!this.o.transport.send(t.data, t.to.host, t.to.port))
          this.counters.carrierSendFailed[HopTransport.carrierOf(t.to)]++;
        sent++;
        progressed = true;
      }
      if (!progressed) break;
    }
    if (sent >= MAX_TRANSMITS_PER_TURN) {
      this.schedule(); // yield to I/O, continue next turn
      return;
    }
    this.arm(now);
  };

  private arm(now: number): void {
    const a = this.endpoint.pollTimeout();
    const b = this.service.pollTimeout();
    const at = a === null ? b : b === null ? a : Math.min(a, b);
    if (at === null) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (at <= now + 0.5) {
      this.schedule();
      return;
    }
    if (this.timer && at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - now)));
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.run();
  };

  // ---- hop sessions ---------------------------------------------------------------------------

  private onEndpointEvent(now: number, ev: EndpointEvent): void {
    switch (ev.type) {
      case 'connected': {
        this.counters.handshakesCompleted++;
        const keyHex = toHex(ev.remoteKey);
        const hop: Hop = {
          key: ev.remoteKey.slice(),
          keyHex,
          address: ev.path.address,
          pending: [],
          control: this.earlyControl.delete(keyHex),
        };
        this.hops.set(ev.id, hop);
        this.byAddress.set(addressKey(hop.address), ev.id);
        const previous = this.byKey.get(keyHex);
        this.byKey.set(keyHex, ev.id);
        this.service.clientUp(now, hop.key, hop.address, { relayed: ev.path.kind === 'relayed' });
        if (previous !== undefined && previous !== ev.id) {
          // the same key reconnected (a new WebSocket, a restarted client): the old session is
          // superseded; the service already moved the client to the new hop
          this.endpoint.connection(previous)?.close(now, 0, 'replaced');
        }
        this.o.log.debug('hop up', {
          peer: keyHex.slice(0, 16),
          carrier: HopTransport.carrierOf(hop.address),
        });
        return;
      }
      case 'path_changed': {
        const hop = this.hops.get(ev.id);
        if (!hop) return;
        if (this.byAddress.get(addressKey(hop.address)) === ev.id)
          this.byAddress.delete(addressKey(hop.address));
        hop.address = ev.path.address;
        this.byAddress.set(addressKey(hop.address), ev.id);
        if (this.byKey.get(hop.keyHex) === ev.id) this.service.clientMoved(now, hop.key, hop.address);
        return;
      }
      case 'closed': {
        const hop = this.hops.get(ev.id);
        if (!hop) return;
        // still up for the relay service in its closing period: a leaving client's last channel
        // datagrams (its end-to-end CLOSE) may arrive after its hop CLOSE; down at 'gone'
        this.o.log.debug('hop closing', { peer: hop.keyHex.slice(0, 16), reason: ev.reason });
        return;
      }
      case 'gone': {
        const hop = this.hops.get(ev.id);
        if (hop) this.hopGone(now, ev.id, hop);
        return;
      }
      case 'message': {
        const hop = this.hops.get(ev.id);
        if (hop && this.byKey.get(hop.keyHex) === ev.id) this.service.handleControl(now, hop.key, ev.data);
        return;
      }
      case 'message_writable': {
        const hop = this.hops.get(ev.id);
        if (hop) this.flushControl(ev.id, hop);
        return;
      }
      case 'stream_opened': {
        // the relay serves no streams: refuse them at once (code 1 = not served)
        this.endpoint.connection(ev.id)?.reset(ev.streamId, 1);
        return;
      }
      default:
        return;
    }
  }

  private hopGone(now: number, id: number, hop: Hop): void {
    if (this.hops.get(id) !== hop) return;
    this.hops.delete(id);
    if (this.byAddress.get(addressKey(hop.address)) === id) this.byAddress.delete(addressKey(hop.address));
    if (this.byKey.get(hop.keyHex) === id) {
      this.byKey.delete(hop.keyHex);
      this.service.clientDown(now, hop.key, hop.address);
    }
    this.o.log.debug('hop down', { peer: hop.keyHex.slice(0, 16) });
  }

  /**
   * A CONTROL frame of the relay protocol from a client: from now on it is answered in CONTROL
   * frames. An empty one is the client's "I speak CONTROL frames": its greeting is sent again.
   */
  private onControlFrame(now: number, key: Uint8Array, body: Uint8Array): void {
    const id = this.byKey.get(toHex(key));
    const hop = id === undefined ? undefined : this.hops.get(id);
    if (hop === undefined) {
      // before the loop saw the session's 'connected' (the same flight of packets): remembered
      if (body.length === 0 && this.earlyControl.size < MAX_EARLY_CONTROL) this.earlyControl.add(toHex(key));
      return;
    }
    hop.control = true;
    if (body.length === 0) this.service.clientUp(now, hop.key, hop.address);
    else this.service.handleControl(now, hop.key, body);
    this.schedule();
  }

  private sendControl(client: Uint8Array, data: Uint8Array): void {
    const id = this.byKey.get(toHex(client));
    const hop = id === undefined ? undefined : this.hops.get(id);
    if (id === undefined || hop === undefined) {
      this.counters.controlDropped++;
      return;
    }
    if (hop.pending.length > 0 || !this.trySend(id, hop, data)) {
      if (hop.pending.length >= MAX_PENDING_CONTROL) this.counters.controlDropped++;
      else hop.pending.push(data);
    }
  }

  private flushControl(id: number, hop: Hop): void {
    while (hop.pending.length > 0 && this.trySend(id, hop, hop.pending[0] as Uint8Array)) hop.pending.shift();
  }

  private trySend(id: number, hop: Hop, data: Uint8Array): boolean {
    const c = this.endpoint.connection(id);
    if (c?.state !== 'established') return true; // gone: nothing to wait for
    try {
      if (hop.control) {
        const framed = new Uint8Array(data.length + 1);
        framed[0] = RELAY_TO_CLIENT;
        framed.set(data, 1);
        return c.sendControl(framed);
      }
      return c.sendMessage(data);
    } catch {
      this.counters.controlDropped++; // above the session's message size: cannot happen with the defaults
      return true;
    }
  }

  /**
   * A WebSocket closed: its hop session cannot continue, end it now instead of at idle timeout.
   * What the relay read from it before the close still goes out first (RelayService.clientDown):
   * a client's last datagrams (its sessions' CLOSE) and the close of its socket often arrive in one read.
   * The constructor wires it to the transport's WebSocket close; public, beside {@link receive},
   * so that a host feeding its own carrier (or a test replaying a close in the same turn as a
   * read) reports the carrier's end the same way.
   */
  carrierGone(address: Address): void {
    if (this.stopped) return;
    const id = this.byAddress.get(addressKey(address));
    const hop = id === undefined ? undefined : this.hops.get(id);
    if (id === undefined || hop === undefined) return;
    const now = performance.now();
    this.endpoint.connection(id)?.close(now, 0, 'websocket closed');
    if (this.byKey.get(hop.keyHex) === id) {
      this.byKey.delete(hop.keyHex);
      this.service.clientDown(now, hop.key, hop.address);
    }
    this.schedule();
  }
}

function describe(ev: { type: string } & Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev)) {
    if (k === 'type') continue;
    out[k] = v instanceof Uint8Array ? toHex(v).slice(0, 16) : v;
  }
  return out;
}
