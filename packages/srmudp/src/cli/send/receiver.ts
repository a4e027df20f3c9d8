import type { Hash } from 'node:crypto';
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, truncate } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Address } from '@srmudp/core';
import { parseCard } from '@srmudp/rendezvous';
import { SrmudpError } from '@srmudp/wire';
import type { Connection } from '../../connection.js';
import { createNode } from '../../create-node.js';
import type { DialEvent, SrmudpNode } from '../../node.js';
import { codePassword, resolveCode, type ShortCode } from '../code/code.js';
import { proveCode } from '../code/pake.js';
import { CliError, EXIT } from '../common.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../options.js';
import { hashFile } from './file-hash.js';
import {
  type DataHeader,
  dataHeaderSchema,
  encodeLine,
  type FileInfo,
  fileInfoSchema,
  PROTOCOL_VERSION,
  ProtocolError,
  parseResponse,
  type Request,
  readLine,
} from './protocol.js';
import { SEND_APP } from './sender.js';

export { EXIT };

/** A failure with a one-line message and the exit code `srmudp receive` ends with. */
export class ReceiveError extends CliError {
  constructor(exitCode: number, message: string, options?: { cause?: unknown }) {
    super(exitCode, message, options);
    this.name = 'ReceiveError';
  }
}

export interface Progress {
  /** bytes of this run (excluding what the .part file already held) */
  transferred: number;
  /** bytes the output holds now (offset + transferred) */
  done: number;
  total: number;
  offset: number;
  elapsedMs: number;
}

export interface ReceiveOptions {
  /** the sender's contact card, or */
  card?: string;
  /** a short code the sender printed (parsed: see code.ts) */
  code?: ShortCode;
  /** output file, or a directory to put the sender's file name in (default: cwd) */
  out?: string;
  force?: boolean;
  host?: string;
  /** STUN servers ('host:port') for NAT traversal */
  stunServers?: string[];
  /** the connection is considered lost after this long without a packet (default: core's 30 s) */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** bytes per second cap (reads are paced; flow control slows the sender) */
  limitRate?: number;
  /** Ctrl-C: the transfer stops, the .part file is kept for a resume */
  signal?: AbortSignal;
  onInfo?: (info: FileInfo, out: string, offset: number) => void;
  onProgress?: (p: Progress) => void;
  onNotice?: (line: string) => void;
  /** where the bytes go (tests inject failures here); default fs.createWriteStream */
  createWriteStream?: (path: string, opts: { flags: string; start: number }) => Writable;
}

export interface ReceiveResult {
  out: string;
  size: number;
  sha256: string;
  offset: number;
  transferred: number;
  ms: number;
}

/**
 * Fetches the file a `srmudp send` serves, into `<out>.part` first, and renames it once verified.
 * Everything that can be refused without the sender is refused before connecting: a card of
 * another program, an output that exists, an output folder that does not.
 */
export async function receiveFile(opts: ReceiveOptions): Promise<ReceiveResult> {
  if ((opts.card === undefined) === (opts.code === undefined))
    throw new TypeError('receiveFile expects exactly one of "card" and "code"');
  let cardName: string | undefined;
  if (opts.card !== undefined) {
    let parsed: ReturnType<typeof parseCard>;
    try {
      parsed = parseCard(opts.card);
    } catch (e) {
      // the parser's message already starts with "invalid contact card:"
      throw new ReceiveError(EXIT.usage, msg(e));
    }
    if (parsed.app !== undefined && parsed.app !== SEND_APP)
      throw new ReceiveError(EXIT.usage, wrongApp(parsed.app));
    cardName = parsed.name;
  }
  const target = await outputTarget(opts.out);
  if (!opts.force && cardName !== undefined) {
    // the card names the file: refuse an existing output before connecting (checked again with
    // the name the sender announces)
    const early = target.dir ? join(target.path, safeName(cardName)) : target.path;
    if (await exists(early))
      throw new ReceiveError(EXIT.exists, `${early} already exists (use --force to overwrite)`);
  } else if (!opts.force && !target.dir && (await exists(target.path))) {
    throw new ReceiveError(EXIT.exists, `${target.path} already exists (use --force to overwrite)`);
  }
  const node = await createNode({
    host: opts.host ?? '0.0.0.0',
    ...(opts.stunServers !== undefined ? { stunServers: opts.stunServers } : {}),
    ...(opts.idleTimeoutMs !== undefined
      ? {
          idleTimeoutMs: opts.idleTimeoutMs,
          keepaliveMs: Math.max(100, Math.floor(opts.idleTimeoutMs / 3)),
        }
      : {}),
  });
  try {
    return await receiveWith(node, opts, target);
  } finally {
    await node.close();
  }
}

