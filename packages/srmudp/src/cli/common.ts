import { type ParseArgsConfig, parseArgs } from 'node:util';
import { SrmudpError } from '@srmudp/wire';
import { logger } from '../log.js';
import { style } from './style.js';

/** `DEBUG=srmudp:cli`: what the command line decides (never keys, codes or file contents). */
export const cliLog = logger('srmudp:cli');

/**
 * Exit codes shared by every subcommand (each command's --help lists the ones it uses). Scripts
 * may rely on them: they are part of the command line's interface.
 */
export const EXIT = {
  ok: 0,
  /** could not start: key file, bind (port in use), rendezvous server unreachable */
  failed: 1,
  /** usage: unknown option, bad value, invalid card or code, a card of another program */
  usage: 2,
  /** the output exists (receive without --force) */
  exists: 3,
  /** the peer is unreachable, or was lost mid-way */
  peer: 4,
  /** verification failed: SHA-256 mismatch, or the short code did not match (wrong code or someone in between) */
  verify: 5,
  /** local I/O error (disk full, permission denied, missing folder) */
  io: 6,
  /** interrupted (Ctrl-C, SIGTERM) */
  interrupted: 130,
} as const;

/** A failure with a one-line message and the exit code the command ends with. */
export class CliError extends Error {
  /** a usage mistake: the message ends with "(srmudp <command> --help)" */
  readonly pointToHelp: boolean;
  constructor(
    readonly exitCode: number,
    message: string,
    options?: { cause?: unknown; pointToHelp?: boolean },
  ) {
    super(message, options);
    this.name = 'CliError';
    this.pointToHelp = options?.pointToHelp === true;
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** A subcommand: what its --help says, its options and what it does. */
export interface Command<O extends OptionSpec = OptionSpec> {
  name: string;
  /** one line: what it does */
  summary: string;
  /** the argument part of the usage line: '<file> [options]' */
  usage: string;
  options: O;
  /** per option (without the leading --): its value name and what it does */
  optionHelp: Array<[string, string]>;
  /** extra paragraphs after the options */
  notes?: string[];
  examples: string[];
  /** the exit codes it uses, with what each means for this command */
  exits: Array<[number, string]>;
  /** runs it; resolves with the exit code (long-running commands resolve when they are done) */
  run(args: { values: ParsedValues<O>; positionals: string[] }): Promise<number>;
}

export type ParsedValues<O extends OptionSpec> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>['values'];

/** Options every command that runs a node takes. */
export const NODE_OPTIONS = {
  identity: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'idle-timeout': { type: 'string' },
  stun: { type: 'string', multiple: true },
} as const satisfies OptionSpec;

export const NODE_OPTION_HELP: Array<[string, string]> = [
  ['identity <key file>', 'Ed25519 key file (created mode 0600 if missing)'],
  ['host <address or name>', 'address to bind (default 0.0.0.0; host names like localhost are resolved)'],
  ['port <n>', 'UDP port to bind (default 0: any free port)'],
  ['idle-timeout <ms>', 'a peer silent for this long is gone (keepalives every third of it)'],
  ['stun <host[:port]>', 'a STUN server for NAT traversal (repeatable; two servers classify the NAT)'],
];

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies OptionSpec;

/** The --help text of a command: description, usage, options, notes, examples, exit codes. */
export function helpText(prog: string, c: Command): string {
  const s = style(process.stdout);
  const width = Math.max(...c.optionHelp.map(([k]) => k.length + 2), 10);
  const lines = [
    `${s.bold(`${prog} ${c.name}`)}: ${c.summary}`,
    '',
    `usage: ${prog} ${c.name} ${c.usage}`,
    '',
    'options:',
    ...c.optionHelp.map(([k, v]) => `  ${`--${k}`.padEnd(width + 2)} ${v}`),
    `  ${'-h, --help'.padEnd(width + 2)} this help`,
  ];
  if (c.notes && c.notes.length > 0) lines.push('', ...c.notes);
  lines.push('', 'examples:', ...c.examples.map((e) => `  ${e}`));
  lines.push('', 'exit codes:', ...c.exits.map(([n, t]) => `  ${String(n).padStart(3)}  ${t}`));
  return `${lines.join('\n')}\n`;
}

/** Parses a command's argv: a usage error is a CliError(2) naming the problem. */
export function parseCommandArgs<O extends OptionSpec>(
  c: Command<O>,
  argv: string[],
): { values: ParsedValues<O>; positionals: string[] } {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...c.options, ...HELP_OPTION },
      allowPositionals: true,
      strict: true,
    });
    return r as unknown as { values: ParsedValues<O>; positionals: string[] };
  } catch (e) {
    throw new CliError(
      EXIT.usage,
      (e instanceof Error ? e.message : String(e)).replace(/\. To specify.*$/s, ''),
      { pointToHelp: true },
    );
  }
}

