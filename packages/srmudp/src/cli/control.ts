import { chmodSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { peerIdToString } from '@srmudp/crypto';
import type { PeerStatus, SrmudpNode } from '../node.js';
import { cliLog } from './common.js';
import { runDir } from './home.js';

/**
 * How `srmudp status` reaches a running command: every command that runs a node listens on a
 * Unix socket `<SRMUDP_HOME>/run/<command>-<pid>.sock`. The directory is 0700 and the socket
 * 0600, so only the same user can ask; the socket only answers (there is nothing to change
 * through it). Protocol: the client writes one JSON line `{"op":"status"}`, the server answers
 * one JSON line (a {@link ControlSnapshot}) and closes.
 */
export interface ControlSnapshot {
  v: 1;
  command: string;
  pid: number;
  peerId: string;
  address: { host: string; port: number; family: 4 | 6 };
  cryptoBackend: string;
  startedAt: string;
  uptimeMs: number;
  peers: Array<Omit<PeerStatus, 'path'> & { path: SnapshotPath | null }>;
  stats: ReturnType<SrmudpNode['stats']>;
  /** what the command adds (the file being served, the forwarded port...) */
  detail: Record<string, unknown>;
}

const MAX_REQUEST = 1024;

/** A peer's path in a snapshot (JSON): a relayed path's `via` as peer id text. */
export type SnapshotPath =
  | { kind: 'direct'; address: { host: string; port: number } }
  | { kind: 'relayed'; via: string; channel: number; address: { host: string; port: number } };

export function snapshot(
  node: SrmudpNode,
  command: string,
  startedAt: number,
  detail: () => Record<string, unknown>,
): ControlSnapshot {
  const peers = Object.values(node.status()).map((p) => {
    // a relayed path's `via` as a peer id text (JSON has no bytes)
    const path = p.path?.kind === 'relayed' ? { ...p.path, via: peerIdToString(p.path.via) } : p.path;
    return { ...p, path };
  });
  return {
    v: 1,
    command,
    pid: process.pid,
    peerId: node.peerId,
    address: node.address(),
    cryptoBackend: node.cryptoBackend,
    startedAt: new Date(startedAt).toISOString(),
    uptimeMs: Date.now() - startedAt,
    peers,
    stats: node.stats(),
    detail: detail(),
  };
}

export class ControlServer {
  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Listens on the command's socket; null (logged) when it cannot, the command runs anyway. */
  static async start(
    node: SrmudpNode,
    command: string,
    detail: () => Record<string, unknown> = () => ({}),
    path = join(runDir(), `${command}-${process.pid}.sock`),
  ): Promise<ControlServer | null> {
    const startedAt = Date.now();
    rmSync(path, { force: true }); // a stale socket of a dead process with our pid
    const server = createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('error', () => {});
      sock.setTimeout(5000, () => sock.destroy());
      sock.on('data', (d: string) => {
        buf += d;
        if (buf.length > MAX_REQUEST) {
          sock.destroy();
          return;
        }
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        let op: unknown;
        try {
          op = (JSON.parse(buf.slice(0, nl)) as { op?: unknown }).op;
        } catch {
          op = null;
        }
        if (op !== 'status') {
          sock.end(`${JSON.stringify({ error: 'unknown request: expected {"op":"status"}' })}\n`);
          return;
        }
        sock.end(`${JSON.stringify(snapshot(node, command, startedAt, detail))}\n`);
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      chmodSync(path, 0o600);
    } catch (e) {
      cliLog(`control socket ${path} unavailable: ${(e as Error).message}`);
      server.close();
      return null;
    }
    server.unref();
    cliLog(`control socket ${path}`);
    return new ControlServer(path, server);
  }

  close(): void {
    this.server.close();
    rmSync(this.path, { force: true });
  }
}

/** Asks one control socket for its snapshot (bounded by `timeoutMs`). */
export function queryControl(path: string, timeoutMs = 3000): Promise<ControlSnapshot> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write('{"op":"status"}\n'));
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > 8 * 1024 * 1024) sock.destroy(new Error('answer too large'));
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        const v = JSON.parse(buf) as ControlSnapshot & { error?: string };
        if (v.error) reject(new Error(v.error));
        else resolve(v);
      } catch {
        reject(new Error(`${path}: not a status answer`));
      }
    });
  });
}

/** The control sockets in the run directory. */
export function listControlSockets(dir = runDir()): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.sock'))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}
