/**
 * A relay that restarts loses every circuit. Clients learn it from a typed STATUS (graceful:
 * `restarting`; crash: the next greeting carries a new instance id) and re-request.
 */
import { type Address, Network, Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { decodeControl, encodeControl, openPolicy } from '../src/index.js';
import { allOf, fakePacket, Local, lastOf } from './local.js';
import { ClientNode, RelayNode } from './sim-harness.js';

const RELAY: Address = { host: '203.0.113.1', port: 3478 };

function world(seed: string) {
  const net = new Network({ seed });
  const rng = new Rng(seed);
  const relay = new RelayNode(rng.fork('relay'), openPolicy());
  net.addHost('relay', relay, [RELAY]);
  const mk = (name: string, host: string) => {
    const n = new ClientNode({ rng: rng.fork(name), relay: RELAY, relayId: relay.identity.publicKey });
    const addr = { host, port: 4000 };
    net.addHost(name, n, [addr]);
    net.setPath(name, 'relay', { latencyMs: 8 });
    return { n, addr };
  };
  const a = mk('a', '198.51.100.2');
  const b = mk('b', '198.51.100.3');
  const connectHops = () => {
    for (const c of [a, b]) {
      relay.up(net.now, c.n.key, c.addr);
      c.n.relay.hopUp(net.now);
    }
  };
  const openCircuit = () => {
    a.n.relay.connect(net.now, b.n.key);
    net.driveBounded(200, () => a.n.relay.channelOf(b.n.key) >= 0 && b.n.relay.channelOf(a.n.key) >= 0);
  };
  const pingPong = (seq: number) => {
    const before = b.n.packets.length;
    a.n.sendRaw(net.now, b.n.key, fakePacket(seq));
    net.runFor(50);
    return b.n.packets.length - before;
  };
  return { net, relay, a: a.n, b: b.n, connectHops, openCircuit, pingPong };
}

describe('relay restart', () => {
  it('graceful: STATUS restarting, circuits closed `relay_shutdown`; after the restart clients re-request', () => {
    const w = world('graceful');
    w.connectHops();
    w.openCircuit();
    expect(w.pingPong(1)).toBe(1);
    w.relay.service.shutdown(w.net.now, { reconnectInMs: 500, tryForMs: 30_000 });
    w.net.runFor(50);
    for (const c of [w.a, w.b]) {
      expect(lastOf(c.events, 'restarting')).toEqual({
        type: 'restarting',
        reconnectInMs: 500,
        tryForMs: 30_000,
      });
      expect(lastOf(c.events, 'closed')?.reason).toBe('relay_shutdown');
      expect(c.relay.channels()).toHaveLength(0);
    }
    expect(w.pingPong(2)).toBe(0); // nothing to send on
    // the process restarts (new instance, no state); the hosts reconnect their hop sessions
    w.relay.restart();
    for (const c of [w.a, w.b]) c.relay.hopDown(w.net.now);
    w.connectHops();
    w.net.runFor(50);
    expect(lastOf(w.a.events, 'ready')?.restarted).toBe(true);
    w.openCircuit();
    expect(w.pingPong(3)).toBe(1);
  });

  it('crash: stale channel data is dropped; the new greeting tells clients their circuits are gone', () => {
    const w = world('crash');
    w.connectHops();
    w.openCircuit();
    expect(w.pingPong(1)).toBe(1);
    const oldChannel = w.a.relay.channelOf(w.b.key);
    w.relay.restart(); // state lost, nobody told
    // a keeps sending on its old channel: the new relay knows no session from that address
    expect(w.pingPong(2)).toBe(0);
    expect(w.relay.service.stats().dropped.unknown_hop).toBe(1);
    // the hosts' hop sessions are re-established (the old ones timed out, or were re-keyed)
    w.connectHops();
    w.net.runFor(50);
    for (const c of [w.a, w.b]) {
      expect(lastOf(c.events, 'ready')?.restarted).toBe(true);
      expect(allOf(c.events, 'closed').at(-1)?.reason).toBe('relay_restarted');
      expect(c.relay.channelOf(c === w.a ? w.b.key : w.a.key)).toBe(-1);
    }
    expect(w.a.relay.wrap(w.net.now, oldChannel, fakePacket(0))).toBeNull();
    w.openCircuit();
    expect(w.pingPong(3)).toBe(1);
  });

  it('same relay, new hop session: channels of the old session are reported `hop_reset`', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    L.add('b');
    L.circuit('a', 'b');
    // the relay saw a's session end and a new one begin (the client's host did not notice)
    L.service.clientDown(L.now, A.key);
    L.service.clientUp(L.now, A.key, A.hop);
    L.pump();
    expect(lastOf(A.events, 'ready')?.restarted).toBe(false);
    expect(lastOf(A.events, 'closed')?.reason).toBe('hop_reset');
    expect(lastOf(L.get('b').events, 'closed')?.reason).toBe('peer_gone');
  });

  it('a request made before the greeting waits for it; one made in the old epoch fails `hop_reset`', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    A.client.hopDown(L.now);
    A.client.hopUp(L.now);
    const early = A.client.connect(L.now, B.key); // not sent yet: no greeting since hopUp
    expect(A.client.pollTransmit(L.now)).toBeNull();
    L.service.clientDown(L.now, A.key);
    L.service.clientUp(L.now, A.key, A.hop);
    L.pump();
    expect(lastOf(B.events, 'incoming')).toBeDefined();
    B.client.accept(L.now, lastOf(B.events, 'incoming')!.incomingId);
    L.pump();
    expect(lastOf(A.events, 'bound')?.requestId).toBe(early);
  });
});

