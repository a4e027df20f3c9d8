import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type {
  BackendCapabilities,
  Locator,
  PublishOptions,
  PublishResult,
  RecordKey,
  RendezvousBackend,
  ResolveOptions,
} from '@srmudp/rendezvous';
import {
  checkRecordKey,
  httpOrigin,
  linkSignals,
  MAX_RECORD_SIZE,
  peerIdToString,
  RENDEZVOUS_BACKEND,
  RendezvousError,
  sleep,
  throwIfAborted,
} from '@srmudp/rendezvous';
import { equalBytes } from '@srmudp/wire';
import { WebSocket } from 'ws';
import { WATCH_GOING_AWAY } from './watch-codes.js';

export interface HttpBackendOptions {
  /**
   * Origin of the server you publish to, e.g. "https://rv.example.org" (scheme, host and port;
   * the server is served at the root of its origin, since cards carry origins only).
   */
  readonly url: string;
  /** Per-request timeout, ms. Default 10 000. */
  readonly timeoutMs?: number;
  /**
   * Resolve through the server named in a card's locator even when it is not `url`. Default true
   * (records are verified whatever server answers); false restricts resolving to `url`.
   */
  readonly followLocators?: boolean;
  readonly minPublishIntervalMs?: number;
  readonly republishIntervalMs?: number;
}

const MAX_RESPONSE = 4096;

interface Reply {
  status: number;
  body: Uint8Array;
  contentType: string;
}

/**
 * Client of the srmudp HTTP rendezvous server (see startRendezvousServer). One request per call
 * on a fresh connection (`agent: false`), so nothing stays open between calls; watch is a
 * WebSocket the server pushes every new record on.
 */
export class HttpBackend implements RendezvousBackend {
  readonly [RENDEZVOUS_BACKEND] = true as const;
  readonly specificationVersion = 'v1' as const;
  readonly name = 'http';
  readonly capabilities: BackendCapabilities;
  readonly url: string;
  readonly #timeoutMs: number;
  readonly #follow: boolean;
  /** Settles every request in flight on close() (one set, not a listener per request on a shared signal). */
  readonly #pending = new Set<() => void>();
  readonly #closing = new AbortController();
  readonly #sockets = new Set<WebSocket>();
  #closed = false;

