import { bench, describe } from 'vitest';
import type { SimNode, Transmit } from '../src/index.js';
import { echoNode, Network } from '../src/index.js';

const A = { host: '10.0.0.1', port: 1000 };
const B = { host: '10.0.0.2', port: 2000 };

/** Sends `count` copies of one 1200-byte buffer, one every 0.1 ms (cheap, so the bench measures the network). */
class Pacer implements SimNode {
  #i = 0;
  readonly #data = new Uint8Array(1200);
  constructor(readonly count: number) {}
  handle(): void {}
  handleTimeout(): void {}
  pollTransmit(now: number): Transmit | null {
    if (this.#i >= this.count || this.#i * 0.1 > now) return null;
    this.#i++;
    return { to: B, data: this.#data };
  }
  pollTimeout(): number | null {
    return this.#i < this.count ? this.#i * 0.1 : null;
  }
}

/** 10,000 datagrams of 1200 bytes bounced off an echo node: 20,000 link traversals and deliveries. */
function flood(cfg: Parameters<Network['setPath']>[2], traceLimit: number): void {
  const net = new Network({ seed: 'bench', traceLimit });
  net.addHost('a', new Pacer(10_000), [A]);
  net.addHost('b', echoNode(), [B]);
  net.setPath('a', 'b', cfg);
  net.drive({ maxSteps: 100_000 });
}

describe('Network: 10k echoed 1200-byte datagrams (20k deliveries)', () => {
  bench('ideal link', () => flood({}, 1000));
  bench('latency+jitter+loss+dup+bandwidth', () =>
    flood({ latencyMs: 20, jitterMs: 5, loss: 0.01, duplicate: 0.01, bandwidthBps: 200e6 }, 1000),
  );
  bench('ideal link, trace ring off', () => flood({}, 0));
});
