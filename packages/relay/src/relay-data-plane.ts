/**
 * The relay's data plane: what happens to a channel datagram (0x40-0x4f) from a hop. It is
 * forwarded only on a channel the client on that hop holds, only when it carries an srmudp packet,
 * within the client's token bucket and the circuit's limits (duration, binding expiry, bytes);
 * it leaves as a copy with the other end's channel number, queued for the other end's hop in the
 * drop-oldest queues (circuit-table.ts). The queues are served round-robin over the destination
 * hops, skipping hops that cannot take more and dropping what waited longer than
 * `writeTimeoutMs`. The control plane's part (a notice to the sender, a circuit its limits end)
 * goes through the host, RelayService.
 */
import { CHANNEL_HEADER_LENGTH, peekChannel, writeChannelHeader } from './channel-data.js';
import {
  type Circuit,
  type ClientState,
  type End,
  enqueueDatagram,
  otherEnd,
  type Queued,
  shiftDatagram,
} from './circuit-table.js';
import type { ControlMessage } from './control.js';
import { Deque } from './deque.js';
import type { RelayLimits } from './limits.js';
import type { CloseReason } from './reasons.js';
import type { RelayDropReason, RelayStats } from './relay-metrics.js';
import type { RelayTransmit } from './relay-service-api.js';

/** What the data plane needs from the relay around it. */
export interface DataPlaneHost<H> {
  readonly limits: RelayLimits;
  /** the relay's counters (forwarded packets and bytes are the data plane's) */
  readonly stats: RelayStats;
  /** the client whose hop session runs on `hop`, if any */
  clientOnHop(hop: H): ClientState<H> | undefined;
  /** a control message to a client (rate-limited notices) */
  send(c: ClientState<H>, msg: ControlMessage): void;
  /** the circuit's limits ended it: both ends are told */
  closeCircuit(circuit: Circuit<H>, reason: CloseReason): void;
  drop(reason: RelayDropReason): void;
}

export class RelayDataPlane<H> {
  /** clients with datagrams queued for their hop, in the order they are served */
  readonly #ready = new Deque<ClientState<H>>();
  /** what clients that left had sent, for the other ends of their circuits: served first */
  readonly #parting = new Deque<RelayTransmit<H>>();

  constructor(private readonly host: DataPlaneHost<H>) {}

  /** Forwards a channel datagram from `hop`, or returns why it was dropped. Never throws on the bytes. */
  forward(now: number, hop: H, bytes: Uint8Array): RelayDropReason | null {
    const { limits } = this.host;
    const channel = peekChannel(bytes);
    if (channel < 0) return 'malformed';
    const c = this.host.clientOnHop(hop);
    if (!c) return 'unknown_hop';
    if (bytes.length > limits.maxMessageSize) return 'too_large';
    const end = c.channels.get(channel);
    if (!end) {
      // Tell the client (rate-limited) so it can re-request instead of sending into the void,
      // e.g. after the relay restarted (Tailscale's rate-limited "peer gone" notices).
      if (now - c.lastChannelNotice >= limits.noticeIntervalMs) {
        c.lastChannelNotice = now;
        this.host.send(c, { type: 'close', requestId: 0, channel, reason: 'unknown_channel' });
      }
      return 'unbound_channel';
    }
    if ((bytes[CHANNEL_HEADER_LENGTH]! & 0xc0) !== 0x80) return 'not_srmudp';
    if (!c.bucket.take(now, bytes.length)) {
      if (now - c.lastRateNotice >= limits.noticeIntervalMs) {
        c.lastRateNotice = now;
        this.host.send(c, {
          type: 'status',
          requestId: 0,
          status: { code: 'rate_limited', rateBytesPerSec: c.bucket.rate, burstBytes: c.bucket.burst },
        });
      }
      return 'rate_limited';
    }
    const circuit = end.circuit;
    const payload = bytes.length - CHANNEL_HEADER_LENGTH;
    let ended: CloseReason | null = null;
    if (now >= circuit.deadline) ended = 'duration_limit';
    else if (now >= end.expiresAt) ended = 'expired';
    else if (circuit.limits.bytes > 0 && circuit.bytes + payload > circuit.limits.bytes) ended = 'data_limit';
    if (ended) {
      this.host.closeCircuit(circuit, ended);
      return 'circuit_limit';
    }
    circuit.bytes += payload;
    circuit.packets++;
    const other = otherEnd(end);
    const out = bytes.slice();
    writeChannelHeader(out, 0, other.channel, payload);
    this.#enqueue(other, out, now);
    return null;
  }

  /**
   * `end`'s client is leaving and `end.circuit` is about to close: the datagrams that client
   * already sent on it, still queued for the other end, leave first, ahead of the circuit's close
   * notice (see {@link nextParting}). A client's last datagrams (its sessions' CLOSE) and the end
   * of its hop session often arrive in one read; dropped with the circuit (`circuit_closed`), they
   * would leave the other end with only `peer_gone`, keeping its session until its idle timeout.
   */
  releaseParting(now: number, end: End<H>): void {
    const to = otherEnd(end);
    const c = to.client;
    if (c.removed) return;
    const { limits, stats } = this.host;
    for (const q of [c.handshakes, c.data]) {
      for (let n = q.length; n > 0; n--) {
        const item = q.shift()!;
        if (item.end !== to) {
          q.push(item); // another circuit's: keeps its place in the order
          continue;
        }
        if (q === c.data) c.dataBytes -= item.data.length;
        if (now - item.at > limits.writeTimeoutMs) {
          this.host.drop('stale');
          continue;
        }
        stats.packetsForwarded++;
        stats.bytesForwarded += item.data.length - CHANNEL_HEADER_LENGTH;
        this.#parting.push({ kind: 'channel', hop: c.hop, data: item.data });
      }
    }
  }

  /** A datagram released by {@link releaseParting}: it goes before any control message. */
  nextParting(): RelayTransmit<H> | null {
    return this.#parting.shift() ?? null;
  }

  /** `c` may have datagrams to send (queued, or its hop writable again): serve it in turn. */
  markReady(c: ClientState<H>): void {
    if (c.inReady || c.removed || (c.data.length === 0 && c.handshakes.length === 0)) return;
    c.inReady = true;
    this.#ready.push(c);
  }

  /**
   * The next channel datagram: round-robin over the destination hops (handshake packets before
   * data on each), skipping hops that are not writable; a datagram queued longer than
   * `writeTimeoutMs` is dropped (`stale`), one of a circuit closed meanwhile too.
   */
  next(now: number): RelayTransmit<H> | null {
    const { limits, stats } = this.host;
    for (let n = this.#ready.length; n > 0; n--) {
      const c = this.#ready.shift()!;
      c.inReady = false;
      if (c.removed || !c.writable) continue;
      let item: Queued<H> | undefined;
      while ((item = shiftDatagram(c)) !== undefined) {
        if (item.end.circuit.closed) this.host.drop('circuit_closed');
        else if (now - item.at > limits.writeTimeoutMs) this.host.drop('stale');
        else break;
      }
      this.markReady(c);
      if (item === undefined) continue;
      stats.packetsForwarded++;
      stats.bytesForwarded += item.data.length - CHANNEL_HEADER_LENGTH;
      return { kind: 'channel', hop: c.hop, data: item.data };
    }
    return null;
  }

  #enqueue(end: End<H>, data: Uint8Array, now: number): void {
    const item: Queued<H> = { data, at: now, end };
    enqueueDatagram(item, this.host.limits, (reason) => this.host.drop(reason));
    this.markReady(end.client);
  }
}
