import { describe, expect, it } from 'vitest';
import { rfc5780Problems } from '../src/coturn.js';
import { impairRuleset, validateImpairment } from '../src/impair-rules.js';
import { createLab } from '../src/lab.js';
import { firewall6Ruleset, natRuleset } from '../src/nat-rules.js';
import {
  classify,
  classify6,
  compare,
  compare6,
  expectedBehaviour,
  expectedBehaviour6,
  type Probe6Output,
  type ProbeOutput,
} from '../src/self-check.js';
import type { RouterProfile } from '../src/types.js';

// Pure parts of the lab: these run everywhere, root or not.
const rules = (profile: RouterProfile, extra: Partial<Parameters<typeof natRuleset>[0]> = {}) =>
  natRuleset({
    profile,
    lanNet: '192.168.1.0/24',
    wanIp: '203.0.113.10',
    hairpin: false,
    mapTimeout: 60,
    ...extra,
  });

describe('natRuleset (NATLAB-NOTES §3)', () => {
  it('every profile drops unsolicited WAN input and forwards only established or LAN traffic', () => {
    for (const p of ['eim', 'restricted', 'fullcone', 'symmetric', 'udp-blocked'] as const) {
      const r = rules(p);
      expect(r).toContain('iifname "wan0" drop');
      expect(r).toContain('type filter hook forward priority filter; policy drop;');
      expect(r).toContain('ct state established,related accept');
      expect(r).toContain('oifname "wan0" ip saddr 192.168.1.0/24 masquerade');
    }
  });

  it('only symmetric masquerades fully-random (endpoint-dependent mapping)', () => {
    expect(rules('symmetric')).toContain('masquerade fully-random');
    for (const p of ['eim', 'restricted', 'fullcone', 'udp-blocked'] as const)
      expect(rules(p)).not.toContain('random');
  });

  it('restricted filters by contacted address, fullcone by nothing, eim uses no maps', () => {
    const r = rules('restricted');
    expect(r).toContain('set contacted');
    expect(r).toContain('udp dport . ip saddr @contacted dnat ip to udp dport map @mapped');
    const f = rules('fullcone');
    expect(f).not.toContain('contacted');
    expect(f).toContain('iifname "wan0" meta l4proto udp dnat ip to udp dport map @mapped');
    expect(rules('eim')).not.toContain('map mapped');
  });

  it('udp-blocked drops LAN UDP (except DNS) before the LAN accept rule', () => {
    const r = rules('udp-blocked');
    const drop = r.indexOf('iifname "lan0" oifname "wan0" udp dport != 53 drop');
    expect(drop).toBeGreaterThan(0);
    expect(drop).toBeLessThan(r.indexOf('iifname "lan0" accept'));
  });

  it('hairpin adds the LAN-side DNAT and SNAT to the public address', () => {
    const r = rules('eim', { hairpin: true });
    expect(r).toContain(
      'iifname "lan0" ip daddr 203.0.113.10 meta l4proto udp dnat ip to udp dport map @mapped',
    );
    expect(r).toContain('oifname "lan0" ip saddr 192.168.1.0/24 ct status dnat snat to 203.0.113.10');
  });

  it('a port range (natReboot) applies to TCP/UDP and keeps the mapping behaviour', () => {
    expect(rules('eim', { portRange: [5120, 9215] })).toContain(
      'meta l4proto { tcp, udp } masquerade to :5120-9215',
    );
    expect(rules('symmetric', { portRange: [5120, 9215] })).toContain(
      'masquerade to :5120-9215 fully-random',
    );
  });
});

describe('IPv6 firewall ruleset (RFC 6092 simple security, no NAT)', () => {
  const r = firewall6Ruleset({ profile: 'firewall', lanNet: '2001:db8:1:a::/64' });
  it('forwards LAN traffic out and only conntrack-related traffic in', () => {
    expect(r.startsWith('table ip6 natlab6 {')).toBe(true);
    expect(r).toContain('type filter hook forward priority filter; policy drop;');
    expect(r).toContain('ct state established,related accept');
    expect(r).toContain('iifname "lan0" oifname "wan0" ip6 saddr 2001:db8:1:a::/64 accept');
    expect(r).not.toMatch(/masquerade|dnat|snat|type nat/);
    // nothing else lets WAN traffic into the LAN
    const forward = r.slice(r.indexOf('chain forward'), r.indexOf('chain input'));
    expect(forward.match(/accept/g)).toHaveLength(3);
  });
  it('lets through the ICMPv6 RFC 4890 says must not be dropped, and neighbour discovery to the router', () => {
    expect(r).toContain('packet-too-big');
    expect(r).toContain('destination-unreachable');
    expect(r).toContain('echo-request');
    expect(r).toContain('iifname "wan0" meta l4proto ipv6-icmp accept');
    expect(r).toContain('iifname "wan0" drop');
    expect(r.indexOf('ipv6-icmp accept')).toBeLessThan(r.indexOf('iifname "wan0" drop'));
  });
});

