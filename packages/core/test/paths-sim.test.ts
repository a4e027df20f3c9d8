import { Network } from '@srmudp/sim';
import { type Address, addressFamily } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import type { EndpointConfig, Transmit } from '../src/api.js';
import { randomBytes, SimEndpoint, sha256, Writer } from './helpers.js';

const MiB = 1024 * 1024;

/**
 * A dual-stack host: one socket bound to both families, as a node bound to '::' is. The OS picks
 * the source address by the destination's family; this adapter does the same in the simulator.
 */
class DualStack extends SimEndpoint {
  constructor(
    name: string,
    readonly own: Address[],
    config: Partial<EndpointConfig> = {},
  ) {
    super(name, config);
  }

  override pollTransmit(now: number): Transmit | null {
    const t = super.pollTransmit(now);
    if (t === null) return null;
    const from = this.own.find((a) => addressFamily(a) === addressFamily(t.to));
    return from === undefined ? t : ({ ...t, from } as Transmit);
  }
}

const A4 = { host: '192.0.2.1', port: 4433 };
const A6 = { host: '2001:db8::1', port: 4433 };
const B4 = { host: '198.51.100.2', port: 4433 };
const B6 = { host: '2001:db8::2', port: 4433 };

/** a (A4 + A6) dials b (B4 + B6 in its card; `bOwn`: the addresses b really has), IPv4 first. */
function dualStack(seed: string, bOwn: Address[], latencyMs: number) {
  const net = new Network({ seed, defaultLink: { latencyMs } });
  const a = new DualStack('a', [A4, A6]);
  const b = new DualStack('b', bOwn);
  net.addHost('a', a, [A4, A6]);
  net.addHost('b', b, bOwn);
  // IPv4 first in the candidates: its initiation leaves first and its answer arrives first
  const ca = a.ep.connect(net.now, { addresses: [B4, B6], remoteKey: b.key });
  return { net, a, b, ca };
}

describe('IPv6 preference (paths module, sim)', () => {
  it('a dual-stack pair established over IPv4 moves to IPv6 once validated; the transfer carries on', () => {
    const { net, a, b, ca } = dualStack('ipv6-upgrade', [B4, B6], 15);
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    expect(a.connected()[0]?.path).toEqual({ kind: 'direct', address: B4 });
    // from now on a lossy link: the switch happens while packets are lost
    net.setPath('a', 'b', { latencyMs: 15, loss: 0.01 });
    const bid = b.connected()[0]!.id;
    const data = randomBytes('v6-up', MiB);
    const sid = ca.openStream();
    const w = new Writer(ca, sid, data);
    a.onEvent = (e) => e.type === 'writable' && w.pump();
    w.pump();
    net.drive({ until: () => b.sink(bid, sid).finished, maxTimeMs: 60_000 });
    expect(sha256(b.sink(bid, sid).chunks)).toBe(sha256(data));
    // a probed b's IPv6 candidate and moved; b followed a's packets from its IPv6 address
    expect(a.find('path_changed')).toEqual([
      { type: 'path_changed', id: ca.id, path: { kind: 'direct', address: B6 }, reason: 'upgrade' },
    ]);
    expect(b.find('path_changed')).toEqual([
      { type: 'path_changed', id: bid, path: { kind: 'direct', address: A6 }, reason: 'migration' },
    ]);
    expect(ca.path).toEqual({ kind: 'direct', address: B6 });
    expect(a.count('closed') + b.count('closed') + a.count('path_lost') + b.count('path_lost')).toBe(0);
  });

  it('an IPv6 candidate that never answers leaves the connection on IPv4 (and is not a loss)', () => {
    // b's IPv6 address is in its card but nothing answers there
    const { net, a, b, ca } = dualStack('ipv6-dead', [B4], 10);
    net.drive({ until: () => a.count('connected') > 0, maxTimeMs: 5000 });
    ca.sendMessage(new TextEncoder().encode('still here'));
    net.drive({ maxTimeMs: 40_000 });
    expect(b.messages).toHaveLength(1);
    expect(a.count('path_changed')).toBe(0);
    expect(a.count('path_lost')).toBe(0);
    expect(ca.path).toEqual({ kind: 'direct', address: B4 });
    expect(ca.stats().drops.path_validation_failed).toBeGreaterThan(0);
  });

  it('the responder never moves to a route the initiator only probes', () => {
    // a probes b's IPv6 address from its own IPv6 address: b answers there, and stays on IPv4
    // until a's non-probing packets arrive from IPv6 (RFC 9000 §9.1: probing packets move nothing)
    const { net, a, b } = dualStack('ipv6-probe-only', [B4, B6], 10);
    let bMovedBeforeA = false;
    b.onEvent = (e) => {
      if (e.type === 'path_changed' && a.count('path_changed') === 0) bMovedBeforeA = true;
    };
    net.drive({ until: () => b.count('path_changed') > 0, maxTimeMs: 10_000 });
    expect(bMovedBeforeA).toBe(false);
  });
});

describe('migration on NAT rebinding (paths module, sim)', () => {
  it('a NAT mapping that expires while idle gets a new port: the peer validates it and follows', () => {
    const net = new Network({ seed: 'nat-rebind', defaultLink: { latencyMs: 12 } });
    const client = new SimEndpoint('client', { keepaliveMs: 8000, idleTimeoutMs: 60_000 });
    const server = new SimEndpoint('server', { keepaliveMs: 0, idleTimeoutMs: 60_000 });
    net.addNat('home', {
      publicIp: '203.0.113.7',
      mapping: 'endpoint-independent',
      filtering: 'address-and-port-dependent',
      portAllocation: 'random',
      bindingTimeoutMs: 5000, // shorter than the client's keepalive: each keepalive finds a new mapping
    });
    net.addHost('client', client, [{ host: '192.168.1.10', port: 5000 }], { nat: 'home' });
    const S = { host: '198.51.100.9', port: 4433 };
    net.addHost('server', server, [S]);
    const cc = client.ep.connect(net.now, { addresses: [S], remoteKey: server.key });
    net.drive({ until: () => server.count('connected') > 0, maxTimeMs: 5000 });
    const sid = server.connected()[0]!.id;
    const first = server.ep.connection(sid)!.path!.address;
    expect(first.host).toBe('203.0.113.7');
    net.drive({ maxTimeMs: 20_000 }); // idle: two keepalives, each through a new mapping
    const moved = server.find('path_changed');
    expect(moved.length).toBeGreaterThanOrEqual(1);
    for (const m of moved)
      expect(m).toMatchObject({ id: sid, reason: 'migration', path: { kind: 'direct' } });
    const now = server.ep.connection(sid)!.path!.address;
    expect(now.host).toBe('203.0.113.7');
    expect(now.port).not.toBe(first.port);
    // and the connection works both ways over the new mapping
    server.ep.connection(sid)!.sendMessage(new TextEncoder().encode('to the new port'));
    cc.sendMessage(new TextEncoder().encode('from the new port'));
    net.drive({ until: () => client.messages.length > 0 && server.messages.length > 0, maxTimeMs: 5000 });
    expect(new TextDecoder().decode(client.messages[0]!.data)).toBe('to the new port');
    expect(client.count('closed') + server.count('closed')).toBe(0);
  });
});
