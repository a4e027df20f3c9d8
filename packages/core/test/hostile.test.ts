import { type Address, Rng } from '@srmudp/sim';
import { encodeStun, StunMethod } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import type { Transmit } from '../src/api.js';
import { ADDR_A, ADDR_B, randomBytes, sha256, simPair, Writer } from './helpers.js';

/** Hostile datagrams thrown at a live endpoint (issue minimum 100,000; override for soak runs). */
const COUNT = Number(process.env.CORE_HOSTILE_COUNT ?? 100_000);
const SRMUDP_TYPES = [0x81, 0x82, 0x83, 0x84, 0x90, 0x91];

function sum(r: Record<string, number>): number {
  let s = 0;
  for (const v of Object.values(r)) s += v;
  return s;
}

describe('hostile input', () => {
  it(`${COUNT} random, mutated and replayed datagrams during a transfer`, () => {
    const { net, a, b } = simPair('hostile', { link: { latencyMs: 5, bandwidthBps: 20e6 } });
    const rng = new Rng('attacker');
    const attackers: Address[] = Array.from({ length: 16 }, (_, i) => ({
      host: `10.66.0.${i + 1}`,
      port: 1000 + i,
    }));
    a.recordSent = true;
    b.recordSent = true;
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    const data = randomBytes('hostile-data', 2 * 1024 * 1024);
    const sid = conn.openStream();
    const w = new Writer(conn, sid, data);
    a.onEvent = (e) => e.type === 'writable' && w.pump();
    w.pump();
    const bid = b.connected()[0]!.id;
    // phase 1: capture real packets (handshake and data) while the transfer starts
    net.drive({ until: () => b.sink(bid, sid).bytes > 256 * 1024, maxTimeMs: 30_000 });
    net.runFor(50); // everything captured so far has been delivered: replays are replays
    const captured: Transmit[] = a.sent.filter((t) => t.to.port === ADDR_B.port && t.to.host === ADDR_B.host);
    expect(captured.length).toBeGreaterThan(50);
    expect(captured.some((t) => t.data[0] === 0x81)).toBe(true);
    b.sent.length = 0;

    const before = sum(b.ep.stats().drops);
    const sentFrom = new Map<string, number>();
    let thrown = 0;
    let stunRequests = 0;
    const throwOne = () => {
      const from = attackers[rng.int(attackers.length)]!;
      const kind = rng.int(100);
      let d: Uint8Array;
      if (kind < 20) {
        d = rng.bytes(1 + rng.int(1500));
      } else if (kind < 40) {
        d = rng.bytes(1 + rng.int(1500));
        d[0] = SRMUDP_TYPES[rng.int(SRMUDP_TYPES.length)]!;
      } else if (kind < 65) {
        d = captured[rng.int(captured.length)]!.data.slice(); // exact replay
      } else if (kind < 99) {
        d = captured[rng.int(captured.length)]!.data.slice();
        const flips = 1 + rng.int(3);
        for (let i = 0; i < flips; i++) {
          const at = rng.int(d.length);
          d[at] = (d[at]! ^ (1 + rng.int(255))) & 0xff;
        }
        if (rng.chance(0.1)) d = d.subarray(0, rng.int(d.length + 1));
      } else {
        d = encodeStun({ class: 'request', method: StunMethod.Binding, transactionId: rng.bytes(12) });
        stunRequests++;
      }
      const k = `${from.host}:${from.port}`;
      sentFrom.set(k, (sentFrom.get(k) ?? 0) + d.length);
      b.handle(net.now, from, ADDR_B, d);
      thrown++;
    };
    // phase 2: interleave the attack with the transfer
    let steps = 0;
    let finishedAt = -1;
    while (!b.sink(bid, sid).finished || thrown < COUNT) {
      if (thrown < COUNT) for (let i = 0; i < 40 && thrown < COUNT; i++) throwOne();
      if (!b.sink(bid, sid).finished) {
        if (!net.step()) break;
        if (b.sink(bid, sid).finished) finishedAt = thrown;
      }
      if (++steps > 2_000_000) throw new Error('bound exceeded');
    }
    expect(thrown).toBe(COUNT);
    // the attack ran while the transfer was in progress (at least half of it)
    expect(finishedAt).toBeGreaterThanOrEqual(COUNT / 2);
    net.runFor(100); // let the network poll what b still has to send
    // the transfer is intact
    expect(b.sink(bid, sid).finished).toBe(true);
    expect(sha256(b.sink(bid, sid).chunks)).toBe(sha256(data));
    expect(b.count('closed') + a.count('closed')).toBe(0);
    expect(b.ep.connection(bid)!.path).toEqual({ kind: 'direct', address: ADDR_A });
    expect(b.count('connected')).toBe(1);
    // every hostile datagram is accounted for: dropped and counted, or a STUN request answered
    const stats = b.ep.stats();
    const dropped = sum(stats.drops) - before;
    const answeredStun = b.sent.filter((t) => t.data[0]! >> 6 === 0).length;
    expect(dropped + answeredStun).toBeGreaterThanOrEqual(COUNT - stunRequests);
    expect(dropped).toBeLessThanOrEqual(COUNT);
    expect(stats.drops.replay ?? 0).toBeGreaterThan(0);
    expect(stats.drops.not_srmudp ?? 0).toBeGreaterThan(0);
    expect((stats.drops.decrypt_failed ?? 0) + (stats.drops.unknown_index ?? 0)).toBeGreaterThan(0);
    // anti-amplification: never more than 3x what an unvalidated address sent us
    const sentTo = new Map<string, number>();
    for (const t of b.sent) {
      const k = `${t.to.host}:${t.to.port}`;
      sentTo.set(k, (sentTo.get(k) ?? 0) + t.data.length);
    }
    let repliedSomewhere = false;
    for (const at of attackers) {
      const k = `${at.host}:${at.port}`;
      const out = sentTo.get(k) ?? 0;
      if (out > 0) repliedSomewhere = true;
      expect(out).toBeLessThanOrEqual(3 * (sentFrom.get(k) ?? 0));
    }
    expect(repliedSomewhere).toBe(true); // replayed initiations and STUN requests are answered, within budget
  });

  it('replies to a spoofed source are capped at 3x even for a flood of replayed initiations', () => {
    const { net, a, b } = simPair('amp');
    a.recordSent = true;
    b.recordSent = true;
    a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
    const init = a.sent.find((t) => t.data[0] === 0x81)!.data;
    const victim = { host: '198.51.100.9', port: 53 };
    b.sent.length = 0;
    for (let i = 0; i < 1000; i++) b.handle(net.now, victim, ADDR_B, init);
    net.runFor(10);
    const out = b.sent.filter((t) => t.to.host === victim.host).reduce((s, t) => s + t.data.length, 0);
    expect(out).toBeGreaterThan(0);
    expect(out).toBeLessThanOrEqual(3 * 1000 * init.length);
    // a single spoofed datagram gets at most 3x its size back
    const victim2 = { host: '198.51.100.10', port: 53 };
    b.handle(net.now, victim2, ADDR_B, init);
    net.runFor(10);
    const out2 = b.sent.filter((t) => t.to.host === victim2.host).reduce((s, t) => s + t.data.length, 0);
    expect(out2).toBeLessThanOrEqual(3 * init.length);
  });
});
