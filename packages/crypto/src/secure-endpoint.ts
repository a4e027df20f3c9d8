import {
  type Address,
  type CookieReplyPacket,
  compareBytes,
  decodePacket,
  encodePacketBytes,
  equalBytes,
  type HandshakePacket,
  HandshakePattern,
  MAC_LENGTH,
  type Packet,
  PollQueue,
  toHex,
  WIRE_VERSION,
} from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import { nobleBackend } from './backend.js';
import { isZero } from './bytes.js';
import { type AcceptInfo, DEFAULT_TIMING, type SecureEndpointConfig, type SecureTiming } from './config.js';
import {
  type HandshakeLimits,
  LoadMeter,
  PendingTable,
  resolveLimits,
  type Source,
  SourceKeys,
  SourceRate,
} from './handshake-guard.js';
import { type Identity, peerIdToX25519, tryPeerIdToX25519 } from './identity.js';
import { CookieChecker, cookieKey, mac1Key, mac1Of, verifyMac1, writeMac1 } from './macs.js';
import { HandshakeState } from './noise/handshake-state.js';
import { IK, XX } from './noise/patterns.js';
import { checkAppOptions, decodePayload, encodePayload, type HandshakeOptions } from './options.js';
import {
  type ChannelHost,
  type IndexOwner,
  type Opened,
  prologue,
  SecureChannel,
  type SecureEvent,
} from './secure-channel.js';
import { type CryptoStats, type DropReason, newStats } from './stats.js';
import { compareTimestamps, TimestampClock } from './timestamp.js';
import { TransportSession } from './transport-session.js';

const PROLOGUE = prologue();
/** Bound on remembered initiations (duplicate detection), per pattern; oldest evicted first. */
const MAX_RECENT = 4096;
/** Bound on remembered initiation timestamps (one per remote key; least recently used forgotten:
 * key confirmation still stops a replay of a key forgotten here). */
const MAX_TIMESTAMPS = 16_384;
/** Smallest datagram that can be a handshake packet: 11-byte header, two 16-byte MACs. */
const MIN_HANDSHAKE = 11 + 2 * MAC_LENGTH;

/** What {@link SecureEndpoint.handle} did with a datagram. */
export type HandleResult =
  | { type: 'data'; channel: SecureChannel; packetNumber: number; plaintext: Uint8Array }
  | { type: 'handshake' }
  | { type: 'dropped'; reason: DropReason };

export interface ConnectOptions {
  address: Address;
  /** Ed25519 public key (peer id) of the peer: Noise IK. Absent: Noise XX (learn the key). */
  remoteKey?: Uint8Array;
}

export interface HandleOptions {
  /** Force the responder under load for this datagram (initiations without a valid mac2 get a
   * cookie reply instead of a DH, WireGuard §5.4.7), whatever the endpoint's own load measure
   * (`limits.loadThreshold`) says. */
  underLoad?: boolean;
}

