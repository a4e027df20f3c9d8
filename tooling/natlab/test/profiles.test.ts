import { afterAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab.js';
import type { SelfCheckReport } from '../src/self-check.js';
import { ADDR, ADDR6, type SideOptions } from '../src/types.js';
import { LAB, reportSkipWhenUnsupported } from './helpers.js';

// The profile matrix: every profile on a real kernel NAT, measured by the self-check. Two
// profiles per lab (sides A and B) keep the suite short; side A also has a second host.
const LABS: { name: string; A: SideOptions; B: SideOptions }[] = [
  {
    name: 'eim + restricted',
    A: { profile: 'eim', secondHost: true },
    B: { profile: 'restricted', secondHost: true },
  },
  {
    name: 'fullcone + symmetric',
    A: { profile: 'fullcone', secondHost: true, hairpin: true },
    B: { profile: 'symmetric' },
  },
  { name: 'udp-blocked + cgnat', A: { profile: 'udp-blocked' }, B: { profile: 'cgnat', secondHost: true } },
  {
    name: 'cgnat(symmetric) + cgnat(fullcone home, eim carrier)',
    A: { profile: 'eim', cgn: 'symmetric' },
    B: { profile: 'fullcone', cgn: 'eim' },
  },
  {
    // the common IPv6 home: dual-stack behind an IPv4 NAT and an IPv6 firewall; and an
    // IPv6-only home behind a carrier (which routes IPv6 and NATs only IPv4)
    name: 'dual-stack (eim + IPv6 firewall) + IPv6-only (firewall behind a carrier)',
    A: { profile: 'eim', ipv6: 'firewall', secondHost: true },
    B: { profile: 'cgnat', ipv6: 'firewall', ipv4: false },
  },
];

function host6(r: SelfCheckReport, name: string) {
  const h = r.ipv6.find((x) => x.host === name);
  if (!h) throw new Error(`no IPv6 ${name} in report`);
  return h.measured;
}

function host(r: SelfCheckReport, name: string) {
  const h = r.hosts.find((x) => x.host === name);
  if (!h) throw new Error(`no ${name} in report`);
  return h.measured;
}

// Labs are independent: the six run concurrently (most of their time is waiting on probes).
describe.runIf(LAB.ok).concurrent('natlab profiles (self-check against real kernel NATs)', () => {
  const labs: Lab[] = [];
  afterAll(async () => {
    await Promise.all(labs.map((l) => l.down()));
  });

  for (const spec of LABS) {
    it(`${spec.name}: up + selfCheck measures the profile`, async () => {
      const lab = createLab({ A: spec.A, B: spec.B });
      labs.push(lab);
      await lab.up();
      const r = await lab.selfCheck();
      expect(r.ok).toBe(true);
      for (const h of r.hosts) expect(h.problems).toEqual([]);
      for (const h of r.ipv6) expect(h.problems).toEqual([]);
      if (!spec.A.ipv6 && !spec.B.ipv6) expect(r.ipv6).toEqual([]);
      const pubA = ADDR.publicA;
      const pubB = ADDR.publicB;
      switch (spec.name) {
        case 'eim + restricted':
          expect(host(r, 'hostA')).toMatchObject({
            mapping: 'EIM',
            filtering: 'APDF',
            portPreserved: true,
            publicIp: pubA,
          });
          expect(host(r, 'hostA2')).toMatchObject({ mapping: 'EIM', filtering: 'APDF', publicIp: pubA });
          expect(host(r, 'hostB')).toMatchObject({
            mapping: 'EIM',
            filtering: 'ADF',
            portPreserved: true,
            publicIp: pubB,
          });
          // nft maps work for every LAN host, not just the first (NATLAB-NOTES §3)
          expect(host(r, 'hostB2')).toMatchObject({ mapping: 'EIM', filtering: 'ADF', publicIp: pubB });
          // Linux NAT does not hairpin unless told to (NATLAB-NOTES §7).
          expect(r.sides.map((x) => x.hairpin)).toEqual([
            { expected: false, measured: false },
            { expected: false, measured: false },
          ]);
          break;
        case 'fullcone + symmetric':
          expect(host(r, 'hostA')).toMatchObject({ mapping: 'EIM', filtering: 'EIF', portPreserved: true });
          expect(host(r, 'hostA2')).toMatchObject({ mapping: 'EIM', filtering: 'EIF' });
          expect(host(r, 'hostB')).toMatchObject({ mapping: 'EDM', filtering: 'APDF', publicIp: pubB });
          expect(r.sides[0]?.hairpin).toEqual({ expected: true, measured: true });
          break;
        case 'udp-blocked + cgnat':
          expect(host(r, 'hostA')).toMatchObject({ udp: false, mapping: null, tcp: true });
          expect(host(r, 'hostB')).toMatchObject({
            udp: true,
            mapping: 'EIM',
            filtering: 'APDF',
            publicIp: pubB,
          });
          expect(host(r, 'hostB2')).toMatchObject({ udp: true, mapping: 'EIM', publicIp: pubB });
          expect(r.sides[1]?.natsCrossed).toBe(2);
          break;
        case 'dual-stack (eim + IPv6 firewall) + IPv6-only (firewall behind a carrier)': {
          // IPv4 as before on the dual-stack side; the IPv6-only host has no IPv4 check
          expect(r.hosts.map((h) => h.host)).toEqual(['hostA', 'hostA2']);
          expect(host(r, 'hostA')).toMatchObject({ mapping: 'EIM', filtering: 'APDF', publicIp: pubA });
          expect(r.sides[0]?.hairpin).toEqual({ expected: false, measured: false });
          for (const [name, ip] of [
            ['hostA', ADDR6.hostA],
            ['hostA2', ADDR6.hostA2],
            ['hostB', ADDR6.hostB],
          ] as const) {
            expect(host6(r, name)).toMatchObject({
              udp: true,
              translated: false,
              observedIp: ip,
              filtering: 'APDF',
              unsolicited: 'dropped',
              pinhole: true,
              tcp: true,
            });
          }
          const v4 = await lab.exec('hostB', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
          expect(v4.stdout.trim()).toBe('');
          // no address is left tentative (a tentative address cannot be bound)
          for (const n of lab.nodes()) {
            const t = await lab.exec(n, ['ip', '-6', '-o', 'addr', 'show', 'tentative']);
            expect(t.stdout.trim()).toBe('');
          }
          break;
        }
        default:
          expect(host(r, 'hostA')).toMatchObject({ mapping: 'EDM', filtering: 'APDF', publicIp: pubA });
          expect(host(r, 'hostB')).toMatchObject({ mapping: 'EIM', filtering: 'APDF', publicIp: pubB });
          expect(r.sides.map((x) => x.natsCrossed)).toEqual([2, 2]);
      }
      // Stacked sides really cross two NATs: the home router's WAN is a carrier-grade address.
      if ((spec.B.profile === 'cgnat' || spec.B.cgn) && spec.B.ipv4 !== false) {
        const wan = await lab.exec('natB', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'wan0']);
        expect(wan.stdout).toContain(`${ADDR.natBWanBehindCgn}/24`);
        const ct = await lab.exec('cgnB', ['ip', 'route', 'get', ADDR.natBWanBehindCgn]);
        expect(ct.stdout).toContain('dev lan0');
      }
      await lab.down();
    }, 60_000);
  }

  it('the self-check holds on lossy, delayed, duplicating links (retries, no false verdicts)', async () => {
    const imp = { lossPct: 10, dupPct: 2, delayMs: 50, jitterMs: 20 };
    const lab = createLab({
      A: { profile: 'restricted', ipv6: 'firewall' },
      B: 'fullcone',
      impair: { natA: imp, natB: imp },
    });
    labs.push(lab);
    await lab.up();
    const r = await lab.selfCheck();
    expect(host(r, 'hostA')).toMatchObject({ mapping: 'EIM', filtering: 'ADF', tcp: true });
    expect(host(r, 'hostB')).toMatchObject({ mapping: 'EIM', filtering: 'EIF', tcp: true });
    // IPv6 crosses the same impaired link (table ip6 impair6, the delayer via ip6tables)
    expect(host6(r, 'hostA')).toMatchObject({ unsolicited: 'dropped', filtering: 'APDF', pinhole: true });
    await lab.down();
  }, 60_000);
});

reportSkipWhenUnsupported();
