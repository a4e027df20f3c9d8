/**
 * A secure channel's timer dispatch: when the channel next needs the clock (`channelDeadline`)
 * and what each expiry does (`channelTimeout`): the grace period of the previous session ends,
 * an unconfirmed responder session is given up, the current keys expire (reject-after-time), XX
 * message 3 is re-sent until the responder proves it has the keys, our initiation is re-sent or
 * times out (a rekey that fails keeps trying while keys last), and a rekey starts by key age, by
 * packet count or when keys we sealed under get no answer.
 *
 * Plain functions over the channel itself (`TimerChannel`), like reliability's closing.ts: no
 * object of their own per channel. Nothing here runs per packet.
 */
import type { ChannelHost, FailureCode } from './channel-events.js';
import type { Initiation } from './initiator.js';
import type { ChannelState } from './secure-channel.js';
import type { TransportSession } from './transport-session.js';

/** XX initiator: message 3 is re-sent until the responder proves it has the keys. */
export interface FinalRetransmit {
  packet: Uint8Array;
  session: TransportSession;
  nextSendAt: number;
  interval: number;
  deadline: number;
}

/** The parts of a channel its timers read and change (secure-channel.ts owns them). */
export interface TimerChannel {
  readonly host: ChannelHost;
  readonly state: ChannelState;
  /** a static key of the peer is known (we can initiate) */
  readonly knowsStatic: boolean;
  /** current keys exist (data can be sealed) */
  readonly isEstablished: boolean;
  /** the channel reported 'established' (a lost session then fails as SESSION_EXPIRED) */
  readonly established: boolean;
  /** the packet limit of the current keys was reached (seal) */
  rekeyRequested: boolean;
  simultaneous: boolean;
  current: TransportSession | null;
  previous: TransportSession | null;
  previousUntil: number | null;
  readonly next: TransportSession | null;
  readonly pending: Initiation | null;
  final: FinalRetransmit | null;
  abandonNext(): void;
  dropSession(s: TransportSession | null): void;
  dropPending(): void;
  fail(code: FailureCode): void;
  startHandshake(now: number): void;
  sendPending(now: number): void;
  send(kind: 'initiation' | 'final', data: Uint8Array): void;
  label(): string;
}

/** Earliest time the channel needs {@link channelTimeout}, or null. */
export function channelDeadline(ch: TimerChannel): number | null {
  if (ch.state === 'closed') return null;
  let t = Number.POSITIVE_INFINITY;
  const tm = ch.host.timing;
  if (ch.rekeyRequested) return 0;
  if (ch.pending) t = Math.min(t, ch.pending.nextSendAt, ch.pending.startedAt + tm.handshakeTimeoutMs);
  if (ch.final) t = Math.min(t, ch.final.nextSendAt);
  if (ch.previous && ch.previousUntil !== null) t = Math.min(t, ch.previousUntil);
  // An unconfirmed responder session lives one handshake timeout: the initiator sends under the
  // new keys as soon as it has our response.
  if (ch.next) t = Math.min(t, ch.next.createdAt + tm.handshakeTimeoutMs);
  const e = earlyAt(ch);
  if (e !== null && !ch.pending) t = Math.min(t, e);
  if (ch.current) {
    t = Math.min(t, ch.current.createdAt + tm.rejectAfterMs);
    // While a responder-side rekey awaits confirmation the peer already has newer keys.
    if (!ch.pending && ch.knowsStatic) {
      t = Math.min(t, rekeyAt(ch, ch.current));
      const u = unansweredAt(ch, ch.current);
      if (u !== null) t = Math.min(t, u);
    }
  }
  return t === Number.POSITIVE_INFINITY ? null : t;
}

