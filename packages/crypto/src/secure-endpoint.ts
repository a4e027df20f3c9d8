import {
  type Address,
  AEAD_TAG_LENGTH,
  type CookieReplyPacket,
  DATA_HEADER_LENGTH,
  decodePacket,
  equalBytes,
  type HandshakePacket,
  keyToHex,
  type Packet,
  PollQueue,
  readU32,
  Schedule,
  toHex,
} from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import { isZero } from './bytes.js';
import type { ChannelHost, IndexOwner, SecureEvent, SecureTransmit } from './channel-events.js';
import {
  type AcceptInfo,
  resolveSecureConfig,
  type SecureConfig,
  type SecureEndpointConfig,
} from './config.js';
import { type DataResult, dropped, HANDSHAKE_RESULT, type HandleResult } from './handle-result.js';
import { type Identity, peerIdToX25519 } from './identity.js';
import { Responder } from './responder.js';
import { SecureChannel } from './secure-channel.js';
import { type CryptoStats, type DropReason, newStats } from './stats.js';
import { TimestampClock } from './timestamp.js';

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

/**
 * Sans-IO secure endpoint: one identity, one socket's worth of peers. Routes every srmudp
 * datagram by session index: data packets are opened here (replay window, key confirmation),
 * responses and cookie replies go to the channel whose initiation they answer, initiations and XX
 * message 3 to the responder (responder.ts). Owns the channels. Inputs: {@link handle},
 * {@link handleTimeout}; outputs: {@link pollTransmit} (handshake datagrams, each naming its
 * channel and kind), {@link pollTimeout}, {@link pollEvent}.
 */
export class SecureEndpoint {
  readonly identity: Identity;
  readonly backend: CryptoBackend;
  private readonly config: SecureConfig;
  private readonly statsData: CryptoStats = newStats();
  private readonly indexes = new Map<number, IndexOwner>();
  private readonly byKey = new Map<string, SecureChannel>();
  private readonly channelSet = new Set<SecureChannel>();
  /**
   * The channels' deadlines (@srmudp/wire's Schedule): pollTimeout and handleTimeout visit only
   * the channels that something happened to, not every channel on every call. What moves a
   * deadline: a data packet opened on it (touched here), its first seal or the packet limit
   * (touched by the channel), connect and release (the channel), its own timeout (due), a
   * handshake datagram that reached it (touched where it is handled: see `handle`), and the
   * expiry of half-open handshakes (every deadline recomputed: rare).
   */
  private readonly timers = new Schedule<SecureChannel>({ transmit: false });
  private readonly responder: Responder;
  private readonly clock: TimestampClock;
  private readonly transmits = new PollQueue<SecureTransmit>();
  private readonly events = new PollQueue<SecureEvent>();
  private readonly host: ChannelHost;
  private closed = false;
  private lastDataDrop: DropReason = 'malformed';

  constructor(config: SecureEndpointConfig) {
    const c = resolveSecureConfig(config);
    this.config = c;
    this.identity = c.identity;
    this.backend = c.backend;
    this.clock = new TimestampClock(c.wallClockOffsetMs);
    this.host = {
      identity: c.identity,
      backend: c.backend,
      random: c.random,
      timing: c.timing,
      stats: this.statsData,
      log: c.log,
      appOptions: c.options,
      timestamp: (now) => this.clock.next(now),
      allocateIndex: (owner) => this.allocateIndex(owner),
      setIndexOwner: (index, owner) => {
        this.indexes.set(index, owner);
      },
      releaseIndex: (index) => {
        this.indexes.delete(index);
        this.responder.pending.remove(index);
      },
      transmit: (t) => {
        this.transmits.push(t);
      },
      emit: (ev) => {
        this.events.push(ev);
      },
      accept: (k, info) => this.accept(k, info),
      bindKey: (channel, key) => {
        this.byKey.set(keyToHex(key), channel);
      },
      unbind: (channel) => {
        this.channelSet.delete(channel);
        this.timers.remove(channel);
        if (channel.remoteKey && this.byKey.get(toHex(channel.remoteKey)) === channel)
          this.byKey.delete(toHex(channel.remoteKey));
      },
      openData: (now, datagram, only) => this.openData(now, datagram, only),
      touch: (channel) => this.timers.touchTimer(channel),
    };
    this.responder = new Responder(
      this.host,
      {
        indexes: this.indexes,
        channelOf: (keyHex) => {
          const ch = this.byKey.get(keyHex);
          return ch !== undefined && ch.state !== 'closed' ? ch : undefined;
        },
        newChannel: (id, from, rs, idHex) => {
          const ch = new SecureChannel(this.host, id, from, rs);
          this.channelSet.add(ch);
          this.timers.add(ch);
          this.byKey.set(idHex, ch);
          return ch;
        },
      },
      c.limits,
      c.acceptXX,
      c.workClock,
    );
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
      remoteStatic = peerIdToX25519(opts.remoteKey, this.backend);
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
    this.timers.add(ch);
    if (ch.remoteKey) this.byKey.set(keyToHex(ch.remoteKey), ch);
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
    this.statsData.pendingEvicted = this.responder.pending.evicted;
    this.statsData.handshakeCostMs = this.responder.budget.costMs;
    this.statsData.handshakesPerSecondUnderLoad = this.responder.budget.perSecond();
    return { ...this.statsData, dropped: { ...this.statsData.dropped } };
  }

