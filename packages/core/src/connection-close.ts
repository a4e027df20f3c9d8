/**
 * A connection's close, and its one rule: a graceful close loses nothing that can still be
 * delivered and waits no longer than its bound. `close()` keeps sending what was written until
 * every byte is acknowledged, for at most 3 PTO clamped to [minDrainMs, maxDrainMs] (DEFAULTS),
 * then reliability's CLOSE; `closeImmediately()` sends CLOSE next and abandons the rest (RFC 9000
 * §10.2), cutting a drain short; reliability's close (the peer's CLOSE, the idle timeout) ends a
 * drain too; 'closed' is announced once, and only for a connection that announced 'connected'.
 * Also the arguments every close checks.
 *
 * Plain functions over the connection (`CloseOwner`), like connection-events.ts: the drain's state
 * (`Drain`) exists only while one runs, so an open connection holds none (issue 19). Nothing here
 * runs per packet except `finishDrain`, when reliability has nothing to send while draining.
 */
import type { ReliableConnection as Reliable } from '@srmudp/reliability';
import type { ConnectionState } from './api.js';
import type { ConnectionHost } from './connection.js';
import type { OwnEvent } from './connection-events.js';
import { CloseCode, DEFAULTS } from './defaults.js';
import { CoreError } from './errors.js';

/** A graceful close under way: its deadline and what its CLOSE will say. */
export interface Drain {
  /** when the close stops waiting for its data to be acknowledged */
  readonly until: number;
  readonly code: number;
  readonly reason: string;
}

/** What a close needs from the connection itself (CoreConnection). */
export interface CloseOwner {
  readonly id: number;
  readonly state: ConnectionState;
  /** reliability state, from establishment on */
  readonly rel: Reliable | null;
  /** the graceful close under way, or null */
  drain: Drain | null;
  label(): string;
  /** its state becomes 'closing' (reliability's own close follows) */
  markClosing(): void;
  /** a close before establishment fails the dial */
  fail(now: number, error: CoreError): void;
  /** moves reliability's events to the endpoint (connection-events.ts) */
  drainReliable(now: number): void;
  /** 'connected' was emitted: only such a connection announces 'closed' */
  readonly wasConnected: boolean;
  /** 'closed' was emitted (it is, once) */
  closedEmitted: boolean;
  /** that 'closed' said `remote: true` */
  closedRemotely: boolean;
}

/** What the announcement needs from the endpoint (the connection's own host). */
export type CloseEndpoint = Pick<ConnectionHost, 'log' | 'emit'>;

/**
 * `close()`: graceful, keeps sending until every byte written is acknowledged (bounded), then
 * CLOSE. True when CLOSE is owed at once (nothing to wait for): the endpoint must be touched.
 */
export function closeGracefully(
  owner: CloseOwner,
  endpoint: CloseEndpoint,
  now: number,
  code: number,
  reason: string,
): boolean {
  checkClose(now, code, reason);
  const state = owner.state;
  if (state === 'closed' || owner.drain !== null) return false;
  const rel = owner.rel;
  if (state === 'handshaking' || rel === null) {
    owner.fail(now, closedBeforeEstablished(owner.id));
    return false;
  }
  if (state === 'closing') return false;
  owner.markClosing();
  owner.drain = startDrain(endpoint, owner.label(), rel, now, code, reason);
  return finishDrain(owner, now);
}

/**
 * `closeImmediately()` (QUIC's CONNECTION_CLOSE, RFC 9000 §10.2): CLOSE is the next packet, ahead
 * of queued data, which is abandoned; a graceful close still draining is cut short.
 */
export function closeAtOnce(
  owner: CloseOwner,
  endpoint: CloseEndpoint,
  now: number,
  code: number,
  reason: string,
): void {
  checkClose(now, code, reason);
  if (owner.state === 'closed') return;
  const rel = owner.rel;
  if (owner.state === 'handshaking' || rel === null) {
    owner.fail(now, closedBeforeEstablished(owner.id));
    return;
  }
  endpoint.log?.(`${owner.label()} closing at once (${closeText(code, reason)})`);
  owner.drain = null;
  owner.markClosing();
  rel.close(now, code, reason);
  owner.drainReliable(now);
}

