/**
 * The endpoint's event queue and its contract (README "The event contract"). Events are queued
 * when they happen and handed out by `pollEvent` after the call that raised them, so a connection
 * may have changed by the time its events are taken. Two rules make that invisible:
 *
 * - A connection is findable by id until its last event ('closed' or 'connect_failed') has been
 *   taken, even when it left the table before that (`unpolled`).
 * - A connection is announced only while it is established: a 'connected' taken when its
 *   connection is closing or closed already (the peer's CLOSE came in the turn that connected
 *   it, a crossing session replaced it, the endpoint was closed) is withheld, and so is every
 *   later event of that connection, except its end as a consumer expects it for a connection it
 *   never saw: a dial's 'closed' becomes 'connect_failed' (`CLOSED`, the close in its `cause`);
 *   an incoming one ends in silence, as an incoming handshake that failed does.
 * - A dial replaced by the peer's new session (it restarted) names that session's connection in
 *   its `cause` (`successor`), whose 'connected' follows: the dial's answer. If that one is
 *   withheld too, it ends as a dial would ('connect_failed'), so whoever waits on it hears.
 *
 * So a consumer that took 'connected' takes exactly one 'closed' later; one that did not never
 * takes a 'closed' (nor any other event) for that id.
 */
import { PollQueue } from '@srmudp/wire';
import type { EndpointEvent } from './api.js';
import type { CoreConnection } from './connection.js';
import { CoreError } from './errors.js';

/** The close of a connection that closed while connecting: the `cause` of its `connect_failed`. */
export interface ClosedWhileConnecting {
  /** the close code (the withheld 'closed' event's `code`) */
  code: number;
  /** its reason text */
  reason: string;
  /** the peer closed (else it was closed here) */
  remote: boolean;
  /**
   * the connection of the peer's new session that replaced it (the peer restarted, close code
   * PEER_RESTARTED), else null: its 'connected' follows, or, withheld too, its 'connect_failed'
   */
  successor: number | null;
}

export class EndpointEvents {
  private readonly queue = new PollQueue<EndpointEvent>();
  /** ids whose last event ('closed' or 'connect_failed') is in the queue */
  private readonly lastQueued = new Set<number>();
  /** such connections that left the table: findable until that event is taken */
  private readonly unpolled = new Map<number, CoreConnection>();
  /**
   * connections whose 'connected' was withheld, with whether they were dials; until their 'gone'
   * (every connected connection has one) their events are dropped, their 'closed' translated
   */
  private readonly withheld = new Map<number, boolean>();
  /** connection id → the one the peer's new session made in its place (`replaced`), until the
   * replaced one's last event is taken */
  private readonly successors = new Map<number, number>();
  /** successors named in a withheld dial's 'connect_failed': until announced, ended as dials */
  private readonly dialSuccessors = new Set<number>();

  /** `find`: a connection of the endpoint's table by id. */
  constructor(private readonly find: (id: number) => CoreConnection | undefined) {}

  push(ev: EndpointEvent): void {
    this.queue.push(ev);
    if (ev.type === 'closed' || ev.type === 'connect_failed') this.lastQueued.add(ev.id);
  }

  /** The peer's new session made connection `next` in place of `old` (the peer restarted). */
  replaced(old: number, next: number): void {
    this.successors.set(old, next);
  }

  /** A connection left the table: kept findable while its last event is queued. */
  left(conn: CoreConnection): void {
    if (this.lastQueued.has(conn.id)) this.unpolled.set(conn.id, conn);
  }

  /** A connection gone from the table whose last event has not been taken yet. */
  unpolledConnection(id: number): CoreConnection | undefined {
    return this.unpolled.get(id);
  }

  /** The next event the consumer gets, or null. */
  take(): EndpointEvent | null {
    for (;;) {
      let ev = this.queue.take();
      if (ev === null) return null;
      if (ev.type === 'connected') {
        if (!this.announces(ev)) continue;
      } else if (this.withheld.size > 0 && 'id' in ev && this.withheld.has(ev.id)) {
        ev = this.endOfWithheld(ev);
        if (ev === null) continue;
      }
      if (ev.type === 'closed' || ev.type === 'connect_failed') this.ended(ev.id);
      return ev;
    }
  }

  /** `id`'s last event was taken (or dropped): nothing more of it is kept. */
  private ended(id: number): void {
    this.lastQueued.delete(id);
    this.unpolled.delete(id);
    this.successors.delete(id);
  }

  /** True when `ev`'s connection is still established; else it is withheld from now on. */
  private announces(ev: Extract<EndpointEvent, { type: 'connected' }>): boolean {
    const conn = this.find(ev.id) ?? this.unpolled.get(ev.id);
    const dialSuccessor = this.dialSuccessors.delete(ev.id);
    if (conn !== undefined && conn.state === 'established') return true;
    // a dial: connect() returned it (an incoming connection a dial joined is one too), or the
    // successor a withheld dial's failure named (its dialler waits for it)
    this.withheld.set(ev.id, ev.outgoing || conn?.outgoing === true || dialSuccessor);
    return false;
  }

  /** What the consumer gets of a withheld connection's event `ev`: its end as a dial's failure, or nothing. */
  private endOfWithheld(ev: EndpointEvent & { id: number }): EndpointEvent | null {
    if (ev.type === 'gone') {
      this.withheld.delete(ev.id);
      return null;
    }
    if (ev.type !== 'closed') return null;
    if (this.withheld.get(ev.id) !== true) {
      this.ended(ev.id);
      return null;
    }
    const successor = this.successors.get(ev.id) ?? null;
    if (successor !== null) this.dialSuccessors.add(successor);
    const close: ClosedWhileConnecting = { code: ev.code, reason: ev.reason, remote: ev.remote, successor };
    const why = `${ev.remote ? 'by the peer' : 'here'}: ${ev.reason === '' ? `code ${ev.code}` : ev.reason}`;
    const error = new CoreError('CLOSED', `the connection closed while connecting (${why})`, {
      cause: close,
    });
    return { type: 'connect_failed', id: ev.id, error };
  }
}
