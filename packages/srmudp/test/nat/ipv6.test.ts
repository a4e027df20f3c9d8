// IPv6 through the NAT lab (issue 13): the common IPv6 home is a routed prefix behind a stateful
// firewall (no NAT: outbound allowed, replies pass, unsolicited inbound dropped), often next to an
// IPv4 NAT (dual-stack). Every lab is self-checked first, IPv6 firewalls included (untranslated
// address, unsolicited inbound dropped, a pinhole opened by outbound traffic), so a pass here is
// a pass through real conntrack filtering. Nodes bind the default address, '::' (dual-stack: one
// socket for both families), and report each family's NAT result apart (`nat.status().families`).
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  ADDR6,
  type ConnectResult,
  connectBoth,
  expectDirect,
  familyOf,
  LAB,
  oneStunServer,
  type Peer,
  publicIpOf,
  type ReportRow,
  reportSkipWhenUnsupported,
  STUN_SERVERS,
  STUN_SERVERS6,
  slots,
  spawnPeer,
  withLab,
  writeReportFragment,
} from './helpers.js';

/** one-way delay on natA's public link (both families): RTT between the hosts ≈ 2 × this */
const DELAY_MS = 20;
const IMPAIR = { natA: { delayMs: DELAY_MS } };
/** a dual-stack node (the default bind, '::'), STUN servers of both families */
const DUAL = { stunServers: [...STUN_SERVERS, ...STUN_SERVERS6] };
/** an IPv6-only node */
const V6ONLY = { host: '::', stunServers: STUN_SERVERS6 };

/** Two labs at once: each runs a delayer, a STUN server and two nodes (2 cores in CI). */
const slot = slots(2);

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('ipv6', rows));

