/**
 * The node's peers by name, as the application sees them: `status()` (per peer: state, path,
 * RTT, loss, bytes, last error, carrier), `connection(name)`, and the names `send()` goes to.
 * Named peers (named-peers.ts) come first, under their names; connected peers nobody named
 * follow under their peer id text. One place for how a peer is reported and found by name.
 */
import type { PathInfo } from '@srmudp/core';
import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import { SrmudpError } from '@srmudp/wire';
import type { Connection } from './connection.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { NamedPeers } from './named-peers.js';
import type { WsRelays } from './ws-relays.js';

export interface PeerStatus {
  name: string;
  peerId: string | null;
  state: 'connecting' | 'established' | 'reconnecting' | 'closed';
  path: PathInfo | null;
  /** smoothed round-trip time; null until it has been measured (just after connecting) */
  rttMs: number | null;
  /**
   * the smallest round-trip time seen on the connection (the path's own latency, without the
   * queueing and event-loop delays the smoothed value carries from its first samples); null until measured
   */
  minRttMs: number | null;
  lossRate: number | null;
  bytesSent: number;
  bytesReceived: number;
  /** why the last dial failed ('PUNCH_IMPOSSIBLE', 'UDP_BLOCKED', 'HANDSHAKE_TIMEOUT', ...), until it connects */
  lastError: { code: string; message: string } | null;
  /**
   * What carries the path from here: 'udp', or 'websocket' for a path relayed through one of
   * the node's WebSocket relays (`relayed (websocket)`); null without a path.
   */
  carrier: 'udp' | 'websocket' | null;
}

export class PeerDirectory {
  constructor(
    private readonly named: NamedPeers,
    private readonly registry: ConnectionRegistry,
    private readonly wsRelays: WsRelays,
  ) {}

  /** Per named peer (and per unnamed connected peer): state, path, RTT, loss, bytes. */
  status(): Record<string, PeerStatus> {
    const out: Record<string, PeerStatus> = {};
    for (const p of this.named.values()) {
      const s = p.conn && !p.conn.isClosed ? p.conn.stats() : null;
      out[p.name] = {
        name: p.name,
        peerId: p.key ? peerIdToString(p.key) : null,
        state: s ? 'established' : p.retryTimer ? 'reconnecting' : p.dialing ? 'connecting' : 'closed',
        path: s?.path ?? null,
        rttMs: s?.rttMeasured ? s.rttMs : null,
        minRttMs: s?.rttMeasured ? s.minRttMs : null,
        lossRate: s ? s.lossRate : null,
        bytesSent: s?.bytesSent ?? 0,
        bytesReceived: s?.bytesReceived ?? 0,
        lastError: s || !p.lastError ? null : { code: p.lastError.code, message: p.lastError.message },
        carrier: this.carrierOf(s?.path ?? null),
      };
    }
    for (const c of this.registry.byCoreId.values()) {
      if (out[c.name] || c.isClosed) continue;
      const s = c.stats();
      out[c.name] = {
        name: c.name,
        peerId: c.peerId,
        state: 'established',
        path: s.path,
        rttMs: s.rttMeasured ? s.rttMs : null,
        minRttMs: s.rttMeasured ? s.minRttMs : null,
        lossRate: s.lossRate,
        bytesSent: s.bytesSent,
        bytesReceived: s.bytesReceived,
        lastError: null,
        carrier: this.carrierOf(s.path),
      };
    }
    return out;
  }

  /** The connection to a named peer (or to a peer id text), if established. */
  connection(name: string): Connection | undefined {
    const p = this.named.get(name);
    if (p) return p.conn ?? undefined;
    for (const c of this.registry.byCoreId.values()) if (c.name === name || c.peerId === name) return c;
    return undefined;
  }

  /**
   * The names `send()` goes to: every connected peer, or `to` once each of its names is known
   * (a peer id text counts as known: an unnamed peer that may just have left is skipped like a
   * named peer that is not connected); any other name is an 'UNKNOWN_PEER' error.
   */
  sendTargets(to: string[] | undefined): string[] {
    if (to === undefined) return [...this.connectedNames()];
    if (!Array.isArray(to)) throw new TypeError('"to" expected an array of peer names');
    const unknown = to.filter(
      (n) => !this.named.has(n) && this.connection(n) === undefined && !isPeerIdText(n),
    );
    if (unknown.length > 0) {
      const known = [...new Set([...this.named.names(), ...this.connectedNames()])];
      throw new SrmudpError(
        'UNKNOWN_PEER',
        `no peer named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${known.length > 0 ? known.join(', ') : 'none'}; add it with peers.add)`,
      );
    }
    return to;
  }

  private *connectedNames(): Iterable<string> {
    const seen = new Set<string>();
    for (const p of this.named.values()) {
      if (p.conn && !p.conn.isClosed) {
        seen.add(p.name);
        yield p.name;
      }
    }
    for (const c of this.registry.byCoreId.values()) if (!c.isClosed && !seen.has(c.name)) yield c.name;
  }

  private carrierOf(path: PathInfo | null): 'udp' | 'websocket' | null {
    if (path === null) return null;
    return path.kind === 'relayed' ? this.wsRelays.carrierOf(path.address) : 'udp';
  }
}

function isPeerIdText(text: string): boolean {
  try {
    parsePeerId(text);
    return true;
  } catch {
    return false;
  }
}
