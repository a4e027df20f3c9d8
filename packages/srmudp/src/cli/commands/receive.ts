import { looksLikeCode, parseCode, type ShortCode } from '../code/code.js';
import { type Command, EXIT, intOption, onInterrupt } from '../common.js';
import { formatBytes, formatRate, parseSize } from '../format.js';
import {
  CONNECT_TIMEOUT_OPTION,
  connectTimeoutOption,
  JSON_OPTION,
  RENDEZVOUS_OPTION,
  rendezvousServer,
} from '../options.js';
import { ProgressReporter } from '../progress.js';
import { readCard } from '../read-card.js';
import { ReceiveError, receiveFile } from '../send/receiver.js';
import { style } from '../style.js';

const options = {
  out: { type: 'string', short: 'o' },
  force: { type: 'boolean', short: 'f' },
  host: { type: 'string' },
  'idle-timeout': { type: 'string' },
  ...CONNECT_TIMEOUT_OPTION,
  'limit-rate': { type: 'string' },
  'progress-interval': { type: 'string' },
  ...RENDEZVOUS_OPTION,
  stun: { type: 'string', multiple: true },
  ...JSON_OPTION,
} as const;

export const receiveCommand: Command<typeof options> = {
  name: 'receive',
  summary: 'receive the file a `srmudp send` serves, by its card or short code (resume, SHA-256 check)',
  usage: '[<card> | <code> | -] [options]',
  options,
  optionHelp: [
    [
      'out, -o <file or dir/>',
      'where to write (default: the current folder, under the sender\'s file name); a path ending in "/" is a folder, created if missing',
    ],
    ['force, -f', 'overwrite an existing file'],
    ['host <address or name>', 'local address to bind (default 0.0.0.0)'],
    ['connect-timeout <ms>', 'give up reaching the sender after this long (default 15000)'],
    ['idle-timeout <ms>', 'the sender is lost after this long without a packet'],
    ['limit-rate <size/s>', 'at most this many bytes per second (4M, 512k)'],
    ['progress-interval <ms>', 'progress line interval when stderr is not a terminal (default 1000)'],
    ['rendezvous <server>', 'rendezvous server of a code written without "@server" (or SRMUDP_RENDEZVOUS)'],
    ['stun <host[:port]>', 'a STUN server for NAT traversal (repeatable)'],
    ['json', 'print the result as one JSON object on stdout'],
  ],
  notes: [
    'Without a card (or with -) the card or code is read from stdin: a card pasted over several lines',
    'is joined. The file goes to <out>.part first and is renamed once its SHA-256 matches; an',
    'interrupted transfer (Ctrl-C, lost network) resumes when the same command runs again.',
  ],
  examples: [
    'srmudp receive srmudp2:rYv1b6Xq9Vn3kT0w… --out downloads/',
    'srmudp receive 7-ember-walrus@rv.example.org',
    'srmudp receive < card.txt',
  ],
  exits: [
    [EXIT.ok, 'received and verified'],
    [EXIT.usage, 'usage error, invalid card or code, or a card of another program'],
    [EXIT.exists, 'the output exists (--force to overwrite); nothing was fetched'],
    [EXIT.peer, 'the sender is unreachable or was lost mid-way (.part kept: run again to resume)'],
    [EXIT.verify, 'SHA-256 mismatch (.part removed), or the short code did not match'],
    [EXIT.io, 'local I/O error: disk full, no permission, the output folder does not exist (.part kept)'],
    [EXIT.interrupted, 'interrupted (Ctrl-C): .part kept, run the same command again to resume'],
  ],
  async run({ values, positionals }) {
    const defaultServer = rendezvousServer(values);
    let text: string;
    if (positionals.length === 0 || (positionals.length === 1 && positionals[0] === '-')) {
      if (process.stdin.isTTY)
        process.stderr.write(
          "paste the sender's contact card or short code (a card may span several lines):\n",
        );
      try {
        text = await readCard(process.stdin, { codes: true });
      } catch (e) {
        throw new ReceiveError(EXIT.usage, (e as Error).message);
      }
    } else {
      // a card may have been split by a terminal: join the positionals; a code may be typed with spaces
      text = looksLikeCode(positionals.join(' ')) ? positionals.join(' ') : positionals.join('');
    }
    let code: ShortCode | undefined;
    if (looksLikeCode(text)) code = parseCode(text, defaultServer);
    const idle = intOption('idle-timeout', values['idle-timeout'], 500, 3_600_000);
    const connectTimeout = connectTimeoutOption(values);
    const interval = intOption('progress-interval', values['progress-interval'], 50, 600_000) ?? 1000;
    let limitRate: number | undefined;
    try {
      limitRate = values['limit-rate'] !== undefined ? parseSize(values['limit-rate']) : undefined;
    } catch (e) {
      throw new ReceiveError(EXIT.usage, `--limit-rate: ${(e as Error).message}`);
    }
    const s = style(process.stderr);
    const ac = new AbortController();
    const stopInterrupt = onInterrupt(() => ac.abort());
    let progress: ProgressReporter | null = null;
    try {
      const r = await receiveFile({
        ...(code ? { code } : { card: text }),
        ...(values.out !== undefined ? { out: values.out } : {}),
        force: values.force === true,
        ...(values.host !== undefined ? { host: values.host } : {}),
        ...(values.stun !== undefined ? { stunServers: values.stun } : {}),
        ...(idle !== undefined ? { idleTimeoutMs: idle } : {}),
        ...(connectTimeout !== undefined ? { connectTimeoutMs: connectTimeout } : {}),
        ...(limitRate !== undefined ? { limitRate } : {}),
        signal: ac.signal,
        onNotice: (l) => process.stderr.write(`${s.dim(l)}\n`),
        onInfo: (info, out, offset) => {
          process.stderr.write(
            `receiving ${info.name} (${formatBytes(info.size)}) into ${out}` +
              (offset > 0 ? `, resuming at ${formatBytes(offset)} (offset ${offset})\n` : '\n'),
          );
          progress = new ProgressReporter(info.size, offset, interval);
        },
        onProgress: (p) => (progress as ProgressReporter | null)?.update(p.done),
      });
      (progress as ProgressReporter | null)?.stop();
      if (values.json) process.stdout.write(`${JSON.stringify({ ok: true, ...r })}\n`);
      else
        process.stdout.write(
          `${s.green('received')} ${r.out}: ${r.size} bytes, sha256 ${r.sha256} verified; ` +
            `transferred ${r.transferred} bytes from offset ${r.offset} in ${(r.ms / 1000).toFixed(2)} s ` +
            `(${formatRate((r.transferred * 1000) / Math.max(r.ms, 1))})\n`,
        );
      return EXIT.ok;
    } catch (e) {
      (progress as ProgressReporter | null)?.stop();
      throw e;
    } finally {
      stopInterrupt();
    }
  },
};
