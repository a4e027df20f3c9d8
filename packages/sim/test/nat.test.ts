import { describe, expect, it } from 'vitest';
import type { Address, NatConfig, NatFiltering } from '../src/index.js';
import {
  addressKey,
  echoNode,
  Network,
  natPresets,
  parseReflection,
  reflectorNode,
  ScriptedNode,
} from '../src/index.js';

const R1 = { host: '1.1.1.1', port: 3478 };
const R1b = { host: '1.1.1.1', port: 3479 }; // same reflector IP, other port
const R2 = { host: '2.2.2.2', port: 3478 };
const PUB = '203.0.113.1';
const CLIENT = { host: '192.168.1.10', port: 5000 };
const bytes = (s: string) => new TextEncoder().encode(s);

/** A client behind one NAT and two reflector hosts (R1 with two ports, R2) on the internet. */
function setup(nat: Partial<NatConfig>, seed: number | string = 'nat') {
  const net = new Network({ seed });
  net.addNat('nat', { publicIp: PUB, ...nat });
  const client = new ScriptedNode();
  const r1 = reflectorNode();
  const r2 = reflectorNode();
  net.addHost('client', client, [CLIENT], { nat: 'nat' });
  net.addHost('r1', r1, [R1, R1b]);
  net.addHost('r2', r2, [R2]);
  net.setDefaultLink({ latencyMs: 5 });
  return { net, client, r1, r2 };
}

/** The public addresses the reflectors saw for probes to R1, R1b and R2. */
function probeMappings(nat: Partial<NatConfig>): Address[] {
  const { net, client } = setup(nat);
  for (const r of [R1, R1b, R2]) client.send(r, bytes('probe'));
  net.drive();
  expect(client.received).toHaveLength(3);
  const byReflector = new Map(client.received.map((r) => [addressKey(r.from), parseReflection(r.data)]));
  return [R1, R1b, R2].map((r) => byReflector.get(addressKey(r))!);
}

