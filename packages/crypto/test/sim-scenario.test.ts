import { type Address, Network, Rng, type SimNode, type Transmit } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import type { Identity } from '../src/identity.js';
import type { SecureChannel } from '../src/secure-channel.js';
import { SecureEndpoint } from '../src/secure-endpoint.js';
import { identity } from './helpers.js';

/**
 * A SecureEndpoint as a SimNode. Once established it sends `total` numbered messages, one every
 * 20 ms, re-sending each until acknowledged, acknowledging what it receives. The test layer here
 * is deliberately tiny: the point is the secure channel under loss, duplication and reordering.
 */
class Peer implements SimNode {
  readonly ep: SecureEndpoint;
  channel: SecureChannel | null = null;
  readonly received = new Set<number>();
  readonly acked = new Set<number>();
  established = 0;
  failed = 0;
  private pn = 0;
  private nextSendAt = 0;
  private readonly out: Transmit[] = [];

  constructor(
    id: Identity,
    rng: Rng,
    private readonly remote: { key: Uint8Array; addr: Address },
    private readonly total: number,
  ) {
    this.ep = new SecureEndpoint({
      identity: id,
      random: (n) => rng.bytes(n),
      timing: { handshakeRetransmitMs: 300, rekeyAfterMs: 3_000, gracePeriodMs: 1_000 },
    });
  }

  start(now: number): void {
    this.channel = this.ep.connect(now, { address: this.remote.addr, remoteKey: this.remote.key });
  }

  handle(now: number, from: Address, _to: Address, data: Uint8Array): void {
    const r = this.ep.handle(now, from, data);
    if (r.type === 'data') {
      const v = new DataView(r.plaintext.buffer, r.plaintext.byteOffset, r.plaintext.byteLength);
      const kind = v.getUint8(0);
      const n = v.getUint32(1);
      if (kind === 1) {
        this.received.add(n);
        this.send(now, 2, n); // ack
      } else this.acked.add(n);
    }
    this.drainEvents();
  }

  private drainEvents(): void {
    for (let e = this.ep.pollEvent(); e; e = this.ep.pollEvent()) {
      if (e.type === 'established') {
        this.established++;
        this.channel = e.channel;
      }
      if (e.type === 'failed') this.failed++;
    }
  }

  private send(now: number, kind: number, n: number): void {
    if (!this.channel?.isEstablished) return;
    const msg = new Uint8Array(100);
    const v = new DataView(msg.buffer);
    v.setUint8(0, kind);
    v.setUint32(1, n);
    this.out.push({ to: this.channel.address, data: this.channel.seal(this.pn++, msg) });
    void now;
  }

  handleTimeout(now: number): void {
    const t = this.ep.pollTimeout();
    if (t !== null && t <= now) this.ep.handleTimeout(now);
    this.drainEvents();
    if (now >= this.nextSendAt && this.channel?.isEstablished) {
      this.nextSendAt = now + 20;
      for (let n = 0; n < this.total; n++) {
        if (!this.acked.has(n)) {
          this.send(now, 1, n);
          break;
        }
      }
    }
  }

  pollTransmit(now: number): Transmit | null {
    const t = this.ep.pollTransmit(now);
    if (t) return { to: { host: t.to.host, port: t.to.port }, data: t.data };
    return this.out.shift() ?? null;
  }

  pollTimeout(): number | null {
    const t = this.ep.pollTimeout();
    const sending = this.channel?.isEstablished && this.acked.size < this.total ? this.nextSendAt : null;
    if (t === null) return sending;
    return sending === null ? t : Math.min(t, sending);
  }
}

describe('secure channel in @srmudp/sim', () => {
  for (const seed of [1, 2, 3]) {
    it(`simultaneous IK over a lossy, duplicating, reordering path, with rekeys (seed ${seed})`, () => {
      const net = new Network({
        seed,
        defaultLink: { latencyMs: 30, jitterMs: 10, loss: 0.2, duplicate: 0.1, reorder: 0.1 },
      });
      const A: Address = { host: '1.0.0.1', port: 4000 };
      const B: Address = { host: '2.0.0.2', port: 4000 };
      const idA = identity(seed * 10 + 1);
      const idB = identity(seed * 10 + 2);
      const rng = new Rng(seed);
      const a = new Peer(idA, rng.fork('a'), { key: idB.publicKey, addr: B }, 150);
      const b = new Peer(idB, rng.fork('b'), { key: idA.publicKey, addr: A }, 150);
      net.addHost('a', a, [A]);
      net.addHost('b', b, [B]);
      a.start(0);
      b.start(0);
      net.drive({ until: () => a.acked.size === 150 && b.acked.size === 150, untilTime: 120_000 });
      expect(a.acked.size, `seed ${seed}`).toBe(150);
      expect(b.acked.size).toBe(150);
      expect(a.received.size).toBe(150);
      expect(b.received.size).toBe(150);
      expect(a.established).toBe(1);
      expect(b.established).toBe(1);
      expect(a.failed + b.failed).toBe(0);
      expect(a.channel?.handshakeHash).toEqual(b.channel?.handshakeHash);
      // The run lasted several rekey periods: keys changed, and duplicates were caught.
      expect(a.ep.stats().rekeys + b.ep.stats().rekeys).toBeGreaterThan(0);
      expect(a.ep.stats().dropped.replay + b.ep.stats().dropped.replay).toBeGreaterThan(0);
      expect(a.ep.channels()).toHaveLength(1);
      expect(b.ep.channels()).toHaveLength(1);
    });
  }
});
