// A client's last datagrams and the close of its WebSocket often arrive together (a browser page
// sends its sessions' CLOSE and closes the socket): the relay forwards what it read before the
// close ends the client's circuits, so the peer sees the CLOSE and not only `peer_gone`.
import { afterEach, describe, expect, it } from 'vitest';
import type { Address } from '../src/index.js';
import { RelayPeer } from '../src/testing/index.js';
import { startRelay } from './support/relay.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a WebSocket that closes right after its last datagram', () => {
  it('the datagrams read before the close are forwarded before its circuits close', async () => {
    const r = await startRelay();
    cleanups.push(r.cleanup);
    const carrier = { kind: 'ws', url: r.relay.url } as const;
    const a = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier });
    const b = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await Promise.all([a.ready(), b.ready()]);
    const ab = await a.connectTo(b.publicKey);
    const ba = await b.acceptedFrom(a.publicKey);
    // quiet: the sessions' first packets (RTT warm-up PINGs up to 350 ms) are behind us
    await new Promise((r) => setTimeout(r, 600));

    // The WebSocket's close event in the same turn as its last channel datagram (what a loaded
    // relay sees when both arrive in one read): the engine's close handler runs right after it.
    const engine = r.relay.engine as unknown as {
      receive(data: Uint8Array, from: Address, carrier: 'udp' | 'websocket'): void;
      carrierGone(address: Address): void;
    };
    const receive = engine.receive.bind(engine);
    let closedAfter: Address | null = null;
    engine.receive = (data, from, kind) => {
      receive(data, from, kind);
      if (closedAfter === null && kind === 'websocket' && (data[0]! & 0xf0) === 0x40) {
        closedAfter = from;
        engine.carrierGone(from);
      }
    };
    const got = a.waitEndpoint((e) => e.type === 'message' && e.id === ab.id, 5_000);
    expect(ba.sendMessage(new TextEncoder().encode('last words'))).toBe(true);
    b.schedule();
    const ev = await got;
    expect(closedAfter).not.toBeNull();
    expect(ev.type === 'message' && new TextDecoder().decode(ev.data)).toBe('last words');
    expect(r.relay.engine.stats().relay.dropped.circuit_closed).toBe(0);
  });
});
