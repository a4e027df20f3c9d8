import { describe, expect, it } from 'vitest';
import type { LinkConfig } from '../src/index.js';
import { gilbertElliottLossRate, Network, ScriptedNode } from '../src/index.js';
import { Link } from '../src/link.js';
import { Rng } from '../src/rng.js';
import { Blaster, SEED_SUFFIX, Sink, withinSigma } from './helpers.js';

const A = { host: '10.0.0.1', port: 1000 };
const B = { host: '10.0.0.2', port: 2000 };

/** a -> b over one link with `cfg`; `count` datagrams of `size` bytes every `intervalMs`. */
function run(seed: number | string, cfg: LinkConfig, count: number, size = 100, intervalMs = 1) {
  const net = new Network({ seed: `${seed}${SEED_SUFFIX}` });
  const tx = new Blaster(B, count, size, intervalMs);
  const rx = new Sink();
  net.addHost('a', tx, [A]);
  net.addHost('b', rx, [B]);
  net.setLink('a', 'b', cfg);
  net.drive({ maxSteps: 10 * count + 100 });
  return { net, tx, rx, link: net.stats('a->b') };
}

describe('random loss', () => {
  for (const p of [0.01, 0.1, 0.5]) {
    it(`measured loss ~ ${p} within 5 sigma (n=20000)`, () => {
      const n = 20_000;
      const { rx, link, net } = run(`loss-${p}`, { loss: p }, n);
      const measured = 1 - rx.seqs.length / n;
      expect(withinSigma(measured, p, n), `loss ${measured} vs ${p} seed=${net.seed}`).toBe(true);
      expect(link.dropped.loss).toBe(n - rx.seqs.length);
      expect(net.stats('a').dropped.loss).toBe(n - rx.seqs.length);
      expect(net.stats().dropped.loss).toBe(n - rx.seqs.length);
    });
  }

  it('loss 0 delivers everything, loss 1 nothing', () => {
    expect(run(1, { loss: 0 }, 1000).rx.seqs).toHaveLength(1000);
    expect(run(1, { loss: 1 }, 1000).rx.seqs).toHaveLength(0);
  });
});

describe('Gilbert-Elliott loss', () => {
  const cases = [
    { pGoodToBad: 0.01, pBadToGood: 0.1, lossInBad: 0.5 },
    { pGoodToBad: 0.05, pBadToGood: 0.3, lossInBad: 0.9, lossInGood: 0.01 },
  ];
  for (const ge of cases) {
    it(`average loss matches the stationary formula ${JSON.stringify(ge)}`, () => {
      const n = 200_000;
      const link = new Link('l', { gilbertElliott: ge }, new Rng(`ge-${JSON.stringify(ge)}${SEED_SUFFIX}`));
      let lost = 0;
      let afterLoss = 0;
      let lossAfterLoss = 0;
      let prevLost = false;
      for (let i = 0; i < n; i++) {
        const isLost = link.enter(i, 100) === 'loss';
        if (prevLost) {
          afterLoss++;
          if (isLost) lossAfterLoss++;
        }
        if (isLost) lost++;
        prevLost = isLost;
      }
      const expected = gilbertElliottLossRate(ge);
      // Correlated samples: the variance of the mean grows by (1 + rho) / (1 - rho), rho = 1 - p - r.
      const rho = 1 - ge.pGoodToBad - ge.pBadToGood;
      expect(
        withinSigma(lost / n, expected, n, 5, (1 + rho) / (1 - rho)),
        `loss ${lost / n} vs ${expected} seed=ge-${JSON.stringify(ge)}${SEED_SUFFIX}`,
      ).toBe(true);
      // Bursty: a loss makes the next loss more likely than the average.
      expect(lossAfterLoss / afterLoss).toBeGreaterThan(2 * expected);
    });
  }

  it('is end-to-end through a Network too', () => {
    const ge = { pGoodToBad: 0.02, pBadToGood: 0.2, lossInBad: 1 };
    const n = 30_000;
    const { rx, net } = run('ge-net', { gilbertElliott: ge }, n);
    const rho = 1 - 0.02 - 0.2;
    const measured = 1 - rx.seqs.length / n;
    expect(
      withinSigma(measured, gilbertElliottLossRate(ge), n, 5, (1 + rho) / (1 - rho)),
      `loss ${measured} seed=${net.seed}`,
    ).toBe(true);
  });
});

