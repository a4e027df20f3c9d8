// The WebSocket carrier's server side, for relays and gates: accepts WebSockets on an existing
// HTTP(S) server (`ws` with noServer), gives each one a synthetic `{ host, port }` address so a
// sans-IO endpoint sees WebSocket clients exactly as UDP clients, and applies the carrier's own
// limits (new connections per IP, connections per IP and in total, message size, send buffer).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { WsAddress } from './address.js';
import { DEFAULT_MAX_PAYLOAD, SUBPROTOCOL, WS_CLOSE, type WsCloseReason } from './close-codes.js';

export { SUBPROTOCOL, WS_CLOSE } from './close-codes.js';

/** What the admission hook sees of a WebSocket request (before any srmudp byte). */
export interface WsAdmissionRequest {
  /** the client's IP address (X-Forwarded-For's last hop with trustProxy) */
  ip: string;
  /** `Authorization: Bearer <token>` or `?token=<token>` (browsers cannot set headers) */
  token: string | undefined;
  headers: IncomingMessage['headers'];
}

export interface WsAcceptorOptions {
  /** URL path served (default '/relay'); other paths are left to the HTTP server */
  path?: string;
  /** largest message accepted; a bigger one closes with 1009 (default 65,536) */
  maxPayload?: number;
  /** admit or refuse (close 4001 `unauthorized`); default: admit everyone */
  admit?: (req: WsAdmissionRequest) => boolean;
  /** new WebSockets per IP per second (token bucket), then close 4002 (default 10) */
  newConnectionsPerIpPerSec?: number;
  /** burst of new WebSockets per IP (default 20) */
  newConnectionsBurst?: number;
  /** WebSockets open at once from one IP (default 1,024) */
  maxConnectionsPerIp?: number;
  /** WebSockets open at once (default 10,000), then close 4003 `server_full` */
  maxConnections?: number;
  /** send buffer above which the connection is reported not writable (default 256 KiB) */
  highWaterBytes?: number;
  /** send buffer above which the client is closed as a slow consumer, 4004 (default 4 MiB) */
  maxBufferedBytes?: number;
  /** take the client IP from X-Forwarded-For (only behind your own reverse proxy) */
  trustProxy?: boolean;
  /** monotonic ms (default performance.now) */
  now?: () => number;
}

export interface WsAcceptorStats {
  connections: number;
  accepted: number;
  refused: Record<'unauthorized' | 'too_many_connections' | 'server_full' | 'subprotocol', number>;
  closed: Record<string, number>;
  /** protocol errors of clients, by ws' error code (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: over maxPayload) */
  errors: Record<string, number>;
  received: number;
  bytesReceived: number;
  sent: number;
  bytesSent: number;
  dropped: { not_open: number; held_overflow: number };
  pausedMs: number;
}

interface Peer {
  readonly ws: WebSocket;
  readonly address: WsAddress;
  readonly ip: string;
  writable: boolean;
  pauseTimer: ReturnType<typeof setTimeout> | null;
  /** messages that arrived after pause() (ws still emits the rest of a read chunk) */
  held: Buffer[];
  heldBytes: number;
}

/** Bound of what a paused client may still deliver from data already read (then dropped). */
const MAX_HELD_BYTES = 1 << 20;

/** The acceptor's host prefix: `ws~<client ip>` (never an IP literal, so never a UDP address). */
export const WS_HOST_PREFIX = 'ws~';

const MAX_TRACKED_IPS = 65_536;

/**
 * One binary message = one datagram, both ways. Each client is addressed as
 * `{ host: 'ws~<its IP>', port: <slot> }`: per-IP limits of a layer above (core's handshake
 * budgets group by host when it is not an IP literal) then apply per real client IP.
 */