describe('client timers', () => {
  it('a request without an answer fails with `timeout`; an undecided INCOMING is rejected `timeout`', () => {
    const L = new Local({ policy: openPolicy(), limits: { incomingTimeoutMs: 60_000 } });
    const A = L.add('a');
    const B = L.add('b');
    const id = A.client.connect(L.now, B.key);
    L.pump();
    L.advance(10_000); // the client gives the host 10 s to decide, then answers for it
    expect(lastOf(A.events, 'rejected')).toMatchObject({ requestId: id, reason: 'timeout' });
    expect(() => B.client.accept(L.now, lastOf(B.events, 'incoming')!.incomingId)).toThrow(
      expect.objectContaining({ code: 'RELAY_UNKNOWN_INCOMING' }),
    );
  });

  it('without an answer at all (relay silent), the client fails the request after requestTimeoutMs', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    A.up = false; // the relay never gets it: a black hole on the hop
    const id = A.client.connect(L.now, B.key);
    L.advance(14_999);
    expect(lastOf(A.events, 'rejected')).toBeUndefined();
    L.advance(1);
    expect(lastOf(A.events, 'rejected')).toMatchObject({ requestId: id, reason: 'timeout' });
  });

  it('a binding the relay never closes is given up after its expiry and a grace period', () => {
    const L = new Local({ policy: openPolicy(), limits: { bindingLifetimeMs: 10_000 } });
    const A = L.add('a');
    L.add('b');
    L.circuit('a', 'b');
    A.up = false; // the relay's CLOSE cannot reach a
    L.advance(11_999);
    expect(A.client.channels()).toHaveLength(1);
    L.advance(1);
    expect(A.client.channels()).toHaveLength(0);
    expect(lastOf(A.events, 'closed')?.reason).toBe('expired');
  });
});

describe('host mistakes are recoverable', () => {
  it('the relay re-greets a session reported up twice, so a client that cycled its hop becomes ready', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    A.client.hopDown(L.now); // the client's host thought the session dropped; the relay's did not
    A.client.hopUp(L.now);
    const id = A.client.connect(L.now, B.key);
    L.pump();
    expect(A.client.isReady).toBe(false);
    L.service.clientUp(L.now, A.key, A.hop); // the host reports the (same) session again
    L.pump();
    expect(A.client.isReady).toBe(true);
    B.client.accept(L.now, lastOf(B.events, 'incoming')!.incomingId);
    L.pump();
    expect(lastOf(A.events, 'bound')?.requestId).toBe(id);
    expect(allOf(A.events, 'ready')).toHaveLength(2);
  });

  it('a full relay answers a new session with STATUS denied `resource_limit` and keeps no state', () => {
    const L = new Local({ policy: openPolicy(), limits: { maxClients: 2 } });
    L.add('a');
    L.add('b');
    const C = L.add('c');
    expect(lastOf(C.events, 'denied')).toEqual({ type: 'denied', reason: 'resource_limit' });
    expect(L.service.stats().clients).toBe(2);
    L.raw('c', new Uint8Array([1, 1, 1]));
    expect(L.service.stats().dropped.control_unknown_client).toBe(1);
  });
});

describe('a hostile relay', () => {
  it('binding us to another peer than we asked for fails the request and gives the channel back', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const C = L.add('c');
    A.up = false; // the test plays the relay towards a
    const id = A.client.connect(L.now, B.key);
    A.client.pollTransmit(L.now);
    A.client.handleControl(
      L.now,
      encodeControl({
        type: 'bound',
        requestId: id,
        channel: 0x4005,
        peer: C.key,
        limits: { durationMs: 0, bytes: 0 },
        expiresInMs: 60_000,
      }),
    );
    expect(A.client.pollEvent()).toMatchObject({ type: 'rejected', requestId: id, reason: 'malformed' });
    expect(A.client.channels()).toHaveLength(0);
    expect(decodeControl(A.client.pollTransmit(L.now)!)).toMatchObject({ type: 'close', channel: 0x4005 });
  });
});
