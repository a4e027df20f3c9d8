import { type NatConfig, Network, natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { type Endpoint, type GatherEvent, Gatherer, type NatType } from '../src/index.js';
import { addReflector, rngRandom } from './harness.js';
import { R1, R1_ALT, R2 } from './topology.js';

/** Wraps a Gatherer as a sim node. */
class GatherNode {
  readonly events: GatherEvent[] = [];
  constructor(
    readonly g: Gatherer,
    readonly addr: Endpoint,
  ) {}
  handle(now: number, from: Endpoint, _to: Endpoint, data: Uint8Array) {
    this.g.handle(now, from, data);
    this.#drain();
  }
  handleTimeout(now: number) {
    this.g.handleTimeout(now);
    this.#drain();
  }
  pollTransmit(now: number) {
    const t = this.g.pollTransmit(now);
    return t === null ? null : { to: { ...t.to }, data: t.data };
  }
  pollTimeout() {
    return this.g.pollTimeout();
  }
  #drain() {
    for (let e = this.g.pollEvent(); e !== null; e = this.g.pollEvent()) this.events.push(e);
  }
}

function classify(
  nat: Omit<NatConfig, 'publicIp'> | null,
  opts: { reflectors?: Endpoint[]; r1Alt?: boolean; seed?: number; port?: number } = {},
): { node: GatherNode; net: Network; nat: NatType } {
  const net = new Network({ seed: opts.seed ?? 1, defaultLink: { latencyMs: 15 } });
  addReflector(net, 'r1', R1.host, opts.r1Alt === false ? null : R1_ALT);
  addReflector(net, 'r2', R2.host, null);
  const port = opts.port ?? 5000;
  const addr = nat === null ? { host: '198.51.100.7', port } : { host: '192.168.1.10', port };
  if (nat !== null) net.addNat('nat', { publicIp: '203.0.113.10', ...nat });
  const g = new Gatherer({
    random: rngRandom(net.rng.fork('g')),
    hostAddresses: [addr],
    reflectors: opts.reflectors ?? [R1, R2],
  });
  const node = new GatherNode(g, addr);
  net.addHost('h', node, [addr], nat === null ? {} : { nat: 'nat' });
  g.start(net.now);
  net.drive({ until: () => g.state === 'done' || g.state === 'failed', maxTimeMs: 30_000 });
  return { node, net, nat: g.nat() };
}