export class WsAcceptor {
  private readonly wss: WebSocketServer;
  private readonly peers = new Map<string, Peer>();
  private readonly perIp = new Map<string, { open: number; next: number; tokens: number; at: number }>();
  private readonly blocked = new Set<Peer>();
  private drainTimer: ReturnType<typeof setInterval> | null = null;
  private readonly o: Required<Omit<WsAcceptorOptions, 'admit'>> & { admit: WsAcceptorOptions['admit'] };
  private datagramHandler: ((data: Uint8Array, from: WsAddress) => void) | undefined;
  private openHandler: ((address: WsAddress, ip: string) => void) | undefined;
  private closeHandler: ((address: WsAddress, code: number, reason: string) => void) | undefined;
  private writableHandler: ((address: WsAddress, writable: boolean) => void) | undefined;
  private closing = false;
  private readonly s: WsAcceptorStats = {
    connections: 0,
    accepted: 0,
    refused: { unauthorized: 0, too_many_connections: 0, server_full: 0, subprotocol: 0 },
    closed: {},
    errors: {},
    received: 0,
    bytesReceived: 0,
    sent: 0,
    bytesSent: 0,
    dropped: { not_open: 0, held_overflow: 0 },
    pausedMs: 0,
  };

  constructor(options: WsAcceptorOptions = {}) {
    this.o = {
      path: options.path ?? '/relay',
      maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      admit: options.admit,
      newConnectionsPerIpPerSec: options.newConnectionsPerIpPerSec ?? 10,
      newConnectionsBurst: options.newConnectionsBurst ?? 20,
      maxConnectionsPerIp: options.maxConnectionsPerIp ?? 1024,
      maxConnections: options.maxConnections ?? 10_000,
      highWaterBytes: options.highWaterBytes ?? 256 * 1024,
      maxBufferedBytes: options.maxBufferedBytes ?? 4 << 20,
      trustProxy: options.trustProxy ?? false,
      now: options.now ?? (() => performance.now()),
    };
    if (!this.o.path.startsWith('/'))
      throw new TypeError(`"path" expected to start with /, got ${this.o.path}`);
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: this.o.maxPayload,
      clientTracking: false,
      // select ours when offered; otherwise the upgrade completes without one and we close 4005
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
  }

  get path(): string {
    return this.o.path;
  }

  onDatagram(handler: ((data: Uint8Array, from: WsAddress) => void) | undefined): void {
    this.datagramHandler = handler;
  }
  onOpen(handler: ((address: WsAddress, ip: string) => void) | undefined): void {
    this.openHandler = handler;
  }
  onClose(handler: ((address: WsAddress, code: number, reason: string) => void) | undefined): void {
    this.closeHandler = handler;
  }
  /** The send buffer crossed highWaterBytes (false) or fell below half of it (true). */
  onWritable(handler: ((address: WsAddress, writable: boolean) => void) | undefined): void {
    this.writableHandler = handler;
  }

  /**
   * For the HTTP server's 'upgrade' event. Returns false when the path is not ours (the caller
   * answers, e.g. 404). Refusals complete the upgrade and close with a typed code, so browsers
   * learn the reason too.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://relay.invalid');
    if (url.pathname !== this.o.path) return false;
    const ip = this.clientIp(req);
    const auth = req.headers.authorization;
    const bearer = typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
    const token = bearer ?? url.searchParams.get('token') ?? undefined;
    let refusal: keyof WsAcceptorStats['refused'] | 'going_away' | null = null;
    if (this.closing) refusal = 'going_away';
    else if (this.o.admit !== undefined && !this.o.admit({ ip, token, headers: req.headers }))
      refusal = 'unauthorized';
    else if (this.peers.size >= this.o.maxConnections) refusal = 'server_full';
    else if (!this.takeConnectionToken(ip)) refusal = 'too_many_connections';
    socket.on('error', () => socket.destroy());
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (refusal === null && ws.protocol !== SUBPROTOCOL) refusal = 'subprotocol';
      if (refusal !== null) {
        if (refusal !== 'going_away') this.s.refused[refusal]++;
        ws.close(WS_CLOSE[refusal], refusal);
        // a client that ignores the close handshake does not keep the socket
        setTimeout(() => ws.terminate(), 2_000).unref?.();
        return;
      }
      this.accept(ws, ip);
    });
    return true;
  }

  /** Sends one datagram to a client; false (counted) when it is gone. */
  send(data: Uint8Array, host: string, port: number): boolean {
    const peer = this.peers.get(`${host}|${port}`);
    if (peer === undefined || peer.ws.readyState !== WebSocket.OPEN) {
      this.s.dropped.not_open++;
      return false;
    }
    peer.ws.send(data, { binary: true });
    this.s.sent++;
    this.s.bytesSent += data.length;
    const buffered = peer.ws.bufferedAmount;
    if (buffered > this.o.maxBufferedBytes) this.disconnect(peer.address, 'slow_consumer');
    else if (peer.writable && buffered > this.o.highWaterBytes) {
      peer.writable = false;
      this.blocked.add(peer);
      this.writableHandler?.(peer.address, false);
      this.drainTimer ??= setInterval(this.checkDrain, 5);
    }
    return true;
  }