/** What a card of another program is, in words. */
export function wrongApp(app: string): string {
  const what: Record<string, string> = {
    'srmudp-chat/1': 'a chat card (srmudp chat --join <card>)',
    'srmudp-pipe/1': 'a pipe card (srmudp pipe <card>)',
    'srmudp-expose/1': 'a forwarded port (srmudp forward <card>)',
  };
  return `that card is for ${what[app] ?? `another program (${app})`}, not a file sender`;
}

interface OutputTarget {
  path: string;
  dir: boolean;
}

/**
 * Where the file goes: a directory (existing, or named with a trailing "/": created) or a file
 * path whose folder must exist. Errors before anything connects.
 */
async function outputTarget(out: string | undefined): Promise<OutputTarget> {
  if (out === undefined) return { path: '.', dir: true };
  const st = await stat(out).catch(() => null);
  if (st?.isDirectory()) return { path: out, dir: true };
  if (out.endsWith('/') || out.endsWith(sep)) {
    try {
      await mkdir(out, { recursive: true });
    } catch (e) {
      throw new ReceiveError(EXIT.io, `cannot create the folder ${out}: ${ioMessage(e)}`, { cause: e });
    }
    return { path: out, dir: true };
  }
  const parent = dirname(out);
  const pst = await stat(parent).catch(() => null);
  if (!pst?.isDirectory())
    throw new ReceiveError(
      EXIT.io,
      `the folder ${parent} does not exist (create it, or end --out with "/" to have it created)`,
    );
  return { path: out, dir: false };
}

/** Connects to the sender of a card, or of a code (its mailbox, then the code check). */
async function connectSender(
  node: SrmudpNode,
  opts: ReceiveOptions,
  signal: AbortSignal,
): Promise<Connection> {
  const onDial = (e: DialEvent) =>
    opts.onNotice?.(
      `connecting to ${e.peerId ? e.peerId.slice(0, 12) : 'the sender'} (${e.addresses.length} address${e.addresses.length === 1 ? '' : 'es'})…`,
    );
  node.on('dial', onDial);
  try {
    if (opts.card !== undefined) {
      return await node.connect(opts.card, {
        signal,
        ...(opts.connectTimeoutMs !== undefined
          ? { timeout: opts.connectTimeoutMs }
          : { timeout: DEFAULT_CONNECT_TIMEOUT_MS }),
      });
    }
    const code = opts.code as ShortCode;
    opts.onNotice?.(`looking up code ${code.nameplate} on ${code.server}…`);
    const addresses = await resolveCode(code, signal);
    const conn = await dialAny(node, addresses, opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, signal);
    opts.onNotice?.(`checking the code with ${conn.peerId.slice(0, 12)}…`);
    await proveCode(conn, node.peerId, codePassword(code));
    return conn;
  } finally {
    node.off('dial', onDial);
  }
}

/** Dials every address at once without a key (Noise XX); the first to answer wins. */
async function dialAny(
  node: SrmudpNode,
  addresses: Address[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Connection> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.any(
      addresses.map((a) =>
        node.connect({ host: a.host, port: a.port }, { signal: ac.signal, timeout: timeoutMs }),
      ),
    );
  } catch (e) {
    if (signal.aborted) throw e;
    const errors = e instanceof AggregateError ? e.errors : [e];
    const first = errors.find((x) => x instanceof SrmudpError) ?? errors[0];
    throw first;
  } finally {
    ac.abort();
    signal.removeEventListener('abort', onAbort);
  }
}