describe('NAT mapping behaviour (RFC 4787 §4.1)', () => {
  it('endpoint-independent: one public port for every destination', () => {
    const [a, b, c] = probeMappings({ mapping: 'endpoint-independent' });
    expect(a).toEqual({ host: PUB, port: 5000 }); // port preserved
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('address-dependent: same port per remote IP, new port for a new IP', () => {
    const [a, b, c] = probeMappings({ mapping: 'address-dependent' });
    expect(b).toEqual(a);
    expect(c!.port).not.toBe(a!.port);
    expect(c!.host).toBe(PUB);
  });

  it('address-and-port-dependent: a new port per remote IP and port', () => {
    const [a, b, c] = probeMappings({ mapping: 'address-and-port-dependent' });
    expect(new Set([a!.port, b!.port, c!.port]).size).toBe(3);
  });

  it('the symmetric preset allocates random ports, reproducibly per seed', () => {
    const ports = (seed: string) => {
      const { net, client } = setup(natPresets.symmetric, seed);
      for (const r of [R1, R1b, R2]) client.send(r, bytes('p'));
      net.drive();
      return client.received.map((r) => parseReflection(r.data).port);
    };
    const p1 = ports('s1');
    expect(ports('s1')).toEqual(p1);
    expect(ports('s2')).not.toEqual(p1);
    expect(p1.includes(5000)).toBe(false); // not preserved
    for (const p of p1) expect(p >= 1024 && p <= 65535).toBe(true);
  });
});

describe('NAT port allocation', () => {
  it('preserve: keeps the inside port when free, else the next free port', () => {
    const net = new Network({ seed: 1 });
    net.addNat('nat', { publicIp: PUB, portRange: [5000, 5010] });
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    net.addHost('a', a, [CLIENT], { nat: 'nat' });
    net.addHost('b', b, [{ host: '192.168.1.11', port: 5000 }], { nat: 'nat' });
    net.addHost('r1', reflectorNode(), [R1]);
    a.send(R1, bytes('x'));
    b.send(R1, bytes('x'));
    net.drive();
    expect(parseReflection(a.received[0]!.data).port).toBe(5000);
    expect(parseReflection(b.received[0]!.data).port).toBe(5001);
    expect(net.natStats('nat').mappings).toBe(2);
  });

  it('sequential: counts up from the bottom of the range', () => {
    const { net, client } = setup({
      mapping: 'address-and-port-dependent',
      portAllocation: 'sequential',
      portRange: [40000, 40010],
    });
    for (const r of [R1, R1b, R2]) client.send(r, bytes('p'));
    net.drive();
    expect(client.received.map((r) => parseReflection(r.data).port).sort()).toEqual([40000, 40001, 40002]);
  });

  it('port exhaustion drops and counts', () => {
    const { net, client } = setup({ mapping: 'address-and-port-dependent', portRange: [40000, 40001] });
    for (const r of [R1, R1b, R2]) client.send(r, bytes('p'));
    net.drive();
    expect(client.received).toHaveLength(2);
    const s = net.natStats('nat');
    expect(s.natDrops.portExhausted).toBe(1);
    expect(s.dropped.nat).toBe(1);
  });
});

describe('NAT filtering behaviour (RFC 4787 §5)', () => {
  /** Client opens a mapping towards R1 only; then R1 (other port) and R2 send unsolicited. */
  function probeFiltering(filtering: NatFiltering) {
    const { net, client, r1, r2 } = setup({ filtering });
    client.send(R1, bytes('open'));
    net.drive();
    const mapped = parseReflection(client.received[0]!.data);
    r1.send(mapped, bytes('from R1 other port'), { from: R1b });
    r2.send(mapped, bytes('from R2'));
    r1.send(mapped, bytes('from R1 same port'), { from: R1 });
    net.drive();
    const got = client.received.slice(1).map((r) => new TextDecoder().decode(r.data));
    return { got, stats: net.natStats('nat') };
  }

  it('endpoint-independent: anyone may send to the mapping', () => {
    const { got, stats } = probeFiltering('endpoint-independent');
    expect(got.sort()).toEqual(['from R1 other port', 'from R1 same port', 'from R2']);
    expect(stats.natDrops.filtered).toBe(0);
  });

  it('address-dependent: only IPs the client sent to', () => {
    const { got, stats } = probeFiltering('address-dependent');
    expect(got.sort()).toEqual(['from R1 other port', 'from R1 same port']);
    expect(stats.natDrops.filtered).toBe(1);
  });

  it('address-and-port-dependent: only the exact IP and port the client sent to', () => {
    const { got, stats } = probeFiltering('address-and-port-dependent');
    expect(got).toEqual(['from R1 same port']);
    expect(stats.natDrops.filtered).toBe(2);
    expect(stats.dropped.nat).toBe(2);
  });

  it('unsolicited traffic to an unmapped port is dropped and counted', () => {
    const { net, r2 } = setup({ filtering: 'endpoint-independent' });
    r2.send({ host: PUB, port: 6000 }, bytes('knock'));
    net.drive();
    const s = net.natStats('nat');
    expect(s.natDrops.unsolicited).toBe(1);
    expect(net.stats('r2').dropped.nat).toBe(1);
    expect(net.stats('client').delivered).toBe(0);
  });

  it('a punch: both sides behind port-restricted NATs open each other by sending first', () => {
    const net = new Network({ seed: 'punch' });
    net.addNat('na', { ...natPresets.portRestrictedCone, publicIp: '198.51.100.1' });
    net.addNat('nb', { ...natPresets.portRestrictedCone, publicIp: '198.51.100.2' });
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    net.addHost('a', a, [{ host: '10.0.0.2', port: 4000 }], { nat: 'na' });
    net.addHost('b', b, [{ host: '10.1.0.2', port: 4001 }], { nat: 'nb' });
    net.setLink('na', 'nb', { latencyMs: 20 });
    net.setLink('nb', 'na', { latencyMs: 30 });
    // Both know each other's (port-preserved) public address; both send at t=0.
    a.send({ host: '198.51.100.2', port: 4001 }, bytes('hi b'));
    b.send({ host: '198.51.100.1', port: 4000 }, bytes('hi a'));
    net.drive();
    // a's first packet reaches nb at 20 ms, after b's outbound opened nb's filter at 0 ms: both pass.
    expect(a.received.map((r) => r.from)).toEqual([{ host: '198.51.100.2', port: 4001 }]);
    expect(b.received.map((r) => r.to)).toEqual([{ host: '10.1.0.2', port: 4001 }]);
  });
});

describe('NAT binding timeout', () => {
  function opened(cfg: Partial<NatConfig>) {
    const s = setup({ filtering: 'endpoint-independent', bindingTimeoutMs: 30_000, ...cfg });
    s.client.send(R1, bytes('open'));
    s.net.drive();
    return { ...s, mapped: parseReflection(s.client.received[0]!.data) };
  }

  it('a mapping lives bindingTimeoutMs after the last outbound packet, then expires', () => {
    const { net, client, r2, mapped } = opened({});
    // opened at t=5 (client -> nat); alive until t=30005.
    net.runFor(29_000 - net.now);
    r2.send(mapped, bytes('in time'));
    net.drive();
    expect(client.received).toHaveLength(2);
    net.runFor(31_000 - net.now);
    r2.send(mapped, bytes('too late'));
    net.drive();
    expect(client.received).toHaveLength(2);
    const s = net.natStats('nat');
    expect(s.natDrops.unsolicited).toBe(1);
    expect(s.mappingsExpired).toBe(1);
    expect(s.mappings).toBe(0);
  });

  it('outbound keepalives refresh it', () => {
    const { net, client, r2, mapped } = opened({});
    for (let t = 20_000; t <= 100_000; t += 20_000) client.send(R1, bytes('keepalive'), { at: t });
    net.runFor(110_000);
    r2.send(mapped, bytes('still open'));
    net.drive();
    expect(client.received.at(-1)!.data).toEqual(bytes('still open'));
    expect(net.natStats('nat').mappingsExpired).toBe(0);
  });

  it('inbound traffic refreshes it only with refreshOnInbound', () => {
    for (const refreshOnInbound of [false, true]) {
      const { net, client, r2, mapped } = opened({ refreshOnInbound });
      for (let t = 20_000; t <= 100_000; t += 20_000) r2.send(mapped, bytes('in'), { at: t });
      net.drive();
      // Without inbound refresh the mapping dies at ~30 s: only the 20 s packet gets through.
      const inbound = client.received.length - 1;
      expect(inbound).toBe(refreshOnInbound ? 5 : 1);
    }
  });

  it('after expiry a new mapping may get a new port; the old one is unsolicited', () => {
    const { net, client, mapped } = opened({ portAllocation: 'sequential' });
    net.runFor(60_000);
    client.send(R1, bytes('again'));
    net.drive();
    const again = parseReflection(client.received[1]!.data);
    expect(again.port).not.toBe(mapped.port);
  });
});

describe('hairpinning, shared NAT, CGNAT', () => {
  function twoInside(hairpin: boolean) {
    const net = new Network({ seed: 'hairpin' });
    net.addNat('nat', { ...natPresets.fullCone, publicIp: PUB, hairpin });
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    net.addHost('a', a, [{ host: '192.168.1.2', port: 7000 }], { nat: 'nat' });
    net.addHost('b', b, [{ host: '192.168.1.3', port: 7001 }], { nat: 'nat' });
    net.addHost('r1', reflectorNode(), [R1]);
    b.send(R1, bytes('learn'));
    net.drive();
    const bPublic = parseReflection(b.received[0]!.data);
    a.send(bPublic, bytes('via hairpin'));
    net.drive();
    return { net, a, b };
  }

  it('hairpin on: an inside host reaches another through the public address, seen from the public side', () => {
    const { b } = twoInside(true);
    expect(b.received).toHaveLength(2);
    expect(b.received[1]!.from).toEqual({ host: PUB, port: 7000 });
    expect(b.received[1]!.to).toEqual({ host: '192.168.1.3', port: 7001 });
  });

  it('hairpin off: dropped and counted', () => {
    const { b, net } = twoInside(false);
    expect(b.received).toHaveLength(1);
    expect(net.natStats('nat').natDrops.hairpin).toBe(1);
    expect(net.stats('a').dropped.nat).toBe(1);
  });

  it('two hosts behind one NAT reach each other directly on private addresses', () => {
    const net = new Network({ seed: 1 });
    net.addNat('nat', { publicIp: PUB });
    const a = new ScriptedNode();
    net.addHost('a', a, [{ host: '192.168.1.2', port: 7000 }], { nat: 'nat' });
    net.addHost('b', echoNode(), [{ host: '192.168.1.3', port: 7001 }], { nat: 'nat' });
    a.send({ host: '192.168.1.3', port: 7001 }, bytes('lan'));
    net.drive();
    expect(a.received[0]!.from).toEqual({ host: '192.168.1.3', port: 7001 });
    expect(net.natStats('nat').sent).toBe(0);
  });

  it('CGNAT: a home NAT behind a carrier NAT; the reflector sees the carrier address', () => {
    const net = new Network({ seed: 'cgnat' });
    net.addNat('cgn', {
      publicIp: '198.51.100.7',
      mapping: 'endpoint-independent',
      portAllocation: 'sequential',
    });
    net.addNat('home', { publicIp: '100.64.0.2', behind: 'cgn' });
    const c = new ScriptedNode();
    net.addHost('c', c, [CLIENT], { nat: 'home' });
    net.addHost('r1', reflectorNode(), [R1]);
    c.send(R1, bytes('who am i'));
    net.drive();
    expect(c.received).toHaveLength(1);
    expect(parseReflection(c.received[0]!.data)).toEqual({ host: '198.51.100.7', port: 1024 });
    expect(c.received[0]!.from).toEqual(R1);
    expect(net.natStats('home').delivered).toBe(2);
    expect(net.natStats('cgn').delivered).toBe(2);
  });

  it('private addresses are unreachable from the internet', () => {
    const { net, r2 } = setup({});
    r2.send(CLIENT, bytes('x'));
    net.drive();
    expect(net.stats('r2').dropped.noRoute).toBe(1);
  });

  it('reset() (reboot / rebinding): the next flow gets a new public port, old one is unsolicited', () => {
    const { net, client, r2 } = setup({ portAllocation: 'sequential', filtering: 'endpoint-independent' });
    client.send(R1, bytes('1'));
    net.drive();
    const before = parseReflection(client.received[0]!.data);
    net.nat('nat').reset();
    r2.send(before, bytes('stale'));
    client.send(R1, bytes('2'));
    net.drive();
    const after = parseReflection(client.received.at(-1)!.data);
    expect(after.port).not.toBe(before.port);
    expect(client.received).toHaveLength(2);
    expect(net.natStats('nat').natDrops.unsolicited).toBe(1);
    const live = net.nat('nat').mappings(net.now);
    expect(live.map((m) => [m.internal, m.publicPort])).toEqual([[CLIENT, after.port]]);
  });

  it('links can only join adjacent hosts/NATs', () => {
    const { net } = setup({});
    expect(() => net.setLink('client', 'r1', { loss: 1 })).toThrow(
      '"client" (behind NAT "nat") and "r1" (on the internet) are not adjacent: configure the hops between them (e.g. the host and its NAT)',
    );
    net.setLink('client', 'nat', { latencyMs: 1 });
    net.setLink('nat', 'r1', { latencyMs: 1 });
  });

  it('rejects bad NAT configs', () => {
    const net = new Network({ seed: 1 });
    expect(() => net.addNat('n', { publicIp: '' })).toThrow('"publicIp" expected a non-empty string, got ');
    expect(() => net.addNat('n', { publicIp: PUB, mapping: 'cone' as never })).toThrow(
      '"mapping" expected one of endpoint-independent, address-dependent, address-and-port-dependent, got cone',
    );
    expect(() => net.addNat('n', { publicIp: PUB, behind: 'x' })).toThrow('"behind" names no NAT: x');
    expect(() => net.addHost('h', new ScriptedNode(), [CLIENT], { nat: 'x' })).toThrow(
      '"nat" names no NAT: x',
    );
  });
});

describe('IPv6', () => {
  it('addresses with colons route, translate and reflect', () => {
    const net = new Network({ seed: 'v6' });
    net.addNat('nat', { publicIp: '2001:db8::1', mapping: 'address-and-port-dependent' });
    const c = new ScriptedNode();
    net.addHost('c', c, [{ host: 'fd00::10', port: 5000 }], { nat: 'nat' });
    net.addHost('r', reflectorNode(), [{ host: '2001:db8:ffff::3', port: 3478 }]);
    c.send({ host: '2001:db8:ffff::3', port: 3478 }, bytes('v6'));
    net.drive();
    expect(parseReflection(c.received[0]!.data)).toEqual({ host: '2001:db8::1', port: 5000 });
    expect(addressKey({ host: 'fd00::10', port: 5000 })).toBe('[fd00::10]:5000');
  });
});
