// The node's connections: the tables (by core's connection id, by peer key, the incoming queue)
// and the routing of core's endpoint events into them: a new connection is made, named, counted
// and announced (onConnected), an event goes to the connection and to the parts that follow it
// (dialer, named peers, relay fallback, relayed punches, WebSocket relays), a closed one leaves
// the tables and gives its path back to the NAT session (onPathGone). node.ts builds the parts.
import { CloseCode, type EndpointEvent, type PathInfo } from '@srmudp/core';
import { isPrivateAddress, type Endpoint as NatEndpoint, type NatSession } from '@srmudp/punch';
import { keyToHex } from '@srmudp/wire';
import { AsyncQueue } from './async-queue.js';
import { Connection, type ConnectionOwner, onRelayedPath } from './connection.js';
import type { Dialer } from './dialer.js';
import type { Driver } from './driver.js';
import { logger, short } from './log.js';
import type { NamedPeers } from './named-peers.js';
import type { Publisher } from './publisher.js';
import type { RelayFallback } from './relay-fallback.js';
import type { RelayedPunch } from './relayed-punch.js';
import type { WsRelays } from './ws-relays.js';

const log = logger('srmudp:node');

/** The node's parts the routing hands events to. */
export interface RegistryParts {
  readonly driver: Driver;
  readonly session: NatSession;
  readonly wsRelays: WsRelays;
  readonly dialer: Dialer;
  readonly named: NamedPeers;
  readonly fallback: RelayFallback;
  readonly relayedPunch: RelayedPunch;
  readonly publisher: Publisher;
}

/** The node as the registry sees it: the connections' owner, and where 'connection'/'stun' go. */
export interface RegistryNode extends ConnectionOwner {
  readonly peerId: string;
  emit(event: 'connection' | 'stun', arg: unknown): boolean;
}

export class ConnectionRegistry {
  readonly byCoreId = new Map<number, Connection>();
  /** incoming connections not yet taken from node.connections() */
  readonly incoming = new AsyncQueue<Connection>(1024);

  #parts: RegistryParts | null = null;

  constructor(private readonly node: RegistryNode) {}

  /** The node's parts, once built (they route into the registry, so they come after it). */
  attach(parts: RegistryParts): void {
    this.#parts = parts;
  }

