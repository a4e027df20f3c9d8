// createRelayServer: the relay's process-level parts around the engine: the HTTP(S) server
// (WebSocket upgrade, /healthz, /metrics, /card), the UDP socket, the key file, the logs and the
// graceful shutdown.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, extname, resolve as resolvePath, sep } from 'node:path';
import { type Identity, peerIdToString } from '@srmudp/crypto';
import { autoBackend, loadOrCreateIdentity } from '@srmudp/crypto-node';
import { UdpTransport } from '@srmudp/transport-node';
import { WsAcceptor } from '@srmudp/transport-ws/server';
import { admissionFromConfig } from './admission.js';
import { relayCandidates, relayCard } from './card.js';
import { parseRelayConfig, type RelayConfig, type RelayConfigInput } from './config.js';
import { RelayServerError } from './errors.js';
import { HopTransport } from './hop-transport.js';
import { jsonLogger, type Logger } from './log.js';
import { RateWindow, renderMetrics } from './metrics.js';
import { RelayEngine } from './relay-engine.js';

export interface RelayServerOptions {
  /** a logger (default: JSON lines on stdout at config.logLevel) */
  log?: Logger;
  /** an identity instead of the key file (tests) */
  identity?: Identity;
}

export interface RelayServer {
  readonly config: RelayConfig;
  readonly peerId: string;
  readonly publicKey: Uint8Array;
  /** the contact card (peer id + signed record of the UDP addresses) */
  readonly card: string;
  /** the WebSocket URL clients use (`publicUrl`, or built from the listener) */
  readonly url: string;
  /** `<url>#<peer id>`: the relay notation of issue 15 (`relays: ['wss://host/relay#…']`) */
  readonly relayAddress: string;
  /** bound HTTP(S) listener and UDP socket (null when UDP is off) */
  readonly http: { host: string; port: number };
  readonly udp: { host: string; port: number } | null;
  readonly engine: RelayEngine;
  readonly ws: WsAcceptor;
  /** Prometheus text, as served at /metrics */
  metrics(): string;
  /**
   * Graceful shutdown: health turns 503, clients get STATUS restarting (reconnect in
   * `reconnectInMs`) and a WebSocket close `going_away`, then the sockets close. Idempotent.
   */
  close(): Promise<void>;
}

