// The WebSocket carrier's client: one relay URL, one WebSocket at a time, reconnecting with
// backoff. Portable: only the WHATWG WebSocket surface (which Node's `ws` also implements) and
// timers, so a browser reuses it with its own WebSocket (see portable.ts).
import { type WsAddress, wsAddress } from './address.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { closeReasonOf, DEFAULT_MAX_PAYLOAD, isFatalClose, SUBPROTOCOL, WS_CLOSE } from './close-codes.js';
import { WsTransportError } from './errors.js';

/** The part of the WHATWG WebSocket the carrier uses (browsers' WebSocket, Node's `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  readonly bufferedAmount: number;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens WebSockets. `headers`: whether it can send HTTP headers (Node yes, browsers no). */
export interface WebSocketFactory {
  readonly headers: boolean;
  create(
    url: string,
    protocol: string,
    init: { headers: Record<string, string>; maxPayload: number },
  ): WebSocketLike;
}

export interface WsTransportOptions {
  /** the relay's WebSocket URL, `ws://` or `wss://` (an https page may open only `wss:`) */
  url: string;
  /** bearer token: `Authorization: Bearer` where headers can be sent, else `?token=` */
  token?: string;
  /** how to open a WebSocket (the Node entry point passes `ws`; a browser its global WebSocket) */
  webSocket: WebSocketFactory;
  /** largest datagram sent or accepted, bytes (default 65,536: the relay's maximum) */
  maxMessageSize?: number;
  /** above this many bytes waiting in the socket, send() drops (drop-newest) (default 1 MiB) */
  maxBufferedBytes?: number;
  /** an attempt that has not opened by then is abandoned (default 10,000 ms) */
  connectTimeoutMs?: number;
  /** reconnect schedule, or false for one connection only (default: backoff 250 ms .. 30 s) */
  reconnect?: BackoffOptions | false;
  /** a connection open this long resets the backoff when it ends (default 5,000 ms) */
  stableAfterMs?: number;
}

export type WsTransportState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What onState() reports. */
export interface WsStateChange {
  state: WsTransportState;
  /** 'reconnecting': failed attempts in a row, and the delay before the next */
  attempt?: number;
  retryInMs?: number;
  /** why the previous WebSocket ended (closing states) */
  error?: WsTransportError;
}

export interface WsTransportStats {
  state: WsTransportState;
  sent: number;
  bytesSent: number;
  received: number;
  bytesReceived: number;
  /** datagrams not sent or not delivered, by reason */
  dropped: { not_open: number; backpressure: number; too_big: number; text: number };
  /** WebSockets opened (1 + successful reconnects) */
  opens: number;
  /** attempts that failed or connections that ended, followed by a retry */
  retries: number;
  bufferedAmount: number;
  lastClose: { code: number; reason: string } | null;
}

const OPEN = 1;
const encoder = /* @__PURE__ */ new TextEncoder();

/**
 * A datagram carrier over one WebSocket: one binary message = one srmudp datagram. Shaped like
 * `@srmudp/transport-node`'s UdpTransport (send / onDatagram / onError / stats / close), with one
 * remote: {@link WsTransport.remote}. Never throws for network conditions; API misuse throws.
 */
export class WsTransport {
  /** the relay this carrier reaches, as a `{ host, port }` address (see wsAddress) */
  readonly remote: WsAddress;
  readonly url: string;
  private readonly options: Required<Omit<WsTransportOptions, 'token' | 'reconnect'>> & {
    token: string | undefined;
  };
  private readonly backoff: Backoff | null;
  private socket: WebSocketLike | null = null;
  private openedAt = 0;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private current: WsTransportState = 'connecting';
  private started = false;
  private closedPromise: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;
  private datagramHandler: ((data: Uint8Array, from: WsAddress) => void) | undefined;
  private errorHandler: ((err: WsTransportError) => void) | undefined;
  private stateHandler: ((change: WsStateChange) => void) | undefined;
  private readonly s: Omit<WsTransportStats, 'state' | 'bufferedAmount'> = {
    sent: 0,
    bytesSent: 0,
    received: 0,
    bytesReceived: 0,
    dropped: { not_open: 0, backpressure: 0, too_big: 0, text: 0 },
    opens: 0,
    retries: 0,
    lastClose: null,
  };