const addr = (a: { host: string; port: number }) =>
  familyOf(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
const describeResult = (ra: ConnectResult, rb: ConnectResult) => {
  const one = (r: ConnectResult) =>
    r.t === 'connected' ? `direct ${addr(r.path.address)}` : `failed ${r.code}`;
  return `A: ${one(ra)}; B: ${one(rb)}`;
};

/** Both connected directly, RTT from the lab's delay (not a local shortcut), messages both ways. */
async function expectWorking(a: Peer, b: Peer, ra: ConnectResult, rb: ConnectResult): Promise<void> {
  for (const r of [ra, rb]) {
    expect(r, JSON.stringify(r)).toMatchObject({ t: 'connected', path: { kind: 'direct' } });
    if (r.t !== 'connected') continue;
    expect(r.minRttMs).toBeGreaterThanOrEqual(2 * DELAY_MS * 0.9);
    expect(r.minRttMs).toBeLessThan(2 * DELAY_MS + 1000); // generous: 2 shared cores under load
  }
  a.proc.send({ t: 'message', text: 'from A' });
  b.proc.send({ t: 'message', text: 'from B' });
  await expect(b.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({ text: 'from A' });
  await expect(a.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({ text: 'from B' });
}

reportSkipWhenUnsupported('ipv6');
describe.runIf(LAB.ok).concurrent('IPv6 through stateful home firewalls (real kernel conntrack)', () => {
  it('IPv6 firewall × IPv6 firewall (IPv6-only homes): one side alone is dropped; both sending punches through, directly', async () => {
    const side = { profile: 'eim' as const, ipv6: 'firewall' as const, ipv4: false };
    await slot(() =>
      withLab({ A: side, B: side, impair: IMPAIR }, async (run) => {
        const [a, b] = await Promise.all([spawnPeer(run, 'hostA', V6ONLY), spawnPeer(run, 'hostB', V6ONLY)]);
        // no NAT: the STUN server sees each host's own address and port ('open' mapping), so the
        // host candidate is the public address and no server-reflexive copy of it is added
        for (const [p, own] of [
          [a, ADDR6.hostA],
          [b, ADDR6.hostB],
        ] as const) {
          expect(p.ready.nat?.state).toBe('ready');
          expect(p.ready.nat?.nat).toMatchObject({
            mapping: 'open',
            publicEndpoints: [{ host: own, port: 40000 }],
          });
          expect(p.ready.nat?.reflexive).toEqual([]);
          expect(p.ready.candidates).toContainEqual({ kind: 'host', family: 6, host: own, port: 40000 });
        }
        // A alone: B's firewall drops the unsolicited initiation
        a.proc.send({ t: 'connect', card: b.ready.card, timeoutMs: 4000 });
        const alone = (await a.proc.next((m) => m.t === 'connected' || m.t === 'failed', 20_000)) as {
          t: string;
        };
        expect(alone.t).toBe('failed');
        // both send: each firewall has seen its host's outbound packet to the other, so replies pass
        const [ra, rb] = await connectBoth(a, b, 20_000);
        expectDirect(ra, { host: ADDR6.hostB, port: 40000 });
        expectDirect(rb, { host: ADDR6.hostA, port: 40000 });
        await expectWorking(a, b, ra, rb);
        // the library's own RFC 5780 filtering tests (through the STUN server; ~7 s until both time
        // out) agree with the lab's self-check
        let filtering: string | undefined;
        for (let i = 0; i < 40 && (filtering === undefined || filtering === 'unknown'); i++) {
          if (i > 0) await new Promise((r) => setTimeout(r, 500));
          a.proc.send({ t: 'stats' });
          const st = (await a.proc.next((m) => m.t === 'stats', 10_000)) as unknown as {
            nat: { nat: { filtering: string } | null };
          };
          filtering = st.nat.nat?.filtering;
        }
        expect(filtering).toBe('address-and-port-dependent');
        rows.push({
          pass: true,
          section: 'ipv6',
          order: 0,
          pair: 'IPv6 firewall × IPv6 firewall (IPv6-only hosts)',
          expected: 'direct over IPv6; one-sided dial dropped',
          result: `${describeResult(ra, rb)}; one-sided dial failed`,
          timeMs: Math.max(ra.ms, rb.ms),
          detail:
            'no NAT: host candidate = public address; conntrack lets the peer in once the host sent to it (both sides send)',
        });
      }),
    );
  }, 120_000);

  it('dual-stack × dual-stack (IPv4 eim NAT + IPv6 firewall): connects directly, and ends on IPv6 (preferred)', async () => {
    const side = { profile: 'eim' as const, ipv6: 'firewall' as const };
    await slot(() =>
      withLab({ A: side, B: side, impair: IMPAIR }, async (run) => {
        const [a, b] = await Promise.all([spawnPeer(run, 'hostA', DUAL), spawnPeer(run, 'hostB', DUAL)]);
        for (const [p, own6, pub] of [
          [a, ADDR6.hostA, ADDR.publicA],
          [b, ADDR6.hostB, ADDR.publicB],
        ] as const) {
          expect(p.ready.nat?.state).toBe('ready');
          expect(p.ready.address.host).toBe('::'); // the default bind is dual-stack
          // each family's result is visible: IPv4 through the eim NAT, IPv6 untranslated (open)
          const fam = (f: 4 | 6) => p.ready.nat.families.find((x) => x.family === f)?.nat;
          expect(fam(4)).toMatchObject({
            mapping: 'consistent',
            publicEndpoints: [{ host: pub, port: 40000 }],
          });
          expect(fam(6)).toMatchObject({ mapping: 'open', publicEndpoints: [{ host: own6, port: 40000 }] });
          // the card carries both families: the IPv4 mapping through the NAT (srflx) and the
          // untranslated IPv6 address (host)
          expect(p.ready.nat?.reflexive).toEqual([{ host: pub, port: 40000 }]);
          expect(p.ready.candidates).toContainEqual({ kind: 'host', family: 6, host: own6, port: 40000 });
        }
        const [ra, rb] = await connectBoth(a, b, 20_000);
        await expectWorking(a, b, ra, rb);
        // Either family may answer first (core sends its initiation to every candidate at once);
        // core then prefers direct IPv6 over direct IPv4 (packages/core/src/paths.ts): an IPv4
        // start probes the peer's IPv6 address in the background and moves once it is validated
        const first: string[] = [];
        for (const [r, other] of [
          [ra, 'B'],
          [rb, 'A'],
        ] as const) {
          if (r.t !== 'connected') continue;
          const v6 = other === 'A' ? ADDR6.hostA : ADDR6.hostB;
          expect([v6, publicIpOf(other)]).toContain(r.path.address.host);
          expect(r.path.address.port).toBe(40000);
          first.push(`IPv${familyOf(r.path.address.host)}`);
        }
        const pathOf = async (p: Peer) => {
          p.proc.send({ t: 'stats' });
          const st = (await p.proc.next((m) => m.t === 'stats', 10_000)) as unknown as {
            path: { kind: string; address: { host: string; port: number } } | null;
          };
          return st.path;
        };
        let now: Array<{ kind: string; address: { host: string; port: number } } | null> = [];
        const deadline = Date.now() + 15_000;
        for (let i = 0; i < 60 && Date.now() < deadline; i++) {
          now = await Promise.all([pathOf(a), pathOf(b)]);
          if (now.every((x) => x !== null && familyOf(x.address.host) === 6)) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        expect(now[0]).toMatchObject({ kind: 'direct', address: { host: ADDR6.hostB, port: 40000 } });
        expect(now[1]).toMatchObject({ kind: 'direct', address: { host: ADDR6.hostA, port: 40000 } });
        rows.push({
          pass: true,
          section: 'ipv6',
          order: 1,
          pair: 'dual-stack × dual-stack (eim + IPv6 firewall)',
          expected: 'direct, IPv6 preferred',
          result: `${describeResult(ra, rb)} (first answer ${first.join(' / ')}; then IPv6 / IPv6)`,
          timeMs: Math.max(ra.ms, rb.ms),
          detail:
            'both families work; whichever answers first carries the connection, then core validates the direct IPv6 path in the background and moves to it (path_changed, reason upgrade)',
        });
      }),
    );
  }, 120_000);

  it('dual-stack × IPv4-only: connects directly over IPv4 (the IPv6 candidates cannot be reached)', async () => {
    await slot(() =>
      withLab(
        { A: { profile: 'eim', ipv6: 'firewall' }, B: { profile: 'eim' }, impair: IMPAIR },
        async (run) => {
          const [a, b] = await Promise.all([spawnPeer(run, 'hostA', DUAL), spawnPeer(run, 'hostB')]);
          expect(b.ready.candidates.every((c) => familyOf(c.host) === 4)).toBe(true);
          expect(a.ready.candidates.some((c) => familyOf(c.host) === 6)).toBe(true);
          const [ra, rb] = await connectBoth(a, b, 20_000);
          expectDirect(ra, { host: ADDR.publicB, port: 40000 });
          expectDirect(rb, { host: ADDR.publicA, port: 40000 });
          await expectWorking(a, b, ra, rb);
          rows.push({
            pass: true,
            section: 'ipv6',
            order: 2,
            pair: 'dual-stack (eim + IPv6 firewall) × IPv4-only (eim)',
            expected: 'direct over IPv4',
            result: describeResult(ra, rb),
            timeMs: Math.max(ra.ms, rb.ms),
            detail: "the IPv4-only side's initiations to IPv6 candidates fail locally; IPv4 carries the path",
          });
        },
      ),
    );
  }, 120_000);

  it('one STUN server (coturn, RFC 5780 on two addresses, both families): IPv4 through the NAT and IPv6 through the firewall gathered from it', async () => {
    const v6only = { profile: 'eim' as const, ipv6: 'firewall' as const, ipv4: false };
    await slot(() =>
      withLab({ A: { profile: 'eim', ipv6: 'firewall' }, B: v6only }, async (run) => {
        const { coturn, stunServers } = await oneStunServer(run, { ip6: true });
        expect(coturn.rfc5780.map((c) => c.otherAddress)).toEqual([
          { ip: ADDR.rdvAlt, port: 3481 },
          { ip: ADDR6.rdvAlt, port: 3481 },
        ]);
        const [a, b] = await Promise.all([
          spawnPeer(run, 'hostA', { host: '::', stunServers }),
          spawnPeer(run, 'hostB', { host: '::', stunServers }),
        ]);
        expect(a.ready.nat?.state).toBe('ready');
        expect(a.ready.nat?.reflexive).toEqual([{ host: ADDR.publicA, port: 40000 }]);
        expect(b.ready.nat?.state).toBe('ready');
        expect(b.ready.nat?.nat?.publicEndpoints).toEqual([{ host: ADDR6.hostB, port: 40000 }]);
        const mappings = `A (IPv4 summary) ${a.ready.nat?.nat?.mapping}, B (IPv6) ${b.ready.nat?.nat?.mapping}`;
        rows.push({
          pass: true,
          section: 'ipv6',
          order: 3,
          pair: 'coturn as the only STUN server (RFC 5780 fixture): dual-stack A, IPv6-only B',
          expected: `A srflx ${ADDR.publicA}:40000; B sees [${ADDR6.hostB}]:40000`,
          result: `A srflx ${(a.ready.nat?.reflexive ?? []).map(addr).join(', ')}; B public ${(b.ready.nat?.nat?.publicEndpoints ?? []).map(addr).join(', ')}; mapping ${mappings}`,
          timeMs: Math.max(a.ready.gatherMs, b.ready.gatherMs),
          detail:
            'coturn on .200/.201 and ::200/::201, ports 3480/3481; its CHANGE-REQUEST answers are checked from inet first',
        });
      }),
    );
  }, 120_000);
});
