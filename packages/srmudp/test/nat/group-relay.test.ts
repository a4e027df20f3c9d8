// Gossip neighbours that cannot be punched (issue 18): two members behind symmetric NATs become
// neighbours through the member that introduced them (connect via, no gate configured), a
// broadcast reaches both, and their connection reports a relayed path via the introducer.
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  LAB,
  type Peer,
  type ReportRow,
  reportSkipWhenUnsupported,
  spawnPeer,
  withLab,
  writeReportFragment,
} from './helpers.js';

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('group-relay', rows));

type Path = { kind: 'relayed'; via: string } | { kind: 'direct'; address: object } | null;
interface GState {
  t: 'gstate';
  neighbours: Array<{ peer: string; path: Path }>;
  stats: { relayedNeighbours: number; relayFailures: number; delivered: number } | null;
}

/** Polls `p`'s group state until `ok` (bounded: `tries` × 250 ms); the last state. */
async function until(p: Peer, ok: (s: GState) => boolean, tries = 120): Promise<GState> {
  let s: GState | null = null;
  for (let i = 0; i < tries; i++) {
    p.proc.send({ t: 'gstate' });
    s = (await p.proc.next((m) => m.t === 'gstate', 10_000)) as unknown as GState;
    if (ok(s)) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
  return s as GState;
}

reportSkipWhenUnsupported('group-relay');
describe.runIf(LAB.ok)('gossip neighbours through their introducer (real kernel NATs)', () => {
  it('symmetric × symmetric members are neighbours via the introducer on the public segment; a broadcast reaches both', async () => {
    await withLab({ A: 'symmetric', B: 'symmetric' }, async (run) => {
      const relay = { relay: { connectVia: true } };
      const intro = await spawnPeer(run, 'rdv', { host: ADDR.rdv, port: 40001, ...relay });
      const [a, b] = await Promise.all([spawnPeer(run, 'hostA', relay), spawnPeer(run, 'hostB', relay)]);
      try {
        for (const p of [a, b]) expect(p.ready.nat.nat?.mapping, JSON.stringify(p.ready.nat)).not.toBe('eim');
        intro.proc.send({ t: 'group', name: 'room' });
        a.proc.send({ t: 'group', name: 'room', bootstrap: [intro.ready.card] });
        const sa = await until(a, (s) => s.neighbours.some((n) => n.peer === intro.ready.peerId));
        expect(sa.neighbours.map((n) => n.peer)).toContain(intro.ready.peerId);
        // b joins through the introducer; its forward-join reaches a, which dials b: no punch
        // between two symmetric NATs, so through the member that passed b's record on
        const t0 = Date.now();
        b.proc.send({ t: 'group', name: 'room', bootstrap: [intro.ready.card] });
        const isB = (n: { peer: string }) => n.peer === b.ready.peerId;
        const sa2 = await until(a, (s) => s.neighbours.some(isB));
        const ms = Date.now() - t0;
        const ab = sa2.neighbours.find(isB);
        expect(ab, JSON.stringify(sa2)).toBeDefined();
        expect(ab?.path, JSON.stringify(sa2)).toEqual({ kind: 'relayed', via: intro.ready.peerId });
        expect(sa2.stats?.relayedNeighbours).toBeGreaterThanOrEqual(1);
        const sb = await until(b, (s) => s.neighbours.some((n) => n.peer === a.ready.peerId));
        expect(sb.neighbours.find((n) => n.peer === a.ready.peerId)?.path).toEqual({
          kind: 'relayed',
          via: intro.ready.peerId,
        });
        // a broadcast from each end reaches the other two, once
        for (const [from, others] of [
          [a, [b, intro]],
          [b, [a, intro]],
        ] as const) {
          const text = `hello from ${from.host}`;
          const got = others.map((o) => o.proc.next((m) => m.t === 'gmessage' && m.text === text, 20_000));
          from.proc.send({ t: 'broadcast', text });
          for (const g of (await Promise.all(got)) as unknown as Array<{ from: string; text: string }>) {
            expect(g.from).toBe(from.ready.peerId);
          }
        }
        rows.push({
          section: 'group-relay',
          pair: 'symmetric × symmetric (gossip)',
          expected: 'neighbours via the introducer',
          result: 'relayed via the introducer, broadcasts delivered both ways',
          timeMs: ms,
          detail: `time from b's join to a's relayed neighbour; a's relayedNeighbours ${sa2.stats?.relayedNeighbours}`,
          pass: true,
        });
      } catch (e) {
        // the members' logs (helpers.ts PEER_LOGS: srmudp:group among them) say why
        for (const p of [intro, a, b]) {
          p.proc.send({ t: 'gstate' });
          const st = await p.proc.next((m) => m.t === 'gstate', 10_000).catch(() => null);
          console.error(`--- ${p.host}\n${p.proc.stderr.slice(-6000)}\n${JSON.stringify(st)}`);
        }
        throw e;
      }
    });
  }, 300_000);
});
