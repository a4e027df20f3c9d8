/**
 * The responder side of the handshakes (WireGuard §5.4): behind the gate (responder-gate.ts: the
 * load measure, per-source budgets, mac1, mac2 or a stateless cookie reply, all before any
 * Diffie-Hellman), the duplicate-initiation cache (a retransmitted initiation gets the same answer
 * without new state), IK timestamps against replays, half-open XX handshakes, the budget of
 * pending handshakes, and responder sessions that wait for key confirmation before they count.
 * SecureEndpoint routes initiations and XX message 3 here; the channels it creates or finds are
 * the endpoint's.
 */
import {
  type Address,
  addressKey,
  bytesKey,
  compareBytes,
  equalBytes,
  GenerationalMap,
  type HandshakePacket,
  HandshakePattern,
  keyToHex,
  toHex,
} from '@srmudp/wire';
import { isZero } from './bytes.js';
import type { ChannelHost, HandshakeKind, IndexOwner } from './channel-events.js';
import { dropped, HANDSHAKE_RESULT, type HandleResult } from './handle-result.js';
import { type HandshakeBudget, type HandshakeLimits, PendingTable, type Source } from './handshake-guard.js';
import { handshakePacket } from './handshake-packet.js';
import { mac1Key, verifyMac1 } from './macs.js';
import { blake2sHandshake, type NoiseHandshake } from './noise/handshake-state.js';
import { IK, XX } from './noise/patterns.js';
import { decodePayload, encodePayload, identifiedSender } from './options.js';
import { shortPeerId } from './peer-id.js';
import { PROLOGUE } from './prologue.js';
import { ResponderGate } from './responder-gate.js';
import type { SecureChannel } from './secure-channel.js';
import type { DropReason } from './stats.js';
import { TransportSession } from './transport-session.js';

/** Bound on remembered initiations (duplicate detection), per pattern; oldest evicted first. */
const MAX_RECENT = 4096;
/** Initiation timestamps remembered at least (one per remote key, the most recently used; up to
 * twice as many are held: a GenerationalMap, whose insert costs the same at the cap). Key
 * confirmation still stops a replay of a key forgotten here. */
const MAX_TIMESTAMPS = 16_384;

/** @internal What the responder needs from its endpoint besides the channel host. */
export interface ResponderSide {
  readonly indexes: Map<number, IndexOwner>;
  /** the live (not closed) channel to a peer id (hex), if any */
  channelOf(keyHex: string): SecureChannel | undefined;
  /** a new channel to peer `id` (X25519 key `rs`) at `from`; `idHex` is `toHex(id)` (one string
   * per peer shared by the tables that key on it) */
  newChannel(id: Uint8Array, from: Address, rs: Uint8Array, idHex: string): SecureChannel;
}

interface HalfOpen {
  hs: NoiseHandshake;
  localIndex: number;
  remoteIndex: number;
  keyPhase: 0 | 1;
  address: Address;
  expires: number;
  /** when message 2 was sent, and how many times (RTT sample only when once) */
  sentAt: number;
  answers: number;
}

interface Recent {
  noise: Uint8Array;
  response: Uint8Array;
  /** Our index for the state the initiation created: the cached answer is only valid while it lives. */
  localIndex: number;
  expires: number;
}

/** An initiation past the gate, about to cost a Diffie-Hellman. */
interface InitContext {
  now: number;
  from: Address;
  pkt: HandshakePacket;
  /** its ephemeral key (hex): the duplicate cache key */
  rkey: string;
  source: Source;
  /** it came with a valid mac2 */
  cookie: boolean;
}

/** @internal */
export class Responder {
  readonly halfOpen = new Map<number, HalfOpen>();
  /** recent initiations by ephemeral key, per pattern (an XX flood cannot evict IK entries) */
  private readonly recentIK = new Map<string, Recent>();
  private readonly recentXX = new Map<string, Recent>();
  /** the newest initiation timestamp consumed per remote key (hex), as a string of one char per
   * byte ({@link bytesKey}): strings of the same length order like the bytes, and 12 chars are
   * lighter than 24 of hex (or a byte array) per peer */
  private readonly lastInit = new GenerationalMap<string, string>(MAX_TIMESTAMPS);
  /** responder handshakes awaiting completion (the budget of half-finished state) */
  readonly pending: PendingTable;
  /** the checks before any Diffie-Hellman, and their state */
  private readonly gate: ResponderGate;