describe('impairments', () => {
  it('loss and duplication rules per direction, in units of 1/10000', () => {
    const r = impairRuleset({ natA: { lossPct: 5, dupPct: 2.5 }, rdv: { lossPct: 1 } });
    expect(r).toContain('iifname "i-natA" numgen random mod 10000 < 500 drop');
    expect(r).toContain('oifname "i-natA" numgen random mod 10000 < 500 drop');
    expect(r).toContain('oifname "i-natA" numgen random mod 10000 < 250 dup to ip daddr');
    expect(r).toContain('iifname "i-rdv" numgen random mod 10000 < 100 drop');
    expect(r).not.toContain('i-natB');
    expect(r.startsWith('table ip impair\ndelete table ip impair\n')).toBe(true);
    expect(r).not.toContain('ip6');
  });

  it('with IPv6, the same rules again in table ip6 impair6 (dup to ip6 daddr)', () => {
    const r = impairRuleset({ natA: { lossPct: 5, dupPct: 2.5 } }, true);
    const v6 = r.slice(r.indexOf('table ip6 impair6\ndelete table ip6 impair6\n'));
    expect(v6).toContain('iifname "i-natA" numgen random mod 10000 < 500 drop');
    expect(v6).toContain('oifname "i-natA" numgen random mod 10000 < 250 dup to ip6 daddr');
    expect(r.slice(0, r.indexOf('table ip6'))).toBe(impairRuleset({ natA: { lossPct: 5, dupPct: 2.5 } }));
  });

  it('rejects out-of-range values with exact messages', () => {
    expect(() => validateImpairment({ lossPct: -1 })).toThrow(
      new RangeError('"lossPct" expected 0..100, got -1'),
    );
    expect(() => validateImpairment({ delayMs: 20_000 })).toThrow(
      new RangeError('"delayMs" expected 0..10000, got 20000'),
    );
    expect(() => validateImpairment({ rateKbit: 1 })).toThrow(
      new RangeError('"rateKbit" expected 8..10000000, got 1'),
    );
    expect(() => validateImpairment({ mtu: 1280.5 })).toThrow(
      new RangeError('"mtu" expected an integer 576..9000, got 1280.5'),
    );
    expect(() =>
      validateImpairment({ lossPct: 5, dupPct: 2, delayMs: 50, jitterMs: 20, rateKbit: 1000, mtu: 1280 }),
    ).not.toThrow();
  });
});

describe('expected behaviour through a chain of NATs', () => {
  const one = (profile: RouterProfile) => expectedBehaviour([{ profile, portRange: false }], '203.0.113.10');
  it('single routers', () => {
    expect(one('eim')).toMatchObject({ udp: true, mapping: 'EIM', filtering: 'APDF', portPreserved: true });
    expect(one('restricted')).toMatchObject({ mapping: 'EIM', filtering: 'ADF', portPreserved: true });
    expect(one('fullcone')).toMatchObject({ mapping: 'EIM', filtering: 'EIF', portPreserved: true });
    expect(one('symmetric')).toEqual({
      udp: true,
      mapping: 'EDM',
      filtering: 'APDF',
      publicIp: '203.0.113.10',
      tcp: true,
    });
    expect(one('udp-blocked')).toMatchObject({ udp: false, mapping: null, filtering: null, tcp: true });
  });
  it('stacks: symmetric anywhere makes EDM, the strictest filter wins, a port range drops preservation', () => {
    const chain = (a: RouterProfile, b: RouterProfile, portRange = false) =>
      expectedBehaviour(
        [
          { profile: a, portRange },
          { profile: b, portRange: false },
        ],
        'x',
      );
    expect(chain('fullcone', 'eim')).toMatchObject({ mapping: 'EIM', filtering: 'APDF' });
    expect(chain('fullcone', 'restricted')).toMatchObject({ mapping: 'EIM', filtering: 'ADF' });
    expect(chain('eim', 'symmetric')).toMatchObject({ mapping: 'EDM', filtering: 'APDF' });
    expect(chain('eim', 'udp-blocked')).toMatchObject({ udp: false });
    expect(chain('eim', 'eim', true).portPreserved).toBeUndefined();
  });
});

