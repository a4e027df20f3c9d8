/** Runs the selected figures and assembles the report (shared by the CLI and the test). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeMachine, describeSource } from './machine.js';
import { renderMarkdown } from './markdown.js';
import { type P1Proto, runP1 } from './p1.js';
import { type P2Variant, runP2 } from './p2.js';
import { runP3 } from './p3.js';
import { P4_COOKIES_OFF_THRESHOLD, runP4 } from './p4.js';
import { profileHandshakes, profileSrmudp } from './profile.js';
import { buildSummary, pythonComparison, type Report } from './report.js';
import { MiB } from './stats.js';

export type Figure = 'P1' | 'profile' | 'P2' | 'P3' | 'P4';
export const FIGURES: readonly Figure[] = ['P1', 'profile', 'P2', 'P3', 'P4'];

export interface RunOptions {
  quick: boolean;
  only: readonly Figure[];
  p1Bytes: number;
  p1Repeat: number;
  p1Protos?: P1Proto[];
  profileBytes: number;
  p2WarmupSeconds: number;
  p2WindowSeconds: number;
  p2Variants?: P2Variant[];
  p3Repeat: number;
  p4Peers: number;
  p4ClientProcesses: number;
  p4Concurrency: number;
  p4IdleSeconds: number;
  /** P4 warm-up batches (of p4Peers connections) run after the cold one and discarded */
  p4WarmupBatches: number;
  /** P4 steady-state batches after the warm-up, their medians the warm figures; 0 = cold only */
  p4SteadyBatches: number;
  /** extra srmudp-only P4 points (peer counts) showing how per-connection costs scale; [] = none */
  p4ScalePeers: number[];
  command: string;
  log: (s: string) => void;
}

export function defaultOptions(quick: boolean): RunOptions {
  return quick
    ? {
        quick,
        only: FIGURES,
        p1Bytes: 16 * MiB,
        p1Repeat: 1,
        profileBytes: 16 * MiB,
        p2WarmupSeconds: 1,
        p2WindowSeconds: 3,
        p3Repeat: 1,
        p4Peers: 100,
        p4ClientProcesses: 2,
        p4Concurrency: 16,
        p4IdleSeconds: 3,
        p4WarmupBatches: 0,
        p4SteadyBatches: 1,
        p4ScalePeers: [],
        command: 'srmudp-perf --quick',
        log: () => {},
      }
    : {
        quick,
        only: FIGURES,
        p1Bytes: 256 * MiB,
        // a median of 3 flipped P1's verdict against Hyperswarm on this shared VM (2026-12-07: 0.95x in
        // pnpm bench, 1.19x in a 5-run P1 right after; every implementation once per round)
        p1Repeat: 5,
        profileBytes: 128 * MiB,
        p2WarmupSeconds: 3,
        p2WindowSeconds: 12,
        p3Repeat: 5,
        p4Peers: 1000,
        p4ClientProcesses: 4,
        p4Concurrency: 16,
        p4IdleSeconds: 30,
        // the batches after the cold one fall until the fourth or fifth, then vary by ±15% from
        // batch to batch on this shared VM: 3 warm-up batches, then the median of 5 (README)
        p4WarmupBatches: 3,
        p4SteadyBatches: 5,
        p4ScalePeers: [100],
        command: 'pnpm bench',
        log: () => {},
      };
}