  constructor(
    private readonly host: ChannelHost,
    private readonly side: ResponderSide,
    limits: HandshakeLimits,
    private readonly acceptXX: boolean,
    /** the driver's monotonic clock (ms), only to time our own work; null: the assumed cost */
    private readonly workClock: (() => number) | null = null,
  ) {
    this.pending = new PendingTable(limits);
    this.gate = new ResponderGate(host, limits);
  }

  /** The cap of validated handshakes under load, from their measured cost (the gate's). */
  get budget(): HandshakeBudget {
    return this.gate.budget;
  }

  /** The driver's event-loop utilisation (handshake-guard.ts: HandshakeBudget). */
  reportUtilization(u: number): void {
    this.gate.reportUtilization(u);
  }

  /** True when the responder is under load at `now`. */
  underLoad(now: number): boolean {
    return this.gate.underLoad(now);
  }

  /** Earliest expiry of a half-open handshake (insertion order is expiry order), or +Inf. */
  nextExpiry(): number {
    const h = this.halfOpen.values().next().value;
    return h === undefined ? Number.POSITIVE_INFINITY : h.expires;
  }

  /**
   * The initiator confirmed the keys of an IK session (it sent under them), so it has our answer
   * and will not retransmit its initiation: the cached answer is dropped now rather than after
   * the handshake timeout (an idle connection keeps no handshake state). A late copy of the
   * initiation is then a replay, refused by its timestamp like any other.
   */
  confirmed(session: TransportSession, now: number): void {
    const k = session.recentKey;
    if (k === null) return;
    session.recentKey = null;
    // its initiation, counted when it arrived, leaves the load measure (handshake-guard.ts)
    const address = session.channel?.address;
    if (address != null) this.gate.confirmed(session.createdAt, address, now);
    if (this.recentIK.get(k)?.localIndex === session.localIndex) this.recentIK.delete(k);
  }

  /**
   * Earliest time {@link expire} has work: a half-open handshake's expiry, or the rate limits'
   * next prune (their buckets of sources that went quiet), or +Inf.
   */
  nextDeadline(): number {
    return Math.min(this.nextExpiry(), this.gate.nextPruneAt());
  }

  /** Drops half-open handshakes and cached answers whose time is up, and quiet sources' buckets. */
  expire(now: number): void {
    this.gate.tick(now);
    for (const [idx, h] of this.halfOpen) {
      if (h.expires > now) break; // insertion order is expiry order
      this.dropHalfOpen(idx);
    }
    for (const recent of [this.recentIK, this.recentXX]) {
      for (const [k, r] of recent) {
        if (r.expires <= now) recent.delete(k);
        else break; // insertion order ≈ expiry order
      }
    }
  }

  /** Forgets all handshake state (the endpoint closes). */
  close(): void {
    for (const h of this.halfOpen.values()) h.hs.destroy();
    this.halfOpen.clear();
    this.recentIK.clear();
    this.recentXX.clear();
    this.lastInit.clear();
    this.pending.clear();
    this.gate.close();
  }

  private drop(reason: DropReason): HandleResult {
    this.host.stats.dropped[reason]++;
    return dropped(reason);
  }

  /** A response to `to`: it goes to an unproven source address. */
  private answer(to: Address, data: Uint8Array, kind: HandshakeKind, channel: SecureChannel | null): void {
    this.host.transmit({ to, data, kind, channel, answersUnverified: true });
  }

  /** Drops a half-open XX handshake (expired, or evicted by the handshake budget). */
  dropHalfOpen(localIndex: number): void {
    const h = this.halfOpen.get(localIndex);
    if (h === undefined) return;
    h.hs.destroy();
    this.halfOpen.delete(localIndex);
    this.side.indexes.delete(localIndex);
    this.pending.remove(localIndex);
  }

  /**
   * Sends message 2 for the initiation `c` and remembers it, so a retransmitted initiation gets
   * the same answer (IK: mac1 keyed by the initiator's static key `rs`; XX: by the zero key).
   */
  private respond(
    now: number,
    c: InitContext,
    localIndex: number,
    noise: Uint8Array,
    rs: Uint8Array | null,
    channel: SecureChannel | null,
  ): void {
    const pattern = rs !== null ? HandshakePattern.IK : HandshakePattern.XX;
    const response = handshakePacket(
      'handshake_response',
      pattern,
      localIndex,
      c.pkt.senderIndex,
      noise,
      mac1Key(rs, this.host.backend),
    );
    this.answer(c.from, response, 'response', channel);
    this.remember(
      rs !== null ? this.recentIK : this.recentXX,
      now,
      c.rkey,
      c.pkt.noise,
      response,
      localIndex,
    );
  }