describe('bandwidth and drop-tail queue', () => {
  it('delivers at the configured rate when overloaded (within 2%)', () => {
    // 2 Mbit/s offered (1000 B every 4 ms) into a 1 Mbit/s link for 10 s.
    const { rx, link } = run('bw', { bandwidthBps: 1_000_000, latencyMs: 20 }, 2500, 1000, 4);
    const t0 = 1000;
    const t1 = 9000;
    let bytes = 0;
    for (let i = 0; i < rx.times.length; i++)
      if (rx.times[i]! >= t0 && rx.times[i]! < t1) bytes += rx.sizes[i]!;
    const bps = (bytes * 8) / ((t1 - t0) / 1000);
    expect(Math.abs(bps - 1_000_000) / 1_000_000).toBeLessThan(0.02);
    expect(link.dropped.queue).toBeGreaterThan(1000);
    expect(link.dropped.queue + rx.seqs.length).toBe(2500);
  });

  it('a packet under capacity takes serialization + latency, no drops', () => {
    // 1000 B at 1 Mbit/s = 8 ms on the wire, + 20 ms propagation.
    const { rx, tx, link } = run('bw2', { bandwidthBps: 1_000_000, latencyMs: 20 }, 100, 1000, 10);
    expect(link.dropped.queue).toBe(0);
    for (let i = 0; i < rx.times.length; i++) expect(rx.times[i]! - tx.sendTimes[i]!).toBeCloseTo(28, 9);
  });

  it('drop-tail: a burst fills exactly queueBytes, the rest is dropped, the queue drains in order', () => {
    const { rx, link } = run('q', { bandwidthBps: 1_000_000, queueBytes: 10_000 }, 100, 1000, 0);
    expect(rx.seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(link.dropped.queue).toBe(90);
    rx.times.forEach((t, i) => {
      expect(t).toBeCloseTo(8 * (i + 1), 9);
    });
  });

  it("backlog() shows a link's queue filling and draining", () => {
    const net = new Network({ seed: 'bl' });
    net.addHost('a', new Blaster(B, 5, 1000, 0), [A]);
    net.addHost('b', new Sink(), [B]);
    net.addLink('l', { bandwidthBps: 1_000_000, queueBytes: 10_000 });
    net.setRoute('a', 'b', ['l']);
    net.step(); // polls a: 5 datagrams enter at t=0, the first is delivered at t=8
    expect(net.now).toBe(8);
    expect(net.backlog('l')).toBeCloseTo(4000, 6);
    net.runFor(20);
    expect(net.backlog('l')).toBeCloseTo(1500, 6); // 12 ms of 1 Mbit/s left
    net.drive();
    expect(net.backlog('l')).toBe(0);
  });

  it('default queue is about one BDP (2 x latency x rate), at least 3000 B', () => {
    const l = new Link('l', { bandwidthBps: 8_000_000, latencyMs: 25 }, new Rng(1));
    expect(l.config.queueBytes).toBe(50_000);
    expect(new Link('l', { bandwidthBps: 8_000_000 }, new Rng(1)).config.queueBytes).toBe(3000);
  });

  it('two flows through one named link share its queue and rate', () => {
    const net = new Network({ seed: 'bottleneck' });
    const B2 = { host: '10.0.0.4', port: 2000 };
    const tx1 = new Blaster(B, 1500, 1000, 8); // 1 Mbit/s each
    const tx2 = new Blaster(B2, 1500, 1000, 8);
    const rx1 = new Sink();
    const rx2 = new Sink();
    net.addHost('a1', tx1, [A]);
    net.addHost('a2', tx2, [{ host: '10.0.0.3', port: 1000 }]);
    net.addHost('b1', rx1, [B]);
    net.addHost('b2', rx2, [B2]);
    net.addLink('bottleneck', { bandwidthBps: 1_000_000, latencyMs: 10, queueBytes: 20_000 });
    // Access links with a little jitter: perfectly synchronised constant-rate senders would show
    // drop-tail's phase effect (one flow always finds the queue full; Floyd & Jacobson 1992).
    net.addLink('access1', { latencyMs: 1, jitterMs: 2 });
    net.addLink('access2', { latencyMs: 1, jitterMs: 2 });
    net.setRoute('a1', 'b1', ['access1', 'bottleneck']);
    net.setRoute('a2', 'b2', ['access2', 'bottleneck']);
    net.drive();
    const total = (rx1.seqs.length + rx2.seqs.length) * 1000 * 8;
    const seconds = (Math.max(rx1.times.at(-1)!, rx2.times.at(-1)!) - 11) / 1000;
    expect(Math.abs(total / seconds - 1_000_000) / 1_000_000).toBeLessThan(0.02);
    // Equal offered load: each gets about half.
    expect(Math.abs(rx1.seqs.length - rx2.seqs.length) / 1500).toBeLessThan(0.1);
    const bl = net.stats('bottleneck');
    expect(bl.sent).toBe(3000);
    expect(bl.dropped.queue).toBe(3000 - rx1.seqs.length - rx2.seqs.length);
  });

  it('a route through several links adds their delays', () => {
    const net = new Network({ seed: 1 });
    const tx = new Blaster(B, 1, 1000, 1);
    const rx = new Sink();
    net.addHost('a', tx, [A]);
    net.addHost('b', rx, [B]);
    net.addLink('access', { latencyMs: 5, bandwidthBps: 8_000_000 }); // 1 ms per 1000 B
    net.addLink('core', { latencyMs: 30, bandwidthBps: 1_000_000 }); // 8 ms per 1000 B
    net.setRoute('a', 'b', ['access', 'core']);
    net.drive();
    expect(rx.times[0]).toBeCloseTo(1 + 5 + 8 + 30, 9);
  });
});

describe('latency, jitter, reordering, duplication, MTU', () => {
  it('delay lies in [latency, latency + jitter] with the uniform mean', () => {
    const n = 5000;
    const { rx, tx } = run('jit', { latencyMs: 50, jitterMs: 20 }, n);
    const d = rx.seqs.map((s, i) => rx.times[i]! - tx.sendTimes[s]!);
    expect(Math.min(...d)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...d)).toBeLessThanOrEqual(70);
    const mean = d.reduce((a, b) => a + b, 0) / n;
    // uniform [0, 20]: sd = 20/sqrt(12); mean of n within 5 sigma
    expect(Math.abs(mean - 60)).toBeLessThan((5 * 20) / Math.sqrt(12) / Math.sqrt(n));
  });

  it('no jitter, no reorder: FIFO and exact latency', () => {
    const { rx } = run('fifo', { latencyMs: 33 }, 500);
    expect(rx.seqs).toEqual([...Array(500).keys()]);
    rx.times.forEach((t, i) => {
      expect(t).toBe(i + 33);
    });
  });

  it('reorder rate within 5 sigma and reordered packets are overtaken', () => {
    const n = 20_000;
    const { rx, link, net } = run('reo', { latencyMs: 10, reorder: 0.05, reorderDelayMs: 5 }, n);
    expect(withinSigma(link.reordered / n, 0.05, n), `seed=${net.seed}`).toBe(true);
    let late = 0;
    for (let i = 1; i < rx.seqs.length; i++) if (rx.seqs[i]! < rx.seqs[i - 1]!) late++;
    expect(late).toBeGreaterThan(0);
    expect(rx.seqs).toHaveLength(n);
  });

  it('duplicate rate within 5 sigma', () => {
    const n = 20_000;
    const { rx, link, net } = run('dup', { duplicate: 0.02 }, n);
    expect(withinSigma(link.duplicated / n, 0.02, n), `seed=${net.seed}`).toBe(true);
    expect(rx.seqs.length).toBe(n + link.duplicated);
    expect(net.stats('a').duplicated).toBe(link.duplicated);
    expect(net.stats('b').delivered).toBe(n + link.duplicated);
  });

  it('duplicates are separate buffers: a receiver mutating one does not change the other', () => {
    const net = new Network({ seed: 'dupbuf' });
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', b, [B]);
    net.setLink('a', 'b', { duplicate: 1 });
    const seen: number[][] = [];
    b.onReceive = (_self, r) => {
      seen.push([...r.data]);
      r.data.fill(0xee); // e.g. decrypting in place
    };
    a.send(B, Uint8Array.of(1, 2, 3));
    net.drive();
    expect(seen).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(net.stats('a->b').duplicated).toBe(1);
  });

  it('MTU: larger datagrams are dropped and counted', () => {
    const net = new Network({ seed: 'mtu' });
    const rx = new Sink();
    const tx = new Blaster(B, 10, 1400, 1);
    const tx2 = new Blaster(B, 10, 1401, 1);
    net.addHost('a', tx, [A]);
    net.addHost('a2', tx2, [{ host: '10.0.0.9', port: 1 }]);
    net.addHost('b', rx, [B]);
    net.setLink('a', 'b', { mtu: 1400 });
    net.setLink('a2', 'b', { mtu: 1400 });
    net.drive();
    expect(rx.sizes.every((s) => s === 1400)).toBe(true);
    expect(rx.sizes).toHaveLength(10);
    expect(net.stats('a2->b').dropped.mtu).toBe(10);
    expect(net.stats().dropped.mtu).toBe(10);
  });

  it('reconfiguring a link mid-run (a cut) keeps counters', () => {
    const net = new Network({ seed: 'cut' });
    const rx = new Sink();
    net.addHost('a', new Blaster(B, 100, 100, 1), [A]);
    net.addHost('b', rx, [B]);
    net.setLink('a', 'b', {});
    net.runFor(49.5);
    net.setLink('a', 'b', { loss: 1 });
    net.drive();
    expect(rx.seqs).toHaveLength(50);
    expect(net.stats('a->b').sent).toBe(100);
  });

  it('rejects bad configs with exact messages', () => {
    const net = new Network({ seed: 1 });
    net.addHost('a', new Sink(), [A]);
    net.addHost('b', new Sink(), [B]);
    expect(() => net.setLink('a', 'b', { loss: 1.5 })).toThrow(
      '"loss" expected a probability in 0..1, got 1.5',
    );
    expect(() => net.setLink('a', 'b', { bandwidthBps: 0 })).toThrow(
      '"bandwidthBps" expected a number > 0, got 0',
    );
    expect(() => net.setLink('a', 'b', { latencyMs: -1 })).toThrow(
      '"latencyMs" expected a number >= 0, got -1',
    );
    expect(() => net.setLink('a', 'c', {})).toThrow('no host or NAT named "c"');
    expect(() => net.setRoute('a', 'b', ['nope'])).toThrow('no link named "nope"');
  });
});
