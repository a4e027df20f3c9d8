import { Network, natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../src/index.js';
import { addReflector, type Directory, SimNatHost } from './harness.js';
import { dialBoth, gatherBoth, R1, R1_ALT, R2, R3, SERVERS, twoHosts } from './topology.js';

describe('gathering and classification (NatSession in sim)', () => {
  it('two servers, one RFC 5780: consistent, APDF filtering, one srflx candidate published once', () => {
    const t = twoHosts(1, { nat: natPresets.portRestrictedCone }, { nat: null });
    gatherBoth(t);
    const { a, net } = t;
    expect(a.session.status()).toMatchObject({ state: 'ready', gatherings: 1, error: null });
    expect(a.session.status().nat?.mapping).toBe('consistent');
    net.runFor(8000); // RFC 5780 filtering tests (two 3.5 s timeouts behind APDF)
    expect(a.session.status().nat).toMatchObject({
      filtering: 'address-and-port-dependent',
      portPreserving: true,
    });
    expect(a.event('nat')).toHaveLength(1);
    expect(a.session.candidates()).toEqual([{ kind: 'srflx', family: 4, host: '203.0.113.10', port: 5000 }]);
    expect(a.event('candidates')).toHaveLength(1);
    expect(a.event('gathering')[0]).toMatchObject({ reason: 'start', at: 0 });
    // the public host sees itself
    expect(t.b.session.status().nat?.mapping).toBe('open');
  });

  it('two plain servers, symmetric NAT: random, one srflx per mapping (so peers infer "random")', () => {
    const t = twoHosts(2, { nat: natPresets.symmetric }, { nat: null }, { servers: SERVERS.twoPlain });
    gatherBoth(t);
    const s = t.a.session.status();
    expect(s.nat).toMatchObject({ mapping: 'random', filtering: 'unknown', portPreserving: false });
    const srflx = t.a.session.candidates();
    expect(srflx).toHaveLength(2);
    expect(new Set(srflx.map((c) => c.host))).toEqual(new Set(['203.0.113.10']));
    expect(t.b.session.judge(t.a.card()).remoteMapping).toBe('random');
  });

  it('one RFC 5780 server alone: mapping from its alternate address (test II), filtering by CHANGE-REQUEST', () => {
    for (const [preset, mapping] of [
      ['portRestrictedCone', 'consistent'],
      ['symmetric', 'random'],
    ] as const) {
      const t = twoHosts(
        `5780-${preset}`,
        { nat: natPresets[preset] },
        { nat: null },
        { servers: SERVERS.rfc5780 },
      );
      gatherBoth(t);
      t.net.runFor(8000);
      expect(t.a.session.status().nat).toMatchObject({ mapping, filtering: 'address-and-port-dependent' });
    }
  });

  it('one plain server: unknown; a connected peer added as reflector classifies the mapping', () => {
    const t = twoHosts(
      4,
      { nat: natPresets.portRestrictedCone, host: { reflectPeers: true } },
      { nat: null },
      { servers: SERVERS.plain },
    );
    gatherBoth(t);
    const { a, net } = t;
    expect(a.session.status().nat?.mapping).toBe('unknown');
    // private reflectors are refused: a LAN peer sees our host address, every NAT would look "open"
    expect(a.session.addReflector(net.now, { host: '192.168.1.77', port: 5000 })).toBe(false);
    dialBoth(t);
    expect(a.dials.get('b')!.state).toBe('connected');
    net.drive({ until: () => a.session.status().gatherings >= 2, maxTimeMs: 10_000 });
    expect(a.event('gathering').map((e) => e.reason)).toEqual(['start', 'reflector']);
    expect(a.session.status()).toMatchObject({ servers: 2, nat: { mapping: 'consistent' } });
  });

  it('IPv4 and IPv6 gather separately; a server of a family the socket has no address of is skipped', () => {
    const net = new Network({ seed: 5, defaultLink: { latencyMs: 10 } });
    const V6 = { host: '2001:db8::3478', port: 3478 };
    addReflector(net, 'r2', R2.host, null);
    addReflector(net, 'r6', V6.host, null);
    const dir: Directory = new Map();
    const dual = new SimNatHost(net, dir, {
      name: 'd',
      rng: net.rng.fork('d'),
      main: [
        { host: '198.51.100.7', port: 5000 },
        { host: '2001:db8::7', port: 5000 },
      ],
      servers: [R2, V6],
    });
    const v4only = new SimNatHost(net, dir, {
      name: 'f',
      rng: net.rng.fork('f'),
      main: [{ host: '198.51.100.8', port: 5000 }],
      servers: [R2, V6],
    });
    net.drive({ until: () => dual.session.status().state === 'ready', maxTimeMs: 10_000 });
    net.runFor(6000);
    const fams = dual.session.status().families;
    expect(fams.map((f) => [f.family, f.nat?.mapping])).toEqual([
      [4, 'open'],
      [6, 'open'],
    ]);
    expect(v4only.session.status().families.map((f) => f.family)).toEqual([4]);
  });
});

describe('hairpin and same-NAT peers', () => {
  it('same NAT without hairpin: no birthday against our own public IP, LAN candidates connect', () => {
    const t = twoHosts(6, { nat: natPresets.portRestrictedCone }, { nat: 'sameAsA' });
    gatherBoth(t);
    t.net.runFor(8000);
    expect(t.a.session.judge(t.b.card()).plan.kind).toBe('direct');
    dialBoth(t);
    expect(t.a.dials.get('b')).toMatchObject({
      state: 'connected',
      remote: { host: '192.168.1.11', port: 5000 },
    });
    expect(t.b.dials.get('a')).toMatchObject({
      state: 'connected',
      remote: { host: '192.168.1.10', port: 5000 },
    });
    expect(t.net.natStats('natA').natDrops.hairpin).toBeGreaterThan(0); // the srflx tries died in the NAT
  });

  it('same NAT with hairpin: connects (LAN or the hairpinned public address)', () => {
    const t = twoHosts(7, { nat: { ...natPresets.portRestrictedCone, hairpin: true } }, { nat: 'sameAsA' });
    gatherBoth(t);
    dialBoth(t);
    expect(t.a.dials.get('b')!.state).toBe('connected');
    expect(t.b.dials.get('a')!.state).toBe('connected');
    expect(t.net.natStats('natA').natDrops.hairpin).toBe(0);
  });

  it('two symmetric hosts behind one NAT: PUNCH_IMPOSSIBLE verdict, but the LAN grace connects them', () => {
    const t = twoHosts(8, { nat: natPresets.symmetric }, { nat: 'sameAsA' }, { servers: SERVERS.twoPlain });
    gatherBoth(t);
    const v = t.a.session.judge(t.b.card());
    expect(v.error?.code).toBe('PUNCH_IMPOSSIBLE');
    expect(v.error?.message).toMatch(/local NAT random .* remote NAT random/);
    const t0 = t.net.now;
    dialBoth(t);
    expect(t.a.dials.get('b')).toMatchObject({ state: 'connected', remote: { host: '192.168.1.11' } });
    expect(t.a.dials.get('b')!.endedAt! - t0).toBeLessThan(2500);
    // the grace timer died with the attempt: nothing fails later
    t.net.runFor(5000);
    expect(t.a.event('dial_failed')).toHaveLength(0);
  });
});

describe('bindings: keepalive, expiry, NAT reboot, lost paths', () => {
  const shortNat = {
    ...natPresets.portRestrictedCone,
    bindingTimeoutMs: 30_000,
    portAllocation: 'sequential',
  } as const;

  it('an idle node keeps its server-reflexive binding (keepalive every 25 s < 30 s NAT timeout)', () => {
    const t = twoHosts(10, { nat: shortNat }, { nat: null });
    gatherBoth(t);
    const { a, net } = t;
    const first = a.session.candidates();
    net.runFor(300_000);
    expect(a.session.candidates()).toEqual(first);
    expect(a.event('candidates')).toHaveLength(1);
    expect(net.natStats('natA').mappingsExpired).toBe(0);
    expect(a.event('gathering').map((e) => e.reason)).toEqual(['start', 'refresh', 'refresh']);
  });

  it('control: without the keepalive the binding expires and the published candidate goes stale', () => {
    const t = twoHosts(
      10,
      { nat: shortNat, host: { session: { timing: { bindingKeepaliveMs: 0 } } } },
      { nat: null },
    );
    gatherBoth(t);
    const { a, net } = t;
    const first = a.session.candidates();
    net.runFor(300_000);
    expect(net.natStats('natA').mappingsExpired).toBeGreaterThan(0);
    expect(a.session.candidates()).not.toEqual(first);
    // noticed only at the 120 s refresh: 90 s with a stale card
    expect(a.event('candidates')[1]!.at).toBeGreaterThanOrEqual(120_000);
  });

  it('NAT reboot: the keepalive sees the new mapping, gathers, republishes; both redial and reconnect', () => {
    const t = twoHosts(
      11,
      { nat: shortNat, host: { redialMs: 1000 } },
      { nat: natPresets.portRestrictedCone, host: { redialMs: 1000 } },
    );
    gatherBoth(t);
    const { a, b, net } = t;
    dialBoth(t);
    expect(a.connected('b') && b.connected('a')).toBe(true);
    const oldPort = a.session.candidates()[0]!.port;
    net.runFor(5000);
    net.nat('natA').reset(); // reboot: every mapping gone; the next one gets another port
    const tReset = net.now;
    net.drive({ until: () => a.event('candidates').length >= 2, maxTimeMs: 40_000 });
    const changed = a.event('gathering').find((e) => e.reason === 'mapping_changed');
    expect(changed).toBeDefined();
    expect(changed!.at - tReset).toBeLessThanOrEqual(25_000 + 1000);
    const newPort = a.session.candidates()[0]!.port;
    expect(newPort).not.toBe(oldPort);
    // the old path is dead both ways (B's filter only knows the old port): core idles out, gathers
    // again on the lost path, and the named peers redial with the republished card
    net.drive({
      until: () => a.coreEvents.some((e) => e.type === 'closed' && e.at > tReset),
      maxTimeMs: 60_000,
    });
    net.drive({ until: () => a.connected('b') && b.connected('a'), maxTimeMs: 30_000 });
    expect(a.connected('b') && b.connected('a')).toBe(true);
    expect(b.core.established('a')!.path).toEqual({ host: '203.0.113.10', port: newPort });
    expect(net.now - tReset).toBeLessThan(70_000);
    expect(b.event('gathering').some((e) => e.reason === 'path_lost')).toBe(true);
  });

  it('gatherings on lost paths are rate limited (one per 5 s), requested ones are not', () => {
    const t = twoHosts(12, { nat: natPresets.portRestrictedCone }, { nat: null });
    gatherBoth(t);
    const { a, net } = t;
    net.runFor(10_000);
    const n0 = a.event('gathering').length;
    a.session.regather(net.now, 'path_lost');
    a.session.regather(net.now, 'path_lost'); // gathering: ignored
    a.poke(net.now);
    net.runFor(100);
    a.session.regather(net.now, 'path_lost'); // < 5 s after the last: coalesced into one at +5 s
    a.session.regather(net.now, 'path_lost');
    a.poke(net.now);
    net.runFor(4800);
    expect(a.event('gathering').length - n0).toBe(1);
    net.runFor(200);
    expect(a.event('gathering').length - n0).toBe(2);
    net.runFor(100);
    a.session.regather(net.now, 'requested');
    a.poke(net.now);
    expect(
      a
        .event('gathering')
        .map((e) => e.reason)
        .slice(n0),
    ).toEqual(['path_lost', 'path_lost', 'requested']);
  });

  it('an interface change gathers again at once, with the new host address', () => {
    const t = twoHosts(13, { nat: natPresets.portRestrictedCone }, { nat: null });
    gatherBoth(t);
    const { a, net } = t;
    a.session.setHostAddresses(net.now, [{ host: '192.168.1.10', port: 5000 }]); // unchanged: nothing
    a.poke(net.now);
    expect(a.event('gathering')).toHaveLength(1);
    a.session.setHostAddresses(net.now, [
      { host: '192.168.1.10', port: 5000 },
      { host: '127.0.0.1', port: 5000 }, // loopback is ignored
      { host: '10.0.0.5', port: 5000 },
    ]);
    a.poke(net.now);
    expect(a.event('gathering').map((e) => e.reason)).toEqual(['start', 'address_changed']);
  });
});

describe('UDP blocked and offline', () => {
  it('UDP blocked: UDP_BLOCKED after 5 s; dials try LAN addresses for 2.5 s, public-only ones fail at once', () => {
    const t = twoHosts(20, { nat: natPresets.portRestrictedCone }, { nat: natPresets.portRestrictedCone });
    t.net.setLink('a', 'natA', { loss: 1 }); // the firewall drops every outbound UDP datagram
    gatherBoth(t);
    const { a, b, net } = t;
    expect(a.session.status()).toMatchObject({
      state: 'failed',
      error: { code: 'UDP_BLOCKED' },
      gatheredAt: 5000,
    });
    expect(b.session.status().state).toBe('ready');
    const t0 = net.now;
    a.connect(net.now, 'b'); // b's card has 192.168.1.20: private, so it gets the LAN grace
    net.drive({ until: () => a.dials.get('b')!.state !== 'dialing', maxTimeMs: 20_000 });
    expect(a.dials.get('b')).toMatchObject({ state: 'failed', code: 'UDP_BLOCKED', endedAt: t0 + 2500 });
    const v = a.session.dial(net.now, 'x', [{ host: '198.51.100.99', port: 5000 }]);
    expect(v.addresses).toEqual([]);
    expect(v.verdict.error?.message).toMatch(/outbound UDP is blocked.*relay/);
    // the network comes back: the next refresh gathers again and the verdict is lifted
    t.net.setLink('a', 'natA', { loss: 0 });
    net.drive({ until: () => a.session.status().state === 'ready', maxTimeMs: 130_000 });
    expect(a.session.judge(b.card()).error).toBeNull();
  });

  it('offline start with the default list: no wait, "no server" said once, LAN dials start at once', () => {
    const net = new Network({ seed: 21, defaultLink: { latencyMs: 1 } });
    const dir: Directory = new Map();
    let dns: Endpoint[] = []; // name resolution fails: offline
    const mk = (name: string, ip: string, servers: 'resolve' | Endpoint[]) =>
      new SimNatHost(net, dir, {
        name,
        rng: net.rng.fork(name),
        main: [{ host: ip, port: 5000 }],
        servers,
        resolver: () => dns,
      });
    const a = mk('a', '192.168.1.10', 'resolve');
    const b = mk('b', '192.168.1.11', 'resolve');
    const c = mk('c', '192.168.1.12', []); // stunServers: [] (off): the reference for "as fast"
    const d = mk('d', '192.168.1.13', []);
    // at construction: resolve asked, answered with nothing, said once
    expect(a.event('resolve')).toHaveLength(1);
    expect(a.event('no_server')).toHaveLength(1);
    expect(a.session.status()).toMatchObject({ state: 'failed', error: { code: 'NO_STUN_SERVER' } });
    expect(c.session.status().state).toBe('off');
    expect(a.session.pollTimeout()).toBe(120_000); // only the refresh timer: nothing to wait for
    const t0 = net.now;
    a.connect(net.now, 'b');
    b.connect(net.now, 'a');
    c.connect(net.now, 'd');
    d.connect(net.now, 'c');
    expect(a.session.judge(b.card()).error).toBeNull();
    net.drive({ until: () => a.connected('b') && c.connected('d'), maxTimeMs: 5000 });
    const ab = a.dials.get('b')!.endedAt! - t0;
    const cd = c.dials.get('d')!.endedAt! - t0;
    expect(ab).toBe(cd); // the default list costs nothing offline (ratio 1 in virtual time)
    // an interface change asks to resolve again; still nothing: not said again
    a.session.setHostAddresses(net.now, [
      { host: '192.168.1.10', port: 5000 },
      { host: '10.1.1.1', port: 5000 },
    ]);
    a.poke(net.now);
    expect(a.event('resolve')).toHaveLength(2);
    expect(a.event('no_server')).toHaveLength(1);
    // the network comes up: names resolve at the next refresh and gathering runs
    addReflector(net, 'r2', R2.host, null);
    addReflector(net, 'r3', R3.host, null);
    dns = [R2, R3];
    net.drive({ until: () => a.session.status().state === 'ready', maxTimeMs: 130_000 });
    expect(a.session.status()).toMatchObject({ servers: 2, nat: { mapping: 'open' } });
  });

  it('servers resolved but the network unreachable (ENETUNREACH): NO_STUN_SERVER, not UDP_BLOCKED', async () => {
    const { NatSession } = await import('../src/index.js');
    const s = new NatSession({ random: (n) => new Uint8Array(n).fill(7), stunServers: [R1, R2] }, 0);
    for (let tx = s.pollTransmit(0); tx !== null; tx = s.pollTransmit(0))
      s.sendFailed(0, tx.socket, tx.to, 'ENETUNREACH');
    for (let now = 0; now <= 6000; now += 500) {
      s.handleTimeout(now);
      while (s.pollTransmit(now) !== null);
    }
    expect(s.status()).toMatchObject({ state: 'failed', error: { code: 'NO_STUN_SERVER' } });
    const kinds: string[] = [];
    for (let e = s.pollEvent(); e !== null; e = s.pollEvent()) kinds.push(e.type);
    expect(kinds).toEqual(['gathering', 'no_server', 'gathered']);
    expect(s.judge([{ host: '198.51.100.5', port: 1 }]).error).toBeNull();
  });
});

describe('harder paths', () => {
  it('EIM x restricted with 10% loss, 20±15 ms jitter and 2% duplication connects on every seed', () => {
    for (let seed = 30; seed < 40; seed++) {
      const t = twoHosts(
        seed,
        { nat: natPresets.portRestrictedCone },
        { nat: natPresets.restrictedCone },
        { link: { latencyMs: 20, jitterMs: 15, loss: 0.1, duplicate: 0.02 } },
      );
      gatherBoth(t);
      dialBoth(t);
      expect(t.a.dials.get('b')!.state, `seed ${seed}`).toBe('connected');
      expect(t.b.dials.get('a')!.state, `seed ${seed}`).toBe('connected');
    }
  });

  it('CGNAT (EIM home NAT behind an EIM carrier NAT) x EIM: consistent, connects at the carrier address', () => {
    const net = new Network({ seed: 41, defaultLink: { latencyMs: 10 } });
    addReflector(net, 'r1', R1.host, R1_ALT);
    addReflector(net, 'r2', R2.host, null);
    net.addNat('cgn', { publicIp: '198.51.100.20', ...natPresets.portRestrictedCone });
    net.addNat('natB', { publicIp: '100.64.0.20', behind: 'cgn', ...natPresets.portRestrictedCone });
    net.addNat('natA', { publicIp: '203.0.113.10', ...natPresets.portRestrictedCone });
    const dir: Directory = new Map();
    const mk = (name: string, lan: string, nat: string) =>
      new SimNatHost(net, dir, {
        name,
        rng: net.rng.fork(name),
        main: [{ host: lan, port: 5000 }],
        nat,
        servers: [R1, R2],
      });
    const a = mk('a', '192.168.1.10', 'natA');
    const b = mk('b', '192.168.1.20', 'natB');
    const t = { net, dir, a, b };
    gatherBoth(t);
    net.runFor(8000);
    expect(b.session.status().nat).toMatchObject({
      mapping: 'consistent',
      filtering: 'address-and-port-dependent',
    });
    dialBoth(t);
    expect(a.dials.get('b')).toMatchObject({ state: 'connected', remote: { host: '198.51.100.20' } });
  });
});
