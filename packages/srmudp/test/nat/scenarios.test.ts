// NAT traversal scenarios through real Linux NATs (issues 6, 13): an impaired bulk transfer,
// binding expiry survived by keepalive, a NAT reboot mid-transfer, a NAT reboot against an eim
// peer (recovered through the rendezvous), an offline start on the default STUN list, two hosts
// behind one NAT without hairpin, blocked UDP, and coturn as the STUN server.

import { parseCard } from '@srmudp/rendezvous';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  type ConnectResult,
  connectBoth,
  expectDirect,
  LAB,
  type Peer,
  type ReportRow,
  reportSkipWhenUnsupported,
  spawnPeer,
  startRendezvous,
  withLab,
  writeReportFragment,
} from './helpers.js';

/**
 * MiB moved through the impaired NATs: the issue's 64 MiB. 50±20 ms of per-packet jitter
 * reorders almost every packet; with reliability's adaptive reordering threshold (spurious losses
 * widen it) goodput is ~1.3 Mbit/s here (it was ~0.3-0.4 Mbit/s with the fixed threshold of 3), so
 * the transfer takes ~7 minutes. SRMUDP_NAT_TRANSFER_MIB sets a smaller size for local runs.
 */
const TRANSFER_MIB = Number(process.env.SRMUDP_NAT_TRANSFER_MIB ?? 64);
/** MiB moved while the NAT reboots. */
const REBOOT_MIB = Number(process.env.SRMUDP_NAT_REBOOT_MIB ?? 16);
/** Congestion controller of the impaired transfer. */
const CONGESTION = process.env.SRMUDP_NAT_CONGESTION ?? 'bbr';
/** Idle time with 10 s conntrack timeouts (the issue's 30 s). */
const IDLE_MS = Number(process.env.SRMUDP_NAT_IDLE_MS ?? 30_000);

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('scenarios', rows));

async function transfer(from: Peer, to: Peer, mib: number, timeoutMs: number) {
  from.proc.send({ t: 'send', bytes: mib * 1024 * 1024 });
  const [sent, got] = await Promise.all([
    from.proc.next((m) => m.t === 'sent' || m.t === 'error', timeoutMs),
    to.proc.next((m) => m.t === 'stream' || m.t === 'error', timeoutMs),
  ]);
  return {
    sent: sent as { bytes: number; sha256: string; ms: number },
    got: got as { bytes: number; sha256: string; ms: number },
  };
}

interface NamedStatus {
  state: string;
  path: { kind: string; address: { host: string; port: number } } | null;
}