export function intOption(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new CliError(EXIT.usage, `--${name} expects an integer in ${min}..${max}, got "${v}"`, {
      pointToHelp: true,
    });
  return n;
}

/** The node options the common flags set (what nodeOptionsFrom returns). */
export interface CommonNodeOptions {
  /** key file path (created 0600 when missing) or omitted for an ephemeral identity */
  identity?: string;
  host?: string;
  port?: number;
  idleTimeoutMs?: number;
  keepaliveMs?: number;
  /** STUN servers ('host:port') for NAT traversal */
  stunServers?: string[];
}

/** node options from the common flags (idle timeout: keepalives every third of it). */
export function nodeOptionsFrom(v: {
  identity?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  'idle-timeout'?: string | undefined;
  stun?: string[] | undefined;
}): CommonNodeOptions {
  const port = intOption('port', v.port, 0, 65535);
  const idle = intOption('idle-timeout', v['idle-timeout'], 500, 3_600_000);
  return {
    ...(v.identity !== undefined ? { identity: v.identity } : {}),
    ...(v.host !== undefined ? { host: v.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(idle !== undefined ? { idleTimeoutMs: idle, keepaliveMs: Math.max(100, Math.floor(idle / 3)) } : {}),
    ...(v.stun !== undefined && v.stun.length > 0 ? { stunServers: v.stun } : {}),
  };
}

/**
 * One line for an error, never a stack: the message of an SrmudpError (its code in brackets when
 * the message does not already say it) or of any Error.
 */
export function errorLine(e: unknown): string {
  if (e instanceof SrmudpError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * The exit code for an error that escaped a command: typed errors map to the documented codes
 * (a port in use or an unreadable key file cannot start the node: 1; an invalid card is usage: 2).
 */
export function exitCodeOf(e: unknown): number {
  if (e instanceof CliError) return e.exitCode;
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case 'INVALID_CARD':
    case 'INVALID_OPTIONS':
    case 'INVALID_TARGET':
    case 'OWN_CARD':
      return EXIT.usage;
    case 'CONNECT_TIMEOUT':
    case 'HANDSHAKE_TIMEOUT':
    case 'RESOLVE_FAILED':
    case 'PUNCH_IMPOSSIBLE':
    case 'PUNCH_TIMEOUT':
    case 'UDP_BLOCKED':
    case 'CONNECTION_CLOSED':
    case 'IDLE_TIMEOUT':
    case 'PEER_GONE':
    case 'SESSION_EXPIRED':
      return EXIT.peer;
    default:
      return EXIT.failed;
  }
}

/** Writes "srmudp <cmd>: message" on stderr (red on a colour terminal). */
export function printError(prog: string, message: string): void {
  const s = style(process.stderr);
  process.stderr.write(`${s.red(`${prog}:`)} ${message}\n`);
}

/**
 * Resolves once SIGINT or SIGTERM arrives (the handler stays installed, so a second Ctrl-C does
 * not kill the process in the middle of its cleanup; a third one does).
 */
export function onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void {
  let count = 0;
  const h = (signal: NodeJS.Signals) => {
    count++;
    if (count >= 3) process.exit(EXIT.interrupted);
    if (count === 1) handler(signal);
  };
  process.on('SIGINT', h);
  process.on('SIGTERM', h);
  return () => {
    process.off('SIGINT', h);
    process.off('SIGTERM', h);
  };
}

/** Resolves at the first SIGINT or SIGTERM (for commands that serve until stopped). */
export function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = onInterrupt(() => {
      stop();
      resolve();
    });
  });
}

/**
 * How long a command that prints a card (or offers a code) waits for the node's first NAT
 * gathering, so the card carries the public mapping: createNode() does not wait for STUN.
 */
export const CARD_GATHER_WAIT_MS = 5_000;
