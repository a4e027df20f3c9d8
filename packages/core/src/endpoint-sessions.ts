/**
 * Crypto's sessions as the endpoint's connections (README "Connection state machine"): a session
 * crypto reports proven (`established`: key confirmation) or renewed (`rekeyed`) becomes a
 * connection, joins the one the peer already has (one connection per peer: an XX dial to a known
 * peer is merged, `ALREADY_CONNECTED`), or replaces it (the peer restarted with a new boot id, or
 * reconnected while the old connection drained: a fresh incoming connection on that channel), or
 * is none of ours: the peer continues a connection we ended, our CLOSE lost (closed-peers.ts).
 *
 * Which connection is which is connection-table.ts; a connection's own establishment is
 * connection.ts; dials are endpoint-dials.ts; crypto's other events (`failed`) and the accept
 * policy are the endpoint's.
 */
import { type SecureChannel, type SecureEvent, shortPeerId } from '@srmudp/crypto';
import type { Address } from '@srmudp/wire';
import type { LogSink } from './api.js';
import { ClosedPeers } from './closed-peers.js';
import type { CoreConnection } from './connection.js';
import type { ConnectionTable } from './connection-table.js';
import { BOOT_ID_OPTION, CloseCode } from './defaults.js';
import { CoreError } from './errors.js';

/** What the session side of the endpoint needs from the endpoint. */
export interface SessionsHost {
  /** our static public key (stream-id parity is decided by comparing it with the peer's) */
  readonly localKey: Uint8Array;
  /** the connections and their indexes (by key, by channel) */
  readonly table: ConnectionTable;
  /** core's log; null: silent */
  readonly log: LogSink | null;
  /** a new connection, added to the table under the next id */
  newConnection(outgoing: boolean, remoteKey: Uint8Array | null): CoreConnection;
  /** the restarted peer's new session made `next` in place of `old` (the event contract names it) */
  replaced(old: CoreConnection, next: CoreConnection): void;
}

/** Crypto's `established` and `rekeyed` events, turned into the endpoint's connections. */
export class EndpointSessions {
  /** the peers whose connection we ended, while they may still continue it */
  readonly closedPeers = new ClosedPeers();
  /**
   * The channel and packet number of the data packet being handled when it is the first under
   * its session (the endpoint sets them around crypto's events): the packet that confirms an IK
   * responder's session, checked against closedPeers. Two fields, not an object per packet.
   */
  confirmingChannel: SecureChannel | null = null;
  confirmingPn = -1;

  constructor(private readonly host: SessionsHost) {}

  /** A session is proven (crypto's `established`): the connection it belongs to, or a new one. */
  onEstablished(now: number, ev: Extract<SecureEvent, { type: 'established' }>): void {
    const table = this.host.table;
    const channel = ev.channel;
    const existing = table.ofChannel(channel);
    const boot = ev.remoteOptions.get(BOOT_ID_OPTION) ?? null;
    const byKey = table.ofPeerKey(ev.remoteKey);
    if (
      existing !== undefined &&
      existing.state === 'handshaking' &&
      byKey !== undefined &&
      byKey !== existing &&
      byKey.state === 'established'
    ) {
      // An XX dial reached a peer we already have a connection to: one connection per peer.
      // The new channel feeds the existing connection (the peer may already seal with it);
      // the dial itself fails with ALREADY_CONNECTED naming that connection.
      table.bindChannel(channel, byKey);
      existing.channels.detach(channel);
      byKey.channels.use(channel);
      existing.fail(now, alreadyConnected(byKey, ev.remoteKey));
      return;
    }
    if (existing !== undefined && !existing.isFinished) {
      existing.channels.setRemoteBoot(boot);
      if (existing.state === 'handshaking') this.establish(now, existing, channel, ev);
      return;
    }
    if (byKey !== undefined && !byKey.isFinished && byKey.state !== 'closing') {
      // another handshake with a peer we already have a connection to (both dialled with XX,
      // or an XX dial to a known peer): one connection per peer, fed by both channels
      table.bindChannel(channel, byKey);
      byKey.channels.setRemoteBoot(boot);
      if (byKey.state === 'handshaking') this.establish(now, byKey, channel, ev);
      else byKey.channels.use(channel);
      return;
    }
    if (this.continuesClosed(now, channel, ev.remoteKey, boot)) return;
    this.freshConnection(now, channel, ev.remoteKey, boot, ev);
  }

