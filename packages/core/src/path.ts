/**
 * One network path's own state, one rule: a path has exactly one owner, its `Path`. It holds the
 * route (where its datagrams go), its validation (PATH_CHALLENGE / PATH_RESPONSE inside the
 * end-to-end AEAD, tries and backoff: RFC 9000 §8.2), its anti-amplification budget (RFC 9000
 * §8.1: at most 3x what it brought before it is validated), its transport state
 * (`@srmudp/reliability`'s `PathState`: RTT, congestion controller, pacer, PMTU), and the liveness
 * facts the switch rules use. The rules between paths (which one is active, when to move) are
 * `PathSet`'s (paths.ts).
 */
import type { PathState } from '@srmudp/reliability';
import { copyAddress, equalBytes, type Frame } from '@srmudp/wire';
import { DEFAULTS } from './defaults.js';
import type { Route } from './route.js';

/** PATH_RESPONSEs owed on one path at most (a peer that floods challenges gets the newest). */
const MAX_RESPONSES = 8;
/** what an idle path's owed responses and upgrade candidates start as: no array each (heap per
 * idle connection, issue 19); frozen, so nothing can add to it; the first entry replaces it */
export const NONE = Object.freeze([]) as unknown as never[];

interface Challenge {
  data: Uint8Array;
  tries: number;
  nextAt: number;
  firstSentAt: number;
  /** waiting for the next send opportunity */
  due: boolean;
}

/** One path: route, validation, anti-amplification budget, transport state, liveness. */
export class Path {
  readonly route: Route;
  /** reliability's state of this path (a fresh one replaces it when the path first becomes active) */
  transport: PathState;
  /** the peer proved it receives on this route (RFC 9000 §8.2) */
  validated: boolean;
  /**
   * we chose to contact this route (a candidate of the peer's, as the addresses a handshake is
   * sent to): probes to it answer nobody, so no anti-amplification budget applies
   */
  dialled = false;
  /** why it is being validated */
  purpose: 'migration' | 'upgrade' | null = null;
  /** round trip of the first answered challenge (Karn: none when the answer may be to a retry) */
  probeRttMs: number | null = null;
  /** the path has been the active one (its transport state is its own, not a placeholder) */
  wasActive: boolean;
  /** when it stopped being the active path (warm until + GRACE_MS), or null */
  retiredAt: number | null = null;
  /** unreachable send errors since the last packet that arrived on it */
  unreachable = 0;
  /** the loss of this path (as the active one) was reported; cleared when it answers again */
  lostReported = false;
  /** `now` of the last authenticated datagram that arrived on it (null: none yet) */
  lastReceivedAt: number | null = null;
  private challenge: Challenge | null = null;
  private responses: Uint8Array[] = NONE;
  private received = 0;
  private sent = 0;

  constructor(route: Route, transport: PathState, validated: boolean) {
    this.route = { kind: route.kind, address: copyAddress(route.address) };
    this.transport = transport;
    this.validated = validated;
    this.wasActive = false;
  }

  /** Bytes we may still send on it (RFC 9000 §8.1: 3x what it brought until validated). */
  remaining(): number {
    if (this.validated || this.dialled) return Number.POSITIVE_INFINITY;
    return Math.max(0, 3 * this.received - this.sent);
  }

  /** An authenticated datagram of `bytes` arrived on this route. */
  onReceived(bytes: number): void {
    this.received += bytes;
    this.unreachable = 0;
  }

  /** It answered again after its loss was reported: a fallback candidate once more. */
  onAlive(): void {
    this.lostReported = false;
  }

  onSent(bytes: number): void {
    if (!this.validated && !this.dialled) this.sent += bytes;
  }

  get validating(): boolean {
    return this.challenge !== null;
  }

  /** Tries of the running challenge so far (0 when none runs). */
  get challengeTries(): number {
    return this.challenge?.tries ?? 0;
  }

  /** Starts (or restarts) validation with fresh challenge data. */
  startValidation(now: number, data: Uint8Array, purpose: 'migration' | 'upgrade'): void {
    this.purpose = purpose;
    this.challenge = { data, tries: 0, nextAt: now, firstSentAt: now, due: false };
  }

  /** The challenge retry timer, or +Inf. */
  nextChallengeAt(): number {
    return this.challenge === null ? Number.POSITIVE_INFINITY : this.challenge.nextAt;
  }

  /**
   * Time-driven validation: another try when due (backoff from max(200 ms, 2 PTO), doubling,
   * RFC 9000 §8.2.4), or false when the tries are used up (validation failed).
   */
  onChallengeTimer(now: number, pto: number): boolean {
    const c = this.challenge;
    if (c === null || now < c.nextAt) return true;
    if (c.tries >= DEFAULTS.pathChallengeTries) {
      this.challenge = null;
      return false;
    }
    if (c.tries === 0) c.firstSentAt = now;
    c.tries++;
    c.nextAt = now + Math.max(200, 2 * pto) * 2 ** (c.tries - 1);
    c.due = true;
    return true;
  }

  /** A PATH_RESPONSE: true when it answers this path's challenge (the path is then validated). */
  onResponse(now: number, data: Uint8Array): boolean {
    const c = this.challenge;
    if (c === null || !equalBytes(c.data, data)) return false;
    this.challenge = null;
    this.validated = true;
    if (c.tries === 1) this.probeRttMs = now - c.firstSentAt;
    return true;
  }

  /** A PATH_CHALLENGE arrived on this route: answer it here (RFC 9000 §8.2.2). */
  owe(data: Uint8Array): void {
    if (this.responses.length === 0) this.responses = [data];
    else this.responses.push(data);
    if (this.responses.length > MAX_RESPONSES) this.responses.shift();
  }

  /** The probing frames to send now (a due challenge, owed responses), taken; empty when none. */
  takeProbeFrames(): Frame[] {
    const frames: Frame[] = [];
    const c = this.challenge;
    if (c?.due) {
      c.due = false;
      frames.push({ type: 'path_challenge', data: c.data });
    }
    for (const data of this.responses) frames.push({ type: 'path_response', data });
    this.responses = NONE;
    return frames;
  }

  /** Something waits to be sent on this (non-active) path. */
  get hasProbeWork(): boolean {
    return this.challenge?.due === true || this.responses.length > 0;
  }

  /** RTT to compare paths by: measured on it as the active path, else its challenge's. */
  rttMs(): number | null {
    if (this.wasActive && this.transport.rtt.hasSample) return this.transport.rtt.smoothed;
    return this.probeRttMs;
  }
}