  /** Responder handshakes awaiting completion: half-open XX and IK sessions awaiting key
   * confirmation (what the handshake budget counts). */
  pendingHandshakes(): number {
    return this.responder.pending.size;
  }

  /** True when the responder is under load at `now` (it answers initiations without a valid
   * mac2 with cookies). */
  /**
   * How busy the driver's thread was over its last interval (event-loop utilisation, 0…1; the
   * Node driver reports it every 100 ms while datagrams arrive): under load, a saturated loop
   * lowers the cap of validated handshakes per second, a calm one lets it grow back.
   */
  reportUtilization(utilization: number): void {
    this.responder.reportUtilization(utilization);
  }

  underLoad(now: number): boolean {
    return this.responder.underLoad(now);
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
      return r === null ? dropped(this.lastDataDrop) : r;
    }
    // A handshake datagram reaches at most one channel (the responder's initiation or final
    // message, our pending initiation's response or cookie reply), and whatever handles it touches
    // that channel (host.touch): not every channel's deadline, which cost a responder with n
    // connections O(n) per handshake datagram (issue 19). Evictions by the handshake budget reach
    // others through SecureChannel.abandonNext, which touches its own channel.
    if (t === 0x81) return this.responder.onInitDatagram(now, from, datagram, opts?.underLoad === true);
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
          return this.responder.onFinal(now, from, pkt, datagram);
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

  /** Next handshake datagram to send (with its channel and kind), or null. */
  pollTransmit(_now: number): SecureTransmit | null {
    return this.transmits.take();
  }

  /** Next event (established, rekeyed, failed), or null. */
  pollEvent(): SecureEvent | null {
    return this.events.take();
  }

