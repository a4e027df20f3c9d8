import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { peerIdToString } from '@srmudp/crypto';
import { loadOrCreateIdentity } from '@srmudp/crypto-node';
import { encodeCard, type Locator, Rendezvous } from '@srmudp/rendezvous';
import { localInterfaces } from '@srmudp/transport-node';
import { originOf } from '../code/code.js';
import { CliError, type Command, EXIT, intOption } from '../common.js';
import { defaultKeyFile } from '../home.js';
import { JSON_OPTION, RENDEZVOUS_OPTION } from '../options.js';
import { style } from '../style.js';

const options = {
  identity: { type: 'string' },
  port: { type: 'string' },
  ...RENDEZVOUS_OPTION,
  name: { type: 'string' },
  ...JSON_OPTION,
} as const;

export const idCommand: Command<typeof options> = {
  name: 'id',
  summary: 'create or show your identity (an Ed25519 key file, mode 0600) and print its contact card',
  usage: '[options]',
  options,
  optionHelp: [
    ['identity <key file>', 'the key file (default: ~/.srmudp/id.key; created if missing)'],
    ['rendezvous <server>', 'card with this rendezvous server as locator: stable as long as the key is'],
    [
      'port <n>',
      'card with the signed addresses of this machine at this UDP port (for a node you run with --port n)',
    ],
    ['name <label>', 'a label in the card (not authenticated)'],
    ['json', 'print {"peerId","keyFile","created","card"} as JSON'],
  ],
  notes: [
    'A card tells others where to find you. With --rendezvous it names the server where your nodes',
    'publish their current addresses (chat/send/expose --rendezvous with the same key); with --port',
    "it carries this machine's addresses for that port (valid 24 h). Without either only the peer id",
    'is printed.',
  ],
  examples: [
    'srmudp id',
    'srmudp id --identity ~/.srmudp/work.key --rendezvous rv.example.org',
    'srmudp id --port 7000 --json',
  ],
  exits: [
    [EXIT.ok, 'shown (or created and shown)'],
    [EXIT.failed, 'the key file cannot be read or created (permissions, format)'],
    [EXIT.usage, 'usage error'],
  ],
  async run({ values, positionals }) {
    if (positionals.length > 0)
      throw new CliError(EXIT.usage, `unexpected argument "${positionals[0]}"`, { pointToHelp: true });
    const port = intOption('port', values.port, 1, 65535);
    const file = values.identity ?? defaultKeyFile('id');
    const existed = await stat(file).then(
      () => true,
      () => false,
    );
    if (!existed) await mkdir(dirname(file), { recursive: true, mode: 0o700 }); // a new identity's folder
    const identity = await loadOrCreateIdentity(file);
    const peerId = peerIdToString(identity.publicKey);
    let card: string | null = null;
    const name = values.name !== undefined ? { name: values.name } : {};
    if (values.rendezvous !== undefined) {
      const locators: Locator[] = [{ backend: 'http', url: originOf(values.rendezvous) }];
      card = encodeCard({ peerId: identity.publicKey, locators, ...name });
    } else if (port !== undefined) {
      const rv = new Rendezvous({ backends: [], secretKey: identity.secret });
      const candidates = localInterfaces({ internal: true, family: 'IPv4' })
        .sort((a, b) => Number(a.internal) - Number(b.internal))
        .slice(0, 8)
        .map((a) => ({
          kind: 'host' as const,
          family: a.family === 'IPv4' ? (4 as const) : (6 as const),
          host: a.host,
          port,
        }));
      const record = rv.sign({ candidates }, { ttlMs: 24 * 3600_000 }).bytes;
      card = encodeCard({ peerId: identity.publicKey, locators: [], record, ...name });
      await rv.close();
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ peerId, keyFile: file, created: !existed, card })}\n`);
      return EXIT.ok;
    }
    const s = style(process.stdout);
    process.stdout.write(
      `${existed ? 'identity' : s.green('new identity')} ${file} (mode 0600)\npeer id ${s.bold(peerId)}\n`,
    );
    if (card) process.stdout.write(`contact card:\n${card}\n`);
    else
      process.stdout.write(
        s.dim(
          "for a contact card add --rendezvous <server> (stable) or --port <n> (this machine's addresses)\n",
        ),
      );
    return EXIT.ok;
  },
};