  /**
   * Our connection with the peer ended, here, not by its CLOSE. A connection that ends by the
   * peer's CLOSE (or that we saw the peer replace) cannot be continued by it.
   */
  finished(now: number, conn: CoreConnection): void {
    const key = conn.remoteKey;
    if (key === null || !conn.wasConnected || conn.closedRemotely) return;
    this.closedPeers.remember(now, key, conn.channels.remoteBoot, conn.largestReceived);
  }

  /**
   * A new session on the channel of a connection of ours that is closing (or that was released
   * while closing), confirmed by a packet numbered above every packet the peer sent in it: the
   * peer renewed the keys of that connection, not having heard our CLOSE yet, and no new
   * connection began. One still closing keeps the channel and goes on closing under the new keys
   * (its CLOSE then reaches the peer); one that has finished is continuesClosed's case.
   */
  private continuesEnding(
    now: number,
    channel: SecureChannel,
    conn: CoreConnection | undefined,
    boot: Uint8Array | null,
  ): boolean {
    if (this.confirmingChannel !== channel) return false;
    if (conn === undefined || conn.isFinished)
      return this.continuesClosed(now, channel, channel.remoteKey as Uint8Array, boot);
    if (!conn.continuedBy(this.confirmingPn)) return false;
    this.host.log?.(
      `peer ${shortPeerId(channel.remoteKey as Uint8Array)}: renewed the keys of connection ${conn.id}, which is closing: it goes on closing`,
    );
    return true;
  }

  /**
   * A session the peer started, confirmed by a packet numbered above every packet it sent us in
   * the connection we ended (closed-peers.ts): it renewed the keys of that connection, which it
   * still holds since our CLOSE was lost. No connection of ours: the channel closes, unannounced;
   * the peer, answered no more, times out as it would have without the rekey.
   */
  private continuesClosed(
    now: number,
    channel: SecureChannel,
    key: Uint8Array,
    boot: Uint8Array | null,
  ): boolean {
    if (this.confirmingChannel !== channel) return false;
    if (!this.closedPeers.continues(now, key, boot, this.confirmingPn)) return false;
    this.host.log?.(
      `peer ${shortPeerId(key)}: a new session numbered on from the connection we ended (packet ${this.confirmingPn}): it missed our CLOSE; no new connection`,
    );
    channel.close();
    return true;
  }

  /** A session was renewed (crypto's `rekeyed`): the same connection, unless the peer restarted or reconnected. */
  onRekeyed(now: number, ev: Extract<SecureEvent, { type: 'rekeyed' }>): void {
    const channel = ev.channel;
    const conn = this.host.table.ofChannel(channel);
    const boot = ev.remoteOptions.get(BOOT_ID_OPTION) ?? null;
    // a session the peer started on a channel we had released (it reconnected while the old
    // connection drained, see SecureChannel.release): a new connection
    const reopened = ev.reopened && (conn === undefined || conn.isFinished);
    if (!reopened && (conn === undefined || conn.isFinished)) return;
    const restarted = conn?.channels.bootDiffers(boot) === true;
    // a new session on the channel of a connection that is closing is a new connection, unless
    // its packets number on from that connection's (the peer renewed its keys, not having heard
    // our CLOSE yet)
    if (reopened || restarted || conn?.state === 'closing') {
      if (!restarted && this.continuesEnding(now, channel, conn, boot)) return;
      // The peer restarted and handshook again on the same channel: its reliability state is
      // new, ours is stale. Close the old connection and start a fresh one on this channel.
      this.takeOver(
        now,
        channel,
        conn,
        restarted ? 'peer restarted' : null,
        restarted ? 'restarted (new boot id)' : 'reconnected while the old connection drained',
        boot,
        ev,
      );
    }
  }