  private get parts(): RegistryParts {
    if (this.#parts === null) throw new Error('connection registry used before attach()');
    return this.#parts;
  }

  /**
   * The open connection to the peer with key hex `hex`, if any. Found through core's table of
   * connections by peer (the one connect() to that key would return): a second map here, with
   * its own copy of the key text, cost ~150 bytes per connection (heap per idle connection,
   * issue 19).
   */
  liveConnection(hex: string): Connection | undefined {
    const core = this.parts.driver.endpoint.connectionOfPeer(hex);
    const c = core === undefined ? undefined : this.byCoreId.get(core.id);
    return c && !c.isClosed ? c : undefined;
  }

  connectionOf(id: number): Connection | undefined {
    return this.byCoreId.get(id);
  }

  /** Whether core connection `id` is open on a relayed path (relayed-punch.ts). */
  isRelayed(id: number): boolean {
    const c = this.byCoreId.get(id);
    return c !== undefined && onRelayedPath(c);
  }

  /** Whether an open connection's path is relayed through the relay `key` (ws-relays.ts: a learnt relay in use stays). */
  relayInUse(key: Uint8Array): boolean {
    for (const c of this.byCoreId.values()) if (onRelayedPath(c, key)) return true;
    return false;
  }

  onEndpointEvent(e: EndpointEvent): void {
    // the hop sessions with WebSocket relays are not the application's
    if (this.parts.wsRelays.onEndpointEvent(e)) return;
    if (e.type === 'connected' || e.type === 'path_changed') {
      const key = e.type === 'connected' ? e.remoteKey : this.byCoreId.get(e.id)?.remoteKey;
      if (key && e.path.kind === 'relayed') this.parts.wsRelays.noteRelayed(e.path.address, key);
    }
    switch (e.type) {
      case 'connected':
        this.onConnected(e.id, e.remoteKey, e.outgoing, e.path);
        return;
      case 'connect_failed':
        if (e.error.code !== 'ALREADY_CONNECTED') log(`dial failed: ${e.error.code}: ${e.error.message}`);
        this.parts.dialer.onConnectFailed(e.id, e.error);
        return;
      case 'closed': {
        // only announced connections have a 'closed' (core's event contract), each one a Connection
        const c = this.byCoreId.get(e.id);
        if (!c) return;
        log(
          `closed ${c.name === c.peerId ? short(c.peerId) : `${c.name} (${short(c.peerId)})`}: ${e.remote ? 'by the peer' : 'here'}, code ${e.code}${e.reason ? `, ${e.reason}` : ''}`,
        );
        this.byCoreId.delete(e.id);
        this.parts.relayedPunch.forget(e.id);
        this.parts.fallback.forget(e.id, c);
        this.parts.wsRelays.forget(c.remoteKey);
        // a closed connection nobody took from connections() yet is of no use there, and would
        // keep its state alive (an app that uses the 'connection' event never drains the queue)
        this.incoming.remove(c);
        const path = c.path;
        c.handleEvent(e);
        this.onPathGone(path?.address ?? null, e.code === CloseCode.IDLE_TIMEOUT && !e.remote);
        this.parts.named.lost(c, e);
        return;
      }
      case 'stun':
        this.node.emit('stun', e);
        return;
      case 'punch':
        this.parts.relayedPunch.onMessage(e.id, e.data);
        return;
      default: {
        const c = this.byCoreId.get(e.id);
        if (c && e.type === 'path_changed' && e.path.kind === 'direct') {
          this.parts.relayedPunch.forget(e.id);
          this.parts.dialer.upgraded(c.remoteKey, e.path.address);
        }
        if (c && e.type === 'path_changed' && e.path.kind === 'relayed' && e.reason === 'fallback') {
          // back on a relay: punch again over it (one end starts: the lower key)
          this.parts.relayedPunch.relayedStart(e.id, this.node.peerId < c.peerId);
        }
        // a lost path: circuits through the gates and relays (relay-fallback.ts)
        if (c && (e.type === 'path_lost' || e.type === 'path_changed')) this.parts.fallback.onPathEvent(c, e);
        if (c && e.type === 'path_changed' && log.enabled) {
          log(`path of ${short(c.peerId)}: ${e.path.kind} ${e.path.address.host}:${e.path.address.port}`);
        }
        c?.handleEvent(e);
      }
    }
  }

  /**
   * A connection ended. Its birthday socket (if it ran over one) is given back and it is no
   * longer a reflector; when its path died (our idle timeout) the NAT may have changed under us,
   * so the session gathers again (rate limited).
   *
   * PATH-LOST (issue 12): core will emit an event when a connection loses its path without
   * closing; until it lands, a closed connection stands for it. Switch this one call site to it.
   */
  private onPathGone(address: NatEndpoint | null, lost: boolean): void {
    const now = this.parts.driver.clock();
    if (address !== null) {
      this.parts.session.releaseRoute(now, address);
      this.parts.session.removeReflector(address);
    }
    if (lost) this.parts.session.regather(now, 'path_lost');
    this.node.kick();
  }

  private onConnected(id: number, remoteKey: Uint8Array, outgoing: boolean, path: PathInfo): void {
    // core announces a connection only while it is established, so it is in core's table (its
    // event contract): one closed in the turn that connected it never gets here, and a dial of it
    // ends in 'connect_failed' (CLOSED)
    const core = this.parts.driver.endpoint.connection(id);
    if (core === undefined) return;
    const hex = keyToHex(remoteKey); // the string crypto's and core's tables hold for this key
    const dialName = this.parts.dialer.nameFor(id);
    const named = this.parts.named.find(hex, dialName);
    const conn = new Connection(this.node, core, remoteKey, named?.name);
    this.byCoreId.set(id, conn);
    if (named) this.parts.named.established(named, remoteKey, conn);
    if (log.enabled) {
      log(
        `connected ${named ? `${named.name} ` : ''}${short(conn.peerId)} (${outgoing ? 'outgoing' : 'incoming'}, ${`${path.kind} ${path.address.host}:${path.address.port}`})`,
      );
    }
    this.parts.dialer.onConnected(id, remoteKey, path, conn);
    // relayed: punch through it in the background (the dialling end starts)
    if (path.kind === 'relayed') this.parts.relayedPunch.relayedStart(id, outgoing);
    // a configured gate's hop session (re)established: our record lists it at this address
    if (named?.name.startsWith('gate-')) this.parts.publisher.republish();
    // every srmudp node answers Binding requests: a peer at a public address is a reflector too
    // (one STUN server plus one connected peer classify the mapping)
    if (path.kind === 'direct' && !isPrivateAddress(path.address.host)) {
      this.parts.session.addReflector(this.parts.driver.clock(), path.address);
    }
    if (!outgoing) this.incoming.push(conn);
    this.node.emit('connection', conn);
  }
}