export async function runReport(o: RunOptions): Promise<Report> {
  const t0 = performance.now();
  const machine = describeMachine();
  const source = describeSource();
  const notMeasured: Report['notMeasured'] = [];
  const want = (f: Figure) => o.only.includes(f);
  const skipped = (figure: string) =>
    notMeasured.push({ figure, reason: 'not selected in this run (--only)' });

  const p1 = want('P1')
    ? await runP1({
        bytes: o.p1Bytes,
        repeat: o.p1Repeat,
        ...(o.p1Protos ? { protos: o.p1Protos } : {}),
        log: o.log,
      })
    : null;
  if (!p1) skipped('P1 loopback goodput');
  for (const row of p1?.rows ?? []) {
    if (row.error) notMeasured.push({ figure: `P1 ${row.proto}`, reason: row.error });
  }

  let profile: Report['profile'] = null;
  let handshakeProfile: Report['handshakeProfile'] = null;
  if (want('profile')) {
    try {
      profile = await profileSrmudp(o.profileBytes);
      o.log(`profile: ${profile.top.map((e) => `${e.fn} ${e.pct.toFixed(1)}%`).join(', ')}`);
    } catch (err) {
      notMeasured.push({ figure: 'CPU profile of srmudp P1', reason: String((err as Error).message ?? err) });
    }
    try {
      const peers = o.quick ? 50 : 300;
      handshakeProfile = await profileHandshakes(peers);
      o.log(
        `handshake profile: ${handshakeProfile.top.map((e) => `${e.fn} ${e.pct.toFixed(1)}%`).join(', ')}`,
      );
    } catch (err) {
      notMeasured.push({
        figure: 'CPU profile of srmudp handshakes',
        reason: String((err as Error).message ?? err),
      });
    }
  } else skipped('CPU profile of srmudp P1');

  const p2 = want('P2')
    ? await runP2({
        warmupSeconds: o.p2WarmupSeconds,
        windowSeconds: o.p2WindowSeconds,
        ...(o.p2Variants ? { variants: o.p2Variants } : {}),
        log: o.log,
      })
    : null;
  if (!p2) skipped('P2 NAT lab goodput');
  else if (!p2.ran) notMeasured.push({ figure: 'P2 NAT lab goodput', reason: p2.reason ?? 'unknown' });
  else
    for (const row of p2.rows)
      if (row.error) notMeasured.push({ figure: `P2 ${row.variant}`, reason: row.error });

  const p3 = want('P3') ? await runP3({ repeat: o.p3Repeat, log: o.log }) : null;
  if (!p3) skipped('P3 connect time eim × eim');
  else if (!p3.ran) notMeasured.push({ figure: 'P3 connect time eim × eim', reason: p3.reason ?? 'unknown' });

  // every P4 run (the main one, the scaling points, the variant) takes the same batches
  const p4Batches = { warmupBatches: o.p4WarmupBatches, steadyBatches: o.p4SteadyBatches };
  const p4 = want('P4')
    ? await runP4({
        peers: o.p4Peers,
        clientProcesses: o.p4ClientProcesses,
        concurrency: o.p4Concurrency,
        idleSeconds: o.p4IdleSeconds,
        ...p4Batches,
        log: o.log,
      })
    : null;
  if (p4) {
    for (const peers of o.p4ScalePeers) {
      if (peers === o.p4Peers) continue;
      const extra = await runP4({
        peers,
        clientProcesses: Math.min(o.p4ClientProcesses, Math.max(1, Math.ceil(peers / 50))),
        concurrency: o.p4Concurrency,
        idleSeconds: o.p4IdleSeconds,
        ...p4Batches,
        protos: ['srmudp'],
        log: o.log,
      });
      p4.scaling.push(...extra.rows);
    }
    // whether the DoS policy's cookie round trip costs P4's clients anything: the same batches
    // with cookies never asked for (since 2026-12-07 the defaults ask P4's clients for none)
    const variant = await runP4({
      peers: o.p4Peers,
      clientProcesses: o.p4ClientProcesses,
      concurrency: o.p4Concurrency,
      // (its handshakes are the figure: a short idle window)
      idleSeconds: Math.min(3, o.p4IdleSeconds),
      ...p4Batches,
      protos: ['srmudp'],
      cookieThreshold: P4_COOKIES_OFF_THRESHOLD,
      log: o.log,
    });
    p4.variants = variant.rows;
  }
  if (!p4) skipped('P4 many peers on one node');
  for (const row of p4?.rows ?? [])
    if (row.error) notMeasured.push({ figure: `P4 ${row.proto}`, reason: row.error });

  const partial: Omit<Report, 'summary'> = {
    schema: 'srmudp-perf/1',
    generatedAt: new Date().toISOString(),
    mode: o.quick ? 'quick' : 'full',
    command: o.command,
    wallSeconds: (performance.now() - t0) / 1000,
    machine,
    source,
    p1,
    profile,
    handshakeProfile,
    p2,
    p3,
    p4,
    python: pythonComparison(p1),
    notMeasured,
  };
  return { ...partial, summary: buildSummary(partial) };
}

/** JSON with non-finite numbers as null (JSON has no NaN). */
export function reportJson(r: Report): string {
  return `${JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

export function writeReport(r: Report, dir: string): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const md = join(dir, 'performance.md');
  const json = join(dir, 'performance.json');
  writeFileSync(md, renderMarkdown(r));
  writeFileSync(json, reportJson(r));
  return { md, json };
}