  constructor(options: WsTransportOptions) {
    this.remote = wsAddress(options.url); // validates the URL
    this.url = options.url;
    if (typeof options.webSocket?.create !== 'function')
      throw new TypeError('"webSocket" expected a WebSocketFactory ({ headers, create })');
    this.options = {
      url: options.url,
      token: options.token,
      webSocket: options.webSocket,
      maxMessageSize: intAtLeast('maxMessageSize', options.maxMessageSize ?? DEFAULT_MAX_PAYLOAD, 1),
      maxBufferedBytes: intAtLeast('maxBufferedBytes', options.maxBufferedBytes ?? 1 << 20, 1),
      connectTimeoutMs: intAtLeast('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1),
      stableAfterMs: intAtLeast('stableAfterMs', options.stableAfterMs ?? 5_000, 0),
    };
    this.backoff = options.reconnect === false ? null : new Backoff(options.reconnect ?? {});
  }

  /**
   * Opens the first WebSocket and resolves once it is open; rejects with the first attempt's
   * {@link WsTransportError} (the transport is then closed). Later drops reconnect by themselves.
   */
  static connect(options: WsTransportOptions): Promise<WsTransport> {
    const t = new WsTransport(options);
    return new Promise((resolve, reject) => {
      t.onState((change) => {
        if (change.state === 'open') {
          t.onState(undefined);
          resolve(t);
        } else if (change.state === 'reconnecting' || change.state === 'closed') {
          t.onState(undefined);
          void t.close();
          reject(
            change.error ?? new WsTransportError('WS_CONNECT_FAILED', `could not open ${t.remote.host}`),
          );
        }
      });
      t.start();
    });
  }

  /** Starts connecting (idempotent). */
  start(): void {
    if (this.started || this.current === 'closed') return;
    this.started = true;
    this.open();
  }

  get state(): WsTransportState {
    return this.current;
  }

  /** Bytes queued in the WebSocket and not yet handed to the network. */
  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  onDatagram(handler: ((data: Uint8Array, from: WsAddress) => void) | undefined): void {
    this.datagramHandler = handler;
  }

  onError(handler: ((err: WsTransportError) => void) | undefined): void {
    this.errorHandler = handler;
  }

  /** 'open' after every (re)connect: a driver re-validates its session then. */
  onState(handler: ((change: WsStateChange) => void) | undefined): void {
    this.stateHandler = handler;
  }

  /**
   * Sends one datagram as one binary message. `host`/`port`, when given, must be
   * {@link remote}'s (a driver routing by address passes them). Returns false when the datagram
   * was dropped: not open, too big, or the send buffer above `maxBufferedBytes` (drop-newest,
   * the reliability layer sees a loss), each counted in stats().dropped.
   */
  send(data: Uint8Array, host?: string, port?: number): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected a Uint8Array');
    if (
      host !== undefined &&
      (host !== this.remote.host || (port !== undefined && port !== this.remote.port))
    )
      throw new TypeError(
        `"host" expected this carrier's address ${this.remote.host}:${this.remote.port}, got ${host}:${port}`,
      );
    const ws = this.socket;
    if (this.current !== 'open' || ws === null || ws.readyState !== OPEN) {
      this.s.dropped.not_open++;
      return false;
    }
    if (data.length > this.options.maxMessageSize) {
      this.s.dropped.too_big++;
      this.report(
        new WsTransportError(
          'WS_MESSAGE_TOO_BIG',
          `datagram of ${data.length} bytes is above maxMessageSize ${this.options.maxMessageSize}`,
        ),
      );
      return false;
    }
    if (ws.bufferedAmount > this.options.maxBufferedBytes) {
      this.s.dropped.backpressure++;
      return false;
    }
    try {
      ws.send(data);
    } catch (e) {
      // a socket closing under us: the close handler reconnects
      this.s.dropped.not_open++;
      this.report(new WsTransportError('WS_CLOSED', 'send on a closing WebSocket', { cause: e }));
      return false;
    }
    this.s.sent++;
    this.s.bytesSent += data.length;
    return true;
  }

