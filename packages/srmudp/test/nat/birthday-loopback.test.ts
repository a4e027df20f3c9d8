// The birthday machinery on loopback (no NAT): the pool's sockets announce themselves to the
// consistent side, a random-port probe that lands on one is answered from it, the prober reports
// the hit, and from then on traffic to the consistent side leaves through that socket while what
// it receives goes to the endpoint.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isStun } from '@srmudp/punch';
import { afterEach, describe, expect, it } from 'vitest';
import { Prober, SocketPool } from '../../src/nat/birthday.js';

const random = (n: number) => new Uint8Array(randomBytes(n));
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

describe('birthday sockets and probes (loopback)', () => {
  it('a probe hits a pool socket, the prober learns its port, and the route carries traffic both ways', async () => {
    const e = createSocket('udp4');
    await new Promise<void>((r) => e.bind(0, '127.0.0.1', () => r()));
    cleanup.push(() => e.close());
    const eAddr = { host: '127.0.0.1', port: e.address().port };
    const delivered: Array<{ data: Uint8Array; from: { host: string; port: number } }> = [];
    const pool = new SocketPool(
      { random, sockets: 8, socketPacingMs: 1, bindHost: '127.0.0.1' },
      (data, from) => delivered.push({ data, from }),
    );
    cleanup.push(() => pool.close());
    const announced = new Set<number>();
    let hit: { host: string; port: number } | null = null;
    const prober = new Prober(
      { random, probeIntervalMs: 1, maxProbes: 2000 },
      (data, host, port) => e.send(data, port, host),
      (at) => {
        hit = at;
        prober.stop();
      },
    );
    cleanup.push(() => prober.stop());
    e.on('message', (msg, r) => {
      const data = new Uint8Array(msg);
      if (data[0] === 0x00 && data[1] === 0x01 && isStun(data))
        announced.add(r.port); // a pool socket's Binding request
      else prober.handle({ host: r.address, port: r.port }, data);
    });
    await pool.open([eAddr]);
    expect(pool.size).toBe(8);
    const ports = pool.localPorts();
    for (let i = 0; i < 100 && announced.size < 8; i++) await new Promise((r) => setTimeout(r, 10));
    expect([...announced].sort()).toEqual([...ports].sort());
    // probe only near the pool's ports (real NATs: 64512 ports, 256 sockets), so the test is quick
    const lo = Math.min(...ports);
    const hi = Math.max(...ports);
    (prober as unknown as { o: { portRange: [number, number] } }).o.portRange = [lo, hi];
    const others: number[] = [];
    for (let p = lo; p <= hi; p++) if (!ports.includes(p)) others.push(p);
    prober.start('127.0.0.1', others.slice(0, others.length - 50)); // the pool's ports + 50 misses
    for (let i = 0; i < 300 && hit === null; i++) await new Promise((r) => setTimeout(r, 10));
    expect(hit).not.toBeNull();
    const at = hit as unknown as { host: string; port: number };
    expect(ports).toContain(at.port);
    expect(pool.hits).toBeGreaterThanOrEqual(1); // probes in flight may hit a second socket too
    // the route: datagrams for the consistent side leave through the socket that was hit
    const got = new Promise<number>((resolve) => {
      const on = (m: Buffer, r: { port: number }) => {
        if (m[0] !== 0x90) return; // late answers to probes still in flight
        e.off('message', on);
        resolve(r.port);
      };
      e.on('message', on);
    });
    expect(pool.route(new Uint8Array([0x90, 1, 2]), eAddr.host, eAddr.port)).toBe(true);
    const routed = await got;
    expect(ports).toContain(routed);
    expect(pool.route(new Uint8Array([0x90]), '127.0.0.1', 9)).toBe(false); // nobody else is routed
    // what arrives on that socket from the peer goes to the endpoint
    e.send(new Uint8Array([0x90, 7]), routed, '127.0.0.1');
    for (let i = 0; i < 100 && delivered.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(delivered[0]?.from).toEqual(eAddr);
    expect([...(delivered[0]?.data ?? [])]).toEqual([0x90, 7]);
    // once connected, the unused sockets close and the routed one stays
    pool.release();
    expect(pool.localPorts()).toEqual([routed]);
  });
});
