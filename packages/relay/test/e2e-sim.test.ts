/**
 * Two clients run a real end-to-end Noise IK session (@srmudp/crypto) through a circuit of the
 * relay, datagrams travelling over @srmudp/sim links: bytes flow both ways; the relay only ever
 * sees sealed packets (it cannot read), a byte it flips is dropped at the end (it cannot forge),
 * a packet it re-sends is dropped as a replay (it cannot replay).
 */
import { type Address, Network, Rng, type Transmit } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { openPolicy } from '../src/index.js';
import { ClientNode, RelayNode } from './sim-harness.js';

const RELAY: Address = { host: '203.0.113.1', port: 3478 };
const A_ADDR: Address = { host: '198.51.100.2', port: 5000 };
const B_ADDR: Address = { host: '198.51.100.3', port: 5000 };
const MARKER = 'SECRET-PAYLOAD-';

function setup(seed: string) {
  const net = new Network({ seed });
  const rng = new Rng(seed);
  const relay = new RelayNode(rng.fork('relay'), openPolicy());
  const opts = { relay: RELAY, relayId: relay.identity.publicKey, e2e: true };
  const a = new ClientNode({ ...opts, rng: rng.fork('a') });
  const b = new ClientNode({ ...opts, rng: rng.fork('b') });
  net.addHost('relay', relay, [RELAY]);
  net.addHost('a', a, [A_ADDR]);
  net.addHost('b', b, [B_ADDR]);
  net.setPath('a', 'relay', { latencyMs: 10 });
  net.setPath('b', 'relay', { latencyMs: 15 });
  // the hosts' hop sessions are established (authenticated): tell both sides
  for (const [c, addr] of [
    [a, A_ADDR],
    [b, B_ADDR],
  ] as const) {
    relay.up(net.now, c.key, addr);
    c.relay.hopUp(net.now);
  }
  net.driveBounded(100, () => a.relay.isReady && b.relay.isReady);
  a.dial(net.now, b.key);
  net.driveBounded(1_000, () => a.e2e!.channel(b.key)?.isEstablished === true);
  // key confirmation (WireGuard's rule): the responder's session counts once the initiator's
  // first packet under the new keys arrives (the harness sends an empty one, as core's PING)
  net.driveBounded(1_000, () => b.e2e!.channel(a.key)?.isEstablished === true);
  // what the tests count starts after the handshake and its confirmation
  b.plaintexts.length = 0;
  relay.forwarded.length = 0;
  return { net, relay, a, b };
}

const text = (s: string) => new TextEncoder().encode(s);
const asText = (d: Uint8Array) => new TextDecoder().decode(d);

function exchange(net: Network, a: ClientNode, b: ClientNode, n: number): void {
  for (let i = 0; i < n; i++) {
    a.sendSealed(net.now, b.key, text(`${MARKER}a->b #${i} ${'x'.repeat(900)}`));
    b.sendSealed(net.now, a.key, text(`${MARKER}b->a #${i} ${'y'.repeat(900)}`));
    net.runFor(2);
  }
  net.runFor(200);
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describe('end to end through a relay (sim)', () => {
  it('a Noise IK session is set up through the circuit (init carried in CONNECT) and bytes flow both ways', () => {
    const { net, relay, a, b } = setup('e2e-both-ways');
    exchange(net, a, b, 100);
    expect(b.plaintexts.map((p) => asText(p.data))).toEqual(
      Array.from({ length: 100 }, (_, i) => `${MARKER}a->b #${i} ${'x'.repeat(900)}`),
    );
    expect(a.plaintexts.map((p) => asText(p.data))).toEqual(
      Array.from({ length: 100 }, (_, i) => `${MARKER}b->a #${i} ${'y'.repeat(900)}`),
    );
    expect(b.plaintexts.every((p) => p.peer.every((x, i) => x === a.key[i]))).toBe(true);
    const s = relay.service.stats();
    expect(s.circuits).toBe(1);
    expect(s.packetsForwarded).toBeGreaterThanOrEqual(200);
    expect(Object.values(s.dropped).reduce((x, y) => x + y, 0)).toBe(0);
  });

  it('cannot read: no forwarded datagram contains any plaintext', () => {
    const { net, relay, a, b } = setup('e2e-read');
    exchange(net, a, b, 50);
    expect(b.plaintexts).toHaveLength(50);
    const marker = text(MARKER);
    const filler = text('x'.repeat(32));
    expect(relay.forwarded.length).toBeGreaterThanOrEqual(100);
    for (const d of relay.forwarded) {
      expect(contains(d, marker)).toBe(false);
      expect(contains(d, filler)).toBe(false);
    }
    // the check itself can fail: the plaintext is there before sealing
    expect(contains(text(`${MARKER}a->b #1 ${'x'.repeat(900)}`), marker)).toBe(true);
  });

  it('cannot forge: a flipped byte anywhere in a relayed packet makes the end drop it', () => {
    const { net, relay, a, b } = setup('e2e-forge');
    let n = 0;
    const flipped: number[] = [];
    relay.tamper = (d, to) => {
      // every 7th data packet gets one byte of the end-to-end packet flipped (header, body or tag)
      if (d[4] === 0x90 && n++ % 7 === 3) {
        const x = d.slice();
        const at = 4 + ((n * 131) % (d.length - 4));
        x[at]! ^= 0x40;
        flipped.push(at);
        return [{ to, data: x }];
      }
      return [{ to, data: d }];
    };
    exchange(net, a, b, 70);
    const sum = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
    const rejected = sum(a.e2e!.stats().dropped) + sum(b.e2e!.stats().dropped);
    expect(flipped.length).toBeGreaterThan(10);
    expect(rejected).toBe(flipped.length);
    expect(a.plaintexts.length + b.plaintexts.length).toBe(140 - flipped.length);
    // what did arrive is exactly what was sent
    for (const p of b.plaintexts) expect(asText(p.data)).toMatch(/^SECRET-PAYLOAD-a->b #\d+ x{900}$/);
  });

  it('cannot replay: a packet the relay sends again, at once or later, is dropped at the end', () => {
    const { net, relay, a, b } = setup('e2e-replay');
    const kept: Transmit[] = [];
    let n = 0;
    relay.tamper = (d, to) => {
      if (d[4] !== 0x90 || n++ % 5 !== 0) return [{ to, data: d }];
      kept.push({ to, data: d });
      return [
        { to, data: d },
        { to, data: d }, // at once
      ];
    };
    exchange(net, a, b, 50);
    const before = b.plaintexts.length + a.plaintexts.length;
    expect(before).toBe(100);
    // later: the relay re-injects old packets towards their destination
    relay.tamper = (d, to) => [{ to, data: d }, ...kept.splice(0)];
    a.sendSealed(net.now, b.key, text('one more'));
    net.runFor(100);
    expect(b.plaintexts.at(-1)!.data).toEqual(text('one more'));
    const replays = a.e2e!.stats().dropped.replay + b.e2e!.stats().dropped.replay;
    expect(replays).toBe(2 * 20); // 20 duplicated at once, the same 20 again later
    expect(b.plaintexts.length + a.plaintexts.length).toBe(101);
  });
});
