import { rmSync } from 'node:fs';
import { CliError, type Command, EXIT } from '../common.js';
import { type ControlSnapshot, listControlSockets, queryControl } from '../control.js';
import { formatBytes, formatDuration, formatRtt } from '../format.js';
import { runDir } from '../home.js';
import { JSON_OPTION } from '../options.js';
import { style } from '../style.js';

const options = {
  socket: { type: 'string' },
  ...JSON_OPTION,
} as const;

export const statusCommand: Command<typeof options> = {
  name: 'status',
  summary: 'peers, paths and figures of the srmudp commands running as you (through their control sockets)',
  usage: '[--socket <path>] [--json]',
  options,
  optionHelp: [
    ['socket <path>', 'ask this control socket only (default: every one in ~/.srmudp/run)'],
    ['json', 'print the answers as a JSON array'],
  ],
  notes: [
    'Every running send, receive, chat, pipe, expose and forward listens on a Unix socket',
    '<SRMUDP_HOME or ~/.srmudp>/run/<command>-<pid>.sock (folder 0700, socket 0600: only you can',
    'ask). Sockets of commands that died are removed.',
  ],
  examples: ['srmudp status', "srmudp status --json | jq '.[].peers'"],
  exits: [
    [EXIT.ok, 'printed (also when nothing runs)'],
    [EXIT.usage, 'usage error'],
    [EXIT.peer, '--socket given and it does not answer'],
  ],
  async run({ values, positionals }) {
    if (positionals.length > 0)
      throw new CliError(EXIT.usage, `unexpected argument "${positionals[0]}"`, { pointToHelp: true });
    const paths = values.socket !== undefined ? [values.socket] : listControlSockets();
    const answers: ControlSnapshot[] = [];
    for (const p of paths) {
      try {
        answers.push(await queryControl(p));
      } catch (e) {
        if (values.socket !== undefined) throw new CliError(EXIT.peer, `${p}: ${(e as Error).message}`);
        const code = (e as { code?: string }).code;
        if (code === 'ECONNREFUSED' || code === 'ENOENT') rmSync(p, { force: true }); // its process is gone
      }
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify(answers, null, 1)}\n`);
      return EXIT.ok;
    }
    if (answers.length === 0) {
      process.stdout.write(`no srmudp command is running (no control socket answers in ${runDir()})\n`);
      return EXIT.ok;
    }
    const s = style(process.stdout);
    for (const a of answers) {
      const drops = Object.entries(a.stats.endpoint as unknown as Record<string, unknown>)
        .filter(([k, v]) => /drop/i.test(k) && typeof v === 'number' && v > 0)
        .map(([k, v]) => `${k} ${v}`);
      process.stdout.write(
        `${s.bold(`${a.command} (pid ${a.pid})`)} ${a.peerId.slice(0, 12)}… on ${a.address.host}:${a.address.port}, up ${formatDuration(a.uptimeMs / 1000)}, crypto ${a.cryptoBackend}\n`,
      );
      const detail = Object.entries(a.detail)
        .filter(([, v]) => typeof v !== 'object')
        .map(([k, v]) => `${k} ${String(v)}`);
      if (detail.length > 0) process.stdout.write(`  ${detail.join(', ')}\n`);
      if (drops.length > 0) process.stdout.write(`  dropped: ${drops.join(', ')}\n`);
      if (a.peers.length === 0) {
        process.stdout.write('  no peers\n');
        continue;
      }
      const rows = [['peer', 'state', 'path', 'rtt', 'min rtt', 'loss', 'sent', 'received', 'last error']];
      for (const p of a.peers) {
        rows.push([
          p.name === p.peerId ? `${p.name.slice(0, 12)}…` : p.name,
          p.state,
          !p.path
            ? '-'
            : p.path.kind === 'relayed'
              ? `relayed via ${p.path.via.slice(0, 12)}…`
              : `direct ${p.path.address.host}:${p.path.address.port}`,
          p.rttMs !== null ? formatRtt(p.rttMs) : '-',
          p.minRttMs !== null ? formatRtt(p.minRttMs) : '-',
          p.lossRate !== null ? `${(p.lossRate * 100).toFixed(1)}%` : '-',
          formatBytes(p.bytesSent),
          formatBytes(p.bytesReceived),
          p.lastError ? p.lastError.code : '',
        ]);
      }
      const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
      for (const r of rows)
        process.stdout.write(
          `  ${r
            .map((c, i) => c.padEnd(widths[i] ?? 0))
            .join('  ')
            .trimEnd()}\n`,
        );
    }
    return EXIT.ok;
  },
};
