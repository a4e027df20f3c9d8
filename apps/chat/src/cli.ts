#!/usr/bin/env node
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { clearLine, createInterface, cursorTo } from 'node:readline';
import { parseArgs } from 'node:util';
import { Chat } from './chat.js';
import { INTRODUCTION_POLICIES, type IntroductionPolicy } from './introductions.js';

const PROG = 'srmudp-chat';
const USAGE = `usage: ${PROG} --name <nick> [--identity <key file>] [--host <address>] [--port <n>]
                   [--join <card>]... [--idle-timeout <ms>] [--peers-file <path>]
                   [--introductions auto|ask|off] [--rendezvous <http(s) origin>]
  identity default: ~/.srmudp/<nick>.key (created on first use, mode 0600)
  peers file default: <identity>.peers.json (the cards of joined peers, rejoined at start)
  introductions: follow the peers your joined peers introduce (auto, rate-limited), ask first, or never
  rendezvous: an srmudp-rendezvous-http server: your card then stays the same across restarts`;

function fail(message: string, code: number): never {
  process.stderr.write(`${PROG}: ${message}\n`);
  process.exit(code);
}

let args: ReturnType<
  typeof parseArgs<{
    options: {
      name: { type: 'string'; short: 'n' };
      identity: { type: 'string' };
      host: { type: 'string' };
      port: { type: 'string' };
      join: { type: 'string'; multiple: true };
      'idle-timeout': { type: 'string' };
      'peers-file': { type: 'string' };
      introductions: { type: 'string' };
      rendezvous: { type: 'string' };
      help: { type: 'boolean'; short: 'h' };
    };
    strict: true;
  }>
>;
try {
  args = parseArgs({
    options: {
      name: { type: 'string', short: 'n' },
      identity: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      join: { type: 'string', multiple: true },
      'idle-timeout': { type: 'string' },
      'peers-file': { type: 'string' },
      introductions: { type: 'string' },
      rendezvous: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
} catch (e) {
  fail(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`, 2);
}
const v = args.values;
if (v.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!v.name) fail(`--name is required\n${USAGE}`, 2);
const port = v.port === undefined ? 0 : Number(v.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port expects 0..65535, got "${v.port}"`, 2);
const idle = v['idle-timeout'] === undefined ? undefined : Number(v['idle-timeout']);
if (idle !== undefined && (!Number.isInteger(idle) || idle < 500))
  fail('--idle-timeout expects ms >= 500', 2);
const introductions = (v.introductions ?? 'auto') as IntroductionPolicy;
if (!INTRODUCTION_POLICIES.includes(introductions))
  fail(`--introductions expects auto, ask or off, got "${v.introductions}"`, 2);
let identity = v.identity;
if (identity === undefined) {
  const dir = join(homedir(), '.srmudp');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  identity = join(dir, `${v.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.key`);
}

const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
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

const peersFile = v['peers-file'] ?? `${identity}.peers.json`;
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
    out(`*** cannot save peers to ${peersFile}: ${e instanceof Error ? e.message : String(e)}`);
  }
};

let chat: Chat;
try {
  chat = await Chat.start({
    nick: v.name,
    identity,
    ...(v.host !== undefined ? { host: v.host } : {}),
    port,
    ...(idle !== undefined ? { idleTimeoutMs: idle } : {}),
    out,
    onPeersChanged: savePeers,
    introductions,
    ...(v.rendezvous !== undefined ? { rendezvous: v.rendezvous } : {}),
  });
} catch (e) {
  fail(e instanceof Error ? e.message : String(e), 1);
}
const a = chat.node.address();
out(`${PROG}: you are ${chat.nick} (peer id ${chat.node.peerId})`);
out(`listening on ${a.host}:${a.port}, identity ${identity}`);
out('your contact card (others join you with /join <card>):');
out(chat.card());
out('type /help for commands');
if (saved.length > 0) out(`*** rejoining ${saved.length} saved peer(s) from ${peersFile}`);
for (const c of saved) chat.join(c, { quiet: true });
for (const c of v.join ?? []) chat.join(c);

let quitting = false;
const quit = async () => {
  if (quitting) return;
  quitting = true;
  out('*** leaving');
  rl?.close();
  await chat.close();
  process.exit(0);
};
rl = createInterface({
  input: process.stdin,
  output: process.stdout,
  prompt: `${chat.nick}> `,
  terminal: interactive,
});
rl.on('line', (line) => {
  void chat.input(line).then(
    (go) => {
      if (!go) void quit();
      else if (!quitting) rl?.prompt();
    },
    (e: unknown) => out(`*** ${e instanceof Error ? e.message : String(e)}`),
  );
});
rl.on('close', () => void quit());
rl.on('SIGINT', () => void quit());
process.on('SIGTERM', () => void quit());
rl.prompt();