interface HalfOpen {
  hs: HandshakeState;
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

/** An initiation past the MAC checks, about to cost a Diffie-Hellman. */
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

const HANDSHAKE_RESULT: HandleResult = { type: 'handshake' };
const DROPS = new Map<DropReason, HandleResult>();
function dropped(reason: DropReason): HandleResult {
  let r = DROPS.get(reason);
  if (!r) {
    r = { type: 'dropped', reason };
    DROPS.set(reason, r);
  }
  return r;
}

function addressBytes(a: Address): Uint8Array {
  return new TextEncoder().encode(`${a.host}|${a.port}`);
}

/**
 * Sans-IO secure endpoint: one identity, one socket's worth of peers. Routes every srmudp
 * datagram by session index, answers handshakes (mac1 before any DH, cookies under load,
 * simultaneous-initiation rule), and owns the channels. Inputs: {@link handle},
 * {@link handleTimeout}; outputs: {@link pollTransmit}, {@link pollTimeout}, {@link pollEvent}.
 */
export class SecureEndpoint {
  readonly identity: Identity;
  readonly backend: CryptoBackend;
  private readonly timing: SecureTiming;
  private readonly random: (n: number) => Uint8Array;
  private readonly acceptPeer: ((k: Uint8Array, info: AcceptInfo) => boolean) | undefined;
  private readonly acceptXX: boolean;
  private readonly appOptions: HandshakeOptions | undefined;
  private readonly statsData: CryptoStats = newStats();
  private readonly indexes = new Map<number, IndexOwner>();
  private readonly byKey = new Map<string, SecureChannel>();
  private readonly channelSet = new Set<SecureChannel>();
  private readonly halfOpen = new Map<number, HalfOpen>();
  /** recent initiations by ephemeral key, per pattern (an XX flood cannot evict IK entries) */
  private readonly recentIK = new Map<string, Recent>();
  private readonly recentXX = new Map<string, Recent>();
  /** the newest initiation timestamp consumed per remote key (hex) */
  private readonly lastInit = new Map<string, Uint8Array>();
  private readonly cookies: CookieChecker;
  private readonly limits: HandshakeLimits;
  private readonly load: LoadMeter;
  private readonly pending: PendingTable;
  private readonly sources = new SourceKeys();
  private readonly handshakeRate: SourceRate;
  private readonly cookieRate: SourceRate;
  private readonly clock: TimestampClock;
  private readonly transmitQueue = new PollQueue<{ to: Address; data: Uint8Array }>();
  private readonly events = new PollQueue<SecureEvent>();
  private readonly host: ChannelHost;
  private closed = false;

  constructor(config: SecureEndpointConfig) {
    if (!config || typeof config.random !== 'function') throw new TypeError('"random" expected a function');
    if (!config.identity || !(config.identity.publicKey instanceof Uint8Array)) {
      throw new TypeError('"identity" expected an Identity');
    }
    checkAppOptions(config.options);
    this.identity = config.identity;
    this.backend = config.backend ?? nobleBackend();
    this.random = config.random;
    this.timing = { ...DEFAULT_TIMING, ...config.timing };
    for (const [k, v] of Object.entries(this.timing)) {
      if (typeof v !== 'number' || !(v > 0))
        throw new RangeError(`"timing.${k}" expected a positive number, got ${v}`);
    }
    this.acceptPeer = config.acceptPeer;
    this.acceptXX = config.acceptXX ?? true;
    this.appOptions = config.options;
    this.cookies = new CookieChecker(this.random);
    this.limits = resolveLimits(config.limits);
    this.load = new LoadMeter(this.limits.loadThreshold);
    this.pending = new PendingTable(this.limits);
    this.handshakeRate = new SourceRate(
      this.limits.handshakesPerAddress,
      this.limits.handshakesPerPrefix,
      this.limits.handshakesPerSecond,
    );
    this.cookieRate = new SourceRate(this.limits.cookieRepliesPerAddress, this.limits.cookieRepliesPerPrefix);
    const offset = config.wallClockOffsetMs ?? 0;
    if (typeof offset !== 'number' || !Number.isFinite(offset))
      throw new RangeError(`"wallClockOffsetMs" expected a finite number, got ${offset}`);
    this.clock = new TimestampClock(offset);
    this.host = {
      identity: this.identity,
      backend: this.backend,
      random: this.random,
      timing: this.timing,
      stats: this.statsData,
      appOptions: this.appOptions,
      timestamp: (now) => this.clock.next(now),
      allocateIndex: (owner) => this.allocateIndex(owner),
      setIndexOwner: (index, owner) => {
        this.indexes.set(index, owner);
      },
      releaseIndex: (index) => {
        this.indexes.delete(index);
        this.pending.remove(index);
      },
      transmit: (to, data) => {
        this.transmitQueue.push({ to, data });
      },
      emit: (ev) => {
        this.events.push(ev);
      },
      accept: (k, info) => this.accept(k, info),
      bindKey: (channel, key) => {
        this.byKey.set(toHex(key), channel);
      },
      unbind: (channel) => {
        this.channelSet.delete(channel);
        if (channel.remoteKey && this.byKey.get(toHex(channel.remoteKey)) === channel)
          this.byKey.delete(toHex(channel.remoteKey));
      },
      openData: (now, datagram, only) => this.openData(now, datagram, only),
    };
  }

