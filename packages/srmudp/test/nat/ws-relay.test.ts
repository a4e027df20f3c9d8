// WebSocket relays through real Linux NATs (issue 15): hosts on a UDP-blocked network (the NAT
// drops every UDP datagram out but DNS; TCP works) reach their peers through an srmudp-relay on
// the public segment (rdv) over WebSocket: to a host behind an eim NAT (64 MiB, SHA-256 equal,
// path relayed over websocket), across a relay crash and restart mid-transfer (the clients
// reconnect, run the hop handshake again, the end-to-end session and the stream go on), and
// between two UDP-blocked hosts; a UDP-blocked host whose network lets UDP out again mid-transfer
// moves its relayed connection to a direct UDP path, the stream going on. Also the figure of the closing note: time from start to
// connected of a UDP-blocked node, against a UDP node's in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  LAB,
  type LabProcess,
  type LabRun,
  type Peer,
  type ReportRow,
  reportSkipWhenUnsupported,
  spawnPeer,
  spawnTs,
  withLab,
  writeReportFragment,
} from './helpers.js';

const WS_RELAY = fileURLToPath(new URL('./fixtures/ws-relay.ts', import.meta.url));
const RELAY_PORT = 8443;
/** MiB through the relay (the 64) */
const MIB = Number(process.env.SRMUDP_NAT_WS_MIB ?? 64);
/** runs of the start-to-connected figure per kind */
const RUNS = Number(process.env.SRMUDP_NAT_WS_RUNS ?? 1);
/** a transfer's bound (the slowest, 64 MiB paced, takes ~40 s; the test's own limit is 300 s) */
const TRANSFER_MS = 150_000;

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('ws-relay', rows));

interface Relay {
  proc: LabProcess;
  relayAddress: string;
}

async function startRelay(run: LabRun, keyFile: string, rateBytesPerSec?: number): Promise<Relay> {
  const proc = spawnTs(run.lab, 'rdv', WS_RELAY, [
    ADDR.rdv,
    String(RELAY_PORT),
    keyFile,
    ...(rateBytesPerSec !== undefined ? [String(rateBytesPerSec)] : []),
  ]);
  run.procs.push(proc);
  const ready = (await proc.next((m) => m.t === 'ready', 30_000)) as unknown as { relayAddress: string };
  return { proc, relayAddress: ready.relayAddress };
}

interface Stats {
  path: { kind: string } | null;
  nat: { state: string; error: { code: string } | null };
  status: Record<string, { carrier: string | null; state: string }>;
  relays: Array<{ state: string; opens: number; hops: number }>;
}

async function stats(p: Peer): Promise<Stats> {
  p.proc.send({ t: 'stats' });
  return (await p.proc.next((m) => m.t === 'stats', 10_000)) as unknown as Stats;
}