  /**
   * Delivers nothing from a client for `ms` and stops reading its socket (TCP then pushes back on
   * it): the relay's rate limit. Messages ws had already read are held and delivered, in order,
   * when the pause ends. `requeue`: a message the caller got but could not take yet; it is
   * delivered first when the pause ends.
   */
  pause(address: WsAddress, ms: number, requeue?: Uint8Array): void {
    const peer = this.peers.get(`${address.host}|${address.port}`);
    if (peer === undefined || ms <= 0) return;
    if (requeue !== undefined) {
      const b = Buffer.from(requeue.buffer, requeue.byteOffset, requeue.byteLength);
      peer.held.unshift(b);
      peer.heldBytes += b.length;
    }
    if (peer.pauseTimer !== null) return;
    peer.ws.pause();
    this.s.pausedMs += ms;
    // +1: timers fire on a millisecond clock that may run slightly behind performance.now()
    peer.pauseTimer = setTimeout(() => this.resume(peer), Math.ceil(ms) + 1);
  }

  private resume(peer: Peer): void {
    peer.pauseTimer = null;
    // the handler may pause again while we deliver what was held: stop there
    while (peer.held.length > 0 && peer.pauseTimer === null) {
      const data = peer.held.shift() as Buffer;
      peer.heldBytes -= data.length;
      this.deliver(peer, data);
    }
    if (peer.pauseTimer === null && peer.ws.readyState === WebSocket.OPEN) peer.ws.resume();
  }

  private deliver(peer: Peer, data: Buffer): void {
    this.s.received++;
    this.s.bytesReceived += data.length;
    this.datagramHandler?.(data, peer.address);
  }

  /** Closes one client with a typed reason. */
  disconnect(address: WsAddress, reason: WsCloseReason, text: string = reason): void {
    const peer = this.peers.get(`${address.host}|${address.port}`);
    if (peer === undefined) return;
    peer.ws.close(WS_CLOSE[reason], text);
    setTimeout(() => peer.ws.terminate(), 2_000).unref?.();
  }

  has(address: WsAddress): boolean {
    return this.peers.has(`${address.host}|${address.port}`);
  }

  /** Clients' addresses (for status pages and tests). */
  addresses(): WsAddress[] {
    return [...this.peers.values()].map((p) => p.address);
  }