  /**
   * The channel to a peer, created if needed, with a handshake started: Noise IK when
   * `remoteKey` is given (throws SrmudpError('INVALID_PEER_ID') for a key that is not an Ed25519
   * point), XX otherwise. An existing channel to the same key is reused.
   */
  connect(now: number, opts: ConnectOptions): SecureChannel {
    if (this.closed) throw new RangeError('endpoint is closed');
    let remoteStatic: Uint8Array | null = null;
    if (opts.remoteKey !== undefined) {
      remoteStatic = peerIdToX25519(opts.remoteKey);
      if (equalBytes(opts.remoteKey, this.identity.publicKey))
        throw new RangeError('cannot connect to our own key');
      const existing = this.byKey.get(toHex(opts.remoteKey));
      if (existing && existing.state !== 'closed') {
        if (existing.state === 'failed' || existing.state === 'idle') existing.address = opts.address;
        existing.connect(now);
        return existing;
      }
    }
    const ch = new SecureChannel(
      this.host,
      opts.remoteKey ? opts.remoteKey.slice() : null,
      opts.address,
      remoteStatic,
    );
    this.channelSet.add(ch);
    if (opts.remoteKey) this.byKey.set(toHex(opts.remoteKey), ch);
    ch.connect(now);
    return ch;
  }

  /** The channel to a peer id, if any. */
  channel(remoteKey: Uint8Array): SecureChannel | undefined {
    return this.byKey.get(toHex(remoteKey));
  }

  /** All live channels. */
  channels(): SecureChannel[] {
    return [...this.channelSet];
  }

  stats(): CryptoStats {
    this.statsData.pendingEvicted = this.pending.evicted;
    return { ...this.statsData, dropped: { ...this.statsData.dropped } };
  }

  /** Responder handshakes awaiting completion: half-open XX and IK sessions awaiting key
   * confirmation (what the handshake budget counts). */
  pendingHandshakes(): number {
    return this.pending.size;
  }

  /** True when the responder is under load at `now` (it answers initiations without a valid
   * mac2 with cookies). */
  underLoad(now: number): boolean {
    return this.load.underLoad(now);
  }

  /**
   * Processes one datagram from `from`. Never throws on network input: anything invalid is
   * dropped and counted in {@link stats}. Data packets come back decrypted.
   */
  handle(now: number, from: Address, datagram: Uint8Array, opts?: HandleOptions): HandleResult {
    if (this.closed) return dropped('unknown_index');
    const t = datagram[0];
    if (t !== undefined && (t & 0xfe) === 0x90) {
      const r = this.openData(now, datagram, null);
      if (r === null) return dropped(this.lastDataDrop);
      return {
        type: 'data',
        channel: this.lastChannel as SecureChannel,
        packetNumber: r.packetNumber,
        plaintext: r.plaintext,
      };
    }
    if (t === 0x81) return this.onInitDatagram(now, from, datagram, opts?.underLoad === true);
    let pkt: Packet;
    try {
      pkt = decodePacket(datagram);
    } catch {
      return this.drop('malformed');
    }
    try {
      switch (pkt.type) {
        case 'handshake_response':
          return this.onResponse(now, from, pkt, datagram);
        case 'handshake_final':
          return this.onFinal(now, from, pkt, datagram);
        case 'cookie_reply':
          return this.onCookieReply(now, pkt);
        default:
          return this.drop('malformed');
      }
    } catch {
      // Defensive: a bug must not turn hostile input into an exception for the driver loop.
      return this.drop('internal_error');
    }
  }

  /** Next datagram to send, or null. */
  pollTransmit(_now: number): { to: Address; data: Uint8Array } | null {
    return this.transmitQueue.take();
  }

  /** Next event (established, rekeyed, failed), or null. */
  pollEvent(): SecureEvent | null {
    return this.events.take();
  }

