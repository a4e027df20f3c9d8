#!/usr/bin/env node
import { fail, intOption, parseCli } from './cli-util.js';
import { formatBytes } from './format.js';
import { errorMessage, FileSender } from './sender.js';

const PROG = 'srmudp-send';
const USAGE = `usage: ${PROG} <file> [--identity <key file>] [--host <address>] [--port <n>]
                   [--idle-timeout <ms>] [--once]`;

const { values, positionals } = parseCli(PROG, USAGE, {
  identity: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'idle-timeout': { type: 'string' },
  once: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (positionals.length !== 1) fail(PROG, `expected exactly one file\n${USAGE}`, 2);
const port = intOption(PROG, 'port', values.port, 0, 65535);
const idle = intOption(PROG, 'idle-timeout', values['idle-timeout'], 500, 3_600_000);

let sender: FileSender;
try {
  sender = await FileSender.start({
    file: positionals[0] as string,
    ...(values.identity !== undefined ? { identity: values.identity } : {}),
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(idle !== undefined ? { idleTimeoutMs: idle } : {}),
    log: (l) => process.stderr.write(`${l}\n`),
  });
} catch (e) {
  fail(PROG, errorMessage(e), 1);
}
const a = sender.node.address();
const card = sender.card();
process.stdout.write(
  `serving ${sender.info.name} (${formatBytes(sender.info.size)}, sha256 ${sender.info.sha256})\n` +
    `listening on ${a.host}:${a.port} as ${sender.node.peerId}\n` +
    `contact card:\n${card}\n` +
    `on the receiving side run:  srmudp-receive ${card}\n`,
);

let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await sender.close();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
if (values.once) {
  sender.onDelivered = () => {
    process.stderr.write('delivered once: exiting (--once)\n');
    void stop(0);
  };
}
// like dd's SIGUSR1: counters of the node (connections, drops by reason, socket) for diagnosis
process.on('SIGUSR2', () => {
  process.stderr.write(`${JSON.stringify(sender.node.stats())}\n${JSON.stringify(sender.node.status())}\n`);
});
