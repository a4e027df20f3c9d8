import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { cleanName } from '@srmudp/rendezvous';
import type { Connection } from '../../connection.js';
import { createNode } from '../../create-node.js';
import type { SrmudpNode } from '../../node.js';
import type { SrmudpStream } from '../../stream.js';
import type { CodeGate } from '../code/pake.js';
import { CARD_GATHER_WAIT_MS, type CommonNodeOptions } from '../common.js';
import { formatBytes, formatPath, formatRate } from '../format.js';
import { sha256File } from './file-hash.js';
import {
  type ErrorResponse,
  encodeLine,
  type FileInfo,
  PROTOCOL_VERSION,
  ProtocolError,
  parseLine,
  readLine,
  requestSchema,
} from './protocol.js';

export interface SenderOptions extends CommonNodeOptions {
  file: string;
  /** how long a receiver may take to send its request line (default 10 s) */
  requestTimeoutMs?: number;
  log?: (line: string) => void;
}

/** The app tag of send cards: `srmudp receive` refuses cards of other programs at once. */
export const SEND_APP = 'srmudp-send/1';

export interface TransferRecord {
  peer: string;
  offset: number;
  bytes: number;
  complete: boolean;
  ms: number;
}

/**
 * Serves one file to every receiver that connects, over as many streams as they open (one request
 * per stream, see protocol.ts). Receivers are anyone holding the card: srmudp authenticates the
 * peers to each other, the file is readable by whoever has the card.
 */
export class FileSender {
  readonly transfers: TransferRecord[] = [];
  private readonly log: (line: string) => void;
  private readonly onConnection = (conn: Connection) => this.serveConnection(conn);
  /** called when a connection that received the whole file closes (for --once) */
  onDelivered: ((peer: string) => void) | null = null;
  /** with a short code: connections must prove it (PAKE) before they are served */
  gate: CodeGate | null = null;

  private constructor(
    readonly node: SrmudpNode,
    readonly path: string,
    readonly info: FileInfo,
    private readonly mtimeMs: number,
    private readonly opts: SenderOptions,
  ) {
    this.log = opts.log ?? ((l) => console.error(l));
    node.on('connection', this.onConnection);
  }

  static async start(opts: SenderOptions): Promise<FileSender> {
    const path = resolve(opts.file);
    const st = await stat(path);
    if (!st.isFile()) throw new Error(`${opts.file} is not a regular file`);
    const sha256 = await sha256File(path);
    const node = await createNode({
      ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
      host: opts.host ?? '0.0.0.0',
      port: opts.port ?? 0,
      ...(opts.stunServers !== undefined ? { stunServers: opts.stunServers } : {}),
      ...(opts.idleTimeoutMs !== undefined
        ? {
            idleTimeoutMs: opts.idleTimeoutMs,
            keepaliveMs: opts.keepaliveMs ?? Math.max(100, Math.floor(opts.idleTimeoutMs / 3)),
          }
        : {}),
    });
    // the card we print carries our public NAT mapping: wait for the first gathering (bounded)
    await node.nat.ready({ timeoutMs: CARD_GATHER_WAIT_MS });
    const info: FileInfo = { ok: true, name: basename(path), size: st.size, sha256 };
    return new FileSender(node, path, info, st.mtimeMs, opts);
  }

  card(): string {
    // the card names the file (cleaned to the card name rule: 64 bytes of UTF-8, no control or
    // bidi characters) so a receiver can refuse to overwrite before connecting; the app tag lets
    // other programs recognise it
    return this.node.contactCard({ name: cleanName(this.info.name) || 'file', app: SEND_APP });
  }

  async close(): Promise<void> {
    this.node.off('connection', this.onConnection);
    await this.node.close();
  }

  private serveConnection(conn: Connection): void {
    const short = conn.peerId.slice(0, 12);
    this.log(`receiver ${short} connected (${describePath(conn)})`);
    if (this.gate === null) {
      this.serveAdmitted(conn);
      return;
    }
    const gate = this.gate;
    void gate.admit(conn).then((ok) => {
      if (ok) {
        this.log(`receiver ${short} proved the code`);
        this.serveAdmitted(conn);
      } else
        this.log(
          `receiver ${short} failed the code check (${gate.failures} of ${gate.maxAttempts} failed attempts allowed)`,
        );
    });
  }

