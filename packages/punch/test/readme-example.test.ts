// The README's example, kept runnable: if this file changes, update the README (and vice versa).
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { type Endpoint, handleStunRequest, makeCandidate, Puncher, StunClient } from '../src/index.js';

it('README example runs', () => {
  const log: unknown[] = [];
  const console = { log: (...a: unknown[]) => log.push(a.length === 1 ? a[0] : a) };
  // --- example start
  const random = (n: number) => new Uint8Array(randomBytes(n));

  // 1. STUN: learn our public address. The "network" here hands datagrams over in memory.
  const reflector = { host: '203.0.113.200', port: 3478 };
  const client = new StunClient({ random });
  client.request(0, reflector);
  const request = client.pollTransmit(0)!; // { to: reflector, data, socket: 0 }
  const seenAs = { host: '198.51.100.20', port: 61000 }; // our address after the NAT
  const response = handleStunRequest(request.data, seenAs, reflector)!; // the reflector's side
  client.handle(25, reflector, response);
  const ev = client.pollEvent();
  console.log(ev?.type === 'response' ? ev.mapped : ev); // { host: '198.51.100.20', port: 61000 }

  // 2. Connectivity checks between A and B. Probes are the caller's authenticated bytes; here a
  // toy tag stands in for core's Noise packets, and "authenticated" means "tag is right".
  const A: Endpoint = { host: '192.168.1.10', port: 5000 };
  const B: Endpoint = { host: '192.168.1.11', port: 5000 };
  const tag = new TextEncoder().encode('secret-session-tag');
  const peer = (me: Endpoint, other: Endpoint, controlling: boolean) =>
    new Puncher({
      random,
      controlling,
      localCandidates: [makeCandidate('host', me)],
      remoteCandidates: [makeCandidate('host', other)],
      probeFactory: () => tag,
    });
  const a = peer(A, B, true);
  const b = peer(B, A, false);
  a.start(0);
  b.start(0);
  for (let now = 0; now < 2000 && (a.state !== 'completed' || b.state !== 'completed'); now += 5) {
    for (const [from, to, self, other] of [
      [A, B, a, b],
      [B, A, b, a],
    ] as const) {
      self.handleTimeout(now);
      for (let t = self.pollTransmit(now); t !== null; t = self.pollTransmit(now)) {
        if (t.data === tag && t.to.port === to.port) other.authenticated(now, from, 0); // delivered
      }
      for (let e = self.pollEvent(); e !== null; e = self.pollEvent()) {
        if (e.type === 'nominated' || e.type === 'completed') console.log(e.type, e.pair.remote.address);
      }
    }
  }
  // --- example end
  expect(log[0]).toEqual({ host: '198.51.100.20', port: 61000 });
  expect(log).toContainEqual(['nominated', B]);
  expect(log).toContainEqual(['completed', A]);
  expect(a.state).toBe('completed');
  expect(b.state).toBe('completed');
});
