import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { clearLine, createInterface, cursorTo } from 'node:readline';
import { Chat } from '../chat/chat.js';
import { HELP } from '../chat/input.js';
import { INTRODUCTION_POLICIES, type IntroductionPolicy } from '../chat/introductions.js';
import { CliError, type Command, EXIT, NODE_OPTION_HELP, NODE_OPTIONS, nodeOptionsFrom } from '../common.js';
import { ControlServer } from '../control.js';
import { defaultKeyFile } from '../home.js';
import { RENDEZVOUS_OPTION } from '../options.js';
import { style } from '../style.js';

const options = {
  ...NODE_OPTIONS,
  name: { type: 'string', short: 'n' },
  join: { type: 'string', multiple: true },
  'peers-file': { type: 'string' },
  introductions: { type: 'string' },
  ...RENDEZVOUS_OPTION,
} as const;

export const chatCommand: Command<typeof options> = {
  name: 'chat',
  summary: 'a terminal group chat: join others by their contact card, talk to all or to one',
  usage: '[--name <nick>] [--join <card>]... [options]',
  options,
  optionHelp: [
    ['name, -n <nick>', 'your nickname (default: your user name)'],
    ['join <card>', 'join a peer at start (repeatable)'],
    ...NODE_OPTION_HELP.map(([k, v]): [string, string] =>
      k.startsWith('identity') ? [k, 'key file (default: ~/.srmudp/<nick>.key, created mode 0600)'] : [k, v],
    ),
    ['peers-file <path>', 'cards of joined peers, rejoined at start (default: <identity>.peers.json)'],
    [
      'introductions <auto|ask|off>',
      'follow the peers your joined peers introduce (default auto: rate-limited)',
    ],
    [
      'rendezvous <server>',
      'publish on this rendezvous server: your card then stays the same across restarts',
    ],
  ],
  notes: [
    'in-chat commands:',
    ...HELP.slice(1),
    '',
    'A peer that quits is shown as left at once; one that crashes after --idle-timeout (default 15 s).',
  ],
  examples: ['srmudp chat --name alice', 'srmudp chat --name bob --join srmudp2:KJ3m0t9x…'],
  exits: [
    [EXIT.ok, 'you quit (/quit, Ctrl-D, Ctrl-C)'],
    [EXIT.failed, 'cannot start: key file, port in use, rendezvous server'],
    [EXIT.usage, 'usage error'],
  ],
  async run({ values, positionals }) {
    if (positionals.length > 0)
      throw new CliError(EXIT.usage, `unexpected argument "${positionals[0]}" (cards go after --join)`, {
        pointToHelp: true,
      });
    const nick = values.name ?? userInfo().username;
    const introductions = (values.introductions ?? 'auto') as IntroductionPolicy;
    if (!INTRODUCTION_POLICIES.includes(introductions))
      throw new CliError(
        EXIT.usage,
        `--introductions expects auto, ask or off, got "${values.introductions}"`,
      );
    const node = nodeOptionsFrom(values);
    const identity = node.identity ?? defaultKeyFile(nick);
    const idle = node.idleTimeoutMs ?? 15_000;
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
    const s = style(process.stdout);
    let rl: ReturnType<typeof createInterface> | null = null;
    /** prints above the prompt, keeping what the user is typing */
    const out = (line: string) => {
      if (rl && interactive) {
        clearLine(process.stdout, 0);
        cursorTo(process.stdout, 0);
        process.stdout.write(`${line}\n`);
        rl.prompt(true);
      } else process.stdout.write(`${line}\n`);
    };
    const peersFile = values['peers-file'] ?? `${identity}.peers.json`;
    let saved: string[] = [];
    try {
      const parsed: unknown = JSON.parse(readFileSync(peersFile, 'utf8'));
      if (Array.isArray(parsed)) saved = parsed.filter((c): c is string => typeof c === 'string');
    } catch {
      // no file yet (or unreadable): start with no saved peers
    }
    const savePeers = (cards: string[]) => {
      try {
        writeFileSync(`${peersFile}.tmp`, `${JSON.stringify(cards, null, 1)}\n`, { mode: 0o600 });
        renameSync(`${peersFile}.tmp`, peersFile);
      } catch (e) {
        out(s.red(`*** cannot save peers to ${peersFile}: ${e instanceof Error ? e.message : String(e)}`));
      }
    };
    const chat = await Chat.start({
      nick,
      identity,
      ...(node.host !== undefined ? { host: node.host } : {}),
      port: node.port ?? 0,
      idleTimeoutMs: idle,
      ...(node.stunServers !== undefined ? { stunServers: node.stunServers } : {}),
      out,
      onPeersChanged: savePeers,
      introductions,
      style: s,
      ...(values.rendezvous !== undefined ? { rendezvous: values.rendezvous } : {}),
    });
    const control = await ControlServer.start(chat.node, 'chat', () => ({ nick: chat.nick }));
    const a = chat.node.address();
    out(`${s.bold('srmudp chat')}: you are ${s.bold(chat.nick)} (peer id ${chat.node.peerId})`);
    out(`listening on ${a.host}:${a.port}, identity ${identity}`);
    out('your contact card (others join you with /join <card>):');
    out(chat.card());
    out(s.dim('type /help for commands'));
    if (saved.length > 0) out(`*** rejoining ${saved.length} saved peer(s) from ${peersFile}`);
    for (const c of saved) chat.join(c, { quiet: true });
    for (const c of values.join ?? []) chat.join(c);

    return new Promise<number>((resolve) => {
      let quitting = false;
      const quit = async () => {
        if (quitting) return;
        quitting = true;
        // the prompt must not stay on the last line: the shell's prompt would land on it
        const r = rl;
        rl = null;
        if (interactive) {
          clearLine(process.stdout, 0);
          cursorTo(process.stdout, 0);
        }
        process.stdout.write(`${s.dim('*** leaving')}\n`);
        r?.close();
        control?.close();
        await chat.close();
        resolve(EXIT.ok);
      };
      rl = createInterface({
        input: process.stdin,
        output: process.stdout,
        prompt: `${s.bold(s.cyan(`${chat.nick}>`))} `,
        terminal: interactive,
      });
      rl.on('line', (line) => {
        void chat.input(line).then(
          (go) => {
            if (!go) void quit();
            else if (!quitting) rl?.prompt();
          },
          (e: unknown) => out(s.red(`*** ${e instanceof Error ? e.message : String(e)}`)),
        );
      });
      rl.on('close', () => void quit());
      rl.on('SIGINT', () => void quit());
      process.on('SIGTERM', () => void quit());
      rl.prompt();
    });
  },
};
