/**
 * Punching over a relayed session (RELAYS.md "Relayed → direct"; libp2p DCUtR's timing, without
 * its stream reset): a connection that runs on a relayed path coordinates a hole punch through
 * it, so both ends dial each other at once even when only one of them had the other's card.
 *
 * 1. The dialling end sends SYNC (a nonce and its record candidates) at t0 in the connection's
 *    CONTROL channel (`ControlProtocol.Punch`, sealed end to end like everything else).
 * 2. The other end answers ACK (the nonce and its own candidates) and keeps the candidates.
 * 3. The dialling end gets the ACK at t0 + RTT (its measure of the relayed RTT), sends GO and
 *    starts punching RTT/2 later; the other end starts when GO arrives, about RTT/2 after it left:
 *    both ends' first probes cross at about the same moment. Punching is the NAT session's dial (a birthday when one side maps per destination),
 *    run in the background by the dialer: every address it yields becomes a candidate the
 *    connection validates and moves to (core's upgrade; streams and packet numbers carry on).
 *
 * Bounded: at most {@link MAX_ROUNDS} rounds per connection, {@link RETRY_MS} apart while the path
 * is still relayed; at most {@link MAX_CANDIDATES} candidates per message; malformed messages are
 * dropped and counted.
 */
import type { RemoteCandidate } from '@srmudp/punch';
import type { Candidate } from '@srmudp/rendezvous';
import { formatIp, parseIp } from '@srmudp/wire';

const SYNC = 1;
const ACK = 2;
const GO = 3;
/** Candidates a message carries at most. */
export const MAX_CANDIDATES = 12;
/** Punch rounds per relayed connection at most. */
export const MAX_ROUNDS = 3;
/** Delay between rounds while the connection stays relayed. */
export const RETRY_MS = 40_000;
/** How long one background punch may run (the NAT session's birthday window is 30 s). */
export const PUNCH_MS = 35_000;

const KINDS = ['host', 'srflx', 'relay'] as const;

export interface PunchMessage {
  readonly type: 'sync' | 'ack' | 'go';
  readonly nonce: number;
  readonly candidates: readonly RemoteCandidate[];
}

/** type u8, nonce u32, n u8, n × { kind u8, family u8 (4|6), address 4|16, port u16 }. */
export function encodePunch(m: PunchMessage): Uint8Array {
  const list = m.candidates.slice(0, MAX_CANDIDATES).filter((c) => parseIp(c.host) !== undefined);
  const t = m.type === 'sync' ? SYNC : m.type === 'ack' ? ACK : GO;
  const parts: number[] = [t, ...u32(m.nonce), list.length];
  for (const c of list) {
    const ip = Array.from(parseIp(c.host) as Uint8Array);
    parts.push(Math.max(0, KINDS.indexOf((c.kind ?? 'host') as (typeof KINDS)[number])));
    parts.push(ip.length === 4 ? 4 : 6, ...ip, c.port >> 8, c.port & 0xff);
  }
  return Uint8Array.from(parts);
}

/** The message, or null when malformed. */
export function decodePunch(b: Uint8Array): PunchMessage | null {
  if (b.length < 6) return null;
  const t = b[0];
  if (t !== SYNC && t !== ACK && t !== GO) return null;
  const nonce =
    ((b[1] as number) * 2 ** 24 + ((b[2] as number) << 16) + ((b[3] as number) << 8) + (b[4] as number)) >>>
    0;
  const n = b[5] as number;
  if (n > MAX_CANDIDATES) return null;
  let off = 6;
  const candidates: RemoteCandidate[] = [];
  for (let i = 0; i < n; i++) {
    if (off + 2 > b.length) return null;
    const kind = KINDS[b[off] as number];
    const fam = b[off + 1];
    if (kind === undefined || (fam !== 4 && fam !== 6)) return null;
    const len = fam === 4 ? 4 : 16;
    off += 2;
    if (off + len + 2 > b.length) return null;
    const host = formatIp(b.subarray(off, off + len));
    off += len;
    const port = ((b[off] as number) << 8) | (b[off + 1] as number);
    off += 2;
    if (port === 0) return null;
    candidates.push({ host, port, kind });
  }
  if (off !== b.length) return null;
  return { type: t === SYNC ? 'sync' : t === ACK ? 'ack' : 'go', nonce, candidates };
}

/** What the coordination needs from its node. */
export interface RelayedPunchOwner {
  clock(): number;
  after(ms: number, fn: () => void): { cancel(): void };
  random32(): number;
  /** our record candidates now */
  candidates(): readonly Candidate[];
  /** sends a punch message in core connection `id`; false when not queued */
  send(id: number, data: Uint8Array): boolean;
  /** whether core connection `id` is open and still on a relayed path */
  relayed(id: number): boolean;
  /**
   * starts the background punch towards connection `id`'s peer: its direct candidates (never
   * empty; no relay candidate), for at most `maxMs`
   */
  punch(id: number, direct: readonly RemoteCandidate[], maxMs: number): void;
  drop(reason: string): void;
}

