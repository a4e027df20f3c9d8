// The NAT profile matrix through real Linux NATs (issue 6): two srmudp nodes behind two NATs,
// each with the other's contact card (host + every server-reflexive candidate), dial each other at
// once (simultaneous open: core sends its Noise initiation to every candidate and accepts the peer
// wherever its authenticated packets come from). Every pair connects directly or fails with the
// documented typed reason within a bounded time.
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ConnectResult,
  connectBoth,
  LAB,
  PROFILE_PAIRS,
  type Profile,
  publicIpOf,
  type ReportRow,
  reportSkipWhenUnsupported,
  slots,
  spawnPeer,
  withLab,
  writeReportFragment,
} from './helpers.js';

/** one-way delay on natA's public link: RTT between the hosts ≈ 2 × this */
const DELAY_MS = 20;
/** birthday pairs keep trying for 30 s */
const CONNECT_TIMEOUT_MS = 35_000;

type Expectation =
  | { direct: true; why: string }
  | { direct: false; code: string; why: string; withinMs: number };

/**
 * The expected matrix, with the reason for every entry. `cgnat` is an `eim` home router behind an
 * `eim` carrier NAT: EIM with address-and-port-dependent filtering, like `eim`.
 */
function expected(a: Profile, b: Profile): Expectation {
  const sym = (p: Profile) => p === 'symmetric';
  const apdf = (p: Profile) => p === 'eim' || p === 'cgnat';
  if (sym(a) && sym(b)) {
    return {
      direct: false,
      code: 'PUNCH_IMPOSSIBLE',
      why: 'both mappings endpoint-dependent: no port to aim at on either side (relay needed); fails at once after a 2.5 s LAN-candidate grace',
      withinMs: 6000,
    };
  }
  if ((sym(a) && apdf(b)) || (sym(b) && apdf(a))) {
    return {
      direct: true,
      why: 'random mapping × port-dependent filtering: birthday strategy (256 extra sockets on the symmetric side, random-port probes from the other, the hit port becomes the path)',
    };
  }
  if (sym(a) || sym(b)) {
    return {
      direct: true,
      why: 'the symmetric side is let in by the address-dependent / endpoint-independent filter of the other NAT and found peer-reflexively',
    };
  }
  return { direct: true, why: 'both mappings endpoint-independent: the reflexive candidates are the paths' };
}

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('matrix', rows));

/** At most this many labs at once (2 shared cores: each lab runs a delayer and three Node processes). */
const slot = slots(Number(process.env.SRMUDP_NAT_PARALLEL ?? 3));

const pairs = PROFILE_PAIRS;

reportSkipWhenUnsupported('matrix');
describe.runIf(LAB.ok)('NAT matrix (real kernel NATs, simultaneous open from contact cards)', () => {
  for (const [pa, pb] of pairs) {
    const exp = expected(pa, pb);
    const title = `${pa} × ${pb}: ${exp.direct ? 'direct' : exp.code}`;
    it.concurrent(
      title,
      () =>
        slot(() =>
          withLab({ A: pa, B: pb, impair: { natA: { delayMs: DELAY_MS } } }, async (run) => {
            const [a, b] = await Promise.all([spawnPeer(run, 'hostA'), spawnPeer(run, 'hostB')]);
            // the gatherers classify what the lab's self-check measured
            for (const [peer, prof] of [
              [a, pa],
              [b, pb],
            ] as const) {
              expect(peer.ready.nat?.state).toBe('ready');
              expect(peer.ready.nat?.nat?.mapping).toBe(prof === 'symmetric' ? 'random' : 'consistent');
            }
            const [ra, rb] = await connectBoth(a, b, CONNECT_TIMEOUT_MS);
            const timeMs = Math.max(ra.ms, rb.ms);
            const row: ReportRow = {
              section: 'matrix',
              pair: `${pa} × ${pb}`,
              expected: exp.direct ? 'direct' : exp.code,
              result: describeResult(ra, rb),
              timeMs,
              detail: exp.why,
              order: pairs.findIndex(([x, y]) => x === pa && y === pb),
            };
            rows.push(row);
            if (exp.direct) {
              expect(ra, JSON.stringify(ra)).toMatchObject({ t: 'connected' });
              expect(rb, JSON.stringify(rb)).toMatchObject({ t: 'connected' });
              for (const [r, other, otherProfile, otherSide] of [
                [ra, b, pb, 'B'],
                [rb, a, pa, 'A'],
              ] as const) {
                if (r.t !== 'connected') continue;
                expect(r.path.kind).toBe('direct');
                // the peer's public mapping: its NAT's public IP; for a consistent NAT the very
                // endpoint its STUN gathering published
                expect(r.path.address.host).toBe(publicIpOf(otherSide));
                if (otherProfile !== 'symmetric' && otherProfile !== 'fullcone') {
                  expect(other.ready.nat?.reflexive).toContainEqual(r.path.address);
                }
                // RTT consistent with the lab's delay (2 × 20 ms), not a relay or a loop
                expect(r.minRttMs).toBeGreaterThanOrEqual(2 * DELAY_MS * 0.9);
                expect(r.minRttMs).toBeLessThan(2 * DELAY_MS + 1000); // generous: 2 shared cores under load
              }
              // data flows both ways on that path
              a.proc.send({ t: 'message', text: `hello from ${pa}` });
              b.proc.send({ t: 'message', text: `hello from ${pb}` });
              await expect(b.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({
                text: `hello from ${pa}`,
              });
              await expect(a.proc.next((m) => m.t === 'message', 10_000)).resolves.toMatchObject({
                text: `hello from ${pb}`,
              });
              row.detail += ` (RTT ${Math.round((ra as { minRttMs: number }).minRttMs)} ms)`;
            } else {
              expect(ra, JSON.stringify(ra)).toMatchObject({ t: 'failed', code: exp.code });
              expect(rb, JSON.stringify(rb)).toMatchObject({ t: 'failed', code: exp.code });
              expect(timeMs).toBeLessThan(exp.withinMs);
            }
            row.pass = true;
          }),
        ),
      300_000,
    );
  }
});

function describeResult(ra: ConnectResult, rb: ConnectResult): string {
  const one = (r: ConnectResult) =>
    r.t === 'connected' ? `direct ${r.path.address.host}:${r.path.address.port}` : `failed ${r.code}`;
  return ra.t === rb.t && ra.t === 'failed' && rb.t === 'failed' && ra.code === rb.code
    ? `failed ${ra.code} (both sides)`
    : `A: ${one(ra)}; B: ${one(rb)}`;
}