  /**
   * A handshake initiation. First the gate (responder-gate.ts: load, budgets, mac1, mac2 or a
   * cookie reply); only then the Noise message and its Diffie-Hellman.
   */
  onInitDatagram(now: number, from: Address, raw: Uint8Array, forced: boolean): HandleResult {
    const pkt = this.gate.admit(now, from, raw, forced);
    if (typeof pkt === 'string') return this.drop(pkt);
    try {
      const ik = pkt.pattern === HandshakePattern.IK;
      if (pkt.senderIndex === 0) return this.drop('bad_payload');
      // A retransmitted initiation gets the same answer, without new state.
      const recent = ik ? this.recentIK : this.recentXX;
      const rkey = toHex(pkt.noise.subarray(0, 32));
      const seen = recent.get(rkey);
      if (seen && seen.expires > now && equalBytes(seen.noise, pkt.noise)) {
        const owner = this.side.indexes.get(seen.localIndex);
        if (owner !== undefined) {
          if (owner.kind === 'session') owner.answers++;
          else if (owner.kind === 'half_open') (owner.halfOpen as HalfOpen).answers++;
          const channel = owner.kind === 'session' ? owner.channel : null;
          this.answer(from, seen.response, 'response', channel);
        }
        return this.drop('duplicate_init');
      }
      const c: InitContext = {
        now,
        from,
        pkt,
        rkey,
        source: this.gate.sourceOf(from),
        cookie: this.gate.cookie,
      };
      this.host.stats.initiationsProcessed++;
      const clock = this.workClock;
      if (clock === null) return ik ? this.onInitIK(c) : this.onInitXX(c);
      const t0 = clock();
      const r = ik ? this.onInitIK(c) : this.onInitXX(c);
      this.gate.recordCost(clock() - t0);
      return r;
    } catch {
      // Defensive: a bug must not turn hostile input into an exception for the driver loop.
      return this.drop('internal_error');
    }
  }

  private remember(
    recent: Map<string, Recent>,
    now: number,
    rkey: string,
    noise: Uint8Array,
    response: Uint8Array,
    localIndex: number,
  ): void {
    recent.delete(rkey);
    recent.set(rkey, {
      noise: noise.slice(),
      response,
      localIndex,
      expires: now + this.host.timing.handshakeTimeoutMs,
    });
    if (recent.size > MAX_RECENT) {
      const first = recent.keys().next().value;
      if (first !== undefined) recent.delete(first);
    }
  }

  /**
   * Replay check of an IK initiation (WireGuard §5.1): its timestamp must be greater than the last
   * consumed from this key. A retransmission of an initiation is recognised before this, by its
   * bytes (the recent cache); once that answer is gone, a copy is a replay like any other.
   */
  private isReplay(keyHex: string, ts: Uint8Array): boolean {
    const last = this.lastInit.get(keyHex);
    return last !== undefined && bytesKey(ts) <= last;
  }

  /** Remembers the newest timestamp consumed from a key (the least recently used forgotten). */
  private recordTimestamp(keyHex: string, ts: Uint8Array): void {
    const packed = bytesKey(ts);
    const last = this.lastInit.get(keyHex);
    if (last !== undefined && packed <= last) return;
    this.lastInit.set(keyHex, packed);
  }

  /** A responder's Noise state for `pattern`, with our static key. */
  private responderState(pattern: typeof IK | typeof XX): NoiseHandshake {
    return blake2sHandshake({
      pattern,
      initiator: false,
      backend: this.host.backend,
      prologue: PROLOGUE,
      s: { privateKey: this.host.identity.x25519Private, publicKey: this.host.identity.x25519Public },
      random: this.host.random,
    });
  }