/** Waits until `p`'s home relay is ready (bounded). */
async function relayReady(p: Peer): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if ((await stats(p)).relays[0]?.state === 'ready') return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${p.host}: relay not ready within 15 s`);
}

type Connected =
  | { t: 'connected'; ms: number; sinceStartMs: number; path: { kind: string } }
  | { t: 'failed'; code: string; message: string };

async function connect(from: Peer, to: Peer, timeoutMs = 40_000): Promise<Connected> {
  from.proc.send({ t: 'connect', card: to.ready.card, timeoutMs });
  return (await from.proc.next(
    (m) => m.t === 'connected' || m.t === 'failed',
    timeoutMs + 15_000,
  )) as unknown as Connected;
}

/** `bytes` on a new stream from → to; SHA-256 equal. `during` runs once the stream is under way. */
async function transfer(from: Peer, to: Peer, bytes: number, during?: () => Promise<void>) {
  from.proc.send({ t: 'send', bytes });
  const receiving = to.proc.next((m) => m.t === 'stream' || m.t === 'error' || m.t === 'closed', TRANSFER_MS);
  const sending = from.proc.next((m) => m.t === 'sent' || m.t === 'error', TRANSFER_MS);
  let receivedAt = 0;
  void receiving.then(
    () => {
      receivedAt = performance.now();
    },
    () => {},
  );
  sending.catch(() => {}); // awaited below, after `during`
  if (during) await during();
  let sent: Record<string, unknown>;
  let got: Record<string, unknown>;
  try {
    // the sender reports first ('sent' once its writes are queued, or 'error' with its reason:
    // no connection, a closed one), so its failure ends the wait without waiting on the receiver
    sent = await sending;
    if (sent.t === 'error') throw new Error(`the sender failed: ${JSON.stringify(sent)}`);
    got = await receiving;
  } catch (err) {
    // a stalled transfer: both ends' state, unread messages and recent log lines, then the failure
    for (const p of [from, to]) {
      const st = await stats(p).catch((e: unknown) => String(e));
      console.error(
        `--- ${p.host}: ${JSON.stringify(st)}\npending ${JSON.stringify(p.proc.pending())}\n${p.proc.stderr.slice(-8000)}`,
      );
    }
    throw err;
  }
  expect(sent.t, JSON.stringify(sent)).toBe('sent');
  expect(got.t, JSON.stringify(got)).toBe('stream');
  expect(got.bytes).toBe(bytes);
  expect(got.sha256).toBe(sent.sha256);
  return { ...(got as { t: string; bytes: number; sha256: string; ms: number }), receivedAt };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

reportSkipWhenUnsupported('ws-relay');
describe.runIf(LAB.ok)('WebSocket relays (real kernel NATs, UDP blocked)', () => {
  it(`udp-blocked → eim through srmudp-relay over WebSocket: ${MIB} MiB, then a relay restart mid-transfer; start-to-connected figure`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-nat-wsrelay-'));
    try {
      await withLab(
        { A: { profile: 'udp-blocked', secondHost: true }, B: { profile: 'eim', secondHost: true } },
        async (run) => {
          let relay = await startRelay(run, join(dir, 'relay.key'));
          const opts = { relays: [relay.relayAddress] };
          const [a, b] = await Promise.all([spawnPeer(run, 'hostA', opts), spawnPeer(run, 'hostB', opts)]);
          expect(a.ready.nat.error?.code).toBe('UDP_BLOCKED');
          await relayReady(b); // b's hop: a's circuit reaches it there
          const r = await connect(a, b);
          expect(r, JSON.stringify(r)).toMatchObject({ t: 'connected', path: { kind: 'relayed' } });
          const sa = await stats(a);
          expect(sa.status[b.ready.peerId]?.carrier).toBe('websocket');
          let t = performance.now();
          const first = await transfer(a, b, MIB << 20);
          console.log(`${MIB} MiB in ${Math.round(performance.now() - t)} ms (stream ${first.ms} ms)`);
          t = performance.now();

          // the relay crashes (SIGKILL) 400 ms into the next transfer and comes back with its key
          const killAfterMs = 300;
          let restartedAt = Number.POSITIVE_INFINITY;
          const second = await transfer(a, b, 32 << 20, async () => {
            await new Promise((res) => setTimeout(res, killAfterMs));
            relay.proc.killNow();
            await relay.proc.exited;
            relay = await startRelay(run, join(dir, 'relay.key'));
            restartedAt = performance.now();
          });
          // the stream was still under way when the relay came back: it finished through the new one
          expect(second.receivedAt).toBeGreaterThan(restartedAt);
          console.log(`32 MiB across the restart in ${Math.round(performance.now() - t)} ms`);
          const [sa2, sb2] = [await stats(a), await stats(b)];
          for (const s of [sa2, sb2]) {
            expect(s.relays[0]?.opens).toBeGreaterThanOrEqual(2);
            expect(s.relays[0]?.hops).toBeGreaterThanOrEqual(2);
          }
          expect(sa2.status[b.ready.peerId]?.state).toBe('established');
          expect(sa2.path?.kind).toBe('relayed');
          rows.push({
            section: 'ws-relay',
            pair: 'udp-blocked × eim',
            expected: 'relayed over WebSocket (srmudp-relay in rdv)',
            result: `relayed (websocket), ${MIB} MiB SHA-256 equal; relay killed and restarted during 32 MiB: session and stream went on`,
            timeMs: 'ms' in r ? r.ms : 0,
            detail: `goodput ${(((MIB << 20) * 8) / (first.ms * 1000)).toFixed(1)} Mbit/s; restart transfer ${second.ms} ms`,
            pass: true,
          });

          // figure: start → connected, interleaved: a fresh UDP-blocked node (hostA2) and a fresh
          // UDP node behind the eim NAT (hostB2), both configured with the relay, each dialling a
          // node on the public segment (rdv, which keeps its hop with the relay) at once after start
          const target = await spawnPeer(run, 'rdv', { ...opts, host: ADDR.rdv, port: 40001 });
          await relayReady(target);
          const blocked: number[] = [];
          const always: number[] = [];
          const udp: number[] = [];
          for (let i = 0; i < RUNS; i++) {
            for (const [host, list, kind, relayMode] of [
              ['hostA2', blocked, 'relayed', 'auto'],
              ['hostA2', always, 'relayed', 'always'],
              ['hostB2', udp, 'direct', 'auto'],
            ] as const) {
              const p = await spawnPeer(run, host, {
                ...opts,
                relayMode,
                port: 40100 + i,
                readyAtStart: true,
              });
              const c = await connect(p, target);
              expect(c, JSON.stringify(c)).toMatchObject({ t: 'connected', path: { kind } });
              if (c.t === 'connected') list.push(c.sinceStartMs);
              p.proc.send({ t: 'close' });
              await p.proc.next((m) => m.t === 'bye', 10_000).catch(() => {});
            }
          }
          const ratio = median(blocked) / median(udp);
          console.log(
            `start→connected: UDP-blocked median ${median(blocked)} ms (${blocked.join(', ')}), UDP-blocked with relayMode 'always' ${median(always)} ms (${always.join(', ')}), UDP median ${median(udp)} ms (${udp.join(', ')}), ratio ${ratio.toFixed(2)}`,
          );
          rows.push({
            section: 'ws-relay',
            pair: 'start → connected',
            expected: 'UDP-blocked node connects through the relay',
            result: `median ${median(blocked)} ms (UDP-blocked, 'auto'; ${median(always)} ms with 'always') vs ${median(udp)} ms (UDP) = ${ratio.toFixed(2)}×`,
            timeMs: median(blocked),
            detail: `${RUNS} run(s) each, interleaved; the UDP-blocked node waits for the UDP verdict (5 s gathering timeout)`,
            pass: true,
          });
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('UDP comes back mid-transfer: the relayed (websocket) connection moves to a direct UDP path, the stream goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-nat-wsrelay-'));
    try {
      await withLab({ A: 'udp-blocked', B: 'eim' }, async (run) => {
        // the relay paces each client at 2 MiB/s: relayed, the 48 MiB would take 24 s or more, so
        // the stream is surely under way when the path moves (on any machine); direct is unpaced
        const relay = await startRelay(run, join(dir, 'relay.key'), 2 << 20);
        const opts = { relays: [relay.relayAddress], nat: { timing: { blockedRetryMs: 3000 } } };
        const [a, b] = await Promise.all([spawnPeer(run, 'hostA', opts), spawnPeer(run, 'hostB', opts)]);
        expect(a.ready.nat.error?.code).toBe('UDP_BLOCKED');
        await relayReady(b);
        const r = await connect(a, b);
        expect(r, JSON.stringify(r)).toMatchObject({ t: 'connected', path: { kind: 'relayed' } });
        expect((await stats(a)).status[b.ready.peerId]?.carrier).toBe('websocket');

        const bytes = 48 << 20;
        let unblockedAt = 0;
        let movedAt = Number.POSITIVE_INFINITY;
        let moved: { path: { kind: string } } | null = null;
        const got = await transfer(a, b, bytes, async () => {
          await new Promise((res) => setTimeout(res, 1000));
          // the hotspot lets UDP out again (its TCP flows, the WebSocket among them, go on)
          await run.lab.setProfile('natA', 'eim');
          unblockedAt = performance.now();
          moved = (await a.proc.next(
            (m) => m.t === 'path' && (m as { path?: { kind?: string } }).path?.kind === 'direct',
            60_000,
          )) as unknown as { path: { kind: string } };
          movedAt = performance.now();
        });
        expect(moved).not.toBeNull();
        // the stream was under way when the path moved, and finished on it: no reset, same bytes
        expect(got.receivedAt).toBeGreaterThan(movedAt);
        const [sa, sb] = [await stats(a), await stats(b)];
        expect(sa.nat.error).toBeNull();
        expect(sa.status[b.ready.peerId]).toMatchObject({ state: 'established', carrier: 'udp' });
        expect(sa.path?.kind).toBe('direct');
        expect(sb.path?.kind).toBe('direct');
        const noticeMs = Math.round(movedAt - unblockedAt);
        console.log(`UDP back → direct path in ${noticeMs} ms; 48 MiB in ${got.ms} ms (stream)`);
        rows.push({
          section: 'ws-relay',
          pair: 'udp-blocked → eim (unblocked) × eim',
          expected: 'relayed (websocket), then a UDP path once UDP comes back',
          result: `moved to direct ${noticeMs} ms after UDP was let out (retry every 3 s in the test, 15 s by default), 48 MiB SHA-256 equal, same stream`,
          timeMs: noticeMs,
          detail: 'relay paced at 2 MiB/s per client so the stream is under way at the move',
          pass: true,
        });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("two UDP-blocked hosts reach each other through the relay; the dialling one has no relay of its own and uses the target's home relay from its card", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-nat-wsrelay-'));
    try {
      await withLab({ A: 'udp-blocked', B: 'udp-blocked' }, async (run) => {
        const relay = await startRelay(run, join(dir, 'relay.key'));
        // a: no `relays`; b: the relay as its home relay, which its card's record carries
        const [a, b] = await Promise.all([
          spawnPeer(run, 'hostA'),
          spawnPeer(run, 'hostB', { relays: [relay.relayAddress] }),
        ]);
        expect(a.ready.nat.error?.code).toBe('UDP_BLOCKED');
        expect(b.ready.nat.error?.code).toBe('UDP_BLOCKED');
        await relayReady(b);
        const r = await connect(a, b);
        expect(r, JSON.stringify(r)).toMatchObject({ t: 'connected', path: { kind: 'relayed' } });
        await transfer(b, a, 8 << 20);
        const sa = await stats(a);
        expect(sa.status[b.ready.peerId]?.carrier).toBe('websocket');
        expect(sa.relays).toMatchObject([{ state: 'ready', home: false }]);
        rows.push({
          section: 'ws-relay',
          pair: 'udp-blocked × udp-blocked',
          expected: 'relayed over WebSocket',
          result: "relayed (websocket) through the target's home relay (from its card), 8 MiB SHA-256 equal",
          timeMs: 'ms' in r ? r.ms : 0,
          detail: '',
          pass: true,
        });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
