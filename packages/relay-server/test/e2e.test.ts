import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Address } from '../src/index.js';
import { type Carrier, RelayPeer } from '../src/testing/index.js';
import { startRelay } from './support/relay.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function pair(kinds: ['udp' | 'ws', 'udp' | 'ws']) {
  const r = await startRelay();
  cleanups.push(r.cleanup);
  const carrier = (k: 'udp' | 'ws'): Carrier =>
    k === 'udp'
      ? { kind: 'udp', host: '127.0.0.1', port: r.relay.udp?.port as number }
      : { kind: 'ws', url: r.relay.url };
  const a = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier: carrier(kinds[0]) });
  const b = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier: carrier(kinds[1]) });
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  await Promise.all([a.ready(), b.ready()]);
  return { ...r, a, b };
}

describe('two clients reach each other through the relay, end-to-end Noise session', () => {
  for (const kinds of [
    ['udp', 'ws'],
    ['ws', 'ws'],
  ] as const) {
    it(`${kinds[0]} ⇄ ${kinds[1]}: 1 MiB each way, SHA-256 equal, the relay forwards sealed packets only`, async () => {
      const { relay, a, b } = await pair([kinds[0], kinds[1]]);
      // everything the relay sends to WebSocket clients, to look for plaintext in it afterwards
      const seen: Buffer[] = [];
      const send = relay.ws.send.bind(relay.ws);
      relay.ws.send = (data, host, port) => {
        seen.push(Buffer.from(data));
        return send(data, host, port);
      };
      const ab = await a.connectTo(b.publicKey);
      const ba = await b.acceptedFrom(a.publicKey);
      expect(ab.state).toBe('established');
      const up = new Uint8Array(randomBytes(1 << 20));
      const down = new Uint8Array(randomBytes(1 << 20));
      const [gotAtB, gotAtA] = await Promise.all([
        b.receiveStream(ba),
        a.receiveStream(ab),
        a.sendStream(ab, up),
        b.sendStream(ba, down),
      ]);
      expect(sha(gotAtB)).toBe(sha(up));
      expect(sha(gotAtA)).toBe(sha(down));
      const wire = Buffer.concat(seen);
      expect(wire.length).toBeGreaterThan(1 << 20); // at least one direction went out over WebSockets
      for (let k = 0; k < up.length - 32; k += 16_411) {
        expect(wire.indexOf(up.subarray(k, k + 32))).toBe(-1);
        expect(wire.indexOf(down.subarray(k, k + 32))).toBe(-1);
      }
      const s = relay.engine.stats();
      expect(s.relay.circuitsOpened).toBe(1);
      expect(s.relay.bytesForwarded).toBeGreaterThan(2 << 20); // payload + e2e headers and ACKs
      expect(s.hops).toBe(2);
      const metrics = relay.metrics();
      expect(metrics).toMatch(/srmudp_relay_circuits 1\n/);
      expect(metrics).toMatch(
        new RegExp(
          `srmudp_relay_clients\\{carrier="websocket"\\} ${kinds.filter((k) => k === 'ws').length}\\n`,
        ),
      );
    });
  }
});

describe('a WebSocket that closes right after its last datagram', () => {
  // A client's last datagrams and the close of its WebSocket often arrive together (a browser
  // page sends its sessions' CLOSE and closes the socket): the relay forwards what it read before
  // the close ends the client's circuits, so the peer sees the CLOSE and not only `peer_gone`.
  it('the datagrams read before the close are forwarded before its circuits close', async () => {
    const { relay, a, b } = await pair(['ws', 'ws']);
    const ab = await a.connectTo(b.publicKey);
    const ba = await b.acceptedFrom(a.publicKey);
    // quiet: the sessions' first packets (RTT warm-up PINGs up to 350 ms) are behind us
    await new Promise((r) => setTimeout(r, 600));
    // The WebSocket's close event in the same turn as its last channel datagram (what a loaded
    // relay sees when both arrive in one read): the acceptor's datagrams go to the engine as the
    // server wires them, and the first channel datagram is followed at once by its carrier's end.
    let closedAfter: Address | null = null;
    relay.ws.onDatagram((data, from) => {
      relay.engine.receive(data, from, 'websocket');
      if (closedAfter === null && (data[0]! & 0xf0) === 0x40) {
        closedAfter = from;
        relay.engine.carrierGone(from);
      }
    });
    const got = a.waitEndpoint((e) => e.type === 'message' && e.id === ab.id, 5_000);
    expect(ba.sendMessage(new TextEncoder().encode('last words'))).toBe(true);
    b.schedule();
    const ev = await got;
    expect(closedAfter).not.toBeNull();
    expect(ev.type === 'message' && new TextDecoder().decode(ev.data)).toBe('last words');
    expect(relay.engine.stats().relay.dropped.circuit_closed).toBe(0);
  });
});

describe('a client whose hop session closes before its last channel datagram arrives', () => {
  // A leaving client's hop CLOSE and its end-to-end CLOSE (channel data) are separate datagrams
  // that may arrive in either order, in different reads: the hop stays up for the relay service
  // until the hop connection is gone (its closing period), so the later one is still forwarded.
  it('what it sent on its circuit and arrives after the hop CLOSE is forwarded', async () => {
    const { relay, a, b } = await pair(['udp', 'udp']);
    const ab = await a.connectTo(b.publicKey);
    const ba = await b.acceptedFrom(a.publicKey);
    await new Promise((r) => setTimeout(r, 600));
    const engine = relay.engine as unknown as {
      receive(data: Uint8Array, from: Address, carrier: 'udp' | 'websocket'): void;
      onEndpointEvent(now: number, ev: { type: string; id?: number }): void;
    };
    const receive = engine.receive.bind(engine);
    const bPort = (b.carrier as unknown as { address(): { port: number } }).address().port;
    let held: { data: Uint8Array; from: Address } | null = null;
    let holding = true;
    engine.receive = (data, from, kind) => {
      if (holding && held === null && (data[0]! & 0xf0) === 0x40 && from.port === bPort) {
        held = { data: data.slice(), from };
        return;
      }
      receive(data, from, kind);
    };
    // the relay's hop session with b closes: the held datagram is handed over right after the
    // relay's loop has handled that ('closed', then the rest of its turn)
    const onEndpointEvent = engine.onEndpointEvent.bind(engine);
    let released = false;
    engine.onEndpointEvent = (now, ev) => {
      onEndpointEvent(now, ev);
      if (ev.type === 'closed' && held !== null && !released) {
        released = true;
        holding = false;
        const h = held as { data: Uint8Array; from: Address };
        setImmediate(() => receive(h.data, h.from, 'udp'));
      }
    };
    const got = a.waitEndpoint((e) => e.type === 'message' && e.id === ab.id, 5_000);
    expect(ba.sendMessage(new TextEncoder().encode('last words'))).toBe(true);
    b.schedule();
    const deadline = performance.now() + 2_000;
    while (held === null && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(held).not.toBeNull();
    b.endpoint.connection(b.hopId as number)?.close(performance.now());
    b.schedule();
    const ev = await got;
    expect(released).toBe(true);
    expect(ev.type === 'message' && new TextDecoder().decode(ev.data)).toBe('last words');
    expect(relay.engine.stats().relay.dropped.circuit_closed).toBe(0);
  });
});
