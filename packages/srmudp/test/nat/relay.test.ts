// Relayed paths through real Linux NATs (issue 14): two members behind symmetric NATs cannot
// punch (PUNCH_IMPOSSIBLE); with a gate on the public segment (rdv) they connect through it.
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  LAB,
  type ReportRow,
  reportSkipWhenUnsupported,
  spawnPeer,
  withLab,
  writeReportFragment,
} from './helpers.js';

/** MiB each way through the gate (the 16). */
const RELAY_MIB = Number(process.env.SRMUDP_NAT_RELAY_MIB ?? 16);

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('relay', rows));

reportSkipWhenUnsupported('relay');
describe.runIf(LAB.ok)('relayed paths (real kernel NATs)', () => {
  it(`symmetric × symmetric connects through a gate on the public segment, ${RELAY_MIB} MiB each way`, async () => {
    await withLab({ A: 'symmetric', B: 'symmetric' }, async (run) => {
      const gate = await spawnPeer(run, 'rdv', { host: ADDR.rdv, port: 40001, relay: { serve: true } });
      const opts = { relay: { gates: [gate.ready.card] } };
      const [a, b] = await Promise.all([spawnPeer(run, 'hostA', opts), spawnPeer(run, 'hostB', opts)]);
      // b must hold its hop session before a's circuit can reach it: wait for its gate-0
      for (const p of [a, b]) {
        for (let i = 0; i < 60; i++) {
          p.proc.send({ t: 'stats' });
          const st = (await p.proc.next((m) => m.t === 'stats', 10_000)) as unknown as {
            status: Record<string, { state: string }>;
          };
          if (st.status['gate-0']?.state === 'established') break;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      a.proc.send({ t: 'connect', card: b.ready.card, timeoutMs: 40_000 });
      const ra = (await a.proc.next((m) => m.t === 'connected' || m.t === 'failed', 60_000)) as unknown as {
        t: string;
        ms: number;
        path: { kind: string } | null;
      };
      expect(ra, JSON.stringify(ra)).toMatchObject({ t: 'connected', path: { kind: 'relayed' } });
      const bytes = RELAY_MIB * 1024 * 1024;
      const results: Array<{ sent: { sha256: string }; got: { bytes: number; sha256: string; ms: number } }> =
        [];
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        from.proc.send({ t: 'send', bytes });
        const [sent, got] = await Promise.all([
          from.proc.next((m) => m.t === 'sent' || m.t === 'error', 240_000),
          to.proc.next((m) => m.t === 'stream' || m.t === 'error', 240_000),
        ]);
        const r = {
          sent: sent as unknown as { sha256: string },
          got: got as unknown as { bytes: number; sha256: string; ms: number },
        };
        expect(r.got.bytes).toBe(bytes);
        expect(r.got.sha256).toBe(r.sent.sha256);
        results.push(r);
      }
      // still relayed at the end (no direct path exists between two symmetric NATs)
      a.proc.send({ t: 'stats' });
      const st = (await a.proc.next((m) => m.t === 'stats', 10_000)) as unknown as { path: { kind: string } };
      expect(st.path.kind).toBe('relayed');
      rows.push({
        section: 'relay',
        pair: 'symmetric × symmetric',
        expected: 'relayed through a gate',
        result: `relayed (${RELAY_MIB} MiB each way, SHA-256 equal)`,
        timeMs: ra.ms,
        detail: `goodput A→B ${((bytes * 8) / (results[0]!.got.ms * 1000)).toFixed(1)} Mbit/s, B→A ${((bytes * 8) / (results[1]!.got.ms * 1000)).toFixed(1)} Mbit/s`,
        pass: true,
      });
    });
  }, 600_000);

  it('symmetric × symmetric: a dialler with no gate configured learns the gate from the card and falls back to it', async () => {
    await withLab({ A: 'symmetric', B: 'symmetric' }, async (run) => {
      const gate = await spawnPeer(run, 'rdv', { host: ADDR.rdv, port: 40001, relay: { serve: true } });
      // the gate is on a public address: it publishes itself as a gate
      gate.proc.send({ t: 'card' });
      const gc = (await gate.proc.next((m) => m.t === 'card', 10_000)) as unknown as { gates: unknown[] };
      expect(gc.gates).toEqual([{ peerId: gate.ready.peerId, host: ADDR.rdv, port: 40001, self: true }]);
      const b = await spawnPeer(run, 'hostB', { relay: { gates: [gate.ready.card] } });
      const a = await spawnPeer(run, 'hostA', {});
      // b's card once its hop session is up lists the gate at the address b reaches it
      let card: { card: string; gates: Array<{ peerId: string; host: string; port: number }> } | null = null;
      for (let i = 0; i < 60 && card === null; i++) {
        b.proc.send({ t: 'card' });
        const m = (await b.proc.next((x) => x.t === 'card', 10_000)) as unknown as NonNullable<typeof card>;
        if (m.gates.length > 0) card = m;
        else await new Promise((r) => setTimeout(r, 500));
      }
      expect(card?.gates).toEqual([{ peerId: gate.ready.peerId, host: ADDR.rdv, port: 40001, self: false }]);
      a.proc.send({ t: 'connect', card: card?.card, timeoutMs: 40_000 });
      const ra = (await a.proc.next((m) => m.t === 'connected' || m.t === 'failed', 60_000)) as unknown as {
        t: string;
        ms: number;
        path: { kind: string } | null;
      };
      expect(ra, JSON.stringify(ra)).toMatchObject({ t: 'connected', path: { kind: 'relayed' } });
      const bytes = 4 * 1024 * 1024;
      a.proc.send({ t: 'send', bytes });
      const [sent, got] = (await Promise.all([
        a.proc.next((m) => m.t === 'sent' || m.t === 'error', 120_000),
        b.proc.next((m) => m.t === 'stream' || m.t === 'error', 120_000),
      ])) as unknown as [{ sha256: string }, { bytes: number; sha256: string }];
      expect(got.bytes).toBe(bytes);
      expect(got.sha256).toBe(sent.sha256);
      rows.push({
        section: 'relay',
        pair: 'symmetric × symmetric',
        expected: 'relayed through the gate the card lists (no gate configured on the dialler)',
        result: 'relayed (4 MiB, SHA-256 equal)',
        timeMs: ra.ms,
        detail: 'PUNCH_IMPOSSIBLE, then the gate from the card dialled and asked for a circuit',
        pass: true,
      });
    });
  }, 300_000);
});