  /** Earliest absolute time (ms) {@link handleTimeout} must run, or null. */
  pollTimeout(): number | null {
    const t = Math.min(this.responder.nextDeadline(), this.timers.nextTimeout());
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  handleTimeout(now: number): void {
    for (const ch of this.timers.due(now)) ch.handleTimeout(now);
    // expiring half-open handshakes may reach a channel: then every deadline is recomputed (rare)
    if (this.responder.nextExpiry() <= now) this.timers.touchAllTimers();
    this.responder.expire(now);
  }

  /** Closes every channel (keys erased) and forgets all handshake state. */
  close(): void {
    for (const ch of [...this.channelSet]) ch.close();
    this.responder.close();
    this.indexes.clear();
    this.closed = true;
  }

  // ---------------------------------------------------------------- internals

  private drop(reason: DropReason): HandleResult {
    this.statsData.dropped[reason]++;
    return dropped(reason);
  }

  private allocateIndex(owner: IndexOwner): number {
    for (;;) {
      const idx = readU32(this.config.random(4), 0);
      if (idx !== 0 && !this.indexes.has(idx)) {
        this.indexes.set(idx, owner);
        return idx;
      }
    }
  }

  private accept(remoteKey: Uint8Array, info: AcceptInfo): boolean {
    if (equalBytes(remoteKey, this.identity.publicKey)) return false;
    const policy = this.config.acceptPeer;
    if (!policy) return true;
    try {
      return policy(remoteKey, info) === true;
    } catch {
      return false;
    }
  }

  private openData(now: number, datagram: Uint8Array, only: SecureChannel | null): DataResult | null {
    // Data header: type(1) receiver index(4) packet number(8), big-endian (wire-format.md).
    if (datagram.length < 13 + 16 || ((datagram[0] as number) & 0xfe) !== 0x90)
      return this.dataDrop('malformed');
    const idx = readU32(datagram, 1);
    const hi = readU32(datagram, 5);
    if (hi > 0x1fffff) return this.dataDrop('malformed');
    // below 2^32 the low word alone, a small integer: `hi * 2^32 + lo` is a boxed double even
    // when hi is 0, and every field it reaches (the replay window's top, the ACK state, core's
    // largest packet number) would then hold its packet numbers boxed, 16 bytes each per
    // connection (issue 19)
    const lo = readU32(datagram, 9);
    const pn = hi === 0 ? lo : hi * 0x1_0000_0000 + lo;
    const owner = this.indexes.get(idx);
    if (owner?.kind !== 'session' || (only !== null && owner.channel !== only))
      return this.dataDrop('unknown_index');
    const session = owner;
    const channel = owner.channel as SecureChannel;
    if (session.keyPhase !== ((datagram[0] as number) & 1)) return this.dataDrop('key_phase');
    const wasConfirmed = session.confirmed;
    const r = session.open(
      datagram,
      pn,
      this.config.openInPlace
        ? datagram.subarray(DATA_HEADER_LENGTH, datagram.length - AEAD_TAG_LENGTH)
        : undefined,
    );
    if (r === null) return this.dataDrop('decrypt_failed');
    if (r === 'duplicate') return this.dataDrop('replay');
    if (r === 'too_old') return this.dataDrop('too_old');
    this.statsData.packetsOpened++;
    if (!wasConfirmed && channel.current === session) {
      // the early session of a simultaneous open (SecureChannel.installEarly) is confirmed
      this.responder.confirmed(session, now);
      channel.earlyConfirmed();
    } else if (channel.next === session) {
      // Key confirmation (WireGuard §5.4.3 "responder waits for the first data packet"): the
      // initiator has our response and uses the new keys. Only now is this a session (a new
      // connection, a rekey, a restarted peer): an initiation alone may be a replay.
      this.responder.pending.remove(session.localIndex);
      this.responder.confirmed(session, now);
      channel.install(
        now,
        session,
        channel.nextOptions,
        false,
        session.answers === 1 ? now - session.createdAt : null,
      );
    }
    // opened: its counters and key confirmation may move the channel's deadlines
    this.timers.touchTimer(channel);
    return {
      type: 'data',
      channel,
      packetNumber: pn,
      plaintext: r,
      firstOfSession: session.openedCount === 1,
    };
  }

  private dataDrop(reason: DropReason): null {
    this.statsData.dropped[reason]++;
    this.lastDataDrop = reason;
    return null;
  }

  private onResponse(now: number, from: Address, pkt: HandshakePacket, raw: Uint8Array): HandleResult {
    const owner = this.indexes.get(pkt.receiverIndex);
    if (!owner) return this.drop('unknown_index');
    if (owner.kind !== 'pending') return this.drop('unexpected');
    // Only initiations carry cookies; a non-zero mac2 elsewhere is corruption.
    if (!isZero(pkt.mac2)) return this.drop('bad_mac2');
    const r = owner.channel.handleResponse(now, pkt, raw, from);
    this.timers.touchTimer(owner.channel);
    if (r !== 'ok') return this.drop(r);
    return HANDSHAKE_RESULT;
  }

  private onCookieReply(now: number, pkt: CookieReplyPacket): HandleResult {
    const owner = this.indexes.get(pkt.receiverIndex);
    if (!owner) return this.drop('unknown_index');
    if (owner.kind !== 'pending') return this.drop('unexpected');
    const ok = owner.channel.handleCookieReply(now, pkt.nonce, pkt.sealedCookie);
    this.timers.touchTimer(owner.channel); // resent at once: its retransmission timer moved
    if (!ok) return this.drop('bad_cookie_reply');
    return HANDSHAKE_RESULT;
  }
}