interface Entry {
  rounds: number;
  /** our SYNC waiting for its ACK: nonce and when it left */
  pending: { nonce: number; at: number } | null;
  /** the peer's SYNC we answered: its nonce and candidates, punched at its GO */
  answered: { nonce: number; candidates: readonly RemoteCandidate[] } | null;
  timer: { cancel(): void } | null;
}

/** The punch coordination of the node's relayed connections. */
export class RelayedPunch {
  readonly #o: RelayedPunchOwner;
  readonly #byId = new Map<number, Entry>();

  constructor(owner: RelayedPunchOwner) {
    this.#o = owner;
  }

  /** Connection `id` is established on a relayed path; `initiator`: we dialled it (we send SYNC). */
  relayedStart(id: number, initiator: boolean): void {
    if (this.#byId.has(id)) return;
    const e: Entry = { rounds: 0, pending: null, answered: null, timer: null };
    this.#byId.set(id, e);
    if (initiator) this.#sync(id, e);
  }

  /**
   * Our network changed for the better (UDP works again after UDP_BLOCKED): a new round now, with
   * a fresh round budget, whoever dialled (our candidates are new; the peer's end answers a SYNC
   * from either side). Called once per such change.
   */
  again(id: number): void {
    let e = this.#byId.get(id);
    if (e === undefined) {
      e = { rounds: 0, pending: null, answered: null, timer: null };
      this.#byId.set(id, e);
    }
    e.timer?.cancel();
    e.timer = null;
    e.rounds = 0;
    e.pending = null;
    this.#sync(id, e);
  }

  /** Connection `id` closed, or moved to a direct path. */
  forget(id: number): void {
    const e = this.#byId.get(id);
    e?.timer?.cancel();
    this.#byId.delete(id);
  }

  /** A punch message from the peer of connection `id`. */
  onMessage(id: number, data: Uint8Array): void {
    const m = decodePunch(data);
    if (m === null) {
      this.#o.drop('punch_malformed');
      return;
    }
    if (!this.#o.relayed(id)) return; // direct already: nothing to punch
    let e = this.#byId.get(id);
    if (e === undefined) {
      e = { rounds: 0, pending: null, answered: null, timer: null };
      this.#byId.set(id, e);
    }
    if (m.type === 'sync') {
      if (e.rounds >= MAX_ROUNDS * 2) {
        this.#o.drop('punch_rounds');
        return;
      }
      e.rounds++;
      e.answered = { nonce: m.nonce, candidates: m.candidates };
      this.#o.send(id, encodePunch({ type: 'ack', nonce: m.nonce, candidates: this.#o.candidates() }));
      return;
    }
    if (m.type === 'go') {
      const a = e.answered;
      if (a === null || a.nonce !== m.nonce) {
        this.#o.drop('punch_unexpected_go');
        return;
      }
      e.answered = null;
      this.#punch(id, a.candidates);
      return;
    }
    const p = e.pending;
    if (p === null || p.nonce !== m.nonce) {
      this.#o.drop('punch_unexpected_ack');
      return;
    }
    e.pending = null;
    const rtt = Math.max(0, this.#o.clock() - p.at);
    this.#o.send(id, encodePunch({ type: 'go', nonce: m.nonce, candidates: [] }));
    e.timer?.cancel();
    e.timer = this.#o.after(rtt / 2, () => {
      e.timer = null;
      if (this.#byId.get(id) !== e || !this.#o.relayed(id)) return;
      this.#punch(id, m.candidates);
      this.#retryLater(id, e);
    });
  }

  /** Punches the peer's direct candidates: a relay candidate is a path we have already. */
  #punch(id: number, candidates: readonly RemoteCandidate[]): void {
    const direct = candidates.filter((c) => c.kind !== 'relay');
    if (direct.length > 0) this.#o.punch(id, direct, PUNCH_MS);
  }

  #sync(id: number, e: Entry): void {
    if (e.rounds >= MAX_ROUNDS || !this.#o.relayed(id)) return;
    e.rounds++;
    const nonce = this.#o.random32() >>> 0;
    e.pending = { nonce, at: this.#o.clock() };
    this.#o.send(id, encodePunch({ type: 'sync', nonce, candidates: this.#o.candidates() }));
    // no ACK (lost, or an old peer): try again later
    this.#retryLater(id, e);
  }

  #retryLater(id: number, e: Entry): void {
    e.timer?.cancel();
    e.timer = this.#o.after(RETRY_MS, () => {
      e.timer = null;
      if (this.#byId.get(id) === e) this.#sync(id, e);
    });
  }
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}