/** Time-driven work: retransmissions, rekeys, expiry of old keys. */
export function channelTimeout(ch: TimerChannel, now: number): void {
  if (ch.state === 'closed') return;
  const tm = ch.host.timing;
  if (ch.previous && ch.previousUntil !== null && now >= ch.previousUntil) {
    ch.dropSession(ch.previous);
    ch.previous = null;
    ch.previousUntil = null;
  }
  if (ch.next && now >= ch.next.createdAt + tm.handshakeTimeoutMs) {
    ch.abandonNext();
    if (ended(ch)) return; // abandonNext failed or closed the channel
  }
  if (ch.current && now >= ch.current.createdAt + tm.rejectAfterMs) {
    ch.host.log?.(`${ch.label()}: keys expired (${tm.rejectAfterMs} ms old), erased`);
    ch.dropSession(ch.current);
    ch.current = null;
    if (!ch.pending) {
      ch.fail('SESSION_EXPIRED');
      return;
    }
  }
  if (!ch.pending && expireEarly(ch, now)) return;
  if (ch.final) {
    const f = ch.final;
    if (f.session.confirmed || !f.session.alive || now >= f.deadline) ch.final = null;
    else if (now >= f.nextSendAt) {
      ch.send('final', f.packet);
      f.interval = Math.min(f.interval * 2, tm.handshakeMaxRetransmitMs);
      f.nextSendAt = now + f.interval;
    }
  }
  const p = ch.pending;
  if (p) {
    if (now >= p.startedAt + tm.handshakeTimeoutMs) {
      ch.dropPending();
      ch.host.stats.handshakesFailed++;
      ch.host.log?.(`${ch.label()}: no answer to our ${p.pattern} initiation in ${tm.handshakeTimeoutMs} ms`);
      // The early session of a simultaneous open lives by its own deadline (earlyAt), not by
      // our initiation's: the peer's initiation may have crossed ours only lately (ours had gone
      // where it never arrived, as through a NAT before a birthday hit) and its first packet
      // under the session be on its way. No answer to ours is coming: nothing to settle.
      if (earlyAt(ch) !== null) {
        ch.simultaneous = false;
        if (!expireEarly(ch, now))
          ch.host.log?.(
            `${ch.label()}: keeping the session we answered until the peer uses it or it times out`,
          );
        return;
      }
      // (an unconfirmed session of ours, XX: dropped with the initiation that rekeys it)
      const early = ch.current !== null && !ch.current.confirmed;
      if (early) {
        ch.dropSession(ch.current);
        ch.current = null;
        ch.simultaneous = false;
      }
      if (ch.isEstablished)
        ch.startHandshake(now); // rekey failed: keep trying while keys last
      else ch.fail(ch.established && !early ? 'SESSION_EXPIRED' : 'HANDSHAKE_TIMEOUT');
      return;
    }
    if (now >= p.nextSendAt) {
      ch.host.log?.(`${ch.label()}: initiation resent (no answer for ${Math.round(now - p.startedAt)} ms)`);
      ch.sendPending(now);
      p.onRetransmit(now);
    }
  } else if (ch.current && ch.knowsStatic) {
    const u = unansweredAt(ch, ch.current);
    if (ch.rekeyRequested || now >= rekeyAt(ch, ch.current) || (u !== null && now >= u)) {
      ch.host.log?.(
        `${ch.label()}: rekey (${ch.rekeyRequested ? 'packet limit' : u !== null && now >= u ? 'no answer under the new keys' : 'key age'})`,
      );
      ch.rekeyRequested = false;
      ch.host.stats.rekeys++;
      ch.startHandshake(now);
    }
  }
  ch.rekeyRequested = false;
}

/**
 * When keys we made as initiator count as unanswered: we sealed under them and, half a
 * handshake timeout later, not one packet came back under them (null: not applicable). The
 * responder then lost its state before using them (it restarted, or its handshake budget
 * evicted the unconfirmed session): a new handshake recovers (WireGuard re-handshakes when data
 * sent gets no reply, §6.2).
 */
function unansweredAt(ch: TimerChannel, s: TransportSession): number | null {
  if (s.openedCount > 0 || s.sealedCount === 0 || (!s.initiator && s.confirmed)) return null;
  return s.createdAt + ch.host.timing.handshakeTimeoutMs / 2;
}

/**
 * When the early session of a simultaneous open (the responder session made current at once,
 * SecureChannel.installEarly) is given up unless the peer has used it: one handshake timeout
 * after it began, as an unconfirmed responder session (`next`) lives. Null when the current
 * session is not such a one.
 */
function earlyAt(ch: TimerChannel): number | null {
  const s = ch.current;
  if (s === null || s.initiator || s.confirmed) return null;
  return s.createdAt + ch.host.timing.handshakeTimeoutMs;
}

/**
 * Drops the early session of a simultaneous open once it is {@link earlyAt} old and the peer has
 * never used it (the peer that answered under it is gone, or its initiation was a replay: no
 * connection) and fails the channel; true when it did.
 */
function expireEarly(ch: TimerChannel, now: number): boolean {
  const e = earlyAt(ch);
  if (e === null || now < e) return false;
  ch.host.log?.(`${ch.label()}: the session we answered was never used by the peer, dropped`);
  ch.dropSession(ch.current);
  ch.current = null;
  ch.simultaneous = false;
  ch.fail('HANDSHAKE_TIMEOUT');
  return true;
}

function ended(ch: TimerChannel): boolean {
  return ch.state === 'closed' || ch.state === 'failed';
}

function rekeyAt(ch: TimerChannel, s: TransportSession): number {
  // The responder waits a little longer so both sides rarely start a rekey together
  // (WireGuard lets only the side that sends rekey; the simultaneous rule covers the rest).
  // While a responder-side rekey awaits confirmation, the peer already has newer keys: give it
  // a handshake timeout to start using them before rekeying ourselves.
  const tm = ch.host.timing;
  const own = s.createdAt + tm.rekeyAfterMs + (s.initiator ? 0 : tm.gracePeriodMs);
  return ch.next ? Math.max(own, ch.next.createdAt + tm.handshakeTimeoutMs) : own;
}
