#!/usr/bin/env node
import { readFileSync } from 'node:fs';
/**
 * srmudp-perf: measures srmudp against its references and writes docs/performance.md + .json.
 *   node dist/main.js [--quick] [--only P1,profile,P2,P3,P4] [--out DIR] [--p1-mib N] [--repeat N]
 *                     [--peers N] [--idle S] [--p2-window S]
 */
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSummary, type Report } from './report.js';
import { defaultOptions, FIGURES, type Figure, runReport, writeReport } from './run.js';
import { MiB } from './stats.js';

const USAGE = `usage: srmudp-perf [options]
  --quick            short smoke run (small sizes, 1 repeat)
  --only LIST        comma-separated subset of ${FIGURES.join(',')}
  --out DIR          where performance.md and performance.json go (default: the repository's docs/;
                     with --quick: $TMPDIR/srmudp-perf-quick, so a smoke run never replaces the report)
  --p1-mib N         P1 transfer size in MiB (default 256, quick 16)
  --repeat N         P1 repeats per implementation (default 5, quick 1)
  --profile-mib N    size of the profiled srmudp transfer (default 128, quick 16)
  --p2-window S      P2 measurement window in seconds (default 12, quick 3)
  --p3-repeat N      P3 repeats (default 5, quick 1)
  --peers N          P4 connections (default 1000, quick 100)
  --idle S           P4 idle window for keepalive CPU in seconds (default 30, quick 3)
  --p4-warmup N      P4 warm-up batches of --peers connections (connect, close, dropped) after the
                     cold batch, discarded (default 3, quick 0)
  --p4-steady N      P4 steady-state batches after the warm-up; the warm figures are their medians
                     (default 5, quick 1; 0 = cold figures only)
  --render FILE      only re-render performance.md from an earlier run's performance.json, and
                     its summary lines (their wording follows the current code; the figures stay)
  -h, --help`;

function positive(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`--${name} expected a positive number, got ${v}`);
  return n;
}

async function main(): Promise<number> {
  // `pnpm report -- --quick` passes the `--` through: accept it
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
      'p1-mib': { type: 'string' },
      repeat: { type: 'string' },
      'profile-mib': { type: 'string' },
      'p2-window': { type: 'string' },
      'p3-repeat': { type: 'string' },
      peers: { type: 'string' },
      idle: { type: 'string' },
      'p4-warmup': { type: 'string' },
      'p4-steady': { type: 'string' },
      render: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.render) {
    // re-render the markdown of an earlier run from its JSON (wording changes without re-measuring):
    // the summary lines are built again from the stored rows, so their texts follow the code too
    const stored = JSON.parse(readFileSync(values.render, 'utf8')) as Report;
    const report: Report = { ...stored, summary: buildSummary(stored) };
    const files = writeReport(report, values.out ?? dirname(values.render));
    console.log(`wrote ${files.md} and ${files.json} from ${values.render}`);
    return 0;
  }
  const o = defaultOptions(values.quick);
  if (values.only) {
    const only = values.only.split(',').map((s) => s.trim());
    for (const f of only)
      if (!FIGURES.includes(f as Figure)) throw new RangeError(`--only: unknown figure ${f}`);
    o.only = only as Figure[];
  }
  o.p1Bytes = Math.round(positive('p1-mib', values['p1-mib'], o.p1Bytes / MiB) * MiB);
  o.p1Repeat = Math.round(positive('repeat', values.repeat, o.p1Repeat));
  o.profileBytes = Math.round(positive('profile-mib', values['profile-mib'], o.profileBytes / MiB) * MiB);
  o.p2WindowSeconds = positive('p2-window', values['p2-window'], o.p2WindowSeconds);
  o.p3Repeat = Math.round(positive('p3-repeat', values['p3-repeat'], o.p3Repeat));
  o.p4Peers = Math.round(positive('peers', values.peers, o.p4Peers));
  o.p4IdleSeconds = positive('idle', values.idle, o.p4IdleSeconds);
  if (values['p4-warmup'] !== undefined) {
    const w = Number(values['p4-warmup']);
    if (!Number.isInteger(w) || w < 0 || w > 10)
      throw new RangeError(`--p4-warmup expected an integer 0..10, got ${values['p4-warmup']}`);
    o.p4WarmupBatches = w;
  }
  if (values['p4-steady'] !== undefined) {
    const s = Number(values['p4-steady']);
    if (!Number.isInteger(s) || s < 0 || s > 20)
      throw new RangeError(`--p4-steady expected an integer 0..20, got ${values['p4-steady']}`);
    o.p4SteadyBatches = s;
  }
  o.command = values.quick ? 'srmudp-perf --quick' : o.command;
  o.log = (s) => console.error(`[perf ${new Date().toISOString().slice(11, 19)}] ${s}`);
  // a smoke run must not overwrite the committed full report
  const out =
    values.out ??
    (values.quick
      ? join(tmpdir(), 'srmudp-perf-quick')
      : fileURLToPath(new URL('../../../docs/', import.meta.url)));
  const report = await runReport(o);
  const files = writeReport(report, out);
  console.log(`wrote ${files.md} and ${files.json} (${report.wallSeconds.toFixed(0)} s)`);
  for (const l of report.summary) {
    console.log(
      `  ${l.figure}: ${l.srmudp.toFixed(2)} ${l.unit} vs ${l.referenceName} ${l.reference.toFixed(2)} → ${l.ratio.toFixed(3)}×`,
    );
  }
  for (const n of report.notMeasured) console.log(`  not measured: ${n.figure}: ${n.reason}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
