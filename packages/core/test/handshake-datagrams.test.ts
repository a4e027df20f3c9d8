import { describe, expect, it } from 'vitest';
import { ADDR_B, simPair } from './helpers.js';

/**
 * What an accepting server sends per connection, from the first initiation until the connection
 * is idle (issue 19, handshakes per second): every datagram is a kernel send on the server.
 */
function responderDatagrams(
  latencyMs: number,
  ik: boolean,
): { sent: number; rttMs: number; dialRttMs: number } {
  const { net, a, b } = simPair(`hs-dgrams-${latencyMs}-${ik}`, { link: { latencyMs } });
  b.recordSent = true;
  const conn = a.ep.connect(net.now, { addresses: [ADDR_B], ...(ik ? { remoteKey: b.key } : {}) });
  net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
  // idle after connect: well past the RTT warm-up, well before the 15 s keepalive
  net.runFor(2000);
  const inc = b.ep.connection(b.connected()[0]?.id as number);
  return { sent: b.sent.length, rttMs: inc?.stats().rttMs ?? Number.NaN, dialRttMs: conn.stats().rttMs };
}

describe('datagrams a responder sends per handshake', () => {
  for (const latencyMs of [1, 10, 40]) {
    it(`IK, ${latencyMs} ms one way: response, first packet, and ONE datagram for the RTT warm-up (its PING with the ACK of the dialler's)`, () => {
      const r = responderDatagrams(latencyMs, true);
      expect(r.sent).toBe(3);
      // both sides still measure the path after connecting
      expect(r.rttMs).toBeGreaterThanOrEqual(2 * latencyMs);
      expect(r.rttMs).toBeLessThan(2 * latencyMs + 5);
      expect(r.dialRttMs).toBeGreaterThanOrEqual(2 * latencyMs);
      expect(r.dialRttMs).toBeLessThan(2 * latencyMs + 5);
    });
  }

  it('XX, 10 ms one way: the warm-up costs the responder one datagram, not two', () => {
    const r = responderDatagrams(10, false);
    expect(r.sent).toBe(4);
    expect(r.rttMs).toBeGreaterThanOrEqual(20);
    expect(r.rttMs).toBeLessThan(25);
  });
});
