import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  DEFAULT_CLOCK_SKEW_MS,
  isRendezvousError,
  MAX_RECORD_SIZE,
  parsePeerId,
  SequencedStore,
  verifyRecord,
} from '@srmudp/rendezvous';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { RateLimiter } from './rate-limiter.js';

export interface RendezvousServerOptions {
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Default '127.0.0.1'; use '::' or '0.0.0.0' to serve the world. */
  readonly host?: string;
  /** Largest request body, bytes. Default 999 (one record). */
  readonly maxBodyBytes?: number;
  /** Requests per minute per client address (token bucket). Default 120, burst 30. */
  readonly rateLimitPerMinute?: number;
  readonly rateLimitBurst?: number;
  /** Stored peers at most. Default 100 000. */
  readonly maxRecords?: number;
  /** Open watch sockets per client address. Default 16; total default 10 000. */
  readonly maxWatchesPerClient?: number;
  readonly maxWatches?: number;
  readonly clockSkewMs?: number;
  /** Trust X-Forwarded-For's first address (only behind your own reverse proxy). Default false. */
  readonly trustProxy?: boolean;
  readonly now?: () => number;
}

export interface RendezvousServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  readonly store: SequencedStore;
  stats(): { stored: number; accepted: number; refused: Record<string, number>; watches: number };
  close(): Promise<void>;
}

const PATH = /^\/v1\/records\/([A-Za-z0-9]{1,80})$/;
const WATCH_PATH = /^\/v1\/watch\/([A-Za-z0-9]{1,80})$/;

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/**
 * Starts the HTTP rendezvous server. Protocol (v1):
 * - `PUT /v1/records/{peer id}` body = a signed record (application/octet-stream). Stored only
 *   when its signature verifies for that peer id, it has not expired, and its seq is above the
 *   stored one: 204; 400 RECORD_* (bad record), 409 STALE_SEQUENCE, 413 TOO_LARGE, 429 rate limited.
 * - `GET /v1/records/{peer id}`: 200 with the record bytes, 404 when none (or expired).
 * - WebSocket `/v1/watch/{peer id}`: one binary message with the current record, then one per update.
 * - `GET /v1/health`: `{ "ok": true }`.
 * Errors are JSON `{ "code": "...", "message": "..." }`.
 */
export async function startRendezvousServer(
  options: RendezvousServerOptions = {},
): Promise<RendezvousServer> {
  const now = options.now ?? Date.now;
  const maxBody = options.maxBodyBytes ?? MAX_RECORD_SIZE;
  const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  const store = new SequencedStore({ maxEntries: options.maxRecords ?? 100_000 });
  const limiter = new RateLimiter({
    perMinute: options.rateLimitPerMinute ?? 120,
    burst: options.rateLimitBurst ?? 30,
  });
  const maxWatchesPerClient = options.maxWatchesPerClient ?? 16;
  const maxWatches = options.maxWatches ?? 10_000;
  const watchesByClient = new Map<string, number>();
  const sockets = new Set<Socket>();
  let accepted = 0;
  const refused: Record<string, number> = {};
  const refuse = (code: string) => {
    refused[code] = (refused[code] ?? 0) + 1;
  };
  const clientOf = (req: IncomingMessage): string => {
    if (options.trustProxy) {
      const fwd = req.headers['x-forwarded-for'];
      const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim();
      if (first) return first;
    }
    return req.socket.remoteAddress ?? 'unknown';
  };
  const peerOf = (text: string): Uint8Array | null => {
    try {
      return parsePeerId(text);
    } catch {
      return null;
    }
  };
  const expired = (bytes: Uint8Array): boolean => {
    try {
      verifyRecord(bytes, { now: now(), clockSkewMs: skew });
      return false;
    } catch {
      return true;
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const client = clientOf(req);
    const wait = limiter.take(client, now());
    if (wait > 0) {
      refuse('RATE_LIMITED');
      req.resume();
      send(
        res,
        429,
        { code: 'RATE_LIMITED', message: 'too many requests' },
        { 'retry-after': String(Math.ceil(wait / 1000)) },
      );
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/v1/health') {
      send(res, 200, { ok: true });
      return;
    }
    const m = PATH.exec(url.pathname);
    const peerId = m ? peerOf(m[1] as string) : null;
    if (m === null || peerId === null) {
      req.resume();
      send(res, 404, { code: 'NOT_FOUND', message: m === null ? 'no such route' : 'not a peer id' });
      return;
    }
    if (req.method === 'GET') {
      const value = store.get(peerId);
      if (value === null || expired(value)) {
        send(res, 404, { code: 'NOT_FOUND', message: 'no record for this peer' });
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(value.length),
      });
      res.end(value);
      return;
    }
    if (req.method !== 'PUT') {
      req.resume();
      send(res, 405, { code: 'METHOD_NOT_ALLOWED', message: 'use GET or PUT' }, { allow: 'GET, PUT' });
      return;
    }
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > maxBody) {
      refuse('TOO_LARGE');
      send(res, 413, { code: 'TOO_LARGE', message: `body above ${maxBody} bytes` }, { connection: 'close' });
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) {
        if (!tooLarge) {
          tooLarge = true;
          refuse('TOO_LARGE');
          send(
            res,
            413,
            { code: 'TOO_LARGE', message: `body above ${maxBody} bytes` },
            { connection: 'close' },
          );
          req.destroy();
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (tooLarge) return;
      const body = new Uint8Array(Buffer.concat(chunks));
      try {
        const { record } = verifyRecord(body, { expectedPeerId: peerId, now: now(), clockSkewMs: skew });
        store.put(peerId, body, record.seq);
        accepted++;
        res.writeHead(204);
        res.end();
      } catch (error) {
        const code = isRendezvousError(error) ? error.code : 'BAD_REQUEST';
        refuse(code);
        const status =
          code === 'STALE_SEQUENCE'
            ? 409
            : code === 'RECORD_TOO_LARGE'
              ? 413
              : code === 'UNAVAILABLE'
                ? 507
                : 400;
        send(res, status, { code, message: error instanceof Error ? error.message : String(error) });
      }
    });
  };

  const server: Server = createServer(handle);
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 });
  const closing = new AbortController();
  let watches = 0;
  server.on('upgrade', (req, socket, head) => {
    const client = clientOf(req);
    const m = WATCH_PATH.exec(new URL(req.url ?? '/', 'http://x').pathname);
    const peerId = m ? peerOf(m[1] as string) : null;
    const reject = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    if (limiter.take(client, now()) > 0) return reject('429 Too Many Requests');
    if (peerId === null) return reject('404 Not Found');
    const mine = watchesByClient.get(client) ?? 0;
    if (mine >= maxWatchesPerClient || watches >= maxWatches) return reject('503 Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      watches++;
      watchesByClient.set(client, mine + 1);
      const stop = new AbortController();
      ws.on('close', () => {
        stop.abort();
        watches--;
        const n = (watchesByClient.get(client) ?? 1) - 1;
        if (n <= 0) watchesByClient.delete(client);
        else watchesByClient.set(client, n);
      });
      ws.on('error', () => ws.terminate());
      ws.on('message', () => ws.close(1008, 'watch sockets are one-way'));
      void (async () => {
        for await (const value of store.watch(peerId, [stop.signal, closing.signal])) {
          if (ws.readyState !== ws.OPEN) break;
          if (!expired(value)) ws.send(value);
        }
      })();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    store,
    stats: () => ({ stored: store.size, accepted, refused: { ...refused }, watches }),
    close() {
      closed ??= (async () => {
        closing.abort();
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await done;
      })();
      return closed;
    },
  };
}
