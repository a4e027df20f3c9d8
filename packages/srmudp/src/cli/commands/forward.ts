import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import { parseCard } from '@srmudp/rendezvous';
import { httpBackend } from '@srmudp/rendezvous-http';
import type { Connection } from '../../connection.js';
import { createNode, type PeerEvent } from '../../node.js';
import type { SrmudpStream } from '../../stream.js';
import { originOf } from '../code/code.js';
import {
  CARD_GATHER_WAIT_MS,
  CliError,
  type Command,
  cliLog,
  EXIT,
  intOption,
  NODE_OPTION_HELP,
  NODE_OPTIONS,
  nodeOptionsFrom,
  onInterrupt,
} from '../common.js';
import { ControlServer } from '../control.js';
import { defaultKeyFile } from '../home.js';
import { style } from '../style.js';

/** The app tag of expose cards. */
export const EXPOSE_APP = 'srmudp-expose/1';

const identityHelp = NODE_OPTION_HELP.map(([k, v]): [string, string] =>
  k.startsWith('identity') ? [k, 'key file (default: ~/.srmudp/id.key, the one `srmudp id` shows)'] : [k, v],
);

/** Splices a TCP socket and an srmudp stream both ways; either side's end or error ends both. */
function splice(tcp: Socket, stream: SrmudpStream, counts: { up: number; down: number }): void {
  tcp.on('data', (c: Buffer) => {
    counts.up += c.length;
  });
  stream.on('data', (c: Buffer) => {
    counts.down += c.length;
  });
  tcp.pipe(stream);
  stream.pipe(tcp);
  const kill = () => {
    tcp.destroy();
    stream.destroy();
  };
  tcp.on('error', kill);
  stream.on('error', kill);
  tcp.on('close', () => {
    if (!stream.writableEnded) stream.end();
  });
}

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
  rendezvous: { type: 'string' },
  json: { type: 'boolean' },
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
    ...identityHelp,
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
    const nodeOpts = nodeOptionsFrom(values);
    const node = await createNode({
      ...nodeOpts,
      identity: nodeOpts.identity ?? defaultKeyFile('id'),
      ...(allow.length > 0 ? { allow } : {}),
      ...(values.rendezvous !== undefined
        ? { rendezvous: [httpBackend({ url: originOf(values.rendezvous) })] }
        : {}),
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
    await new Promise<void>((resolve) => {
      const stop = onInterrupt(() => {
        stop();
        resolve();
      });
    });
    control?.close();
    await node.close();
    return EXIT.ok;
  },
};

