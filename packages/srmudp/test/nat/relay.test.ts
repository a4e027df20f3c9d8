// Relayed paths through real Linux NATs (issue 14): two members behind symmetric NATs cannot
// punch (PUNCH_IMPOSSIBLE); with a gate on the public segment (rdv) they connect through it.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  gateAndMembers,
  LAB,
  type ReportRow,
  reportSkipWhenUnsupported,
  spawnPeer,
  withLab,
  writeReportFragment,
} from './helpers.js';

/** MiB sent while the gate restarts. */
const RESTART_MIB = Number(process.env.SRMUDP_NAT_RESTART_MIB ?? 16);
/** MiB each way through the gate (the 16). */
const RELAY_MIB = Number(process.env.SRMUDP_NAT_RELAY_MIB ?? 16);

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('relay', rows));

reportSkipWhenUnsupported('relay');
describe.runIf(LAB.ok)('relayed paths (real kernel NATs)', () => {
  it(`symmetric × symmetric connects through a gate on the public segment, ${RELAY_MIB} MiB each way`, async () => {
    await withLab({ A: 'symmetric', B: 'symmetric' }, async (run) => {
      // b must hold its hop session before a's circuit can reach it
      const { a, b } = await gateAndMembers(run);
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

  it(`symmetric × symmetric: the gate is killed and restarted (same key, same port) during a ${RESTART_MIB} MiB transfer; it completes`, async () => {
    const keyFile = join(tmpdir(), `srmudp-gate-${randomBytes(6).toString('hex')}.key`);
    try {
      await withLab({ A: 'symmetric', B: 'symmetric' }, async (run) => {
        // 2 MiB/s per client: the transfer lasts ~8 s, the gate goes away ~2 s into it
        const { gate, a, b, gateOptions } = await gateAndMembers(
          run,
          { rateBytesPerSec: 2 * 1024 * 1024 },
          { identity: keyFile },
        );
        a.proc.send({ t: 'connect', card: b.ready.card, timeoutMs: 40_000 });
        const ra = (await a.proc.next((m) => m.t === 'connected' || m.t === 'failed', 60_000)) as unknown as {
          t: string;
          ms: number;
        };
        expect(ra, JSON.stringify(ra)).toMatchObject({ t: 'connected', path: { kind: 'relayed' } });
        const bytes = RESTART_MIB * 1024 * 1024;
        a.proc.send({ t: 'send', bytes, peer: b.ready.peerId });
        const done = Promise.all([
          a.proc.next((m) => m.t === 'sent' || m.t === 'error', 300_000),
          b.proc.next((m) => (m.t === 'stream' && m.from === a.ready.peerId) || m.t === 'error', 300_000),
        ]);
        await new Promise((r) => setTimeout(r, 2000));
        const t0 = Date.now();
        gate.proc.killNow();
        await gate.proc.exited;
        const again = await spawnPeer(run, 'rdv', gateOptions);
        expect(again.ready.peerId).toBe(gate.ready.peerId);
        const restartMs = Date.now() - t0;
        const [sent, got] = (await done) as unknown as [
          { t: string; sha256: string },
          { t: string; bytes: number; sha256: string; ms: number },
        ];
        expect(sent.t, JSON.stringify(sent)).toBe('sent');
        expect(got.t, JSON.stringify(got)).toBe('stream');
        expect(got.bytes).toBe(bytes);
        expect(got.sha256).toBe(sent.sha256);
        // the transfer outlasted the restart (else the test proved nothing)
        expect(got.ms).toBeGreaterThan(2000 + restartMs);
        // still through the (restarted) gate
        a.proc.send({ t: 'pathof', peer: b.ready.peerId });
        const pa = (await a.proc.next((m) => m.t === 'pathof', 10_000)) as unknown as { path: unknown };
        expect(pa.path).toEqual({ kind: 'relayed', via: gate.ready.peerId });
        rows.push({
          section: 'relay',
          pair: 'symmetric × symmetric (gate restarted mid-transfer)',
          expected: 'the transfer completes through the restarted gate',
          result: `${RESTART_MIB} MiB SHA-256 equal; gate down ${(restartMs / 1000).toFixed(1)} s (killed, started again with the same key and port)`,
          timeMs: ra.ms,
          detail: `the members redial their hop sessions and ask for a circuit again; transfer ${(got.ms / 1000).toFixed(1)} s at a 2 MiB/s gate rate`,
          pass: true,
        });
      });
    } finally {
      rmSync(keyFile, { force: true });
    }
  }, 420_000);
});