  private serveAdmitted(conn: Connection): void {
    const short = conn.peerId.slice(0, 12);
    let delivered = false;
    conn.on('stream', (s: SrmudpStream) => {
      this.serveStream(conn, s).then(
        (r) => {
          if (r?.complete) delivered = true;
        },
        (e: unknown) => this.log(`receiver ${short}: ${errorMessage(e)}`),
      );
    });
    conn.once('close', (info: { reason: string; remote: boolean }) => {
      this.log(`receiver ${short} disconnected${info.reason ? ` (${info.reason})` : ''}`);
      if (delivered) this.onDelivered?.(conn.peerId);
    });
  }

  private async serveStream(conn: Connection, s: SrmudpStream): Promise<TransferRecord | null> {
    // errors reach us through readLine/pipeline; this listener keeps a late one from being unhandled
    s.on('error', () => {});
    const timer = setTimeout(
      () => s.destroy(new ProtocolError('TIMEOUT', 'no request line in time')),
      this.opts.requestTimeoutMs ?? 10_000,
    );
    let line: string;
    try {
      line = await readLine(s);
    } finally {
      clearTimeout(timer);
    }
    s.resume(); // the receiver ends its side after the request: consume that FIN
    let req: ReturnType<typeof requestSchema.parse>;
    try {
      req = parseLine(line, requestSchema);
    } catch (e) {
      s.end(encodeLine(errorResponse('BAD_REQUEST', errorMessage(e))));
      return null;
    }
    if (req.op === 'info') {
      s.end(encodeLine(this.info));
      return null;
    }
    const refuse = await this.check(req);
    if (refuse) {
      s.end(encodeLine(refuse));
      return null;
    }
    const length = this.info.size - req.offset;
    const rec: TransferRecord = {
      peer: conn.peerId,
      offset: req.offset,
      bytes: 0,
      complete: false,
      ms: 0,
    };
    this.transfers.push(rec);
    const t0 = performance.now();
    this.log(
      `sending ${this.info.name} to ${conn.peerId.slice(0, 12)}: ${formatBytes(length)} from offset ${req.offset}`,
    );
    s.write(encodeLine({ ok: true, offset: req.offset, length }));
    const rs = createReadStream(this.path, { start: req.offset, highWaterMark: 256 * 1024 });
    rs.on('data', (c) => {
      rec.bytes += c.length;
    });
    try {
      await pipeline(rs, s);
    } catch (e) {
      rec.ms = performance.now() - t0;
      throw new Error(`transfer stopped after ${formatBytes(rec.bytes)}: ${errorMessage(e)}`);
    }
    rec.ms = performance.now() - t0;
    rec.complete = true;
    this.log(
      `sent ${formatBytes(rec.bytes)} to ${conn.peerId.slice(0, 12)} in ${(rec.ms / 1000).toFixed(2)} s (${formatRate((rec.bytes * 1000) / Math.max(rec.ms, 1))})`,
    );
    return rec;
  }

  /** Refuses a changed file, a range past the end, or a resume whose prefix is not ours. */
  private async check(req: {
    offset: number;
    sha256: string;
    prefixSha256?: string | undefined;
  }): Promise<ErrorResponse | null> {
    const st = await stat(this.path).catch(() => null);
    if (!st || st.size !== this.info.size || st.mtimeMs !== this.mtimeMs) {
      return errorResponse('FILE_CHANGED', 'the file changed on the sender since it was announced');
    }
    if (req.sha256 !== this.info.sha256) {
      return errorResponse('FILE_CHANGED', 'the receiver asked for another version of the file');
    }
    if (req.offset > this.info.size) {
      return errorResponse('RANGE', `offset ${req.offset} is past the end (${this.info.size})`);
    }
    if (req.offset > 0) {
      if (req.prefixSha256 === undefined) {
        return errorResponse('BAD_REQUEST', 'a resume (offset > 0) needs prefixSha256');
      }
      if ((await sha256File(this.path, req.offset)) !== req.prefixSha256) {
        return errorResponse('PREFIX_MISMATCH', 'the partial file is not a prefix of this file');
      }
    }
    return null;
  }
}

function errorResponse(code: ErrorResponse['code'], message: string): ErrorResponse {
  return { ok: false, code, message };
}

export function describePath(conn: Connection): string {
  return conn.path ? formatPath(conn.path) : 'no path';
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

export { PROTOCOL_VERSION };