  private onInitIK(c: InitContext): HandleResult {
    const { now, from, pkt, source, cookie } = c;
    const hs = this.responderState(IK);
    const payloadBytes = readMessage(hs, pkt.noise);
    if (payloadBytes === null) {
      hs.destroy();
      return this.drop('handshake_failed');
    }
    const sender = identifiedSender(payloadBytes, pkt.senderIndex, hs.remoteStatic());
    const timestamp = sender?.payload.timestamp ?? null;
    if (sender === null || timestamp === null) {
      hs.destroy();
      return this.drop('bad_payload');
    }
    const { payload, identityKey: id, remoteStatic: rs } = sender;
    const idHex = keyToHex(id);
    if (this.isReplay(idHex, timestamp)) {
      hs.destroy();
      return this.drop('replayed_init');
    }
    if (!this.host.accept(id, { address: from, pattern: 'IK', options: payload.app, incoming: true })) {
      hs.destroy();
      this.host.log?.(
        `peer ${shortPeerId(id)}: IK initiation from ${addressKey(from)} refused (accept policy)`,
      );
      return this.drop('refused');
    }
    // Consumed: from now on only a newer initiation from this key is accepted (WireGuard records
    // the timestamp when it consumes the initiation, before the session is confirmed).
    this.recordTimestamp(idHex, timestamp);
    let channel = this.side.channelOf(idHex);
    // Simultaneous open: we are dialling this peer (our IK initiation is out, nothing
    // established) and its initiation crossed ours. Both sides answer the other's initiation and
    // keep their own: each may send under the session it answered at once (early data), the
    // session of the smaller key's initiation is the one both settle on (SecureChannel.settle),
    // and the other is retired after the grace period. See the README's "Simultaneous open".
    const early = channel?.pending?.pattern === 'IK' && channel.current === null;
    if (early && channel?.winsSimultaneous(id)) {
      channel.address = from;
      channel.resendPending(now); // in case it was lost
    } else if (channel?.pending && !early) {
      if (channel.winsSimultaneous(id)) {
        // Both sides initiated: ours wins (smaller key). The peer drops its own initiation when
        // it sees ours; resend ours now in case it was lost.
        hs.destroy();
        channel.address = from;
        channel.resendPending(now);
        this.host.touch(channel);
        return this.drop('simultaneous_lost');
      }
      channel.dropPending();
    } else if (
      channel?.current?.initiator &&
      now - channel.current.createdAt < this.host.timing.handshakeRetransmitMs &&
      compareBytes(this.host.identity.publicKey, id) < 0
    ) {
      // A late copy of the losing side's initiation from a simultaneous start we already won and
      // completed: the peer abandoned it before answering ours, so answering would only create
      // a session nobody uses. (A genuine restart of the peer is answered on its retransmission.)
      hs.destroy();
      return this.drop('simultaneous_lost');
    }
    if (!channel) channel = this.side.newChannel(id, from, rs, idHex);
    // its deadlines move (a new unconfirmed session, a dropped pending initiation): recomputed
    this.host.touch(channel);
    channel.address = from;
    channel.remoteStatic = rs;
    const keyPhase = payload.keyPhase ?? 0;
    const localIndex = this.host.allocateIndex({ kind: 'pending', channel });
    const noise2 = hs.writeMessage(encodePayload({ senderIndex: localIndex, app: this.host.appOptions }));
    // unconfirmed until the initiator sends under it (key confirmation, below)
    const session = TransportSession.fromSplit(
      this.host.backend,
      hs.split(),
      { local: localIndex, remote: pkt.senderIndex, keyPhase },
      now,
      false,
      false,
    );
    session.channel = channel;
    this.side.indexes.set(localIndex, session);
    this.respond(now, c, localIndex, noise2, rs, channel);
    session.recentKey = c.rkey;
    if (early) {
      this.host.log?.(
        `peer ${shortPeerId(id)}: IK initiation from ${addressKey(from)} crossed ours (simultaneous open): answered, usable at once`,
      );
      channel.installEarly(now, session, payload.app);
      return HANDSHAKE_RESULT;
    }
    // Key confirmation (WireGuard §5.4.3): the session is used, and reported, only once the
    // initiator sends under it. Until then it is `next`: a new connection, a rekey or a restart
    // of the peer; a working session is never replaced by an initiation alone.
    if (channel.next) channel.dropSession(channel.next);
    channel.next = session;
    channel.nextOptions = payload.app;
    this.host.log?.(
      `peer ${shortPeerId(id)}: IK initiation from ${addressKey(from)} answered, awaiting key confirmation${channel.isEstablished ? ' (rekey or restart)' : ''}`,
    );
    if (!channel.isEstablished) {
      // a would-be new connection: it counts in the handshake budget until confirmed
      channel.state = 'handshaking';
      const ch = channel;
      this.pending.add({ localIndex, source, cookie, evict: () => ch.abandonNext() });
    }
    return HANDSHAKE_RESULT;
  }

