// The README example, verbatim apart from the test wrapper.
import { expect, it } from 'vitest';
import type { Address, SimNode, Transmit } from '../src/index.js';
import { Network } from '../src/index.js';

/** Sends a ping every 100 ms (10 in all) and counts pongs; answers pings with pongs. */
class PingPong implements SimNode {
  pongs = 0;
  #out: Transmit[] = [];
  #next: number | null;
  #left: number;
  constructor(
    private peer: Address | null,
    pings: number,
  ) {
    this.#left = pings;
    this.#next = peer && pings > 0 ? 0 : null;
  }
  handle(_now: number, from: Address, _to: Address, data: Uint8Array): void {
    if (data[0] === 0x01) this.#out.push({ to: from, data: Uint8Array.of(0x02) });
    else this.pongs++;
  }
  handleTimeout(now: number): void {
    if (this.peer === null || this.#next === null || now < this.#next) return;
    this.#out.push({ to: this.peer, data: Uint8Array.of(0x01) });
    this.#next = --this.#left > 0 ? now + 100 : null;
  }
  pollTransmit(_now: number): Transmit | null {
    return this.#out.shift() ?? null;
  }
  pollTimeout(): number | null {
    return this.#next;
  }
}

it('README example: ping-pong through a lossy link', () => {
  const net = new Network({ seed: 'readme' });
  const server = { host: '192.0.2.1', port: 4433 };
  const client = new PingPong(server, 10);
  net.addHost('client', client, [{ host: '198.51.100.2', port: 50000 }]);
  net.addHost('server', new PingPong(null, 0), [server]);
  net.setPath('client', 'server', { latencyMs: 25, jitterMs: 5, loss: 0.2 });
  net.drive({ maxTimeMs: 10_000 });
  // README: console.log(client.pongs, net.stats('client'), net.traceHash()); same seed => same numbers
  const again = new Network({ seed: 'readme' });
  const client2 = new PingPong(server, 10);
  again.addHost('client', client2, [{ host: '198.51.100.2', port: 50000 }]);
  again.addHost('server', new PingPong(null, 0), [server]);
  again.setPath('client', 'server', { latencyMs: 25, jitterMs: 5, loss: 0.2 });
  again.drive({ maxTimeMs: 10_000 });
  expect(again.traceHash()).toBe(net.traceHash());
  expect(again.stats('client')).toEqual(net.stats('client'));
  expect(client.pongs).toBe(
    10 - net.stats('client->server').dropped.loss - net.stats('server->client').dropped.loss,
  );
  expect(net.now).toBe(10_000);
});
