/**
 * The per-client token bucket: a client sending four times its rate is cut to its rate (plus
 * the burst) and told so; a client within its rate on the same relay loses nothing.
 */
import { type Address, Network, Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { openPolicy } from '../src/index.js';
import { fakePacket } from './local.js';
import { ClientNode, RelayNode } from './sim-harness.js';

const RELAY: Address = { host: '203.0.113.1', port: 3478 };
const MiB = 1024 * 1024;

describe('rate limits (sim)', () => {
  it('slows one client to its rate without affecting another', () => {
    const seed = 'rate';
    const net = new Network({ seed });
    const rng = new Rng(seed);
    const relay = new RelayNode(rng.fork('relay'), openPolicy(), {
      rateBytesPerSec: MiB,
      burstBytes: 256 * 1024,
    });
    net.addHost('relay', relay, [RELAY]);
    const nodes = ['a', 'b', 'c', 'd'].map((name, i) => {
      const n = new ClientNode({ rng: rng.fork(name), relay: RELAY, relayId: relay.identity.publicKey });
      const addr = { host: `198.51.100.${10 + i}`, port: 5000 };
      net.addHost(name, n, [addr]);
      net.setPath(name, 'relay', { latencyMs: 5 });
      relay.up(net.now, n.key, addr);
      n.relay.hopUp(net.now);
      return n;
    });
    const [a, b, c, d] = nodes as [ClientNode, ClientNode, ClientNode, ClientNode];
    net.driveBounded(100, () => nodes.every((n) => n.relay.isReady));
    a.relay.connect(net.now, b.key);
    c.relay.connect(net.now, d.key);
    net.driveBounded(100, () => a.relay.channelOf(b.key) >= 0 && c.relay.channelOf(d.key) >= 0);

    // a: 4 packets of 1,000 bytes per ms (≈ 3.8 MiB/s); c: one every 2 ms (≈ 0.48 MiB/s); 5 s
    const start = net.now;
    const seconds = 5;
    let sentA = 0;
    let sentC = 0;
    for (let ms = 0; ms < seconds * 1000; ms++) {
      a.at(start + ms, (now) => {
        for (let k = 0; k < 4; k++) a.sendRaw(now, b.key, fakePacket(sentA++, 1000));
        if (ms % 2 === 0) c.sendRaw(now, d.key, fakePacket(sentC++, 1000));
      });
    }
    net.runFor(seconds * 1000 + 100);
    const datagram = 1004; // the bucket counts the whole channel datagram
    const allowed = (256 * 1024 + MiB * seconds) / datagram;
    expect(sentA).toBe(20_000);
    expect(b.packets.length).toBeGreaterThan(allowed * 0.97);
    expect(b.packets.length).toBeLessThan(allowed * 1.03);
    expect(d.packets).toHaveLength(sentC);
    expect(relay.service.stats().dropped.rate_limited).toBe(sentA - b.packets.length);
    // a was told (at most once per second), c never
    const notices = a.events.filter((e) => e.type === 'rate_limited');
    expect(notices.length).toBeGreaterThanOrEqual(4);
    expect(notices.length).toBeLessThanOrEqual(seconds + 1);
    expect(notices[0]).toEqual({ type: 'rate_limited', rateBytesPerSec: MiB, burstBytes: 256 * 1024 });
    expect(c.events.some((e) => e.type === 'rate_limited')).toBe(false);
    // the rate, measured over the last 4 s (burst spent): within 3 % of 1 MiB/s
    const late = b.packets.filter((p) => p.at >= start + 1000).length * datagram;
    expect(late / 4).toBeGreaterThan(MiB * 0.97);
    expect(late / 4).toBeLessThan(MiB * 1.03);
  });
});