  /**
   * Drops the current WebSocket (if any) and connects again after `delayMs` (the relay's
   * "restarting, reconnect in" hint), without counting a failure.
   */
  reconnect(delayMs = 0): void {
    if (this.current === 'closed' || !this.started) return;
    this.clearTimers();
    this.detach(WS_CLOSE.normal, 'reconnect');
    this.setState({ state: 'reconnecting', attempt: 0, retryInMs: delayMs });
    this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  stats(): WsTransportStats {
    return {
      ...this.s,
      dropped: { ...this.s.dropped },
      lastClose: this.s.lastClose ? { ...this.s.lastClose } : null,
      state: this.current,
      bufferedAmount: this.bufferedAmount,
    };
  }

  /** Closes for good (code 1000); idempotent, same promise every call. */
  close(): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this.closedPromise = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    this.clearTimers();
    const ws = this.socket;
    this.setState({ state: 'closed' });
    if (ws === null || ws.readyState > OPEN) {
      this.socket = null;
      this.resolveClosed?.();
    } else {
      // resolved by onclose; bounded in case the peer never answers the close handshake
      const timer = setTimeout(() => this.resolveClosed?.(), 2_000);
      const done = this.resolveClosed;
      this.resolveClosed = () => {
        clearTimeout(timer);
        done?.();
      };
      try {
        ws.close(WS_CLOSE.normal, 'client closed');
      } catch {
        this.resolveClosed();
      }
    }
    return this.closedPromise;
  }

  // ---- internals ------------------------------------------------------------------------------

