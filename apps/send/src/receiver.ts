import type { Hash } from 'node:crypto';
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, rm, stat, truncate } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseCard } from '@srmudp/rendezvous';
import { type Connection, createNode, type SrmudpNode } from 'srmudp';
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

/** Exit codes of srmudp-receive (also ReceiveError.exitCode). */
export const EXIT = {
  usage: 2,
  exists: 3,
  peer: 4,
  verify: 5,
  io: 6,
} as const;

/** A failure with a one-line message and the exit code the CLI uses for it. */
export class ReceiveError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
  card: string;
  /** output file, or a directory to put the sender's file name in (default: cwd) */
  out?: string;
  force?: boolean;
  host?: string;
  /** the connection is considered lost after this long without a packet (default: core's 30 s) */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** bytes per second cap (reads are paced; flow control slows the sender) */
  limitRate?: number;
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

/** Fetches the file a srmudp-send serves, into `<out>.part` first, and renames it once verified. */
export async function receiveFile(opts: ReceiveOptions): Promise<ReceiveResult> {
  try {
    parseCard(opts.card);
  } catch (e) {
    // the parser's message already starts with "invalid contact card:"
    throw new ReceiveError(EXIT.usage, msg(e));
  }
  const node = await createNode({
    host: opts.host ?? '0.0.0.0',
    ...(opts.idleTimeoutMs !== undefined
      ? {
          idleTimeoutMs: opts.idleTimeoutMs,
          keepaliveMs: Math.max(100, Math.floor(opts.idleTimeoutMs / 3)),
        }
      : {}),
  });
  try {
    return await receiveWith(node, opts);
  } finally {
    await node.close();
  }
}

async function receiveWith(node: SrmudpNode, opts: ReceiveOptions): Promise<ReceiveResult> {
  let conn: Connection;
  try {
    conn = await node.connect(opts.card, { signal: AbortSignal.timeout(opts.connectTimeoutMs ?? 15_000) });
  } catch (e) {
    throw new ReceiveError(EXIT.peer, `cannot reach the sender: ${msg(e)}`, { cause: e });
  }
  const info = await request(conn, { v: PROTOCOL_VERSION, op: 'info' }, fileInfoSchema);
  const out = await outputPath(opts.out, info.name);
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
  try {
    await pipeline(stream, meter, ws);
  } catch (e) {
    throw classify(e, part, offset + transferred, info.size);
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

async function outputPath(out: string | undefined, name: string): Promise<string> {
  const safe = safeName(name);
  if (out === undefined) return safe;
  const st = await stat(out).catch(() => null);
  return st?.isDirectory() ? join(out, safe) : out;
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

function classify(e: unknown, part: string, done: number, total: number): ReceiveError {
  if (e instanceof ReceiveError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && (code in ioMessages || (e as NodeJS.ErrnoException).syscall)) {
    return new ReceiveError(
      EXIT.io,
      `cannot write ${part}: ${ioMessages[code] ?? code} (${done} of ${total} bytes kept; free space and run again to resume)`,
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