async function receiveWith(
  node: SrmudpNode,
  opts: ReceiveOptions,
  target: OutputTarget,
): Promise<ReceiveResult> {
  const signal = opts.signal ?? new AbortController().signal;
  let conn: Connection;
  try {
    conn = await connectSender(node, opts, signal);
  } catch (e) {
    if (signal.aborted)
      throw new ReceiveError(EXIT.interrupted, 'interrupted before the sender answered: nothing received');
    if (e instanceof CliError) throw e;
    const code = e instanceof SrmudpError ? ` [${e.code}]` : '';
    throw new ReceiveError(
      (e as { code?: string }).code === 'OWN_CARD' ? EXIT.usage : EXIT.peer,
      `cannot reach the sender: ${msg(e)}${code}`,
      { cause: e },
    );
  }
  const info = await request(conn, { v: PROTOCOL_VERSION, op: 'info' }, fileInfoSchema);
  const out = target.dir ? join(target.path, safeName(info.name)) : target.path;
  if (!opts.force && (await exists(out))) {
    throw new ReceiveError(EXIT.exists, `${out} already exists (use --force to overwrite)`);
  }
  const part = `${out}.part`;
  let { offset, hash } = await resumePoint(part, info.size);
  const get = (o: number, h: Hash) =>
    request(
      conn,
      {
        v: PROTOCOL_VERSION,
        op: 'get',
        offset: o,
        sha256: info.sha256,
        ...(o > 0 ? { prefixSha256: h.copy().digest('hex') } : {}),
      },
      dataHeaderSchema,
      true,
    );
  let response: { header: DataHeader; stream: ReturnType<Connection['openStream']> };
  try {
    response = await get(offset, hash);
  } catch (e) {
    if (!(e instanceof ProtocolError && e.code === 'PREFIX_MISMATCH')) throw e;
    opts.onNotice?.(`${part} does not match the sender's file: starting over`);
    await truncate(part, 0);
    offset = 0;
    hash = createHash('sha256');
    response = await get(offset, hash);
  }
  const { header, stream } = response;
  if (header.offset !== offset || header.offset + header.length !== info.size) {
    throw new ReceiveError(
      EXIT.peer,
      `the sender answered range ${header.offset}+${header.length}, not ${offset}-`,
    );
  }
  opts.onInfo?.(info, out, offset);
  const t0 = performance.now();
  let transferred = 0;
  const limit = opts.limitRate;
  const report = () =>
    opts.onProgress?.({
      transferred,
      done: offset + transferred,
      total: info.size,
      offset,
      elapsedMs: performance.now() - t0,
    });
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (transferred + chunk.length > header.length) {
        cb(new ProtocolError('TOO_LONG', 'the sender sent more bytes than announced'));
        return;
      }
      hash.update(chunk);
      transferred += chunk.length;
      report();
      if (limit === undefined) {
        cb(null, chunk);
        return;
      }
      // pace: hold the chunk until the average rate is back under the limit
      const wait = t0 + (transferred * 1000) / limit - performance.now();
      if (wait > 1) setTimeout(() => cb(null, chunk), wait);
      else cb(null, chunk);
    },
  });
  const ws = (opts.createWriteStream ?? defaultWriteStream)(part, {
    flags: offset > 0 ? 'r+' : 'w',
    start: offset,
  });
  const onAbort = () => stream.destroy(new ReceiveError(EXIT.interrupted, 'interrupted'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await pipeline(stream, meter, ws);
  } catch (e) {
    if (signal.aborted) {
      throw new ReceiveError(
        EXIT.interrupted,
        `interrupted: ${part} kept (${offset + transferred} of ${info.size} bytes): run the same command again to resume`,
      );
    }
    throw classify(e, part, offset + transferred, info.size);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (transferred !== header.length) {
    throw new ReceiveError(
      EXIT.peer,
      `the sender ended the transfer early (${offset + transferred} of ${info.size} bytes; run again to resume)`,
    );
  }
  const ms = performance.now() - t0;
  const sha256 = hash.digest('hex');
  if (sha256 !== info.sha256) {
    await rm(part, { force: true });
    throw new ReceiveError(
      EXIT.verify,
      `SHA-256 mismatch: got ${sha256}, the sender announced ${info.sha256} (${part} removed)`,
    );
  }
  try {
    const fh = await open(part, 'r+');
    await fh.sync();
    await fh.close();
    await rename(part, out);
  } catch (e) {
    throw classify(e, part, info.size, info.size);
  }
  await conn.close(0, 'done');
  return { out, size: info.size, sha256, offset, transferred, ms };
}

function defaultWriteStream(path: string, o: { flags: string; start: number }): WriteStream {
  return createWriteStream(path, o);
}

/** Sends one request on a new stream and reads the response line; the stream is left for the body. */
async function request<T>(
  conn: Connection,
  req: Request,
  schema: import('zod').ZodType<T>,
  keep: true,
): Promise<{ header: T; stream: ReturnType<Connection['openStream']> }>;
async function request<T>(conn: Connection, req: Request, schema: import('zod').ZodType<T>): Promise<T>;
async function request<T>(
  conn: Connection,
  req: Request,
  schema: import('zod').ZodType<T>,
  keep?: true,
): Promise<T | { header: T; stream: ReturnType<Connection['openStream']> }> {
  let stream: ReturnType<Connection['openStream']>;
  let header: T;
  try {
    stream = conn.openStream();
    stream.on('error', () => {}); // surfaced through readLine/pipeline
    stream.end(encodeLine(req));
    header = parseResponse(await readLine(stream), schema);
  } catch (e) {
    if (e instanceof ProtocolError && e.code !== 'TRUNCATED' && e.code !== 'BAD_HEADER') throw e;
    if (e instanceof ProtocolError && e.code === 'BAD_HEADER') {
      throw new ReceiveError(EXIT.peer, `the sender answered something else than srmudp-send: ${e.message}`);
    }
    throw new ReceiveError(EXIT.peer, `lost the sender: ${msg(e)}`, { cause: e });
  }
  if (keep) return { header, stream };
  stream.resume();
  return header;
}

/** A .part file to continue: its length and the hash of what it holds. Too long: start over. */
async function resumePoint(part: string, size: number): Promise<{ offset: number; hash: Hash }> {
  const st = await stat(part).catch(() => null);
  if (!st?.isFile() || st.size === 0) return { offset: 0, hash: createHash('sha256') };
  if (st.size > size) {
    await truncate(part, 0);
    return { offset: 0, hash: createHash('sha256') };
  }
  return { offset: st.size, hash: await hashFile(part, st.size) };
}

/** The sender's name as a plain file name in the output directory (never a path). */
export function safeName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters on purpose
  const b = basename(name.replaceAll('\\', '/')).replace(/[\u0000-\u001f\u007f]/g, '');
  return b === '' || b === '.' || b === '..' ? 'download' : b;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

const ioMessages: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EIO: 'I/O error',
  EFBIG: 'file too large for this file system',
};

function ioMessage(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined ? ioMessages[code] : undefined) ?? code ?? msg(e);
}

function classify(e: unknown, part: string, done: number, total: number): ReceiveError {
  if (e instanceof ReceiveError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && (code in ioMessages || (e as NodeJS.ErrnoException).syscall)) {
    return new ReceiveError(
      EXIT.io,
      `cannot write ${part}: ${ioMessages[code] ?? code} (${done} of ${total} bytes kept; ${code === 'ENOSPC' || code === 'EDQUOT' ? 'free space' : 'fix that'} and run again to resume)`,
      { cause: e },
    );
  }
  if (e instanceof ProtocolError) return new ReceiveError(EXIT.peer, e.message, { cause: e });
  return new ReceiveError(
    EXIT.peer,
    `lost the sender after ${done} of ${total} bytes (${msg(e)}); ${part} kept: run again to resume`,
    { cause: e },
  );
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