/** Polls a node's status of named peer `name` until `ok` (bounded). */
async function peerStatus(
  p: Peer,
  name: string,
  ok: (s: NamedStatus) => boolean,
  timeoutMs: number,
): Promise<NamedStatus> {
  const until = performance.now() + timeoutMs;
  let last: NamedStatus | undefined;
  while (performance.now() < until) {
    p.proc.send({ t: 'stats' });
    const st = (await p.proc.next((m) => m.t === 'stats', 10_000)) as unknown as {
      status: Record<string, NamedStatus>;
    };
    last = st.status[name];
    if (last !== undefined && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`peer ${name} not as expected after ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

/** A message each way on the current connection. */
async function exchange(a: Peer, b: Peer, tag: string): Promise<void> {
  a.proc.send({ t: 'message', text: `${tag} from A` });
  await expect(b.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({
    text: `${tag} from A`,
  });
  b.proc.send({ t: 'message', text: `${tag} from B` });
  await expect(a.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({
    text: `${tag} from B`,
  });
}

reportSkipWhenUnsupported('scenarios');
describe.runIf(LAB.ok).concurrent('NAT scenarios (real kernel NATs)', () => {
  it(`5% loss, 2% duplication, 50±20 ms on both public links: connects, then ${TRANSFER_MIB} MiB arrive intact`, async () => {
    const imp = { lossPct: 5, dupPct: 2, delayMs: 50, jitterMs: 20 };
    await withLab({ A: 'eim', B: 'eim', impair: { natA: imp, natB: imp } }, async (run) => {
      // BBR: a loss-based controller (CUBIC/NewReno) gets ~0.3 Mbit/s at 10% random loss
      const cc = { congestion: CONGESTION };
      const [a, b] = await Promise.all([spawnPeer(run, 'hostA', cc), spawnPeer(run, 'hostB', cc)]);
      const [ra, rb] = await connectBoth(a, b, 30_000);
      expectDirect(ra, { host: ADDR.publicB });
      expectDirect(rb, { host: ADDR.publicA });
      const { sent, got } = await transfer(a, b, TRANSFER_MIB, 840_000);
      expect(got.bytes).toBe(TRANSFER_MIB * 1024 * 1024);
      expect(got.sha256).toBe(sent.sha256);
      const mbit = (got.bytes * 8) / 1e6 / (got.ms / 1000);
      rows.push({
        pass: true,
        section: 'scenarios',
        pair: 'eim × eim, 5% loss + 2% dup + 50±20 ms per public link',
        expected: `direct, ${TRANSFER_MIB} MiB intact`,
        result: `direct; ${TRANSFER_MIB} MiB SHA-256 equal in ${(got.ms / 1000).toFixed(1)} s (${mbit.toFixed(1)} Mbit/s)`,
        timeMs: Math.max(ra.ms, rb.ms),
        detail: 'RTT ≈ 200 ms (4 × 50 ms), ~10% loss per direction across both links',
      });
    });
  }, 900_000);

  it(`binding expiry: conntrack UDP timeouts 10 s, ${IDLE_MS / 1000} s idle, the connection survives by keepalive`, async () => {
    const side = { profile: 'eim' as const, udpTimeout: 10, udpTimeoutStream: 10 };
    await withLab({ A: side, B: side }, async (run) => {
      const opts = { keepaliveMs: 4000, idleTimeoutMs: 60_000 };
      const [a, b] = await Promise.all([spawnPeer(run, 'hostA', opts), spawnPeer(run, 'hostB', opts)]);
      expect(await run.lab.udpTimeouts('natA')).toMatchObject({ udpTimeout: 10, udpTimeoutStream: 10 });
      const [ra, rb] = await connectBoth(a, b, 20_000);
      expect(ra.t).toBe('connected');
      expect(rb.t).toBe('connected');
      const before = ra.t === 'connected' ? ra.path.address : null;
      await new Promise((r) => setTimeout(r, IDLE_MS)); // no application traffic at all
      a.proc.send({ t: 'message', text: 'still there?' });
      await expect(b.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({
        text: 'still there?',
      });
      b.proc.send({ t: 'message', text: 'yes' });
      await expect(a.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({ text: 'yes' });
      a.proc.send({ t: 'stats' });
      const st = (await a.proc.next((m) => m.t === 'stats', 5000)) as { path: { address: unknown } };
      expect(st.path.address).toEqual(before); // the same NAT binding, kept alive
      expect(a.proc.pending().some((m) => m.t === 'closed')).toBe(false);
      rows.push({
        pass: true,
        section: 'scenarios',
        pair: 'eim × eim, conntrack UDP timeouts 10 s',
        expected: `survives ${IDLE_MS / 1000} s idle`,
        result: 'survived (keepalive every 4 s), same path',
        timeMs: Math.max(ra.ms, rb.ms),
        detail: 'keepaliveMs 4000 < 10 s binding timeout',
      });
    });
  }, 120_000);

  it(`NAT reboot mid-transfer (conntrack flushed, new public port): the connection migrates and ${REBOOT_MIB} MiB arrive intact`, async () => {
    // natB is address-restricted: after natA's reboot, packets from A's new public port are let
    // in because B contacted A's IP before (an APDF natB would need A's new mapping signalled
    // through rendezvous: see the README's limits)
    await withLab({ A: 'eim', B: 'restricted', impair: { natA: { delayMs: 10 } } }, async (run) => {
      const [a, b] = await Promise.all([spawnPeer(run, 'hostA'), spawnPeer(run, 'hostB')]);
      const [ra, rb] = await connectBoth(a, b, 20_000);
      expect(ra.t).toBe('connected');
      expect(rb, JSON.stringify(rb)).toMatchObject({
        t: 'connected',
        path: { address: { host: ADDR.publicA, port: 40000 } },
      });
      const moving = transfer(a, b, REBOOT_MIB, 240_000);
      // reboot once the transfer is under way
      await new Promise((r) => setTimeout(r, 1500));
      const { portRange } = await run.lab.natReboot('natA');
      const { sent, got } = await moving;
      expect(got.bytes).toBe(REBOOT_MIB * 1024 * 1024);
      expect(got.sha256).toBe(sent.sha256);
      // B saw A come from a new public port (inside the post-reboot window) and moved there
      const moved = b.proc.pending().filter((m) => m.t === 'path') as unknown as Array<{
        path: { address: { host: string; port: number } };
      }>;
      expect(moved.length).toBeGreaterThan(0);
      const last = moved[moved.length - 1]?.path.address;
      expect(last?.host).toBe(ADDR.publicA);
      expect(last?.port).not.toBe(40000);
      expect(last?.port).toBeGreaterThanOrEqual(portRange[0]);
      expect(last?.port).toBeLessThanOrEqual(portRange[1]);
      rows.push({
        pass: true,
        section: 'scenarios',
        pair: 'eim × restricted, natA rebooted mid-transfer',
        expected: 'migrates, transfer intact',
        result: `migrated to ${last?.host}:${last?.port}; ${REBOOT_MIB} MiB SHA-256 equal`,
        timeMs: Math.max(ra.ms, rb.ms),
        detail: 'core validates the new address (PATH_CHALLENGE) and moves the path',
      });
    });
  }, 300_000);

  it('NAT reboot against an eim peer (both filters port-dependent): the path dies, the rebooted side publishes its new mapping, the other re-resolves its card, both reconnect', async () => {
    await withLab({ A: 'eim', B: 'eim', impair: { natA: { delayMs: 10 } } }, async (run) => {
      const url = await startRendezvous(run);
      // fast detection of the dead path (idle 5 s) and quick redials, as an app keeping peers up would
      const opts = {
        rendezvousUrl: url,
        keepaliveMs: 1000,
        idleTimeoutMs: 5000,
        handshakeTimeoutMs: 3000,
        reconnectDelayMs: 300,
      };
      const [a, b] = await Promise.all([spawnPeer(run, 'hostA', opts), spawnPeer(run, 'hostB', opts)]);
      // the cards carry the rendezvous locator only: every dial resolves the current record
      for (const p of [a, b]) {
        const card = parseCard(p.ready.card);
        expect(card.record).toBeUndefined();
        expect(card.locators).toEqual([{ backend: 'http', url }]);
      }
      a.proc.send({ t: 'add', name: 'b', card: b.ready.card });
      b.proc.send({ t: 'add', name: 'a', card: a.ready.card });
      const first = await peerStatus(b, 'a', (s) => s.state === 'established', 30_000);
      expect(first.path?.address).toEqual({ host: ADDR.publicA, port: 40000 });
      await peerStatus(a, 'b', (s) => s.state === 'established', 10_000);
      await exchange(a, b, 'before');
      const { portRange } = await run.lab.natReboot('natA');
      const t0 = performance.now();
      // natB lets in only what hostB sent to: A's packets from its new port are dropped until B
      // dials that port, which it learns only from A's republished record
      const after = await peerStatus(
        b,
        'a',
        (s) => s.state === 'established' && s.path !== null && s.path.address.port !== 40000,
        90_000,
      );
      const recoveredMs = performance.now() - t0;
      const moved = after.path?.address as { host: string; port: number };
      expect(moved.host).toBe(ADDR.publicA);
      expect(moved.port).toBeGreaterThanOrEqual(portRange[0]);
      expect(moved.port).toBeLessThanOrEqual(portRange[1]);
      await peerStatus(a, 'b', (s) => s.state === 'established', 30_000);
      await exchange(a, b, 'after');
      // A published the new mapping it gathered (the record B resolved)
      a.proc.send({ t: 'stats' });
      const st = (await a.proc.next((m) => m.t === 'stats', 10_000)) as unknown as {
        nat: { reflexive: Array<{ host: string; port: number }>; gatherings: number };
      };
      expect(st.nat.reflexive).toContainEqual(moved);
      expect(st.nat.gatherings).toBeGreaterThan(1);
      rows.push({
        pass: true,
        section: 'scenarios',
        pair: 'eim × eim, natA rebooted (named peers, HTTP rendezvous)',
        expected: 'reconnects through the re-resolved card',
        result: `reconnected ${(recoveredMs / 1000).toFixed(1)} s after the reboot, to ${moved.host}:${moved.port}`,
        timeMs: recoveredMs,
        detail:
          'idle timeout 5 s; A gathers again (path lost), finds its new mapping and republishes; B re-resolves A’s card at its next redial; both dial (simultaneous open)',
      });
    });
  }, 240_000);

  it('offline (no name resolution in the lab) with the default STUN list: starts as fast as with stunServers: [], says once that gathering found no server, LAN peers connect', async () => {
    await withLab({ A: { profile: 'eim', secondHost: true, hairpin: false }, B: 'eim' }, async (run) => {
      // stunServers omitted (JSON drops undefined): the default list, whose names cannot resolve here
      const DEFAULT = { stunServers: undefined, readyAtStart: true };
      const NONE = { stunServers: [], readyAtStart: true };
      const starts: { default: number[]; none: number[] } = { default: [], none: [] };
      for (let i = 0; i < 3; i++) {
        for (const [key, opts] of [
          ['default', DEFAULT],
          ['none', NONE],
        ] as const) {
          const p = await spawnPeer(run, 'hostA', { ...opts, port: 40100 + i });
          starts[key].push(p.ready.startMs);
          p.proc.killNow();
        }
      }
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[1] as number;
      const ratio = median(starts.default) / Math.max(1, median(starts.none));
      // createNode waits for nothing NAT-related: the same within noise (generous bound, loaded CI)
      expect(median(starts.default)).toBeLessThan(median(starts.none) * 3 + 100);
      // two LAN neighbours on the default list connect directly at once
      const [a, a2] = await Promise.all([
        spawnPeer(run, 'hostA', DEFAULT),
        spawnPeer(run, 'hostA2', DEFAULT),
      ]);
      const [r1, r2] = await connectBoth(a, a2, 20_000);
      expectDirect(r1, { host: ADDR.hostA2 });
      expectDirect(r2, { host: ADDR.hostA });
      expect(Math.max(r1.ms, r2.ms)).toBeLessThan(5000);
      // …and the status says, once, that gathering found no server
      const said = (await a.proc.next(
        (m) => m.t === 'nat' && (m.event as { type: string }).type === 'no_server',
        30_000,
      )) as unknown as { nat: { state: string; error: { code: string } } };
      expect(said.nat).toMatchObject({ state: 'failed', error: { code: 'NO_STUN_SERVER' } });
      a.proc.send({ t: 'stats' });
      const st = (await a.proc.next((m) => m.t === 'stats', 10_000)) as unknown as {
        nat: { error: { code: string } | null };
      };
      expect(st.nat.error?.code).toBe('NO_STUN_SERVER');
      const noServer = [...a.proc.pending()].filter(
        (m) => m.t === 'nat' && (m.event as { type: string }).type === 'no_server',
      );
      expect(noServer.length).toBe(0); // the one above was the only one
      rows.push({
        pass: true,
        section: 'scenarios',
        pair: 'offline start (no DNS), default STUN list vs stunServers: []',
        expected: 'same start time; NO_STUN_SERVER once; LAN connects',
        result: `createNode median ${median(starts.default)} ms vs ${median(starts.none)} ms (ratio ${ratio.toFixed(2)}); LAN peers direct in ${(Math.max(r1.ms, r2.ms) / 1000).toFixed(2)} s; NO_STUN_SERVER said once`,
        timeMs: Math.max(r1.ms, r2.ms),
        detail:
          'the lab namespaces reach no DNS server: the default names do not resolve (bounded 5 s, in the background)',
      });
    });
  }, 180_000);

  it('two hosts behind the same NAT without hairpin connect through their LAN candidates', async () => {
    await withLab({ A: { profile: 'eim', secondHost: true, hairpin: false }, B: 'eim' }, async (run) => {
      const [a, a2] = await Promise.all([spawnPeer(run, 'hostA'), spawnPeer(run, 'hostA2')]);
      const [r1, r2] = await connectBoth(a, a2, 20_000);
      expectDirect(r1, { host: ADDR.hostA2 });
      expectDirect(r2, { host: ADDR.hostA });
      a.proc.send({ t: 'message', text: 'neighbour' });
      await expect(a2.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({
        text: 'neighbour',
      });
      rows.push({
        pass: true,
        section: 'scenarios',
        pair: 'eim, two hosts behind it, no hairpin',
        expected: 'direct via LAN',
        result: `direct ${ADDR.hostA} ↔ ${ADDR.hostA2}`,
        timeMs: Math.max(r1.ms, r2.ms),
        detail: 'host candidates; the NAT drops packets to its own public address',
      });
    });
  }, 120_000);

  it('two hosts behind one NAT dialling only the public (reflexive) address: connects when the NAT hairpins, times out when it does not', async () => {
    for (const hairpin of [true, false]) {
      await withLab({ A: { profile: 'eim', secondHost: true, hairpin }, B: 'eim' }, async (run) => {
        const [a, a2] = await Promise.all([spawnPeer(run, 'hostA'), spawnPeer(run, 'hostA2')]);
        const refl = a2.ready.nat?.reflexive[0];
        expect(refl?.host).toBe(ADDR.publicA);
        // no LAN candidate: the only way is through the router's own public address
        a.proc.send({
          t: 'connect',
          card: { host: refl?.host, port: refl?.port, peerId: a2.ready.peerId },
          timeoutMs: hairpin ? 20_000 : 6_000,
        });
        const r = (await a.proc.next(
          (m) => m.t === 'connected' || m.t === 'failed',
          40_000,
        )) as unknown as ConnectResult;
        if (hairpin) {
          expectDirect(r, { host: ADDR.publicA, port: refl?.port });
          a.proc.send({ t: 'message', text: 'via the hairpin' });
          await expect(a2.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({
            text: 'via the hairpin',
          });
        } else {
          expect(r.t, JSON.stringify(r)).toBe('failed');
        }
        rows.push({
          pass: true,
          section: 'scenarios',
          pair: `eim, two hosts behind it, ${hairpin ? 'hairpin on' : 'no hairpin'}, public address only`,
          expected: hairpin ? 'direct via the hairpin' : 'fails (no LAN candidate given)',
          result:
            r.t === 'connected'
              ? `direct to ${r.path.address.host}:${r.path.address.port}`
              : `failed: ${r.code}`,
          timeMs: r.t === 'connected' ? r.ms : null,
          detail: hairpin
            ? 'the router DNATs its own public address back into the LAN and SNATs the source'
            : 'the router drops packets to its own public address from the LAN',
        });
      });
    }
  }, 180_000);

  it('udp-blocked: gathering reports UDP_BLOCKED and connect fails fast with it', async () => {
    await withLab({ A: 'udp-blocked', B: 'eim' }, async (run) => {
      const [a, b] = await Promise.all([spawnPeer(run, 'hostA'), spawnPeer(run, 'hostB')]);
      expect(a.ready.nat?.state).toBe('failed');
      expect(a.ready.nat?.error?.code).toBe('UDP_BLOCKED');
      expect(a.ready.gatherMs).toBeLessThan(8000); // gatherer's 5 s verdict
      expect(a.ready.startMs).toBeLessThan(a.ready.gatherMs); // start-up never waits for it
      expect(b.ready.nat?.state).toBe('ready');
      a.proc.send({ t: 'connect', card: b.ready.card, timeoutMs: 30_000 });
      const r = (await a.proc.next((m) => m.t === 'connected' || m.t === 'failed', 40_000)) as {
        t: string;
        code: string;
        message: string;
        ms: number;
      };
      expect(r).toMatchObject({ t: 'failed', code: 'UDP_BLOCKED' });
      expect(r.message).toMatch(/UDP/);
      expect(r.ms).toBeLessThan(4000);
      rows.push({
        pass: true,
        section: 'scenarios',
        pair: 'udp-blocked × eim',
        expected: 'UDP_BLOCKED, fast',
        result: `failed UDP_BLOCKED after ${r.ms} ms (gathering verdict ${a.ready.gatherMs} ms after start)`,
        timeMs: r.ms,
        detail: 'no STUN server answered; only LAN candidates get a 2.5 s grace',
      });
    });
  }, 120_000);

  it('coturn as the STUN server: the node learns its public address', async () => {
    await withLab({ A: 'eim', B: 'eim' }, async (run) => {
      const coturn = await run.lab.startCoturn();
      try {
        const a = await spawnPeer(run, 'hostA', { stunServers: [`${ADDR.rdv}:3480`] });
        expect(a.ready.nat?.state).toBe('ready');
        expect(a.ready.nat?.reflexive).toContainEqual({ host: ADDR.publicA, port: 40000 });
        expect(a.ready.candidates).toContainEqual({
          kind: 'srflx',
          family: 4,
          host: ADDR.publicA,
          port: 40000,
        });
        rows.push({
          pass: true,
          section: 'scenarios',
          pair: 'eim, coturn 4.6 as STUN server',
          expected: `srflx ${ADDR.publicA}:40000`,
          result: `srflx ${a.ready.nat?.reflexive.map((e) => `${e.host}:${e.port}`).join(', ')}; mapping ${a.ready.nat?.nat?.mapping}`,
          timeMs: a.ready.gatherMs,
          detail: 'Debian turnserver in rdv',
        });
      } finally {
        await coturn.stop();
      }
    });
  }, 120_000);
});