  private onInitXX(c: InitContext): HandleResult {
    const { now, from, pkt, source, cookie } = c;
    if (!this.acceptXX) return this.drop('refused');
    const hs = this.responderState(XX);
    const payloadBytes = readMessage(hs, pkt.noise);
    const payload = payloadBytes ? decodePayload(payloadBytes) : null;
    if (!payload || payload.senderIndex !== pkt.senderIndex) {
      hs.destroy();
      return this.drop(payloadBytes ? 'bad_payload' : 'handshake_failed');
    }
    const localIndex = this.host.allocateIndex({ kind: 'half_open', halfOpen: null });
    let noise2: Uint8Array;
    try {
      noise2 = hs.writeMessage(
        encodePayload({
          senderIndex: localIndex,
          identityKey: this.host.identity.publicKey,
          app: this.host.appOptions,
        }),
      );
    } catch {
      // a low-order ephemeral key (all-zero shared secret): not a real initiator
      hs.destroy();
      this.side.indexes.delete(localIndex);
      return this.drop('handshake_failed');
    }
    const h: HalfOpen = {
      hs,
      localIndex,
      remoteIndex: pkt.senderIndex,
      keyPhase: payload.keyPhase ?? 0,
      address: from,
      expires: now + this.host.timing.handshakeTimeoutMs,
      sentAt: now,
      answers: 1,
    };
    this.halfOpen.set(localIndex, h);
    this.side.indexes.set(localIndex, { kind: 'half_open', halfOpen: h });
    this.respond(now, c, localIndex, noise2, null, null);
    this.pending.add({ localIndex, source, cookie, evict: () => this.dropHalfOpen(localIndex) });
    this.host.log?.(`XX initiation from ${addressKey(from)} answered (half-open until message 3)`);
    return HANDSHAKE_RESULT;
  }

  onFinal(now: number, from: Address, pkt: HandshakePacket, raw: Uint8Array): HandleResult {
    const owner = this.side.indexes.get(pkt.receiverIndex);
    if (!owner) return this.drop('unknown_index');
    if (owner.kind !== 'half_open') return this.drop('unexpected');
    if (!isZero(pkt.mac2)) return this.drop('bad_mac2');
    const h = owner.halfOpen as HalfOpen;
    if (h.remoteIndex !== pkt.senderIndex) return this.drop('unexpected');
    if (!verifyMac1(raw, this.gate.ownMac1Key())) return this.drop('bad_mac1');
    const attempt = h.hs.clone();
    const payloadBytes = attempt.readMessage(pkt.noise);
    if (payloadBytes === null) return this.drop('handshake_failed');
    const sender = identifiedSender(payloadBytes, pkt.senderIndex, attempt.remoteStatic());
    if (sender === null) {
      attempt.destroy();
      return this.drop('bad_payload');
    }
    const { payload, identityKey: id, remoteStatic: rs } = sender;
    h.hs.destroy();
    this.halfOpen.delete(h.localIndex);
    this.pending.remove(h.localIndex);
    // message 3 answers ours: the initiation leaves the load measure (handshake-guard.ts)
    this.gate.confirmed(h.sentAt, from, now);
    if (!this.host.accept(id, { address: from, pattern: 'XX', options: payload.app, incoming: true })) {
      attempt.destroy();
      this.side.indexes.delete(h.localIndex);
      this.host.log?.(
        `peer ${shortPeerId(id)}: XX handshake from ${addressKey(from)} refused (accept policy)`,
      );
      return this.drop('refused');
    }
    // XX cannot be replayed (message 3 answers our fresh ephemeral key), so its timestamp is not
    // checked; recording it makes older IK initiations of this key stale.
    const idHex = keyToHex(id);
    if (payload.timestamp !== null) this.recordTimestamp(idHex, payload.timestamp);
    let channel = this.side.channelOf(idHex);
    if (!channel) channel = this.side.newChannel(id, from, rs, idHex);
    this.host.touch(channel);
    channel.address = from;
    channel.remoteStatic = rs;
    const session = TransportSession.fromSplit(
      this.host.backend,
      attempt.split(),
      { local: h.localIndex, remote: h.remoteIndex, keyPhase: h.keyPhase },
      now,
      false,
      true, // message 3 is authenticated by the initiator's static and ephemeral keys
    );
    session.channel = channel;
    this.side.indexes.set(h.localIndex, session);
    channel.install(now, session, payload.app, false, h.answers === 1 ? now - h.sentAt : null);
    return HANDSHAKE_RESULT;
  }
}

/** Noise readMessage that treats a low-order key (an all-zero DH result throws) as a failure. */
function readMessage(hs: NoiseHandshake, noise: Uint8Array): Uint8Array | null {
  try {
    return hs.readMessage(noise);
  } catch {
    return null;
  }
}