/** Starts a relay: reads (or creates) the key file, binds UDP and HTTP(S), logs its card. */
export async function createRelayServer(
  input: RelayConfigInput | RelayConfig,
  options: RelayServerOptions = {},
): Promise<RelayServer> {
  const config = parseRelayConfig(input);
  const log = options.log ?? jsonLogger(config.logLevel);
  // the key's folder is created (owner only) on first start, as `srmudp id` does
  if (options.identity === undefined) await mkdir(dirname(config.keyFile), { recursive: true, mode: 0o700 });
  const identity =
    options.identity ??
    (await loadOrCreateIdentity(config.keyFile, undefined, () =>
      log.info('created a new relay identity', { keyFile: config.keyFile }),
    ));
  const peerId = peerIdToString(identity.publicKey);
  const admission = admissionFromConfig(config);
  const L = config.limits;

  let tls: { cert: Buffer; key: Buffer } | null = null;
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    try {
      tls = { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) };
    } catch (e) {
      throw new RelayServerError('TLS_FILE', `cannot read TLS certificate or key: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  const ws = new WsAcceptor({
    path: config.path,
    maxPayload: L.maxMessageSize,
    ...(admission.ws ? { admit: admission.ws } : {}),
    newConnectionsPerIpPerSec: L.newConnectionsPerIpPerSec,
    newConnectionsBurst: L.newConnectionsBurst,
    maxConnectionsPerIp: L.maxConnectionsPerIp,
    maxConnections: L.maxWsConnections,
    trustProxy: config.trustProxy,
  });
  let udp: UdpTransport | null = null;
  if (config.udpPort !== null) {
    try {
      udp = await UdpTransport.bind({ host: config.udpHost, port: config.udpPort });
    } catch (e) {
      throw new RelayServerError(
        'LISTEN_FAILED',
        `cannot bind UDP ${config.udpHost}:${config.udpPort}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
  const transport = new HopTransport(udp, ws);
  const engine = new RelayEngine({
    identity,
    policy: admission.policy,
    acceptKey: admission.acceptKey,
    limits: {
      rateBytesPerSec: L.rateBytesPerSec,
      burstBytes: L.burstBytes,
      maxCircuitsPerClient: L.maxCircuitsPerClient,
      maxMessageSize: L.maxMessageSize,
      sendQueuePackets: L.sendQueuePackets,
      sendQueueBytes: L.sendQueueBytes,
      maxClients: L.maxClients,
      maxCircuits: L.maxCircuits,
    },
    endpointLimits: {
      maxConnections: L.maxClients + 64,
      maxPendingHandshakes: L.maxPendingHandshakes,
      cookieThreshold: L.cookieThreshold,
      // hop sessions carry control messages only: a small buffer bounds memory per client
      maxBufferedBytesPerConnection: 1 << 20,
    },
    transport,
    log,
    cryptoBackend: autoBackend(),
  });

  const startedAt = performance.now();
  const handshakes = new RateWindow();
  let closing: Promise<void> | null = null;
  const metrics = () =>
    renderMetrics(
      engine,
      ws.stats(),
      handshakes.rate(performance.now(), engine.stats().handshakesCompleted),
      startedAt,
    );

  const candidates = relayCandidates(config.announce, udp?.address().port ?? null, config.udpHost);
  const card = relayCard(identity, candidates);

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://relay.invalid').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const body = JSON.stringify({
        ok: closing === null,
        status: closing === null ? 'ok' : 'shutting_down',
        peerId,
      });
      res.writeHead(closing === null ? 200 : 503, { 'content-type': 'application/json' }).end(body);
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics());
    } else if (path === '/card') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' })
        .end(JSON.stringify({ peerId, card, url: server.url, relay: server.relayAddress, udp: candidates }));
    } else if (path === config.path) {
      res
        .writeHead(426, { upgrade: 'websocket', 'content-type': 'text/plain' })
        .end('WebSocket (srmudp.relay.v1) only\n');
    } else if (config.web !== undefined && serveStatic(config.web, path, req.method === 'HEAD', res)) {
      // served from the --web folder
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  };
  const http: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key }, onRequest)
    : createHttpServer(onRequest);
  http.on('upgrade', (req, socket, head) => {
    if (!ws.handleUpgrade(req, socket, head)) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    }
  });
  http.on('clientError', (_e, socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.port, config.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await udp?.close();
    engine.stop();
    throw new RelayServerError(
      'LISTEN_FAILED',
      `cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const bound = http.address() as AddressInfo;
  const scheme = tls ? 'wss' : 'ws';
  const urlHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const url =
    config.publicUrl ??
    `${scheme}://${urlHost === '0.0.0.0' ? '127.0.0.1' : urlHost}:${bound.port}${config.path}`;

  const server: RelayServer = {
    config,
    peerId,
    publicKey: identity.publicKey,
    card,
    url,
    relayAddress: `${url}#${peerId}`,
    http: { host: bound.address, port: bound.port },
    udp: udp ? { host: udp.address().host, port: udp.address().port } : null,
    engine,
    ws,
    metrics,
    close: () => {
      closing ??= (async () => {
        log.info('shutting down: telling clients to reconnect', {
          clients: engine.stats().hops,
          reconnectInMs: config.reconnectInMs,
        });
        await engine.shutdown({ reconnectInMs: config.reconnectInMs, tryForMs: 60_000 }, config.drainMs);
        await ws.closeAll(2_000);
        http.closeAllConnections?.();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        await udp?.close();
        log.info('stopped');
      })();
      return closing;
    },
  };
  log.info('srmudp relay listening', {
    url,
    udp: server.udp,
    admission: config.admission,
    peerId,
    relay: server.relayAddress,
    card,
    tls: tls !== null,
    limits: L,
  });
  return server;
}

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * `--web`: a file of `dir` (`/` → index.html). Only plain names of known types under `dir` (no
 * `..`, no dot files, no symlink out of it); false when there is no such file.
 */
function serveStatic(dir: string, path: string, head: boolean, res: ServerResponse): boolean {
  const rel = path === '/' ? 'index.html' : decodeURIComponent(path).replace(/^\/+/, '');
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/.test(rel) || rel.includes('..'))
    return false;
  const type = STATIC_TYPES[extname(rel)];
  if (type === undefined) return false;
  const root = resolvePath(dir);
  let file: string;
  try {
    file = realpathSync(resolvePath(root, rel));
    if (!file.startsWith(`${realpathSync(root)}${sep}`) || !statSync(file).isFile()) return false;
  } catch {
    return false;
  }
  const body = readFileSync(file);
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(head ? undefined : body);
  return true;
}