describe('classify and compare probe output', () => {
  const probe = (o: Partial<ProbeOutput>): ProbeOutput => ({
    localPort: 40000,
    udp: true,
    observed: { main: { ip: '203.0.113.10', port: 40000 }, alt: { ip: '203.0.113.10', port: 40000 } },
    filtering: 'APDF',
    tcp: { ip: '203.0.113.10', port: 5555 },
    ms: 10,
    ...o,
  });
  it('same endpoint at both reflector addresses is EIM; otherwise EDM', () => {
    expect(classify(probe({}))).toMatchObject({
      mapping: 'EIM',
      portPreserved: true,
      publicPort: 40000,
      tcp: true,
    });
    const edm = classify(
      probe({
        observed: { main: { ip: '203.0.113.10', port: 1000 }, alt: { ip: '203.0.113.10', port: 2000 } },
      }),
    );
    expect(edm).toMatchObject({ mapping: 'EDM', portPreserved: false });
    expect(
      classify(probe({ udp: false, observed: { main: null, alt: null }, filtering: null })),
    ).toMatchObject({
      udp: false,
      mapping: null,
      publicIp: null,
    });
  });
  it('lists every difference', () => {
    const e = expectedBehaviour([{ profile: 'restricted', portRange: false }], '203.0.113.10');
    expect(compare(e, classify(probe({ filtering: 'ADF' })))).toEqual([]);
    const bad = classify(
      probe({
        filtering: 'EIF',
        tcp: null,
        observed: { main: { ip: '203.0.113.10', port: 1 }, alt: { ip: '203.0.113.10', port: 2 } },
      }),
    );
    expect(compare(e, bad)).toEqual([
      'mapping: expected EIM, measured EDM',
      'filtering: expected ADF, measured EIF',
      'port: expected preserved 40000, measured 1',
      'tcp: expected to work, measured blocked',
    ]);
  });
});

describe('IPv6 self-check: classify and compare', () => {
  const own = '2001:db8:1:a::10';
  const probe = (o: Partial<Probe6Output>): Probe6Output => ({
    localPort: 40000,
    udp: true,
    observed: { main: { ip: own, port: 40000 }, alt: { ip: own, port: 40000 } },
    filtering: 'APDF',
    unsolicited: { acks: 3, arrived: false },
    pinhole: { acks: 3, arrived: true },
    tcp: { ip: own, port: 5555 },
    ms: 10,
    ...o,
  });
  const e = expectedBehaviour6('firewall', own);
  it('a stateful firewall: own address, unsolicited dropped, APDF, pinhole opens', () => {
    expect(classify6(probe({}), own)).toMatchObject({
      translated: false,
      mapping: 'EIM',
      unsolicited: 'dropped',
      pinhole: true,
    });
    expect(compare6(e, classify6(probe({}), own))).toEqual([]);
  });
  it('an open router, a NAT66, a closed pinhole and no answers are all reported', () => {
    const open = classify6(
      probe({ filtering: 'EIF', unsolicited: { acks: 1, arrived: true }, pinhole: null }),
      own,
    );
    expect(compare6(e, open)).toEqual([
      'ipv6 filtering: expected APDF, measured EIF',
      'ipv6 unsolicited inbound: expected dropped, measured passed',
      "ipv6 pinhole: expected the peer's packets to pass after outbound, measured unknown",
    ]);
    const nat66 = classify6(
      probe({
        observed: { main: { ip: '2001:db8:0:a::10', port: 1 }, alt: { ip: '2001:db8:0:a::10', port: 2 } },
      }),
      own,
    );
    expect(compare6(e, nat66)).toEqual([
      'ipv6 address: expected 2001:db8:1:a::10 untranslated, measured 2001:db8:0:a::10:1',
      'ipv6 mapping: expected EIM, measured EDM',
    ]);
    const shut = classify6(probe({ pinhole: { acks: 3, arrived: false }, tcp: null }), own);
    expect(compare6(e, shut)).toEqual([
      "ipv6 pinhole: expected the peer's packets to pass after outbound, measured still dropped",
      'ipv6 tcp: expected to work, measured blocked',
    ]);
    const silent = classify6(
      probe({ udp: false, observed: { main: null, alt: null }, filtering: null }),
      own,
    );
    expect(compare6(e, silent)).toEqual(['ipv6 udp: expected replies to pass, measured none']);
    // no acknowledgement at all: unknown, never "dropped"
    expect(classify6(probe({ unsolicited: { acks: 0, arrived: false } }), own).unsolicited).toBeNull();
  });
});