const forwardOptions = {
  ...NODE_OPTIONS,
  listen: { type: 'string', short: 'l' },
  rendezvous: { type: 'string' },
  'connect-timeout': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** '8080', '127.0.0.1:8080', '[::1]:8080' → host and port. */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(text.trim());
  if (!m) throw new CliError(EXIT.usage, `--listen expects [host:]port, got "${text}"`);
  const port = intOption('listen', m[3], 0, 65535) as number;
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

export const forwardCommand: Command<typeof forwardOptions> = {
  name: 'forward',
  summary: "listen on a local TCP port and carry each connection to a peer's `srmudp expose` through srmudp",
  usage: '<card> [--listen [host:]port] [options]',
  options: forwardOptions,
  optionHelp: [
    [
      'listen, -l <[host:]port>',
      'local TCP address to listen on (default 127.0.0.1:0: any free port, printed)',
    ],
    ['connect-timeout <ms>', 'how long a TCP connection waits for the peer (default 15000)'],
    ['rendezvous <server>', 'rendezvous server to resolve a card that names one'],
    ['json', 'print {"listen":"host:port"} as one JSON line on stdout once listening'],
    ...identityHelp,
  ],
  notes: [
    "Your peer id (`srmudp id`) must be on the exposing side's allow-list. The connection to the",
    'peer is kept and redialled when lost; each TCP connection is one encrypted srmudp stream.',
  ],
  examples: ['srmudp forward srmudp2:Qm9… --listen 8080   # then: curl http://127.0.0.1:8080/'],
  exits: [
    [EXIT.ok, 'stopped with Ctrl-C'],
    [EXIT.failed, 'cannot start: key file, TCP or UDP port in use'],
    [EXIT.usage, 'usage error, invalid card, or a card of another program'],
  ],
  async run({ values, positionals }) {
    if (positionals.length === 0)
      throw new CliError(EXIT.usage, 'expected the card of the exposing peer', { pointToHelp: true });
    const card = positionals.join('');
    const parsed = parseCard(card);
    if (parsed.app !== undefined && parsed.app !== EXPOSE_APP)
      throw new CliError(EXIT.usage, `that card is for ${parsed.app}, not an exposed port (srmudp expose)`);
    const listen = parseListen(values.listen ?? '127.0.0.1:0');
    const connectTimeout = intOption('connect-timeout', values['connect-timeout'], 100, 600_000) ?? 15_000;
    const nodeOpts = nodeOptionsFrom(values);
    const node = await createNode({
      ...nodeOpts,
      identity: nodeOpts.identity ?? defaultKeyFile('id'),
      acceptUnknown: false,
      ...(values.rendezvous !== undefined
        ? { rendezvous: [httpBackend({ url: originOf(values.rendezvous) })], publish: false }
        : {}),
    });
    const s = style(process.stderr);
    node.on('peer', (e: PeerEvent) => {
      if (e.state === 'connecting')
        process.stderr.write(
          s.dim(
            `connecting to ${parsed.peerIdText.slice(0, 12)} (${e.addresses} address${e.addresses === 1 ? '' : 'es'})…\n`,
          ),
        );
      else if (e.state === 'established')
        process.stderr.write(`${s.green('connected')} to ${parsed.peerIdText.slice(0, 12)}\n`);
      else if (e.state === 'reconnecting' && e.error)
        process.stderr.write(
          s.yellow(
            `cannot reach ${parsed.peerIdText.slice(0, 12)}: ${e.error.code} (${e.error.message}); again in ${e.retryInMs} ms\n`,
          ),
        );
    });
    node.peers.add({ remote: card });
    const counts = { up: 0, down: 0, streams: 0, open: 0 };
    const server = createServer((tcp) => {
      tcp.pause();
      counts.open++;
      tcp.on('close', () => {
        counts.open--;
      });
      tcp.on('error', () => {});
      node.peers.ready('remote', { timeout: connectTimeout }).then(
        (conn) => {
          counts.streams++;
          const stream = conn.openStream();
          splice(tcp, stream, counts);
          tcp.resume();
        },
        (e: unknown) => {
          process.stderr.write(
            s.yellow(
              `TCP connection dropped: ${(e as Error).message} (is your peer id ${node.peerId.slice(0, 12)}… on the other side's allow-list?)\n`,
            ),
          );
          tcp.destroy();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'EADDRINUSE'
            ? new CliError(EXIT.failed, `TCP ${listen.host}:${listen.port} is already in use`)
            : new CliError(EXIT.failed, `cannot listen on TCP ${listen.host}:${listen.port}: ${e.message}`),
        ),
      );
      server.listen(listen.port, listen.host, () => resolve());
    }).catch(async (e: unknown) => {
      await node.close();
      throw e;
    });
    const addr = server.address() as { address: string; port: number };
    const where = `${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
    const control = await ControlServer.start(node, 'forward', () => ({
      listen: where,
      to: parsed.peerIdText,
      ...counts,
    }));
    process.stderr.write(`forwarding TCP ${where} to ${parsed.peerIdText.slice(0, 12)} as ${node.peerId}\n`);
    if (values.json) process.stdout.write(`${JSON.stringify({ listen: where })}\n`);
    else process.stdout.write(`listening on ${where}\n`);
    await new Promise<void>((resolve) => {
      const stop = onInterrupt(() => {
        stop();
        resolve();
      });
    });
    server.close();
    control?.close();
    await node.close();
    return EXIT.ok;
  },
};