  /**
   * Refuses new WebSockets and closes every open one with `going_away` (1001): clients reconnect,
   * elsewhere or here after a restart. Resolves when all are closed or after `timeoutMs`.
   */
  async closeAll(timeoutMs = 5_000, text = 'relay restarting'): Promise<void> {
    this.closing = true;
    const all = [...this.peers.values()];
    const gone = all.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.ws.readyState === WebSocket.CLOSED) return resolve();
          p.ws.once('close', () => resolve());
          p.ws.close(WS_CLOSE.going_away, text);
        }),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(gone), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    for (const p of all) p.ws.terminate();
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = null;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  stats(): WsAcceptorStats {
    return {
      ...this.s,
      connections: this.peers.size,
      refused: { ...this.s.refused },
      closed: { ...this.s.closed },
      errors: { ...this.s.errors },
      dropped: { ...this.s.dropped },
    };
  }

  // ---- internals ------------------------------------------------------------------------------

  private accept(ws: WebSocket, ip: string): void {
    const slot = this.allocate(ip);
    if (slot === null) {
      this.s.refused.too_many_connections++;
      ws.close(WS_CLOSE.too_many_connections, 'too_many_connections');
      return;
    }
    ws.binaryType = 'nodebuffer';
    const address: WsAddress = { host: `${WS_HOST_PREFIX}${ip}`, port: slot };
    const key = `${address.host}|${address.port}`;
    const peer: Peer = { ws, address, ip, writable: true, pauseTimer: null, held: [], heldBytes: 0 };
    this.peers.set(key, peer);
    this.s.accepted++;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return; // text carries no datagrams
      if (peer.pauseTimer !== null) {
        if (peer.heldBytes + data.length > MAX_HELD_BYTES) this.s.dropped.held_overflow++;
        else {
          peer.held.push(data);
          peer.heldBytes += data.length;
        }
        return;
      }
      this.deliver(peer, data);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // e.g. maxPayload exceeded (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH): ws closes with 1009 by
      // itself and 'close' follows; counted by ws' error code
      const code = err.code ?? 'unknown';
      this.s.errors[code] = (this.s.errors[code] ?? 0) + 1;
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.peers.delete(key);
      this.blocked.delete(peer);
      if (peer.pauseTimer) clearTimeout(peer.pauseTimer);
      this.release(ip, slot);
      this.s.closed[String(code)] = (this.s.closed[String(code)] ?? 0) + 1;
      this.closeHandler?.(address, code, reason.toString());
    });
    this.openHandler?.(address, ip);
  }

  private readonly checkDrain = (): void => {
    for (const peer of this.blocked) {
      if (peer.ws.bufferedAmount <= this.o.highWaterBytes / 2) {
        this.blocked.delete(peer);
        peer.writable = true;
        this.writableHandler?.(peer.address, true);
      }
    }
    if (this.blocked.size === 0 && this.drainTimer) {
      clearInterval(this.drainTimer);
      this.drainTimer = null;
    }
  };

  private clientIp(req: IncomingMessage): string {
    if (this.o.trustProxy) {
      const xff = req.headers['x-forwarded-for'];
      const last = (Array.isArray(xff) ? xff.join(',') : (xff ?? '')).split(',').at(-1)?.trim();
      if (last) return unmap(last);
    }
    return unmap(req.socket.remoteAddress ?? 'unknown');
  }

  /** Token bucket per IP for new connections (bounded table: idle full buckets are forgotten). */
  private takeConnectionToken(ip: string): boolean {
    const now = this.o.now();
    let e = this.perIp.get(ip);
    if (e === undefined) {
      if (this.perIp.size >= MAX_TRACKED_IPS) this.forgetIdleIps(now);
      e = { open: 0, next: 1, tokens: this.o.newConnectionsBurst, at: now };
      this.perIp.set(ip, e);
    }
    e.tokens = Math.min(
      this.o.newConnectionsBurst,
      e.tokens + ((now - e.at) / 1000) * this.o.newConnectionsPerIpPerSec,
    );
    e.at = now;
    if (e.open >= this.o.maxConnectionsPerIp || e.tokens < 1) return false;
    e.tokens -= 1;
    return true;
  }

  private forgetIdleIps(now: number): void {
    for (const [ip, e] of this.perIp) {
      const refilled = e.tokens + ((now - e.at) / 1000) * this.o.newConnectionsPerIpPerSec;
      if (e.open === 0 && refilled >= this.o.newConnectionsBurst) this.perIp.delete(ip);
    }
    // still full (a flood from many addresses): forget the oldest entries without open sockets
    for (const [ip, e] of this.perIp) {
      if (this.perIp.size < MAX_TRACKED_IPS) break;
      if (e.open === 0) this.perIp.delete(ip);
    }
  }

  /** A free port-like slot 1..65535 for this IP's next WebSocket. */
  private allocate(ip: string): number | null {
    const e = this.perIp.get(ip);
    if (e === undefined) return null;
    for (let i = 0; i < 65_535; i++) {
      const slot = e.next;
      e.next = e.next >= 65_535 ? 1 : e.next + 1;
      if (!this.peers.has(`${WS_HOST_PREFIX}${ip}|${slot}`)) {
        e.open++;
        return slot;
      }
    }
    return null;
  }

  private release(ip: string, _slot: number): void {
    const e = this.perIp.get(ip);
    if (e !== undefined) e.open = Math.max(0, e.open - 1);
  }
}

function unmap(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}