describe('Gatherer: NAT classification in sim', () => {
  it('no NAT: open, port preserved, EIF (nothing filters)', () => {
    const { nat, node } = classify(null);
    expect(nat).toMatchObject({ mapping: 'open', portPreserving: true, filtering: 'endpoint-independent' });
    const types = node.g.candidates().map((c) => c.type);
    expect(types).toEqual(['host']); // srflx == host is not repeated
  });

  it('full cone: consistent + endpoint-independent filtering', () => {
    const { nat, node } = classify(natPresets.fullCone);
    expect(nat).toMatchObject({
      mapping: 'consistent',
      filtering: 'endpoint-independent',
      portPreserving: true,
    });
    expect(nat.publicEndpoints).toEqual([{ host: '203.0.113.10', port: 5000 }]);
    const srflx = node.g.candidates().filter((c) => c.type === 'srflx');
    expect(srflx).toHaveLength(1);
    expect(srflx[0]!.base).toEqual({ host: '192.168.1.10', port: 5000 });
    // events: host, srflx candidates, gathered, then nat once filtering is known
    const kinds = node.events.map((e) => e.type);
    expect(kinds.filter((k) => k === 'candidate')).toHaveLength(2);
    expect(kinds).toContain('gathered');
  });

  it('restricted cone: consistent + address-dependent filtering', () => {
    expect(classify(natPresets.restrictedCone).nat).toMatchObject({
      mapping: 'consistent',
      filtering: 'address-dependent',
    });
  });

  it('port-restricted cone: consistent + address-and-port-dependent filtering', () => {
    expect(classify(natPresets.portRestrictedCone).nat).toMatchObject({
      mapping: 'consistent',
      filtering: 'address-and-port-dependent',
    });
  });

  it('symmetric: random mapping, ports not preserved, two public endpoints', () => {
    const { nat } = classify(natPresets.symmetric);
    expect(nat.mapping).toBe('random');
    expect(nat.portPreserving).toBe(false);
    expect(nat.publicEndpoints).toHaveLength(2);
  });

  it('EIM with sequential allocation: consistent, not port-preserving', () => {
    const { nat } = classify({
      ...natPresets.portRestrictedCone,
      portAllocation: 'sequential',
      portRange: [20000, 20100],
    });
    expect(nat).toMatchObject({ mapping: 'consistent', portPreserving: false });
  });

  it('address-dependent mapping (not port-dependent) is random too', () => {
    expect(classify({ mapping: 'address-dependent', portAllocation: 'random' }).nat.mapping).toBe('random');
  });

  it('one RFC 5780 reflector alone: mapping learned from its alternate IP after the filtering tests', () => {
    const eim = classify(natPresets.restrictedCone, { reflectors: [R1] });
    expect(eim.nat).toMatchObject({ mapping: 'consistent', filtering: 'address-dependent' });
    const sym = classify(natPresets.symmetric, { reflectors: [R1], seed: 2 });
    expect(sym.nat).toMatchObject({ mapping: 'random', filtering: 'address-and-port-dependent' });
  });

  it('one plain reflector: mapping unknown, filtering unknown', () => {
    const { nat } = classify(natPresets.portRestrictedCone, { reflectors: [R2] });
    expect(nat).toMatchObject({ mapping: 'unknown', filtering: 'unknown' });
  });

  it('UDP blocked: failed UDP_BLOCKED at the gather deadline; no reflectors answering', () => {
    const net = new Network({ seed: 3, defaultLink: { latencyMs: 15 } });
    const addr = { host: '198.51.100.7', port: 5000 };
    const g = new Gatherer({
      random: rngRandom(net.rng.fork('g')),
      hostAddresses: [addr],
      reflectors: [R1, R2],
    });
    const node = new GatherNode(g, addr);
    net.addHost('h', node, [addr]); // the reflectors do not exist: every request vanishes
    g.start(0);
    net.drive({ until: () => g.state === 'failed', maxTimeMs: 30_000 });
    expect(net.now).toBe(5000);
    expect(node.events.at(-1)).toMatchObject({ type: 'failed', code: 'UDP_BLOCKED' });
    expect(g.stats().stunRequests).toBe(2);
  });

  it('learnPeerReflexive adds a local prflx candidate once', () => {
    const g = new Gatherer({
      random: () => new Uint8Array(12),
      hostAddresses: [{ host: '10.0.0.2', port: 1 }],
      reflectors: [],
    });
    g.start(0);
    const c = g.learnPeerReflexive({ host: '203.0.113.99', port: 777 });
    expect(c).toMatchObject({ type: 'prflx', base: { host: '10.0.0.2', port: 1 } });
    expect(g.learnPeerReflexive({ host: '203.0.113.99', port: 777 })).toBeNull();
    expect(g.candidates().map((x) => x.type)).toEqual(['host', 'prflx']);
    // no reflectors configured: gathered immediately with host candidates, never UDP_BLOCKED
    const evs: GatherEvent[] = [];
    for (let e = g.pollEvent(); e !== null; e = g.pollEvent()) evs.push(e);
    expect(evs.map((e) => e.type)).toEqual(['candidate', 'gathered', 'candidate']);
  });

  it('CGNAT (EIM behind EIM): consistent, the outer public address is the candidate', () => {
    const net = new Network({ seed: 4, defaultLink: { latencyMs: 10 } });
    addReflector(net, 'r1', R1.host, R1_ALT);
    addReflector(net, 'r2', R2.host, null);
    net.addNat('cgn', { publicIp: '198.51.100.20', ...natPresets.portRestrictedCone });
    net.addNat('home', { publicIp: '100.64.0.20', behind: 'cgn', ...natPresets.portRestrictedCone });
    const addr = { host: '192.168.1.10', port: 5000 };
    const g = new Gatherer({
      random: rngRandom(net.rng.fork('g')),
      hostAddresses: [addr],
      reflectors: [R1, R2],
    });
    net.addHost('h', new GatherNode(g, addr), [addr], { nat: 'home' });
    g.start(0);
    net.drive({ until: () => g.state === 'done', maxTimeMs: 30_000 });
    expect(g.nat()).toMatchObject({ mapping: 'consistent', filtering: 'address-and-port-dependent' });
    expect(g.nat().publicEndpoints[0]!.host).toBe('198.51.100.20');
  });

  it('IPv6: reflectors of a family without a host address are skipped; a public v6 host is open', () => {
    const net = new Network({ seed: 5, defaultLink: { latencyMs: 10 } });
    addReflector(net, 'r6a', '2001:db8::200', null);
    addReflector(net, 'r6b', '2001:db8:1::201', null);
    addReflector(net, 'r1', R1.host, null);
    const addr = { host: '2001:db8:2::7', port: 5000 };
    const g = new Gatherer({
      random: rngRandom(net.rng.fork('g')),
      hostAddresses: [addr],
      reflectors: [
        { host: '2001:db8::200', port: 3478 },
        { host: '2001:db8:1::201', port: 3478 },
        R1, // IPv4: no IPv4 host address, not asked
      ],
    });
    net.addHost('h', new GatherNode(g, addr), [addr]);
    g.start(0);
    net.drive({ until: () => g.state === 'done', maxTimeMs: 30_000 });
    expect(g.stats().stunRequests).toBe(2);
    expect(g.nat()).toMatchObject({ mapping: 'open', portPreserving: true });
    expect(g.candidates()).toEqual([expect.objectContaining({ type: 'host', address: addr })]);
  });

  it('filtering tests skip an RFC 5780 reflector whose alternate IP is also a reflector, use another', () => {
    const net = new Network({ seed: 6, defaultLink: { latencyMs: 10 } });
    // r1's alternate IP is also used as a plain reflector address, so its filtering test is unusable
    addReflector(net, 'r1', '203.0.113.200', '203.0.113.201');
    addReflector(net, 'r3', '203.0.113.150', '203.0.113.151');
    net.addNat('nat', { publicIp: '198.51.100.20', ...natPresets.restrictedCone });
    const addr = { host: '192.168.1.10', port: 5000 };
    const g = new Gatherer({
      random: rngRandom(net.rng.fork('g')),
      hostAddresses: [addr],
      reflectors: [
        { host: '203.0.113.200', port: 3478 },
        { host: '203.0.113.201', port: 3478 },
        { host: '203.0.113.150', port: 3478 },
      ],
    });
    net.addHost('h', new GatherNode(g, addr), [addr], { nat: 'nat' });
    g.start(0);
    net.drive({ until: () => g.state === 'done', maxTimeMs: 30_000 });
    // with r1's test an ADF NAT would have looked EIF (its "other IP" was contacted)
    expect(g.nat()).toMatchObject({ mapping: 'consistent', filtering: 'address-dependent' });
  });
});