describe('RFC 5780 fixture check (coturn as the one STUN server)', () => {
  const at = (ip: string, port: number) => ({
    from: { ip, port },
    mapped: { ip: '203.0.113.129', port: 5000 },
    other: { ip: '203.0.113.201', port: 3481 },
    origin: { ip, port },
  });
  const good = {
    plain: at('203.0.113.200', 3480),
    changePort: at('203.0.113.200', 3481),
    changeIp: at('203.0.113.201', 3480),
    changeBoth: at('203.0.113.201', 3481),
  };
  it('accepts answers from the other port, the other address, and both', () => {
    expect(rfc5780Problems(good, '203.0.113.200', '203.0.113.201', 3480)).toEqual([]);
  });
  it('rejects a server that answers CHANGE-REQUEST from where it was asked, or advertises no OTHER-ADDRESS', () => {
    const same = {
      plain: { ...at('203.0.113.200', 3480), other: null },
      changePort: at('203.0.113.200', 3480),
      changeIp: at('203.0.113.200', 3480),
      changeBoth: null,
    };
    expect(rfc5780Problems(same, '203.0.113.200', '203.0.113.201', 3480)).toEqual([
      'OTHER-ADDRESS: expected 203.0.113.201:3481, got nothing',
      'change port: expected an answer from 203.0.113.200:3481, got 203.0.113.200:3480',
      'change IP: expected an answer from 203.0.113.201:3480, got 203.0.113.200:3480',
      'change IP and port: expected an answer from 203.0.113.201:3481, got nothing',
    ]);
  });
});

describe('lab options (no namespaces needed)', () => {
  it('names nodes by prefix, within 15 characters, and lists the topology', () => {
    const lab = createLab({
      prefix: 'abcdefgh',
      A: { profile: 'cgnat', secondHost: true },
      B: { profile: 'symmetric', secondHost: true },
    });
    expect(lab.nodes()).toEqual([
      'inet',
      'rdv',
      'natA',
      'cgnA',
      'hostA',
      'hostA2',
      'natB',
      'hostB',
      'hostB2',
    ]);
    expect(lab.routerNames()).toEqual(['natA', 'cgnA', 'natB']);
    for (const n of lab.nodes()) expect(lab.ns(n).length).toBeLessThanOrEqual(15);
    expect(lab.ns('hostA2')).toBe('abcdefgh-hostA2');
    expect(lab.publicIp('A')).toBe('203.0.113.10');
    expect(lab.hostIp('hostB2')).toBe('192.168.1.21');
  });
  it('rejects bad options with exact messages', () => {
    expect(() => createLab({ prefix: 'Bad-Prefix' })).toThrow(
      new RangeError('"prefix" expected [a-z0-9]{1,8}, got Bad-Prefix'),
    );
    expect(() => createLab({ A: 'open' as never })).toThrow(/"profile" expected one of eim, restricted/);
    expect(() => createLab({ B: { udpTimeout: 0 } })).toThrow(
      new RangeError('"udpTimeout" expected an integer 1..86400, got 0'),
    );
    expect(() => createLab({ impair: { natA: { lossPct: 101 } } })).toThrow(
      '"lossPct" expected 0..100, got 101',
    );
    expect(() => createLab({ A: { ipv6: 'nat66' as never } })).toThrow(
      new RangeError('"ipv6" expected one of firewall or false, got nat66'),
    );
    expect(() => createLab({ B: { ipv4: false } })).toThrow(
      new RangeError('"ipv4": false needs "ipv6" on the same side (hosts need a family)'),
    );
  });
  it('IPv6: documentation addresses, on when a side asks for it', () => {
    const lab = createLab({ A: { ipv6: 'firewall' }, B: { ipv6: 'firewall', ipv4: false } });
    expect(lab.hasIpv6).toBe(true);
    expect(lab.hostIp6('hostA')).toBe('2001:db8:1:a::10');
    expect(lab.hostIp6('hostB')).toBe('2001:db8:1:b::20');
    for (const h of ['hostA', 'hostA2', 'hostB', 'hostB2'] as const)
      expect(lab.hostIp6(h)).toMatch(/^2001:db8:/);
    expect(createLab().hasIpv6).toBe(false);
    expect(createLab({ ipv6: true }).hasIpv6).toBe(true);
  });
  it('two labs get different prefixes', () => {
    expect(createLab().prefix).not.toBe(createLab().prefix);
  });
});