  private open(): void {
    this.retryTimer = null;
    if (this.current === 'closed') return;
    const { webSocket, token, maxMessageSize, connectTimeoutMs } = this.options;
    let url = this.url;
    const headers: Record<string, string> = {};
    if (token !== undefined) {
      if (webSocket.headers) headers.authorization = `Bearer ${token}`;
      else {
        const u = new URL(url);
        u.searchParams.set('token', token);
        url = u.toString();
      }
    }
    let ws: WebSocketLike;
    try {
      // the server accepts messages up to maxMessageSize; a relay header is within it
      ws = webSocket.create(url, SUBPROTOCOL, { headers, maxPayload: maxMessageSize });
    } catch (e) {
      this.failed(
        new WsTransportError('WS_CONNECT_FAILED', `could not open ${this.remote.host}`, { cause: e }),
      );
      return;
    }
    this.socket = ws;
    if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer';
    let lastError: unknown;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.socket !== ws) return;
      this.detach(WS_CLOSE.normal, 'connect timeout');
      this.failed(
        new WsTransportError(
          'WS_CONNECT_FAILED',
          `${this.remote.host} did not open within ${connectTimeoutMs} ms`,
        ),
      );
    }, connectTimeoutMs);
    ws.onopen = () => {
      if (this.socket !== ws) return;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      if (ws.protocol !== SUBPROTOCOL) {
        this.detach(WS_CLOSE.subprotocol, 'srmudp.relay.v1 expected');
        this.fatal(
          new WsTransportError('WS_SUBPROTOCOL', `${this.remote.host} did not select ${SUBPROTOCOL}`, {
            closeCode: WS_CLOSE.subprotocol,
            closeReason: 'subprotocol',
          }),
        );
        return;
      }
      this.openedAt = Date.now();
      this.s.opens++;
      this.setState({ state: 'open' });
    };
    ws.onmessage = (ev) => {
      if (this.socket !== ws) return;
      const data = toBytes(ev.data);
      if (data === null) {
        this.s.dropped.text++;
        return;
      }
      this.s.received++;
      this.s.bytesReceived += data.length;
      this.datagramHandler?.(data, this.remote);
    };
    ws.onerror = (ev) => {
      lastError =
        (ev as { error?: unknown; message?: unknown }).error ?? (ev as { message?: unknown }).message ?? ev;
    };
    ws.onclose = (ev) => {
      if (this.socket !== ws) {
        // our own close() of a socket we let go of
        if (this.current === 'closed') this.resolveClosed?.();
        return;
      }
      this.socket = null;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      this.s.lastClose = { code: ev.code, reason: ev.reason };
      if (this.current === 'closed') {
        this.resolveClosed?.();
        return;
      }
      const wasOpen = this.current === 'open';
      const reason = closeReasonOf(ev.code);
      const detail = ev.reason ? `: ${ev.reason}` : '';
      if (!wasOpen && ev.code === 1006) {
        this.failed(
          new WsTransportError(
            'WS_CONNECT_FAILED',
            `could not open ${this.remote.host}${errorText(lastError)}`,
            {
              cause: lastError,
              closeCode: ev.code,
              closeReason: reason,
            },
          ),
        );
        return;
      }
      if (ev.code === WS_CLOSE.unauthorized) {
        this.fatal(
          new WsTransportError('WS_UNAUTHORIZED', `${this.remote.host} refused admission${detail}`, {
            closeCode: ev.code,
            closeReason: reason,
          }),
        );
        return;
      }
      const err = new WsTransportError(
        'WS_CLOSED',
        `${this.remote.host} closed the WebSocket (${ev.code} ${reason})${detail}`,
        {
          closeCode: ev.code,
          closeReason: reason,
        },
      );
      if (isFatalClose(ev.code)) this.fatal(err);
      else {
        if (wasOpen && Date.now() - this.openedAt >= this.options.stableAfterMs) this.backoff?.reset();
        this.failed(err);
      }
    };
  }

  /** An attempt failed or an open connection ended: retry per the backoff, or give up. */
  private failed(error: WsTransportError): void {
    this.report(error);
    const delay = this.backoff?.next() ?? null;
    if (delay === null) {
      const gaveUp =
        this.backoff === null
          ? error
          : new WsTransportError(
              'WS_GAVE_UP',
              `gave up on ${this.remote.host} after ${this.backoff.attempts} attempts`,
              {
                cause: error,
              },
            );
      this.fatal(gaveUp);
      return;
    }
    this.s.retries++;
    this.setState({ state: 'reconnecting', attempt: this.backoff?.attempts ?? 0, retryInMs: delay, error });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private fatal(error: WsTransportError): void {
    if (error.code !== 'WS_CLOSED' && error.code !== 'WS_CONNECT_FAILED') this.report(error);
    this.clearTimers();
    this.socket = null;
    this.setState({ state: 'closed', error });
  }

  private detach(code: number, reason: string): void {
    const ws = this.socket;
    this.socket = null;
    if (ws === null) return;
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  private clearTimers(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.connectTimer = null;
    this.retryTimer = null;
  }

  private setState(change: WsStateChange): void {
    this.current = change.state;
    this.stateHandler?.(change);
  }

  private report(err: WsTransportError): void {
    this.errorHandler?.(err);
  }
}

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof Uint8Array) return data; // Node ws with binaryType 'nodebuffer'
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null; // text frames carry no datagrams
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `: ${e.message}`;
  if (typeof e === 'string' && e.length > 0) return `: ${e}`;
  return '';
}

function intAtLeast(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min)
    throw new RangeError(`"${name}" expected an integer >= ${min}, got ${v}`);
  return v;
}

/** UTF-8 bytes of a close reason are limited to 123 (RFC 6455 §5.5). */
export function clampCloseReason(reason: string): string {
  let out = reason;
  while (encoder.encode(out).length > 123) out = out.slice(0, -1);
  return out;
}
