import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import type { Connection } from '../../connection.js';
import { createNode } from '../../create-node.js';
import type { SrmudpStream } from '../../stream.js';
import {
  CARD_GATHER_WAIT_MS,
  CliError,
  type Command,
  cliLog,
  EXIT,
  intOption,
  NODE_OPTIONS,
  untilInterrupted,
} from '../common.js';
import { ControlServer } from '../control.js';
import { JSON_OPTION, RENDEZVOUS_OPTION } from '../options.js';
import { style } from '../style.js';
import { splice, TUNNEL_IDENTITY_HELP, tunnelNodeOptions } from '../tunnel.js';

/** The app tag of expose cards. */
export const EXPOSE_APP = 'srmudp-expose/1';

/** Peer ids from --allow and --allow-file (one per line, '#' comments), checked. */
function allowList(values: { allow?: string[] | undefined; 'allow-file'?: string | undefined }): string[] {
  const ids = [...(values.allow ?? [])];
  if (values['allow-file'] !== undefined) {
    let text: string;
    try {
      text = readFileSync(values['allow-file'], 'utf8');
    } catch (e) {
      throw new CliError(EXIT.failed, `cannot read ${values['allow-file']}: ${(e as Error).message}`);
    }
    for (const line of text.split('\n')) {
      const t = line.replace(/#.*/, '').trim();
      if (t !== '') ids.push(t);
    }
  }
  return ids.map((id) => {
    try {
      return peerIdToString(parsePeerId(id));
    } catch (e) {
      throw new CliError(EXIT.usage, `--allow: "${id}" is not a peer id (${(e as Error).message})`);
    }
  });
}

const exposeOptions = {
  ...NODE_OPTIONS,
  to: { type: 'string' },
  allow: { type: 'string', multiple: true },
  'allow-file': { type: 'string' },
  'allow-anyone': { type: 'boolean' },
  ...RENDEZVOUS_OPTION,
  ...JSON_OPTION,
} as const;

export const exposeCommand: Command<typeof exposeOptions> = {
  name: 'expose',
  summary: 'make a local TCP port reachable by allowed peers through srmudp (they run `srmudp forward`)',
  usage: '<port> --allow <peer id>... [options]',
  options: exposeOptions,
  optionHelp: [
    ['to <host>', 'where the TCP service listens (default 127.0.0.1)'],
    ['allow <peer id>', 'a peer allowed to connect (repeatable; `srmudp id` shows yours)'],
    ['allow-file <path>', 'peer ids allowed to connect, one per line (# comments)'],
    ['allow-anyone', 'let anyone with the card connect (no allow-list)'],
    ['rendezvous <server>', 'publish on this rendezvous server: the card stays the same across restarts'],
    ['json', 'print {"card"} as one JSON line on stdout'],
    ...TUNNEL_IDENTITY_HELP,
  ],
  notes: [
    'Only the peers on the allow-list get past the handshake (their Noise static key is checked):',
    'without --allow/--allow-file you must say --allow-anyone. Each TCP connection of a forwarding',
    'peer becomes one encrypted srmudp stream to <to>:<port>.',
  ],
  examples: [
    'srmudp expose 8080 --allow pk2iykztti4jgifwgqqlg2mgjsmt2g2gfs2z2ybscszzj55qispbi7s3g4',
    'srmudp expose 22 --allow-file ~/.srmudp/allowed --rendezvous rv.example.org',
  ],
  exits: [
    [EXIT.ok, 'stopped with Ctrl-C'],
    [EXIT.failed, 'cannot start: key file, port in use, rendezvous server, unreadable allow file'],
    [EXIT.usage, 'usage error: no port, a bad peer id, no allow-list without --allow-anyone'],
  ],
  async run({ values, positionals }) {
    if (positionals.length !== 1)
      throw new CliError(EXIT.usage, 'expected the TCP port to expose', { pointToHelp: true });
    const port = intOption('port (argument)', positionals[0], 1, 65535) as number;
    const allow = allowList(values);
    if (allow.length === 0 && !values['allow-anyone'])
      throw new CliError(EXIT.usage, 'no --allow or --allow-file: say who may connect, or --allow-anyone');
    const toHost = values.to ?? '127.0.0.1';
    const node = await createNode({
      ...tunnelNodeOptions(values, { publish: true }),
      ...(allow.length > 0 ? { allow } : {}),
    });
    // the card we print carries our public NAT mapping: wait for the first gathering (bounded)
    await node.nat.ready({ timeoutMs: CARD_GATHER_WAIT_MS });
    const counts = { up: 0, down: 0, streams: 0, open: 0 };
    const control = await ControlServer.start(node, 'expose', () => ({
      to: `${toHost}:${port}`,
      allow,
      ...counts,
    }));
    const s = style(process.stderr);
    node.on('connection', (conn: Connection) => {
      process.stderr.write(`${s.green('peer')} ${conn.peerId.slice(0, 12)} connected\n`);
      conn.on('stream', (stream: SrmudpStream) => {
        counts.streams++;
        counts.open++;
        cliLog(`stream from ${conn.peerId.slice(0, 12)} -> ${toHost}:${port}`);
        const tcp = createConnection({ host: toHost, port });
        tcp.on('close', () => {
          counts.open--;
        });
        tcp.on('error', (e) =>
          process.stderr.write(`${s.yellow('cannot reach')} ${toHost}:${port}: ${e.message}\n`),
        );
        splice(tcp, stream, counts);
      });
      conn.once('close', (i: { reason: string }) =>
        process.stderr.write(`peer ${conn.peerId.slice(0, 12)} left${i.reason ? ` (${i.reason})` : ''}\n`),
      );
    });
    const card = node.contactCard({ app: EXPOSE_APP });
    const a = node.address();
    process.stderr.write(
      `exposing ${toHost}:${port} on ${a.host}:${a.port} as ${node.peerId}\n` +
        `allowed: ${allow.length > 0 ? allow.map((id) => id.slice(0, 12)).join(', ') : 'anyone with the card'}\n`,
    );
    if (values.json) process.stdout.write(`${JSON.stringify({ card })}\n`);
    else process.stdout.write(`contact card:\n${card}\n`);
    process.stderr.write(`on the other side run:  srmudp forward ${card} --listen 127.0.0.1:${port}\n`);
    await untilInterrupted();
    control?.close();
    await node.close();
    return EXIT.ok;
  },
};
