import { describe, expect, it } from 'vitest';
import { dumbbell, echoNode, PAIR_A, PAIR_B, pair, ScriptedNode } from '../src/index.js';
import { Blaster, Sink } from './helpers.js';

describe('pair', () => {
  it('builds two hosts with per-direction links', () => {
    const { net, a, addrB } = pair({
      seed: 'pair',
      a: () => new ScriptedNode(),
      b: () => echoNode(),
      ab: { latencyMs: 10 },
      ba: { latencyMs: 30 },
    });
    expect(addrB).toEqual(PAIR_B);
    a.send(addrB, Uint8Array.of(1));
    net.drive();
    expect(a.received[0]!.at).toBe(40);
    expect(a.received[0]!.from).toEqual(PAIR_B);
    expect(net.addresses('a')).toEqual([PAIR_A]);
    expect(net.stats('a->b').delivered).toBe(1);
  });
});

describe('dumbbell', () => {
  it('N flows share the bottleneck rate; reverse traffic uses the reverse link', () => {
    const sinks: Sink[] = [];
    const { net } = dumbbell({
      seed: 'db',
      bottleneck: { bandwidthBps: 2_000_000, latencyMs: 10 },
      access: [{ latencyMs: 1 }, { latencyMs: 2.3 }, { latencyMs: 3.7 }],
      flows: [0, 1, 2].map(() => ({
        sender: (_net, to) => new Blaster(to, 1000, 1000, 3), // ~2.7 Mbit/s each
        receiver: () => {
          const s = new Sink();
          sinks.push(s);
          return s;
        },
      })),
    });
    net.drive();
    const delivered = sinks.reduce((n, s) => n + s.seqs.length, 0);
    const end = Math.max(...sinks.map((s) => s.times.at(-1)!));
    const bps = (delivered * 8000) / ((end - 11) / 1000);
    expect(Math.abs(bps - 2_000_000) / 2_000_000).toBeLessThan(0.03);
    expect(net.stats('bottleneck').sent).toBe(3000);
    expect(net.stats('bottleneck').dropped.queue).toBe(3000 - delivered);
    for (const s of sinks) expect(s.seqs.length).toBeGreaterThan(100);
  });
});
