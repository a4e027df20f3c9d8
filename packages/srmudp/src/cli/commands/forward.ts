import { createServer } from 'node:net';
import { parseCard } from '@srmudp/rendezvous';
import { createNode } from '../../create-node.js';
import type { PeerEvent } from '../../node.js';
import { CliError, type Command, EXIT, intOption, NODE_OPTIONS, untilInterrupted } from '../common.js';
import { ControlServer } from '../control.js';
import {
  CONNECT_TIMEOUT_OPTION,
  connectTimeoutOption,
  DEFAULT_CONNECT_TIMEOUT_MS,
  JSON_OPTION,
  RENDEZVOUS_OPTION,
} from '../options.js';
import { style } from '../style.js';
import { splice, TUNNEL_IDENTITY_HELP, tunnelNodeOptions } from '../tunnel.js';
import { EXPOSE_APP } from './expose.js';

const forwardOptions = {
  ...NODE_OPTIONS,
  listen: { type: 'string', short: 'l' },
  ...RENDEZVOUS_OPTION,
  ...CONNECT_TIMEOUT_OPTION,
  ...JSON_OPTION,
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
    ...TUNNEL_IDENTITY_HELP,
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
    const connectTimeout = connectTimeoutOption(values) ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const node = await createNode({
      ...tunnelNodeOptions(values, { publish: false }),
      acceptUnknown: false,
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
    await untilInterrupted();
    server.close();
    control?.close();
    await node.close();
    return EXIT.ok;
  },
};
