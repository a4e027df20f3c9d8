/**
 * Who is who among an endpoint's connections: by id (the API), by remote key (one connection per
 * peer), by crypto channel (where a decrypted packet or a handshake event belongs), the ones
 * still handshaking (fan-out), our outgoing ones (the addresses we dial), and the established ones in @srmudp/wire's
 * Schedule, a timer heap and ready set: `pollTimeout`, `handleTimeout` and `pollTransmit` visit
 * only the connections that need it. One owner for these indexes, so they cannot disagree.
 */
import type { SecureChannel } from '@srmudp/crypto';
import { type Address, addressKey, keyToHex, Schedule, toHex } from '@srmudp/wire';
import type { CoreConnection } from './connection.js';

/** One function for every call (a closure per call was an allocation per datagram). */
const pollConnection = (c: CoreConnection, now: number): { to: Address; data: Uint8Array } | null =>
  c.pollTransmit(now);

export class ConnectionTable {
  private readonly byId = new Map<number, CoreConnection>();
  private readonly byKey = new Map<string, CoreConnection>();
  private readonly byChannel = new Map<SecureChannel, CoreConnection>();
  /** connections whose handshake has not completed */
  private readonly handshaking = new Set<CoreConnection>();
  /** connections we dial: created by connect(), or found by it (see markOutgoing) */
  private readonly outgoing = new Set<CoreConnection>();
  /** the outgoing connections by candidate address key (isDialled's lookup) */
  private readonly dialledAt = new Map<string, Set<CoreConnection>>();
  /** established connections: their timers and which may have something to send */
  private readonly schedule = new Schedule<CoreConnection>();

  get(id: number): CoreConnection | undefined {
    return this.byId.get(id);
  }

  /** Every connection not yet finished, in creation order. */
  all(): IterableIterator<CoreConnection> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  /**
   * Connections not yet finished (the `maxConnections` count): every connection in the table, as
   * one leaves it in the call that finishes it (CoreConnection.finalize → the endpoint's
   * onFinished → {@link remove}). O(1): the accept policy asks on every incoming handshake, and a
   * count by iteration cost a responder with n connections O(n) per handshake (issue 19).
   */
  live(): number {
    return this.byId.size;
  }

  get handshakingCount(): number {
    return this.handshaking.size;
  }

  /** A new connection (still handshaking). */
  add(conn: CoreConnection): void {
    this.byId.set(conn.id, conn);
    this.handshaking.add(conn);
    if (conn.outgoing) this.outgoing.add(conn);
  }

  /** Our connect() found this connection (simultaneous open, or an incoming one): we dial it too. */
  markOutgoing(conn: CoreConnection): void {
    conn.markOutgoing();
    if (this.byId.get(conn.id) === conn) {
      this.outgoing.add(conn);
      this.indexCandidates(conn);
    }
  }

  /**
   * connect() names addresses for `conn`: they join its candidates (an established connection
   * probes the better ones, see CoreConnection.addCandidatesAt) and, when we dial it, the index
   * isDialled looks up. One call for both, so no caller can add candidates and forget the index.
   */
  addCandidates(now: number, conn: CoreConnection, addresses: readonly Address[]): void {
    conn.addCandidatesAt(now, addresses);
    this.indexCandidates(conn);
  }

  /** An outgoing connection's candidates (all of them, idempotent) into isDialled's index. */
  private indexCandidates(conn: CoreConnection): void {
    if (!this.outgoing.has(conn)) return;
    for (const a of conn.channels.candidates) {
      const k = addressKey(a);
      let set = this.dialledAt.get(k);
      if (set === undefined) this.dialledAt.set(k, (set = new Set()));
      set.add(conn);
    }
  }

  /** A connection that never became one (another took its place before it was announced). */
  discard(conn: CoreConnection): void {
    this.byId.delete(conn.id);
    this.handshaking.delete(conn);
    this.dropOutgoing(conn);
  }

  private dropOutgoing(conn: CoreConnection): void {
    if (!this.outgoing.delete(conn)) return;
    for (const a of conn.channels.candidates) {
      const k = addressKey(a);
      const set = this.dialledAt.get(k);
      if (set?.delete(conn) && set.size === 0) this.dialledAt.delete(k);
    }
  }

  ofKey(key: Uint8Array): CoreConnection | undefined {
    return this.byKey.get(toHex(key));
  }

  /** {@link ofKey} for crypto's own object of a peer's key (never mutated): its hex is memoised on
   * it (`keyToHex`), the string crypto's tables and {@link setKey} already made. */
  ofPeerKey(key: Uint8Array): CoreConnection | undefined {
    return this.byKey.get(keyToHex(key));
  }

  ofKeyHex(keyHex: string): CoreConnection | undefined {
    return this.byKey.get(keyHex);
  }

  /** The connection `connect()` and later handshakes with this peer must find. */
  setKey(key: Uint8Array, conn: CoreConnection): void {
    this.byKey.set(keyToHex(key), conn);
  }

  ofChannel(channel: SecureChannel): CoreConnection | undefined {
    return this.byChannel.get(channel);
  }

  bindChannel(channel: SecureChannel, conn: CoreConnection): void {
    this.byChannel.set(channel, conn);
  }

  unbindChannel(channel: SecureChannel, conn?: CoreConnection): void {
    if (conn === undefined || this.byChannel.get(channel) === conn) this.byChannel.delete(channel);
  }

  /** The handshake completed: the connection joins the send order. */
  established(conn: CoreConnection): void {
    this.handshaking.delete(conn);
    this.schedule.add(conn);
  }

  /** Something happened to an established connection: recompute its timer, poll it for datagrams. */
  touch(conn: CoreConnection): void {
    this.schedule.touch(conn);
  }

  /**
   * True when an outgoing connection of ours dials `to`: a handshake of ours goes there, or the
   * connection is already up (or closing) with `to` among its candidates (simultaneous open: it
   * may be up on the early session of the very initiation we answer). We send to such an address
   * anyway, so answering it is exempt from the 3x anti-amplification limit (RFC 9000 §8.1).
   * A connection still handshaking without a handshake of ours under way (waiting for a relay
   * circuit or for its predecessor to finish) does not count: nothing of ours went there yet.
   */
  isDialled(to: Address): boolean {
    if (this.dialledAt.size === 0) return false;
    const set = this.dialledAt.get(addressKey(to));
    if (set === undefined) return false;
    for (const conn of set) if (conn.state !== 'handshaking' || conn.isDialling) return true;
    return false;
  }

  /** The connection is gone: out of every index. */
  remove(conn: CoreConnection): void {
    this.handshaking.delete(conn);
    this.dropOutgoing(conn);
    this.byId.delete(conn.id);
    const key = conn.remoteKey;
    if (key !== null) {
      const hex = toHex(key);
      if (this.byKey.get(hex) === conn) this.byKey.delete(hex);
    }
    this.schedule.remove(conn);
  }

  /** The established connections whose timer is due at `now` (they are touched). */
  due(now: number): CoreConnection[] {
    return this.schedule.due(now);
  }

  /** Earliest timer of the established connections, or +Inf. */
  nextTimeout(): number {
    return this.schedule.nextTimeout();
  }

  /** The next datagram of the established connections that may have one, round robin. */
  pollTransmit(now: number): { to: Address; data: Uint8Array } | null {
    return this.schedule.pollTransmit(now, pollConnection);
  }
}
