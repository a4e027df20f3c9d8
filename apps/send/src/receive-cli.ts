#!/usr/bin/env node
import { SingleBar } from 'cli-progress';
import { fail, intOption, parseCli } from './cli-util.js';
import { formatBytes, formatDuration, formatRate, parseSize } from './format.js';
import { readCard } from './read-card.js';
import { EXIT, type Progress, ReceiveError, receiveFile } from './receiver.js';

const PROG = 'srmudp-receive';
const USAGE = `usage: ${PROG} [<card> | -] [--out <file or dir>] [--force] [--host <address>]
                      [--idle-timeout <ms>] [--connect-timeout <ms>] [--limit-rate <bytes/s, e.g. 4M>]
                      [--progress-interval <ms>]
  without a card (or with -) the card is read from stdin; it may span several lines`;

const { values, positionals } = parseCli(PROG, USAGE, {
  out: { type: 'string', short: 'o' },
  force: { type: 'boolean', short: 'f' },
  host: { type: 'string' },
  'idle-timeout': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'limit-rate': { type: 'string' },
  'progress-interval': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
// a card may have been wrapped or split by a terminal: join every positional; none (or -) reads
// it from stdin, where a paste over several lines is joined back (an unquoted multi-line paste
// on a shell command line cannot work: the shell runs each line)
let card: string;
if (positionals.length === 0 || (positionals.length === 1 && positionals[0] === '-')) {
  if (process.stdin.isTTY)
    process.stderr.write("paste the sender's contact card (it may span several lines):\n");
  try {
    card = await readCard(process.stdin);
  } catch (e) {
    fail(PROG, (e as Error).message, EXIT.usage);
  }
} else card = positionals.join('');
const idle = intOption(PROG, 'idle-timeout', values['idle-timeout'], 500, 3_600_000);
const connectTimeout = intOption(PROG, 'connect-timeout', values['connect-timeout'], 100, 600_000);
const interval = intOption(PROG, 'progress-interval', values['progress-interval'], 50, 600_000) ?? 1000;
let limitRate: number | undefined;
try {
  limitRate = values['limit-rate'] !== undefined ? parseSize(values['limit-rate']) : undefined;
} catch (e) {
  fail(PROG, (e as Error).message, EXIT.usage);
}

const tty = process.stderr.isTTY === true;
let bar: SingleBar | null = null;
let lastLine = 0;
const rateOf = (p: Progress) => (p.transferred * 1000) / Math.max(p.elapsedMs, 1);
const etaOf = (p: Progress) => {
  const r = rateOf(p);
  return r > 0 ? (p.total - p.done) / r : Number.POSITIVE_INFINITY;
};

try {
  const r = await receiveFile({
    card,
    ...(values.out !== undefined ? { out: values.out } : {}),
    force: values.force === true,
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(idle !== undefined ? { idleTimeoutMs: idle } : {}),
    ...(connectTimeout !== undefined ? { connectTimeoutMs: connectTimeout } : {}),
    ...(limitRate !== undefined ? { limitRate } : {}),
    onNotice: (l) => process.stderr.write(`${l}\n`),
    onInfo: (info, out, offset) => {
      process.stderr.write(
        `receiving ${info.name} (${formatBytes(info.size)}) into ${out}` +
          (offset > 0 ? `, resuming at ${formatBytes(offset)} (offset ${offset})\n` : '\n'),
      );
      if (tty) {
        bar = new SingleBar({
          format: '[{bar}] {percentage}% | {doneText} / {totalText} | {rateText} | ETA {etaText}',
          barsize: 30,
          hideCursor: true,
          stream: process.stderr,
        });
        bar.start(info.size, offset, {
          doneText: formatBytes(offset),
          totalText: formatBytes(info.size),
          rateText: '',
          etaText: '--',
        });
      }
    },
    onProgress: (p) => {
      if (bar) {
        bar.update(p.done, {
          doneText: formatBytes(p.done),
          rateText: formatRate(rateOf(p)),
          etaText: formatDuration(etaOf(p)),
        });
        return;
      }
      if (p.elapsedMs - lastLine < interval && p.done < p.total) return;
      lastLine = p.elapsedMs;
      process.stderr.write(
        `progress ${p.done}/${p.total} bytes (${formatBytes(p.done)}, ${Math.floor((p.done * 100) / Math.max(p.total, 1))}%) ` +
          `${formatRate(rateOf(p))} ETA ${formatDuration(etaOf(p))}\n`,
      );
    },
  });
  (bar as SingleBar | null)?.stop();
  process.stdout.write(
    `received ${r.out}: ${r.size} bytes, sha256 ${r.sha256} verified; ` +
      `transferred ${r.transferred} bytes from offset ${r.offset} in ${(r.ms / 1000).toFixed(2)} s ` +
      `(${formatRate((r.transferred * 1000) / Math.max(r.ms, 1))})\n`,
  );
  process.exit(0);
} catch (e) {
  (bar as SingleBar | null)?.stop();
  if (tty) process.stderr.write('\n');
  if (e instanceof ReceiveError) fail(PROG, e.message, e.exitCode);
  fail(PROG, `unexpected error: ${e instanceof Error ? e.message : String(e)}`, 1);
}