  constructor(options: HttpBackendOptions) {
    const origin = httpOrigin(options.url);
    if ('problem' in origin)
      throw new TypeError(`"url" ${origin.problem.replace(/^url: /, '')}: ${JSON.stringify(options.url)}`);
    const path = new URL(options.url).pathname;
    if (path !== '/' && path !== '')
      throw new TypeError(
        `"url" must be an origin (scheme, host, port): cards carry only origins, so serve the rendezvous at ${origin.origin}/, not under ${path}`,
      );
    this.url = origin.origin;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#follow = options.followLocators ?? true;
    this.capabilities = {
      maxValueSize: MAX_RECORD_SIZE,
      watch: 'push',
      cost: 'free',
      minPublishIntervalMs: options.minPublishIntervalMs ?? 1_000,
      republishIntervalMs: options.republishIntervalMs ?? 30 * 60_000,
    };
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closed) throw new RendezvousError('CLOSED', 'http backend is closed');
    throwIfAborted(signal);
  }

  /** The origin to ask: the card's (only its origin: no path or query of the card author's choice) or ours. */
  #base(key: RecordKey): string {
    if (this.#follow && key.locator?.backend === 'http') {
      const o = httpOrigin(key.locator.url);
      if ('origin' in o) return o.origin;
    }
    return this.url;
  }

  #request(
    method: 'GET' | 'PUT',
    url: string,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const u = new URL(url);
      const requestFn = u.protocol === 'https:' ? httpsRequest : httpRequest;
      let settled = false;
      const finish = (error: RendezvousError | null, reply?: Reply) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(onClose);
        if (error) reject(error);
        else resolve(reply as Reply);
      };
      const req = requestFn(
        u,
        {
          method,
          agent: false,
          headers: body
            ? { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }
            : { accept: 'application/octet-stream' },
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE) {
              req.destroy();
              finish(new RendezvousError('UNAVAILABLE', `server answered more than ${MAX_RESPONSE} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () =>
            finish(null, {
              status: res.statusCode ?? 0,
              body: new Uint8Array(Buffer.concat(chunks)),
              contentType: String(res.headers['content-type'] ?? ''),
            }),
          );
          res.on('error', (e) =>
            finish(new RendezvousError('UNAVAILABLE', `response failed: ${e.message}`, { cause: e })),
          );
        },
      );
      const onAbort = () => {
        req.destroy();
        finish(new RendezvousError('ABORTED', 'operation aborted', { cause: signal?.reason }));
      };
      const onClose = () => {
        req.destroy();
        finish(new RendezvousError('CLOSED', 'http backend is closed'));
      };
      const timer = setTimeout(() => {
        req.destroy();
        finish(new RendezvousError('UNAVAILABLE', `${method} ${url} timed out after ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.add(onClose);
      req.on('error', (e) =>
        finish(new RendezvousError('UNAVAILABLE', `${method} ${url} failed: ${e.message}`, { cause: e })),
      );
      req.end(body);
    });
  }

  static #serverError(reply: Reply): string {
    try {
      const j = JSON.parse(new TextDecoder().decode(reply.body)) as { code?: unknown; message?: unknown };
      return `${String(j.code)}: ${String(j.message)}`;
    } catch {
      return `HTTP ${reply.status}`;
    }
  }

  async publish(key: RecordKey, value: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    const peerId = checkRecordKey(key);
    if (!(value instanceof Uint8Array)) throw new TypeError('"value" expected Uint8Array');
    this.#enter(options.signal);
    if (value.length > this.capabilities.maxValueSize) {
      throw new RendezvousError(
        'TOO_LARGE',
        `value is ${value.length} bytes, limit ${this.capabilities.maxValueSize}`,
      );
    }
    const url = `${this.url}/v1/records/${peerIdToString(peerId)}`;
    const reply = await this.#request('PUT', url, value, options.signal);
    if (reply.status === 204 || reply.status === 200) return { locator: { backend: 'http', url: this.url } };
    const detail = HttpBackend.#serverError(reply);
    if (reply.status === 409) throw new RendezvousError('STALE_SEQUENCE', `server refused: ${detail}`);
    if (reply.status === 413) throw new RendezvousError('TOO_LARGE', `server refused: ${detail}`);
    if (reply.status === 402) throw new RendezvousError('PAYMENT_REQUIRED', `server refused: ${detail}`);
    // 400: the server says the record is bad (signature, expiry); 429/5xx: try later.
    throw new RendezvousError('UNAVAILABLE', `server answered ${reply.status}: ${detail}`);
  }

  async resolve(key: RecordKey, options: ResolveOptions = {}): Promise<Uint8Array | null> {
    const peerId = checkRecordKey(key);
    this.#enter(options.signal);
    const url = `${this.#base(key)}/v1/records/${peerIdToString(peerId)}`;
    const reply = await this.#request('GET', url, undefined, options.signal);
    if (reply.status === 404) return null;
    if (reply.status !== 200) {
      throw new RendezvousError(
        'UNAVAILABLE',
        `server answered ${reply.status}: ${HttpBackend.#serverError(reply)}`,
      );
    }
    // Untrusted bytes: the resolver verifies them.
    return reply.body;
  }

  canResolve(locator: Locator): boolean {
    if (locator.backend !== 'http') return false;
    const o = httpOrigin(locator.url);
    return 'origin' in o && (this.#follow || o.origin === this.url);
  }

  async *watch(key: RecordKey, options: ResolveOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const peerId = checkRecordKey(key);
    this.#enter(undefined);
    const signal = options.signal;
    const wsUrl = `${this.#base(key).replace(/^http/, 'ws')}/v1/watch/${peerIdToString(peerId)}`;
    let last: Uint8Array | undefined;
    // The server closes a watch it pushed nothing on for a while with 1001 (going away): open a
    // new one. Sessions that end quickly back off (1 s doubling to 60 s) so a server that keeps
    // closing cannot make us hammer it.
    let delay = 1000;
    while (!signal?.aborted && !this.#closed) {
      const started = Date.now();
      const session = this.#watchOnce(wsUrl, signal);
      let code = 0;
      while (true) {
        const next = await session.next();
        if (next.done) {
          code = next.value;
          break;
        }
        if (last === undefined || !equalBytes(next.value, last)) {
          last = next.value;
          yield next.value;
        }
      }
      if (code !== WATCH_GOING_AWAY || signal?.aborted || this.#closed) return;
      delay = Date.now() - started > 60_000 ? 1000 : Math.min(60_000, delay * 2);
      const link = linkSignals([signal, this.#closing.signal]);
      try {
        await sleep(delay / 2 + Math.random() * (delay / 2), link.signal);
      } catch {
        return;
      } finally {
        link.dispose();
      }
    }
  }

  /** One watch socket: yields what the server pushes, returns the close code. */
  async *#watchOnce(
    wsUrl: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array, number, undefined> {
    if (signal?.aborted) return 0;
    const ws = new WebSocket(wsUrl, { maxPayload: MAX_RESPONSE, handshakeTimeout: this.#timeoutMs });
    this.#sockets.add(ws);
    const queue: Uint8Array[] = [];
    let ended = false;
    let closeCode = 0;
    let failure: RendezvousError | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return; // ignore anything but records
      queue.push(new Uint8Array(data));
      notify();
    });
    ws.on('error', (e) => {
      failure = new RendezvousError('UNAVAILABLE', `watch ${wsUrl} failed: ${e.message}`, { cause: e });
    });
    ws.on('close', (code: number) => {
      closeCode = code;
      ended = true;
      notify();
    });
    const stop = () => {
      ended = true;
      ws.terminate();
      notify();
    };
    signal?.addEventListener('abort', stop, { once: true });
    this.#pending.add(stop);
    try {
      while (true) {
        const v = queue.shift();
        if (v !== undefined) {
          yield v;
          continue;
        }
        if (ended) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      if (failure !== undefined && !signal?.aborted && !this.#closed) throw failure;
      return closeCode;
    } finally {
      signal?.removeEventListener('abort', stop);
      this.#pending.delete(stop);
      ws.terminate();
      this.#sockets.delete(ws);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const settle of [...this.#pending]) settle();
    this.#closing.abort();
    const pending = [...this.#sockets].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) resolve();
          else ws.once('close', () => resolve());
          ws.terminate();
        }),
    );
    await Promise.all(pending);
  }
}

export function httpBackend(options: HttpBackendOptions): HttpBackend {
  return new HttpBackend(options);
}
