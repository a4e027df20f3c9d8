import { CodeOffer, codePassword, formatCode } from '../code/code.js';
import { CodeGate } from '../code/pake.js';
import {
  CliError,
  type Command,
  EXIT,
  NODE_OPTION_HELP,
  NODE_OPTIONS,
  nodeOptionsFrom,
  onInterrupt,
} from '../common.js';
import { ControlServer } from '../control.js';
import { formatBytes } from '../format.js';
import {
  CODE_ATTEMPTS_OPTION,
  codeAttemptsOption,
  JSON_OPTION,
  RENDEZVOUS_OPTION,
  rendezvousServer,
} from '../options.js';
import { errorMessage, FileSender } from '../send/sender.js';
import { style } from '../style.js';

const options = {
  ...NODE_OPTIONS,
  once: { type: 'boolean' },
  ...RENDEZVOUS_OPTION,
  ...CODE_ATTEMPTS_OPTION,
  ...JSON_OPTION,
} as const;

export const sendCommand: Command<typeof options> = {
  name: 'send',
  summary: 'serve one file to whoever has its card or short code (progress, resume, SHA-256)',
  usage: '<file> [options]',
  options,
  optionHelp: [
    ...NODE_OPTION_HELP,
    ['once', 'exit after the first receiver that got the whole file disconnects'],
    [
      'rendezvous <server>',
      'print a short code instead of a card, offered on this rendezvous server (or SRMUDP_RENDEZVOUS)',
    ],
    ['code-attempts <n>', 'withdraw the code after this many failed code checks (default 3)'],
    ['json', 'print {"card"} or {"code"} as one JSON line on stdout (logs stay on stderr)'],
  ],
  notes: [
    'Without --rendezvous the card (one long word) is what the receiver needs; whoever has it can',
    'fetch the file. With a rendezvous server the short code (7-ember-walrus@server) is enough: the',
    'receiver must prove it knows the words (a PAKE inside the encrypted session) before anything is',
    'served; a wrong guess costs an attempt. There is no public default server: run your own',
    '(npx srmudp-rendezvous-http, see the README) and give its address to both sides.',
  ],
  examples: [
    'srmudp send report.pdf',
    'srmudp send report.pdf --rendezvous rv.example.org --once',
    'SRMUDP_RENDEZVOUS=http://127.0.0.1:8080 srmudp send big.iso',
  ],
  exits: [
    [EXIT.ok, 'stopped with Ctrl-C, or --once delivered'],
    [EXIT.failed, 'cannot start: unreadable file or key, port in use, rendezvous server unreachable'],
    [EXIT.usage, 'usage error'],
    [EXIT.verify, 'the code was withdrawn after too many failed code checks (someone guessing?)'],
  ],
  async run({ values, positionals }) {
    if (positionals.length !== 1)
      throw new CliError(EXIT.usage, 'expected exactly one file', { pointToHelp: true });
    const server = rendezvousServer(values);
    const attempts = codeAttemptsOption(values);
    const s = style(process.stderr);
    const log = (l: string) => process.stderr.write(`${s.dim(l)}\n`);
    let sender: FileSender;
    try {
      sender = await FileSender.start({ file: positionals[0] as string, ...nodeOptionsFrom(values), log });
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT')
        throw new CliError(EXIT.failed, `${positionals[0]}: no such file`);
      throw e;
    }
    let offer: CodeOffer | null = null;
    let exitCode: number = EXIT.ok;
    let finish: (code: number) => void = () => {};
    const finished = new Promise<number>((r) => {
      finish = r;
    });
    try {
      if (server !== undefined) {
        offer = await CodeOffer.create(server, sender.node.candidates());
        const o = offer;
        sender.gate = await CodeGate.create(sender.node.peerId, codePassword(o.code), attempts, () => {
          process.stderr.write(
            `${s.red('too many failed code checks')}: code ${o.code.nameplate} withdrawn (someone may be guessing); start again for a new code\n`,
          );
          finish(EXIT.verify);
        });
      }
    } catch (e) {
      await sender.close();
      throw e;
    }
    const control = await ControlServer.start(sender.node, 'send', () => ({
      file: sender.info.name,
      size: sender.info.size,
      sha256: sender.info.sha256,
      transfers: sender.transfers,
      ...(offer ? { code: offer.code.nameplate, codeFailures: sender.gate?.failures ?? 0 } : {}),
    }));
    const a = sender.node.address();
    const code = offer ? formatCode(offer.code) : null;
    const card = offer ? null : sender.card();
    process.stderr.write(
      `serving ${sender.info.name} (${formatBytes(sender.info.size)}, sha256 ${sender.info.sha256})\n` +
        `listening on ${a.host}:${a.port} as ${sender.node.peerId}\n`,
    );
    if (values.json) process.stdout.write(`${JSON.stringify(code ? { code } : { card })}\n`);
    else if (code) {
      process.stdout.write(`short code: ${s.bold(code)}\n`);
      process.stderr.write(`on the receiving side run:  srmudp receive ${code}\n`);
    } else {
      process.stdout.write(`contact card:\n${card}\n`);
      process.stderr.write(`on the receiving side run:  srmudp receive ${card}\n`);
    }
    const stopInterrupt = onInterrupt(() => finish(EXIT.ok));
    if (values.once) {
      sender.onDelivered = () => {
        process.stderr.write('delivered once: exiting (--once)\n');
        finish(EXIT.ok);
      };
    }
    try {
      exitCode = await finished;
    } finally {
      stopInterrupt();
      control?.close();
      await offer?.withdraw();
      await sender.close().catch((e: unknown) => log(errorMessage(e)));
    }
    return exitCode;
  },
};