  /**
   * The peer's first packet under a new session is numbered at or below one it sent before
   * (CoreConnection.numberingRestarted): the session began a new connection of the peer's, not a
   * rekey of `old` (the peer closed `old` and its CLOSE never reached us, then dialled again with
   * the same boot id). Without this, the new connection's packets would be taken as duplicates
   * of the old one's, acknowledged and never delivered.
   */
  reconnected(now: number, old: CoreConnection, channel: SecureChannel, from: Address): CoreConnection {
    return this.takeOver(
      now,
      channel,
      old,
      'peer reconnected: its packet numbers started again',
      'a new session numbered from the start, a new connection of its own',
      channel.remoteOptions.get(BOOT_ID_OPTION) ?? null,
      { address: from, handshakeRttMs: null },
    );
  }

  /**
   * A fresh incoming connection takes `channel` from `old` (the peer's state for `old` is gone).
   * `old`, when still open, closes as the peer's doing when `closeReason` is given
   * (`PEER_RESTARTED`, remote) and is then named as replaced by the fresh one (the event contract).
   */
  private takeOver(
    now: number,
    channel: SecureChannel,
    old: CoreConnection | undefined,
    closeReason: string | null,
    why: string,
    boot: Uint8Array | null,
    ev: { address: Address; handshakeRttMs: number | null },
  ): CoreConnection {
    this.host.table.unbindChannel(channel);
    if (old !== undefined && !old.isFinished) {
      old.channels.detach(channel);
      if (closeReason !== null) old.closeNow(now, CloseCode.PEER_RESTARTED, closeReason, true);
    }
    this.host.log?.(`peer ${shortPeerId(channel.remoteKey as Uint8Array)}: ${why}: a new connection`);
    const next = this.freshConnection(now, channel, (channel.remoteKey as Uint8Array).slice(), boot, ev);
    if (closeReason !== null && old !== undefined) this.host.replaced(old, next);
    return next;
  }

  /**
   * A connection begins. Crypto reports a session only once its address is proven: the initiator
   * got an authenticated answer from it, an XX responder message 3, an IK responder the first
   * packet under the new keys (key confirmation: an initiation alone may be a replay).
   */
  establish(
    now: number,
    conn: CoreConnection,
    channel: SecureChannel,
    session: { remoteKey?: Uint8Array; address: Address; handshakeRttMs: number | null },
  ): void {
    const table = this.host.table;
    table.established(conn);
    const remoteKey = session.remoteKey ?? (channel.remoteKey as Uint8Array);
    this.closedPeers.forget(remoteKey);
    conn.establish(now, channel, { ...session, remoteKey }, this.host.localKey);
    // the established connection is the one connect() and later handshakes must find
    const cur = table.ofPeerKey(remoteKey);
    if (cur === undefined || cur === conn || cur.isFinished || cur.state !== 'established')
      table.setKey(remoteKey, conn);
  }

  /** A connection the peer started (incoming, or a new session on a released channel). */
  private freshConnection(
    now: number,
    channel: SecureChannel,
    remoteKey: Uint8Array,
    boot: Uint8Array | null,
    ev: { address: Address; handshakeRttMs: number | null },
  ): CoreConnection {
    // the connection takes `remoteKey` itself when it is established, just below
    const conn = this.host.newConnection(false, remoteKey);
    conn.channels.setRemoteBoot(boot);
    this.host.table.setKey(remoteKey, conn);
    this.host.table.bindChannel(channel, conn);
    conn.channels.use(channel);
    this.establish(now, conn, channel, { remoteKey, address: ev.address, handshakeRttMs: ev.handshakeRttMs });
    return conn;
  }
}

/** A dial that found an existing connection to the same peer; `cause` names that connection. */
export function alreadyConnected(existing: CoreConnection, remoteKey: Uint8Array): CoreError {
  return new CoreError('ALREADY_CONNECTED', `already connected to this peer (connection ${existing.id})`, {
    cause: { connectionId: existing.id, remoteKey: remoteKey.slice() },
  });
}
