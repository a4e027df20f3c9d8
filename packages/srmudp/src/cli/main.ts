#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { chatCommand } from './commands/chat.js';
import { exposeCommand } from './commands/expose.js';
import { forwardCommand } from './commands/forward.js';
import { idCommand } from './commands/id.js';
import { pipeCommand } from './commands/pipe.js';
import { receiveCommand } from './commands/receive.js';
import { sendCommand } from './commands/send.js';
import { statusCommand } from './commands/status.js';
import {
  CliError,
  type Command,
  cliLog,
  EXIT,
  errorLine,
  exitCodeOf,
  helpText,
  type OptionSpec,
  parseCommandArgs,
  printError,
} from './common.js';
import { style } from './style.js';

const PROG = 'srmudp';
const COMMANDS = [
  idCommand,
  sendCommand,
  receiveCommand,
  chatCommand,
  pipeCommand,
  exposeCommand,
  forwardCommand,
  statusCommand,
] as unknown as Command<OptionSpec>[];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function mainHelp(): string {
  const s = style(process.stdout);
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `${s.bold(PROG)}: encrypted, reliable connections between programs behind NATs, over UDP`,
    '',
    `usage: ${PROG} <command> [options]        ${PROG} <command> --help for its options`,
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'relay'.padEnd(width)}  run a relay server for peers behind UDP-blocking networks (srmudp-relay; ${PROG} relay --help)`,
    '',
    'examples:',
    `  ${PROG} send report.pdf                 # prints a card; on the other machine:`,
    `  ${PROG} receive srmudp2:rYv1b6Xq…`,
    `  tar c dir | ${PROG} pipe                # and: ${PROG} pipe <card> | tar x`,
    '',
    `options: --version, --help. Environment: SRMUDP_HOME (default ~/.srmudp), SRMUDP_RENDEZVOUS`,
    '(a rendezvous server for short codes), NO_COLOR, DEBUG=srmudp:* (logs on stderr).',
    '',
    "exit codes (each command's --help says which it uses):",
    '    0  success            1  could not start       2  usage error, invalid card or code',
    '    3  output exists      4  peer unreachable/lost 5  verification failed (SHA-256, code)',
    '    6  local I/O error  130  interrupted (Ctrl-C)',
    '',
  ].join('\n');
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    const c = COMMANDS.find((x) => x.name === topic);
    if (topic !== undefined && !c) {
      printError(PROG, `unknown command "${topic}" (${PROG} --help lists them)`);
      return EXIT.usage;
    }
    process.stdout.write(c ? helpText(PROG, c) : mainHelp());
    return first === undefined ? EXIT.usage : EXIT.ok;
  }
  if (first === '--version' || first === '-V' || first === 'version') {
    process.stdout.write(`${PROG} ${version()}\n`);
    return EXIT.ok;
  }
  if (first === 'relay') {
    // the relay server of @srmudp/relay-server, loaded only for this command
    const { runRelayCli } = await import('@srmudp/relay-server');
    return runRelayCli(rest, `${PROG} relay`);
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    printError(
      PROG,
      `unknown command "${first}" (${PROG} --help lists them: ${COMMANDS.map((c) => c.name).join(', ')})`,
    );
    return EXIT.usage;
  }
  const prog = `${PROG} ${command.name}`;
  const json = rest.includes('--json');
  try {
    const args = parseCommandArgs(command, rest);
    if ((args.values as { help?: boolean }).help) {
      process.stdout.write(helpText(PROG, command));
      return EXIT.ok;
    }
    cliLog(`${command.name} ${rest.filter((a) => a.startsWith('--')).join(' ')}`);
    return await command.run(args);
  } catch (e) {
    const code = exitCodeOf(e);
    const usage = e instanceof CliError && e.pointToHelp ? ` (${prog} --help)` : '';
    printError(prog, `${errorLine(e)}${usage}`);
    if (json) {
      const errCode = e instanceof CliError ? undefined : (e as { code?: string }).code;
      process.stdout.write(
        `${JSON.stringify({ ok: false, exitCode: code, message: errorLine(e), ...(errCode ? { code: errCode } : {}) })}\n`,
      );
    }
    return code;
  }
}

const code = await main(process.argv.slice(2));
// long-lived handles (stdin, sockets of a closed node's last timers) must not keep a finished
// command alive; stdout is flushed first so a pipe gets every byte
process.stdout.write('', () => process.exit(code));