  /** Earliest absolute time (ms) {@link handleTimeout} must run, or null. */
  pollTimeout(): number | null {
    let t = Number.POSITIVE_INFINITY;
    for (const ch of this.channelSet) {
      const c = ch.pollTimeout();
      if (c !== null && c < t) t = c;
    }
    // insertion order is expiry order (one timeout for all)
    const h = this.halfOpen.values().next().value;
    if (h !== undefined && h.expires < t) t = h.expires;
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  handleTimeout(now: number): void {
    for (const ch of [...this.channelSet]) {
      const c = ch.pollTimeout();
      if (c !== null && c <= now) ch.handleTimeout(now);
    }
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

  /** Closes every channel (keys erased) and forgets all handshake state. */
  close(): void {
    for (const ch of [...this.channelSet]) ch.close();
    for (const h of this.halfOpen.values()) h.hs.destroy();
    this.halfOpen.clear();
    this.indexes.clear();
    this.recentIK.clear();
    this.recentXX.clear();
    this.lastInit.clear();
    this.pending.clear();
    this.handshakeRate.clear();
    this.cookieRate.clear();
    this.cookies.clear();
    this.closed = true;
  }

  // ---------------------------------------------------------------- internals

  private dropHalfOpen(localIndex: number): void {
    const h = this.halfOpen.get(localIndex);
    if (h === undefined) return;
    h.hs.destroy();
    this.halfOpen.delete(localIndex);
    this.indexes.delete(localIndex);
    this.pending.remove(localIndex);
  }

  private drop(reason: DropReason): HandleResult {
    this.statsData.dropped[reason]++;
    return dropped(reason);
  }

  private allocateIndex(owner: IndexOwner): number {
    for (;;) {
      const b = this.random(4);
      const idx =
        (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>>
        0;
      if (idx !== 0 && !this.indexes.has(idx)) {
        this.indexes.set(idx, owner);
        return idx;
      }
    }
  }

  private accept(remoteKey: Uint8Array, info: AcceptInfo): boolean {
    if (equalBytes(remoteKey, this.identity.publicKey)) return false;
    if (!this.acceptPeer) return true;
    try {
      return this.acceptPeer(remoteKey, info) === true;
    } catch {
      return false;
    }
  }

  private lastDataDrop: DropReason = 'malformed';
  private lastChannel: SecureChannel | null = null;

  private openData(now: number, datagram: Uint8Array, only: SecureChannel | null): Opened | null {
    // Data header: type(1) receiver index(4) packet number(8), big-endian (wire-format.md).
    if (datagram.length < 13 + 16 || ((datagram[0] as number) & 0xfe) !== 0x90)
      return this.dataDrop('malformed');
    const idx =
      (((datagram[1] as number) << 24) |
        ((datagram[2] as number) << 16) |
        ((datagram[3] as number) << 8) |
        (datagram[4] as number)) >>>
      0;
    const hi =
      (((datagram[5] as number) << 24) |
        ((datagram[6] as number) << 16) |
        ((datagram[7] as number) << 8) |
        (datagram[8] as number)) >>>
      0;
    const lo =
      (((datagram[9] as number) << 24) |
        ((datagram[10] as number) << 16) |
        ((datagram[11] as number) << 8) |
        (datagram[12] as number)) >>>
      0;
    if (hi > 0x1fffff) return this.dataDrop('malformed');
    const pn = hi * 0x1_0000_0000 + lo;
    const owner = this.indexes.get(idx);
    if (owner?.kind !== 'session' || (only !== null && owner.channel !== only))
      return this.dataDrop('unknown_index');
    const { channel, session } = owner;
    if (session.keyPhase !== ((datagram[0] as number) & 1)) return this.dataDrop('key_phase');
    const r = session.open(datagram, pn);
    if (r === null) return this.dataDrop('decrypt_failed');
    if (r === 'duplicate') return this.dataDrop('replay');
    if (r === 'too_old') return this.dataDrop('too_old');
    this.statsData.packetsOpened++;
    if (channel.next === session) {
      // Key confirmation (WireGuard §5.4.3 "responder waits for the first data packet"): the
      // initiator has our response and uses the new keys. Only now is this a session (a new
      // connection, a rekey, a restarted peer): an initiation alone may be a replay.
      this.pending.remove(session.localIndex);
      channel.install(
        now,
        session,
        channel.nextOptions,
        false,
        session.answers === 1 ? now - session.createdAt : null,
      );
    }
    this.lastChannel = channel;
    return { packetNumber: pn, plaintext: r };
  }

  private dataDrop(reason: DropReason): null {
    this.statsData.dropped[reason]++;
    this.lastDataDrop = reason;
    return null;
  }

  /** Sends a cookie reply unless the source is over its cookie budget; counts `reason` either way. */
  private cookieReply(now: number, from: Address, pkt: HandshakePacket, raw: Uint8Array, reason: DropReason) {
    if (this.cookieRate.take(now, this.sources.of(from))) {
      const key = cookieKey(pkt.pattern === HandshakePattern.IK ? this.identity.x25519Public : null);
      const { nonce, sealed } = this.cookies.sealCookie(now, addressBytes(from), key, mac1Of(raw));
      const reply: CookieReplyPacket = {
        type: 'cookie_reply',
        receiverIndex: pkt.senderIndex,
        nonce,
        sealedCookie: sealed,
      };
      this.transmitQueue.push({ to: from, data: encodePacketBytes(reply) });
      this.statsData.cookieRepliesSent++;
    }
    return this.drop(reason);
  }

  /**
   * A handshake initiation. Cheapest checks first (WireGuard §5.4.4, §5.4.7): the load measure
   * and, under load, the source's budget (a counter lookup), then mac1 (one MAC), then mac2 or a
   * cookie reply; only then the Noise message and its Diffie-Hellman.
   */
  private onInitDatagram(now: number, from: Address, raw: Uint8Array, forced: boolean): HandleResult {
    const underLoad = this.load.record(now) || forced;
    if (raw.length < MIN_HANDSHAKE) return this.drop('malformed');
    const hasMac2 = !isZero(raw.subarray(raw.length - MAC_LENGTH));
    let src: Source | null = null;
    if (underLoad) {
      src = this.sources.of(from);
      // Only a valid mac2 ever takes from the handshake budget, so a spoofer cannot drain another
      // source's budget; peeking first costs an attacker over budget no MAC of ours.
      if (!(hasMac2 ? this.handshakeRate : this.cookieRate).peek(now, src)) return this.drop('rate_limited');
    }
    let pkt: Packet;
    try {
      pkt = decodePacket(raw);
    } catch {
      return this.drop('malformed');
    }
    if (pkt.type !== 'handshake_init') return this.drop('malformed');
    try {
      const ik = pkt.pattern === HandshakePattern.IK;
      // 1. mac1 before anything costly (WireGuard §5.4.4).
      if (!verifyMac1(raw, mac1Key(ik ? this.identity.x25519Public : null))) return this.drop('bad_mac1');
      // 2. mac2: when present it must be valid; under load it is required (§5.4.7).
      if (hasMac2 && !this.cookies.verifyMac2(now, raw, addressBytes(from)))
        return this.cookieReply(now, from, pkt, raw, 'bad_mac2');
      if (!hasMac2 && underLoad) return this.cookieReply(now, from, pkt, raw, 'under_load');
      if (src !== null && !this.handshakeRate.take(now, src)) return this.drop('rate_limited');
      if (pkt.senderIndex === 0) return this.drop('bad_payload');
      // 3. A retransmitted initiation gets the same answer, without new state.
      const recent = ik ? this.recentIK : this.recentXX;
      const rkey = toHex(pkt.noise.subarray(0, 32));
      const seen = recent.get(rkey);
      if (seen && seen.expires > now && equalBytes(seen.noise, pkt.noise)) {
        const owner = this.indexes.get(seen.localIndex);
        if (owner !== undefined) {
          if (owner.kind === 'session') owner.session.answers++;
          else if (owner.kind === 'half_open') (owner.halfOpen as HalfOpen).answers++;
          this.transmitQueue.push({ to: from, data: seen.response });
        }
        return this.drop('duplicate_init');
      }
      const c: InitContext = { now, from, pkt, rkey, source: src ?? this.sources.of(from), cookie: hasMac2 };
      this.statsData.initiationsProcessed++;
      return ik ? this.onInitIK(c) : this.onInitXX(c);
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
      expires: now + this.timing.handshakeTimeoutMs,
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
    return last !== undefined && compareTimestamps(ts, last) <= 0;
  }

  /** Remembers the newest timestamp consumed from a key (least recently used forgotten). */
  private recordTimestamp(keyHex: string, ts: Uint8Array): void {
    const last = this.lastInit.get(keyHex);
    if (last !== undefined && compareTimestamps(ts, last) <= 0) return;
    this.lastInit.delete(keyHex);
    this.lastInit.set(keyHex, ts.slice());
    if (this.lastInit.size > MAX_TIMESTAMPS) {
      const first = this.lastInit.keys().next().value;
      if (first !== undefined) this.lastInit.delete(first);
    }
  }

  /** A responder's Noise state for `pattern`, with our static key. */
  private responderState(pattern: typeof IK | typeof XX): HandshakeState {
    return new HandshakeState({
      pattern,
      initiator: false,
      hash: 'BLAKE2s',
      backend: this.backend,
      prologue: PROLOGUE,
      s: { privateKey: this.identity.x25519Private, publicKey: this.identity.x25519Public },
      random: this.random,
    });
  }

  private onInitIK(c: InitContext): HandleResult {
    const { now, from, pkt, rkey, source, cookie } = c;
    const hs = this.responderState(IK);
    const payloadBytes = readMessage(hs, pkt.noise);
    if (payloadBytes === null) {
      hs.destroy();
      return this.drop('handshake_failed');
    }
    const payload = decodePayload(payloadBytes);
    const rs = hs.remoteStatic();
    const id = payload?.identityKey ?? null;
    const x = id ? tryPeerIdToX25519(id) : null;
    if (
      !payload ||
      payload.senderIndex !== pkt.senderIndex ||
      !rs ||
      !id ||
      !x ||
      !equalBytes(x, rs) ||
      payload.timestamp === null
    ) {
      hs.destroy();
      return this.drop('bad_payload');
    }
    const idHex = toHex(id);
    if (this.isReplay(idHex, payload.timestamp)) {
      hs.destroy();
      return this.drop('replayed_init');
    }
    if (!this.accept(id, { address: from, pattern: 'IK', options: payload.app, incoming: true })) {
      hs.destroy();
      return this.drop('refused');
    }
    // Consumed: from now on only a newer initiation from this key is accepted (WireGuard records
    // the timestamp when it consumes the initiation, before the session is confirmed).
    this.recordTimestamp(idHex, payload.timestamp);
    let channel = this.byKey.get(idHex);
    if (channel && channel.state === 'closed') channel = undefined;
    if (channel?.pending) {
      if (channel.winsSimultaneous(id)) {
        // Both sides initiated: ours wins (smaller key). The peer drops its own initiation when
        // it sees ours; resend ours now in case it was lost.
        hs.destroy();
        channel.address = from;
        channel.resendPending(now);
        return this.drop('simultaneous_lost');
      }
      channel.dropPending();
    } else if (
      channel?.current?.initiator &&
      now - channel.current.createdAt < this.timing.handshakeRetransmitMs &&
      compareBytes(this.identity.publicKey, id) < 0
    ) {
      // A late copy of the losing side's initiation from a simultaneous start we already won and
      // completed: the peer abandoned it before answering ours, so answering would only create
      // a session nobody uses. (A genuine restart of the peer is answered on its retransmission.)
      hs.destroy();
      return this.drop('simultaneous_lost');
    }
    if (!channel) {
      channel = new SecureChannel(this.host, id, from, rs);
      this.channelSet.add(channel);
      this.byKey.set(idHex, channel);
    }
    channel.address = from;
    channel.remoteStatic = rs;
    const keyPhase = payload.keyPhase ?? 0;
    const localIndex = this.allocateIndex({ kind: 'pending', channel });
    const noise2 = hs.writeMessage(encodePayload({ senderIndex: localIndex, app: this.appOptions }));
    const split = hs.split();
    const session = new TransportSession(
      this.backend,
      localIndex,
      pkt.senderIndex,
      keyPhase,
      split.send.key()?.slice() as Uint8Array,
      split.recv.key()?.slice() as Uint8Array,
      now,
      false,
      split.handshakeHash,
      false,
    );
    split.send.clear();
    split.recv.clear();
    this.indexes.set(localIndex, { kind: 'session', channel, session });
    const response = this.handshakePacket(
      'handshake_response',
      HandshakePattern.IK,
      localIndex,
      pkt.senderIndex,
      noise2,
      rs,
    );
    this.transmitQueue.push({ to: from, data: response });
    this.remember(this.recentIK, now, rkey, pkt.noise, response, localIndex);
    // Key confirmation (WireGuard §5.4.3): the session is used, and reported, only once the
    // initiator sends under it. Until then it is `next`: a new connection, a rekey or a restart
    // of the peer; a working session is never replaced by an initiation alone.
    if (channel.next) channel.dropSession(channel.next);
    channel.next = session;
    channel.nextOptions = payload.app;
    if (!channel.isEstablished) {
      // a would-be new connection: it counts in the handshake budget until confirmed
      channel.state = 'handshaking';
      const ch = channel;
      this.pending.add({ localIndex, source, cookie, evict: () => ch.abandonNext() });
    }
    return HANDSHAKE_RESULT;
  }

  private onInitXX(c: InitContext): HandleResult {
    const { now, from, pkt, rkey, source, cookie } = c;
    if (!this.acceptXX) return this.drop('refused');
    const hs = this.responderState(XX);
    const payloadBytes = readMessage(hs, pkt.noise);
    const payload = payloadBytes ? decodePayload(payloadBytes) : null;
    if (!payload || payload.senderIndex !== pkt.senderIndex) {
      hs.destroy();
      return this.drop(payloadBytes ? 'bad_payload' : 'handshake_failed');
    }
    const localIndex = this.allocateIndex({ kind: 'half_open', halfOpen: null });
    let noise2: Uint8Array;
    try {
      noise2 = hs.writeMessage(
        encodePayload({
          senderIndex: localIndex,
          identityKey: this.identity.publicKey,
          app: this.appOptions,
        }),
      );
    } catch {
      // a low-order ephemeral key (all-zero shared secret): not a real initiator
      hs.destroy();
      this.indexes.delete(localIndex);
      return this.drop('handshake_failed');
    }
    const h: HalfOpen = {
      hs,
      localIndex,
      remoteIndex: pkt.senderIndex,
      keyPhase: payload.keyPhase ?? 0,
      address: from,
      expires: now + this.timing.handshakeTimeoutMs,
      sentAt: now,
      answers: 1,
    };
    this.halfOpen.set(localIndex, h);
    this.indexes.set(localIndex, { kind: 'half_open', halfOpen: h });
    const response = this.handshakePacket(
      'handshake_response',
      HandshakePattern.XX,
      localIndex,
      pkt.senderIndex,
      noise2,
      null,
    );
    this.transmitQueue.push({ to: from, data: response });
    this.remember(this.recentXX, now, rkey, pkt.noise, response, localIndex);
    this.pending.add({ localIndex, source, cookie, evict: () => this.dropHalfOpen(localIndex) });
    return HANDSHAKE_RESULT;
  }

  private handshakePacket(
    type: 'handshake_response' | 'handshake_final',
    pattern: 0 | 1,
    senderIndex: number,
    receiverIndex: number,
    noise: Uint8Array,
    receiverStatic: Uint8Array | null,
  ): Uint8Array {
    const bytes = encodePacketBytes({
      type,
      version: WIRE_VERSION,
      pattern,
      senderIndex,
      receiverIndex,
      noise,
      mac1: new Uint8Array(MAC_LENGTH),
      mac2: new Uint8Array(MAC_LENGTH),
    });
    writeMac1(bytes, mac1Key(receiverStatic));
    return bytes;
  }

  private onResponse(now: number, from: Address, pkt: HandshakePacket, raw: Uint8Array): HandleResult {
    const owner = this.indexes.get(pkt.receiverIndex);
    if (!owner) return this.drop('unknown_index');
    if (owner.kind !== 'pending') return this.drop('unexpected');
    // Only initiations carry cookies; a non-zero mac2 elsewhere is corruption.
    if (!isZero(pkt.mac2)) return this.drop('bad_mac2');
    const r = owner.channel.handleResponse(now, pkt, raw, from);
    if (r !== 'ok') return this.drop(r);
    return HANDSHAKE_RESULT;
  }

  private onFinal(now: number, from: Address, pkt: HandshakePacket, raw: Uint8Array): HandleResult {
    const owner = this.indexes.get(pkt.receiverIndex);
    if (!owner) return this.drop('unknown_index');
    if (owner.kind !== 'half_open') return this.drop('unexpected');
    if (!isZero(pkt.mac2)) return this.drop('bad_mac2');
    const h = owner.halfOpen as HalfOpen;
    if (h.remoteIndex !== pkt.senderIndex) return this.drop('unexpected');
    if (!verifyMac1(raw, mac1Key(this.identity.x25519Public))) return this.drop('bad_mac1');
    const attempt = h.hs.clone();
    const payloadBytes = attempt.readMessage(pkt.noise);
    if (payloadBytes === null) return this.drop('handshake_failed');
    const payload = decodePayload(payloadBytes);
    const rs = attempt.remoteStatic();
    const id = payload?.identityKey ?? null;
    const x = id ? tryPeerIdToX25519(id) : null;
    if (!payload || payload.senderIndex !== pkt.senderIndex || !rs || !id || !x || !equalBytes(x, rs)) {
      attempt.destroy();
      return this.drop('bad_payload');
    }
    h.hs.destroy();
    this.halfOpen.delete(h.localIndex);
    this.pending.remove(h.localIndex);
    if (!this.accept(id, { address: from, pattern: 'XX', options: payload.app, incoming: true })) {
      attempt.destroy();
      this.indexes.delete(h.localIndex);
      return this.drop('refused');
    }
    // XX cannot be replayed (message 3 answers our fresh ephemeral key), so its timestamp is not
    // checked; recording it makes older IK initiations of this key stale.
    if (payload.timestamp !== null) this.recordTimestamp(toHex(id), payload.timestamp);
    let channel = this.byKey.get(toHex(id));
    if (channel && channel.state === 'closed') channel = undefined;
    if (!channel) {
      channel = new SecureChannel(this.host, id, from, rs);
      this.channelSet.add(channel);
      this.byKey.set(toHex(id), channel);
    }
    channel.address = from;
    channel.remoteStatic = rs;
    const split = attempt.split();
    const session = new TransportSession(
      this.backend,
      h.localIndex,
      h.remoteIndex,
      h.keyPhase,
      split.send.key()?.slice() as Uint8Array,
      split.recv.key()?.slice() as Uint8Array,
      now,
      false,
      split.handshakeHash,
      true, // message 3 is authenticated by the initiator's static and ephemeral keys
    );
    split.send.clear();
    split.recv.clear();
    this.indexes.set(h.localIndex, { kind: 'session', channel, session });
    channel.install(now, session, payload.app, false, h.answers === 1 ? now - h.sentAt : null);
    return HANDSHAKE_RESULT;
  }

  private onCookieReply(now: number, pkt: CookieReplyPacket): HandleResult {
    const owner = this.indexes.get(pkt.receiverIndex);
    if (!owner) return this.drop('unknown_index');
    if (owner.kind !== 'pending') return this.drop('unexpected');
    if (!owner.channel.handleCookieReply(now, pkt.nonce, pkt.sealedCookie))
      return this.drop('bad_cookie_reply');
    return HANDSHAKE_RESULT;
  }
}

/** Noise readMessage that treats a low-order key (an all-zero DH result throws) as a failure. */
function readMessage(hs: HandshakeState, noise: Uint8Array): Uint8Array | null {
  try {
    return hs.readMessage(noise);
  } catch {
    return null;
  }
}
