// The driver's socket pool on loopback (no NAT): what the NAT session asks for happens on real
// sockets. `open_sockets` binds pool sockets and answers with their ids and ports; a transmit
// naming a pool socket leaves from it; what a pool socket receives goes to the session tagged
// with its id (non-STUN on to core); core's datagrams to a peer the session routes through a pool
// socket leave from that socket; `close_sockets` closes them. The session here is scripted (the
// real one only runs the birthday towards public addresses, which loopback has none of: its
// rules are tested in @srmudp/punch under @srmudp/sim, the whole through real NATs in the lab).
import { randomBytes } from 'node:crypto';
import { CoreEndpoint } from '@srmudp/core';
import { generateIdentity } from '@srmudp/crypto';
import type { Endpoint as NatEndpoint, NatEvent, Transmit } from '@srmudp/punch';
import { UdpSocketPool, UdpTransport } from '@srmudp/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { Driver, type NatMachine } from '../../src/driver.js';

const random = (n: number) => new Uint8Array(randomBytes(n));
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A NatSession stand-in that asks for 3 pool sockets and routes one peer through the second. */
class ScriptedSession implements NatMachine {
  readonly events: NatEvent[] = [{ type: 'open_sockets', request: 7, count: 3 }];
  readonly out: Transmit[] = [];
  readonly handled: Array<{ socket: number; from: NatEndpoint; stun: boolean }> = [];
  opened: { request: number; ids: number[]; ports: number[] } | null = null;
  routeTo: NatEndpoint | null = null;
  routeVia = 0;

  handle(_now: number, socket: number, from: NatEndpoint, bytes: Uint8Array): boolean {
    const stun = bytes[0] === 0x01; // the test's own marker for "ours"
    this.handled.push({ socket, from: { host: from.host, port: from.port }, stun });
    return stun;
  }
  handleTimeout(): void {}
  pollTimeout(): number | null {
    return null;
  }
  pollTransmit(): Transmit | null {
    return this.out.shift() ?? null;
  }
  pollEvent(): NatEvent | null {
    return this.events.shift() ?? null;
  }
  route(to: NatEndpoint): number {
    return this.routeTo !== null && to.host === this.routeTo.host && to.port === this.routeTo.port
      ? this.routeVia
      : 0;
  }
  setStunServers(): void {}
  setHostAddresses(): void {}
  sendFailed(): void {}
  socketsOpened(_now: number, request: number, ids: readonly number[], ports: readonly number[]): void {
    this.opened = { request, ids: [...ids], ports: [...ports] };
  }
}

describe('the driver runs the session socket pool (loopback)', () => {
  it('open_sockets binds, transmits leave from the named socket, receives are tagged, core is routed, close_sockets closes', async () => {
    const main = await UdpTransport.bind({ host: '127.0.0.1' });
    const pool = new UdpSocketPool({ host: '127.0.0.1' });
    const peer = await UdpTransport.bind({ host: '127.0.0.1' });
    const seen: Array<{ port: number; first: number }> = [];
    peer.onDatagram((data, from) => seen.push({ port: from.port, first: data[0] as number }));
    const endpoint = new CoreEndpoint({ identity: generateIdentity(random), random }, performance.now());
    const session = new ScriptedSession();
    const coreEvents: string[] = [];
    const driver = new Driver(
      endpoint,
      session,
      main,
      {
        onEndpointEvent: (e) => coreEvents.push(e.type),
        onNatEvent: () => {},
        hostAddresses: () => [],
        onHostAddressesChanged: () => {},
      },
      { families: new Set([4]), pool, interfacePollMs: 0 },
    );
    cleanup.push(async () => {
      driver.stop();
      await Promise.all([main.close(), pool.closeAll(), peer.close()]);
    });
    const to = { host: '127.0.0.1', port: peer.address().port };

    // open_sockets → three sockets bound, the session told their ids and ports
    await until(() => session.opened !== null, 'socketsOpened');
    const opened = session.opened as unknown as { request: number; ids: number[]; ports: number[] };
    expect(opened.request).toBe(7);
    expect(opened.ids).toEqual([1, 2, 3]);
    for (const [i, id] of opened.ids.entries()) expect(pool.localPort(id)).toBe(opened.ports[i]);

    // a transmit naming pool socket 2 leaves from its port; one naming 0 from the main socket
    session.out.push({ socket: 2, to, data: Uint8Array.of(0x01, 2) });
    session.out.push({ socket: 0, to, data: Uint8Array.of(0x01, 0) });
    driver.schedule();
    await until(() => seen.length === 2, 'two datagrams at the peer');
    expect(seen).toContainEqual({ port: opened.ports[1], first: 0x01 });
    expect(seen).toContainEqual({ port: main.address().port, first: 0x01 });

    // what pool socket 3 receives goes to the session tagged 3; not the session's: on to core
    peer.send(Uint8Array.of(0x01, 9), '127.0.0.1', opened.ports[2] as number);
    peer.send(Uint8Array.of(0x77, 9), '127.0.0.1', opened.ports[2] as number);
    await until(() => session.handled.length === 2, 'two receives');
    expect(session.handled).toEqual([
      { socket: 3, from: to, stun: true },
      { socket: 3, from: to, stun: false },
    ]);
    expect(endpoint.stats().drops.not_srmudp).toBe(1); // core got the second one (and dropped it)

    // core's datagrams to a peer the session routes through pool socket 2 leave from it
    session.routeTo = to;
    session.routeVia = 2;
    seen.length = 0;
    endpoint.connect(driver.clock(), { addresses: [to] });
    driver.schedule();
    await until(() => seen.length >= 1, "core's handshake at the peer");
    expect(seen[0]).toEqual({ port: opened.ports[1], first: expect.any(Number) });
    expect(seen[0]?.first).not.toBe(0x01);

    // close_sockets → those sockets are gone; a transmit still naming one is dropped, not rerouted
    session.events.push({ type: 'close_sockets', ids: [1, 2] });
    driver.schedule();
    await until(() => !pool.has(2), 'socket 2 closed');
    expect(pool.ids()).toEqual([3]);
    seen.length = 0;
    session.out.push({ socket: 2, to, data: Uint8Array.of(0x01, 5) });
    session.out.push({ socket: 3, to, data: Uint8Array.of(0x01, 6) });
    driver.schedule();
    await until(() => seen.some((s) => s.port === opened.ports[2]), 'the datagram from socket 3');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.filter((s) => s.first === 0x01)).toEqual([{ port: opened.ports[2], first: 0x01 }]);
    expect(coreEvents).not.toContain('connected');
  });
});
