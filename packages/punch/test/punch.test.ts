import { Network, natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { addReflector, gatherBoth, PeerNode, punchBoth, secret } from './harness.js';
import { R1, R1_ALT, R2, twoPeers } from './topology.js';

describe('punch in sim', () => {
  it('EIM (APDF) x EIM (APDF): srflx pair nominated, completes', () => {
    const { net, a, b } = twoPeers(
      1,
      { nat: natPresets.portRestrictedCone },
      { nat: natPresets.portRestrictedCone },
    );
    gatherBoth(net, a, b);
    expect(a.info().nat.mapping).toBe('consistent');
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    expect(b.puncher!.state).toBe('completed');
    expect(a.selected!.remote.address).toEqual({ host: '198.51.100.20', port: 5000 });
    expect(b.selected!.remote.address).toEqual({ host: '203.0.113.10', port: 5000 });
  });
});

describe('punch matrix in sim', () => {
  it('EIM x restricted (ADF)', () => {
    const { net, a, b } = twoPeers(
      2,
      { nat: natPresets.portRestrictedCone },
      { nat: natPresets.restrictedCone },
    );
    gatherBoth(net, a, b);
    expect(b.info().nat.filtering).toBe('address-dependent');
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    expect(b.puncher!.state).toBe('completed');
  });

  it('full cone x symmetric: works only through the peer-reflexive candidate', () => {
    const { net, a, b } = twoPeers(3, { nat: natPresets.fullCone }, { nat: natPresets.symmetric });
    gatherBoth(net, a, b);
    expect(a.info().nat).toMatchObject({ mapping: 'consistent', filtering: 'endpoint-independent' });
    expect(b.info().nat.mapping).toBe('random');
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    expect(b.puncher!.state).toBe('completed');
    expect(a.punchEvent('peer_reflexive')).toBeDefined();
    expect(a.selected!.remote.type).toBe('prflx');
    // the symmetric side's srflx port (seen by the reflectors) is not the one the peer uses
    const bSrflx = b
      .info()
      .candidates.filter((c) => c.type === 'srflx')
      .map((c) => c.address.port);
    expect(bSrflx).not.toContain(a.selected!.remote.address.port);
    expect(a.puncher!.strategy.kind).toBe('direct');
  });
});

describe('punch: more NAT pairs', () => {
  it('restricted (ADF) x symmetric connects peer-reflexively without the birthday strategy', () => {
    const { net, a, b } = twoPeers(4, { nat: natPresets.restrictedCone }, { nat: natPresets.symmetric });
    gatherBoth(net, a, b);
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    expect(b.puncher!.state).toBe('completed');
    expect(a.puncher!.strategy.kind).toBe('direct');
    expect(a.puncher!.stats().birthdayProbesSent).toBe(0);
    expect(b.openSockets).toBe(0);
  });

  it('same NAT without hairpin: host (LAN) candidates connect', () => {
    const { net, a, b } = twoPeers(5, { nat: natPresets.portRestrictedCone }, { nat: 'sameAsA' });
    gatherBoth(net, a, b);
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    expect(a.selected!.remote.type).toBe('host');
    expect(a.selected!.remote.address).toEqual({ host: '192.168.1.11', port: 5000 });
    expect(b.selected!.remote.address).toEqual({ host: '192.168.1.10', port: 5000 });
    expect(net.natStats('natA').natDrops.hairpin).toBeGreaterThan(0); // the srflx pairs died in the NAT
  });

  it('symmetric x symmetric fails fast with PUNCH_IMPOSSIBLE naming both NAT types', () => {
    const { net, a, b } = twoPeers(6, { nat: natPresets.symmetric }, { nat: natPresets.symmetric });
    gatherBoth(net, a, b);
    const t0 = net.now;
    punchBoth(net, a, b);
    for (const p of [a, b]) {
      const f = p.punchEvent('failed');
      expect(f?.code).toBe('PUNCH_IMPOSSIBLE');
      expect(f?.message).toMatch(/local NAT random .* remote NAT random/);
      expect(f!.at - t0).toBeLessThanOrEqual(1500);
    }
  });

  it('UDP blocked: gathering fails with UDP_BLOCKED within the gather timeout', () => {
    const { net, a, b } = twoPeers(
      7,
      { nat: natPresets.portRestrictedCone },
      { nat: natPresets.portRestrictedCone },
    );
    net.setLink('a', 'natA', { loss: 1 }); // the firewall drops every outbound UDP datagram
    gatherBoth(net, a, b);
    expect(a.failed).toMatchObject({ type: 'failed', code: 'UDP_BLOCKED' });
    expect(a.gatherer.state).toBe('failed');
    expect(b.gathered).not.toBeNull();
  });
});

describe('punch under impairments and upgrades', () => {
  it('EIM x EIM with 10% loss, 20±15 ms jitter and 2% duplication connects on every seed', () => {
    for (let seed = 20; seed < 30; seed++) {
      const { net, a, b } = twoPeers(
        seed,
        { nat: natPresets.portRestrictedCone },
        { nat: natPresets.restrictedCone },
        { latencyMs: 20, jitterMs: 15, loss: 0.1, duplicate: 0.02 },
      );
      gatherBoth(net, a, b);
      punchBoth(net, a, b);
      expect(a.puncher!.state, `seed ${seed}`).toBe('completed');
      expect(b.puncher!.state, `seed ${seed}`).toBe('completed');
    }
  });

  it('same NAT with hairpin: the LAN pair wins over the hairpinned srflx pair', () => {
    const { net, a, b } = twoPeers(
      8,
      { nat: { ...natPresets.portRestrictedCone, hairpin: true } },
      { nat: 'sameAsA' },
    );
    gatherBoth(net, a, b);
    punchBoth(net, a, b);
    expect(a.selected!.remote.type).toBe('host');
    expect(b.selected!.remote.type).toBe('host');
    // both pairs worked; if the srflx one answered first it was replaced by an upgrade
    const nominated = a.punchEvent('nominated')!;
    if (nominated.pair.remote.type !== 'host')
      expect(a.punchEvent('upgraded')?.pair.remote.type).toBe('host');
    expect(a.puncher!.stats().successes).toBeGreaterThanOrEqual(2);
  });
});

describe('punch through a carrier NAT', () => {
  it('CGNAT (EIM home NAT behind an EIM carrier NAT) x EIM connects', () => {
    const net = new Network({ seed: 9, defaultLink: { latencyMs: 10 } });
    addReflector(net, 'r1', R1.host, R1_ALT);
    addReflector(net, 'r2', R2.host, null);
    net.addNat('cgn', { publicIp: '198.51.100.20', ...natPresets.portRestrictedCone });
    net.addNat('natB', { publicIp: '100.64.0.20', behind: 'cgn', ...natPresets.portRestrictedCone });
    net.addNat('natA', { publicIp: '203.0.113.10', ...natPresets.portRestrictedCone });
    const mk = (name: string, lan: string, nat: string) => {
      const addresses = [{ host: lan, port: 5000 }];
      const p = new PeerNode({
        name,
        secret: secret(9),
        rng: net.rng.fork(name),
        addresses,
        reflectors: [R1, R2],
      });
      net.addHost(name, p, addresses, { nat });
      return p;
    };
    const a = mk('a', '192.168.1.10', 'natA');
    const b = mk('b', '192.168.1.20', 'natB');
    gatherBoth(net, a, b);
    expect(b.info().nat).toMatchObject({ mapping: 'consistent', filtering: 'address-and-port-dependent' });
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    expect(b.puncher!.state).toBe('completed');
    expect(a.selected!.remote.address.host).toBe('198.51.100.20');
  });
});