/**
 * Ends a graceful close when its bound passed or nothing is left unsent or unacknowledged: CLOSE.
 * True when CLOSE is now owed (this may run inside pollTransmit, which then polls it again).
 */
export function finishDrain(owner: CloseOwner, now: number): boolean {
  const rel = owner.rel;
  const drain = owner.drain;
  if (rel === null || drain === null) return false;
  if (rel.state !== 'open') {
    owner.drain = null;
    return false;
  }
  if (now < drain.until && !(rel.sendBacklog() === 0 && rel.stats().bytesInFlight === 0)) return false;
  owner.drain = null;
  rel.close(now, drain.code, drain.reason);
  owner.drainReliable(now);
  return true;
}

/** Validates a close's arguments (TypeError / RangeError, before anything changes). */
function checkClose(now: number, code: number, reason: string): void {
  if (!Number.isFinite(now)) throw new TypeError(`"now" expected a finite number, got ${now}`);
  if (!Number.isSafeInteger(code) || code < 0) {
    throw new RangeError(`"code" expected a non-negative integer, got ${code}`);
  }
  if (typeof reason !== 'string') throw new TypeError('"reason" expected a string');
}

/** What a close of a connection not established yet fails its dial with. */
function closedBeforeEstablished(id: number): CoreError {
  return new CoreError('CLOSED', `connection ${id} closed before it was established`);
}

/** `code 7, reason` (or `code 7` without one), as log lines name a close. */
function closeText(code: number, reason: string): string {
  return `code ${code}${reason === '' ? '' : `, ${reason}`}`;
}

/**
 * Starts a graceful close at `now`: its bound from reliability's PTO, logged as `label` (log lines
 * as `endpoint.log?.(…)`: the browser bundle strips such calls, it has no log sink).
 */
function startDrain(
  endpoint: CloseEndpoint,
  label: string,
  rel: Reliable,
  now: number,
  code: number,
  reason: string,
): Drain {
  const drainMs = Math.min(DEFAULTS.maxDrainMs, Math.max(3 * rel.pto(), DEFAULTS.minDrainMs));
  endpoint.log?.(
    `${label} closing (${closeText(code, reason)}): sending what is queued first, for up to ${Math.round(drainMs)} ms`,
  );
  return { until: now + drainMs, code, reason };
}

/**
 * Reliability closed (CLOSE sent or received, or its idle timeout: our own timer, nothing
 * authenticated arrived for that long, the peer may be gone or the path broken; not something the
 * peer said): the connection is closing, a drain ends, 'closed' is announced.
 */
export function reliableClosed(
  owner: CloseOwner,
  host: CloseEndpoint,
  ev: Extract<OwnEvent, { type: 'closed' }>,
): void {
  owner.markClosing();
  owner.drain = null;
  if (ev.error === 'IDLE_TIMEOUT') {
    // the timeout reliability runs with (its resolved configuration: the default when unset)
    const s = Math.round((owner.rel?.config.idleTimeoutMs ?? 0) / 1000);
    announceClosed(
      owner,
      host,
      CloseCode.IDLE_TIMEOUT,
      `idle timeout: nothing received from the peer for ${s} s`,
      false,
    );
  } else announceClosed(owner, host, ev.code, ev.reason, ev.remote);
}

/** Emits 'closed' (and its log line) once, for a connection that announced 'connected'. */
export function announceClosed(
  owner: CloseOwner,
  host: CloseEndpoint,
  code: number,
  reason: string,
  remote: boolean,
): void {
  if (owner.closedEmitted || !owner.wasConnected) return;
  owner.closedEmitted = true;
  owner.closedRemotely = remote;
  host.log?.(`${owner.label()} closed ${remote ? 'by the peer' : 'here'}: ${closeText(code, reason)}`);
  host.emit({ type: 'closed', id: owner.id, code, reason, remote });
}
