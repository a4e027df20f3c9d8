// The README's example, kept runnable: if this file changes, update the README (and vice versa).
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { handleStunRequest, NatSession } from '../src/index.js';

it('README example runs', () => {
  const log: unknown[] = [];
  const console = { log: (...a: unknown[]) => log.push(a.length === 1 ? a[0] : a) };
  // --- example start
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const server = { host: '203.0.113.200', port: 3478 }; // resolved by the driver
  const nat = new NatSession(
    { random, stunServers: [server], hostAddresses: [{ host: '192.168.1.10', port: 5000 }] },
    0, // now: monotonic ms
  );

  // 1. Gathering. The "network" is a function call: the server answers our Binding request.
  const request = nat.pollTransmit(0)!; // { socket: 0, to: server, data }
  const seenAs = { host: '198.51.100.20', port: 61000 }; // our address after the NAT
  const response = handleStunRequest(request.data, seenAs, server)!; // the server's side
  console.log(nat.handle(25, 0, server, response)); // true: a STUN answer of ours, consumed
  for (let e = nat.pollEvent(); e !== null; e = nat.pollEvent()) console.log(e.type);
  console.log(nat.candidates()); // [{ kind: 'srflx', family: 4, host: '198.51.100.20', port: 61000 }]
  console.log(nat.status().nat?.mapping); // 'unknown': one plain server cannot classify a NAT

  // 2. A dial: the addresses core sends its handshake to, and the verdict.
  const plan = nat.dial(30, 'peer-1', [
    { host: '192.168.7.2', port: 5000, kind: 'host' },
    { host: '203.0.113.77', port: 40000, kind: 'srflx' },
  ]);
  console.log(plan.addresses.length, plan.verdict.plan);
  // core's handshake timed out: the session says what next (the birthday, as a last resort)
  console.log(nat.dialEnded(10_030, 'peer-1', { connected: false, code: 'HANDSHAKE_TIMEOUT' }).kind);
  console.log(nat.pollEvent()); // { type: 'open_sockets', request: 1, count: 256 }: the host binds them
  // --- example end
  expect(log.slice(0, 5)).toEqual([
    true,
    'gathering',
    'gathered',
    'candidates',
    [seenAs].map((s) => ({ kind: 'srflx', family: 4, ...s })),
  ]);
  expect(log[5]).toBe('unknown');
  expect(log[6]).toEqual([2, { kind: 'birthday', sockets: true, prober: true, start: 'last_resort' }]);
  expect(log[7]).toBe('retry');
  expect(log[8]).toEqual({ type: 'open_sockets', request: 1, count: 256 });
});
