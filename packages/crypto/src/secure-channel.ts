import {
  type Address,
  compareBytes,
  encodePacketBytes,
  equalBytes,
  type HandshakePacket,
  HandshakePattern,
  MAC_LENGTH,
  SrmudpError,
  WIRE_VERSION,
} from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import type { AcceptInfo, SecureTiming } from './config.js';
import { type Identity, tryPeerIdToX25519 } from './identity.js';
import {
  COOKIE_USE_LIFETIME_MS,
  cookieKey,
  mac1Key,
  openCookie,
  verifyMac1,
  writeMac1,
  writeMac2,
} from './macs.js';
import { HandshakeState } from './noise/handshake-state.js';
import { IK, XX } from './noise/patterns.js';
import { decodePayload, encodePayload, type HandshakeOptions } from './options.js';
import type { CryptoStats } from './stats.js';
import { TransportSession } from './transport-session.js';

/** Noise prologue: binds the protocol and wire version so a version downgrade breaks the handshake. */
export function prologue(): Uint8Array {
  const p = new TextEncoder().encode('srmudp v1\0');
  const out = new Uint8Array(p.length + 1);
  out.set(p, 0);
  out[p.length] = WIRE_VERSION;
  return out;
}
const PROLOGUE = prologue();

export type ChannelState = 'idle' | 'handshaking' | 'established' | 'failed' | 'closed';

export type FailureCode = 'HANDSHAKE_TIMEOUT' | 'PEER_REFUSED' | 'SESSION_EXPIRED';

export type SecureEvent =
  | {
      type: 'established';
      channel: SecureChannel;
      /** Ed25519 public key (peer id) of the remote side. */
      remoteKey: Uint8Array;
      remoteOptions: HandshakeOptions;
      /** True when this side initiated the handshake. */
      initiator: boolean;
      /**
       * Round trip measured by the handshake, or null when a retransmission makes it ambiguous
       * (Karn): initiator, from sending the initiation to the response; responder, from sending
       * its response to the proof that the initiator has the keys (XX message 3, or the first
       * authenticated packet under the new keys).
       */
      handshakeRttMs: number | null;
    }
  | {
      type: 'rekeyed';
      channel: SecureChannel;
      remoteOptions: HandshakeOptions;
      initiator: boolean;
      handshakeRttMs: number | null;
    }
  | { type: 'failed'; channel: SecureChannel; code: FailureCode };

/** @internal What a channel needs from its endpoint. */
export interface ChannelHost {
  readonly identity: Identity;
  readonly backend: CryptoBackend;
  readonly random: (n: number) => Uint8Array;
  readonly timing: SecureTiming;
  readonly stats: CryptoStats;
  readonly appOptions: HandshakeOptions | undefined;
  /** a fresh initiation timestamp (TAI64N, strictly increasing) */
  timestamp(now: number): Uint8Array;
  allocateIndex(owner: IndexOwner): number;
  setIndexOwner(index: number, owner: IndexOwner): void;
  releaseIndex(index: number): void;
  transmit(to: Address, data: Uint8Array): void;
  emit(event: SecureEvent): void;
  accept(remoteKey: Uint8Array, info: AcceptInfo): boolean;
  bindKey(channel: SecureChannel, remoteKey: Uint8Array): void;
  openData(now: number, datagram: Uint8Array, only: SecureChannel | null): Opened | null;
  unbind(channel: SecureChannel): void;
}

/** @internal */
export type IndexOwner =
  | { kind: 'session'; channel: SecureChannel; session: TransportSession }
  | { kind: 'pending'; channel: SecureChannel }
  | { kind: 'half_open'; halfOpen: unknown };

interface Pending {
  hs: HandshakeState;
  pattern: 'IK' | 'XX';
  localIndex: number;
  keyPhase: 0 | 1;
  /** Encoded packet with zero MACs; the MACs are written at each (re)send. */
  packet: Uint8Array;
  mac1: Uint8Array | null;
  startedAt: number;
  nextSendAt: number;
  interval: number;
  cookieTaken: boolean;
  /** transmissions that could have elicited the response (RTT sample only when 1), and the last */
  sends: number;
  lastSentAt: number;
}

/** XX initiator: message 3 is re-sent until the responder proves it has the keys. */
interface FinalRetransmit {
  packet: Uint8Array;
  session: TransportSession;
  nextSendAt: number;
  interval: number;
  deadline: number;
}

/** Result of {@link SecureChannel.open}. */
export interface Opened {
  packetNumber: number;
  plaintext: Uint8Array;
}

/**
 * The secure channel to one peer: Noise handshakes (as initiator; the endpoint drives the
 * responder side), the current transport keys, the previous keys during the grace period after
 * a rekey, and timers. Created by {@link SecureEndpoint.connect} or by an incoming handshake.
 */
export class SecureChannel {
  /** Ed25519 public key of the peer; null while an XX dial has not learnt it yet. */
  remoteKey: Uint8Array | null;
  /** X25519 static key of the peer (Noise `rs`). */
  remoteStatic: Uint8Array | null;
  /** Where handshake packets go. Core may update it (path migration). */
  address: Address;
  state: ChannelState = 'idle';
  /** Application options the peer sent in the last completed handshake. */
  remoteOptions: HandshakeOptions = new Map();

  /** @internal */ current: TransportSession | null = null;
  /** @internal */ previous: TransportSession | null = null;
  /** @internal */ previousUntil = 0;
  /**
   * @internal A responder session awaiting key confirmation: used (made current, reported) once
   * the initiator sends under it; dropped after one handshake timeout. An initiation alone can be
   * a replay or a forgery of a recorded one, so it never makes a connection by itself.
   */
  next: TransportSession | null = null;
  /** @internal */ nextOptions: HandshakeOptions = new Map();
  /** @internal */ pending: Pending | null = null;
  private final: FinalRetransmit | null = null;
  private cookie: { value: Uint8Array; at: number } | null = null;
  private rekeyRequested = false;
  private established = false;
  /** connect() was called: an abandoned unconfirmed session then fails the channel (the caller
   * waits for an outcome) instead of closing it quietly */
  private dialled = false;

  /** @internal */
  constructor(
    private readonly host: ChannelHost,
    remoteKey: Uint8Array | null,
    address: Address,
    remoteStatic?: Uint8Array | null,
  ) {
    this.remoteKey = remoteKey;
    this.remoteStatic = remoteStatic ?? (remoteKey ? tryPeerIdToX25519(remoteKey) : null);
    this.address = address;
  }

  /** True when data can be sealed (current keys exist). */
  get isEstablished(): boolean {
    return this.current?.alive === true;
  }

  /**
   * The peer has proven it holds the current keys: we initiated and it answered, it completed our
   * XX handshake, or it sent a packet under them. An IK responder's keys are unconfirmed until
   * the initiator's first data packet (an initiation alone can be a replay).
   */
  get isConfirmed(): boolean {
    return this.current?.confirmed === true;
  }

  /** True while a responder session (a new connection, a rekey or a restart of the peer) waits
   * for the initiator's first packet under it. */
  get awaitingConfirmation(): boolean {
    return this.next !== null;
  }

  /** Our session index of the initiation in progress, or null (none pending). */
  get pendingIndex(): number | null {
    return this.pending ? this.pending.localIndex : null;
  }

  /** Key phase of the current keys (0 or 1), or null. */
  get keyPhase(): 0 | 1 | null {
    return this.current ? this.current.keyPhase : null;
  }

  /** Handshake hash of the current session (channel binding; identical on both sides). */
  get handshakeHash(): Uint8Array | null {
    return this.current ? this.current.handshakeHash : null;
  }

  /**
   * Starts a handshake (IK when the remote key is known, else XX). No-op while one is in
   * progress or when the channel is established.
   */
  connect(now: number): void {
    if (this.state === 'closed') throw new SrmudpError('CHANNEL_CLOSED', 'channel is closed');
    this.dialled = true;
    if (this.pending || this.isEstablished) return;
    this.startHandshake(now);
  }

  /**
   * Seals `plaintext` as packet `packetNumber` under the current keys: returns the datagram
   * (13-byte header, ciphertext, 16-byte tag), written into `out` when given (needs
   * plaintext.length + 29 bytes). Packet numbers must strictly increase (RangeError otherwise):
   * the packet number is the nonce. Throws SrmudpError('NO_SESSION') before establishment.
   */
  seal(packetNumber: number, plaintext: Uint8Array, out?: Uint8Array): Uint8Array {
    const s = this.current;
    if (s === null || !s.alive) throw new SrmudpError('NO_SESSION', 'no established session to seal with');
    const datagram = s.seal(packetNumber, plaintext, out);
    if (s.sealedCount >= this.host.timing.rekeyAfterPackets && !this.pending) this.rekeyRequested = true;
    return datagram;
  }

  /**
   * Opens a data packet addressed to one of this channel's sessions; null when it is not
   * authentic, replayed, too old or not for this channel (counted in the endpoint's stats).
   * Prefer {@link SecureEndpoint.handle}, which also routes by session index.
   */
  open(now: number, datagram: Uint8Array): Opened | null {
    return this.host.openData(now, datagram, this);
  }

  /** Erases all keys and handshake state; the channel cannot be used afterwards. */
  close(): void {
    if (this.state === 'closed') return;
    this.dropPending();
    for (const s of [this.current, this.previous, this.next]) this.dropSession(s);
    this.current = this.previous = this.next = null;
    this.final = null;
    this.cookie?.value.fill(0);
    this.cookie = null;
    this.state = 'closed';
    this.host.unbind(this);
  }

  /** Earliest time this channel needs {@link handleTimeout}, or null. */
  pollTimeout(): number | null {
    if (this.state === 'closed') return null;
    let t = Number.POSITIVE_INFINITY;
    const tm = this.host.timing;
    if (this.rekeyRequested) return 0;
    if (this.pending)
      t = Math.min(t, this.pending.nextSendAt, this.pending.startedAt + tm.handshakeTimeoutMs);
    if (this.final) t = Math.min(t, this.final.nextSendAt);
    if (this.previous) t = Math.min(t, this.previousUntil);
    // An unconfirmed responder session lives one handshake timeout: the initiator sends under the
    // new keys as soon as it has our response.
    if (this.next) t = Math.min(t, this.next.createdAt + tm.handshakeTimeoutMs);
    if (this.current) {
      t = Math.min(t, this.current.createdAt + tm.rejectAfterMs);
      // While a responder-side rekey awaits confirmation the peer already has newer keys.
      if (!this.pending && this.remoteStatic) {
        t = Math.min(t, this.rekeyAt(this.current));
        const u = this.unansweredAt(this.current);
        if (u !== null) t = Math.min(t, u);
      }
    }
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  /** @internal Time-driven work: retransmissions, rekeys, expiry of old keys. */
  handleTimeout(now: number): void {
    if (this.state === 'closed') return;
    const tm = this.host.timing;
    if (this.previous && now >= this.previousUntil) {
      this.dropSession(this.previous);
      this.previous = null;
    }
    if (this.next && now >= this.next.createdAt + tm.handshakeTimeoutMs) {
      this.abandonNext();
      if (this.ended()) return; // abandonNext failed or closed the channel
    }
    if (this.current && now >= this.current.createdAt + tm.rejectAfterMs) {
      this.dropSession(this.current);
      this.current = null;
      if (!this.pending) {
        this.fail('SESSION_EXPIRED');
        return;
      }
    }
    if (this.final) {
      const f = this.final;
      if (f.session.confirmed || !f.session.alive || now >= f.deadline) this.final = null;
      else if (now >= f.nextSendAt) {
        this.host.transmit(this.address, f.packet);
        f.interval = Math.min(f.interval * 2, tm.handshakeMaxRetransmitMs);
        f.nextSendAt = now + f.interval;
      }
    }
    const p = this.pending;
    if (p) {
      if (now >= p.startedAt + tm.handshakeTimeoutMs) {
        this.dropPending();
        this.host.stats.handshakesFailed++;
        if (this.isEstablished)
          this.startHandshake(now); // rekey failed: keep trying while keys last
        else this.fail(this.established ? 'SESSION_EXPIRED' : 'HANDSHAKE_TIMEOUT');
        return;
      }
      if (now >= p.nextSendAt) {
        p.cookieTaken = false;
        this.sendPending(now);
        p.interval = Math.min(p.interval * 2, tm.handshakeMaxRetransmitMs);
        p.nextSendAt = now + p.interval;
      }
    } else if (this.current && this.remoteStatic) {
      const u = this.unansweredAt(this.current);
      if (this.rekeyRequested || now >= this.rekeyAt(this.current) || (u !== null && now >= u)) {
        this.rekeyRequested = false;
        this.host.stats.rekeys++;
        this.startHandshake(now);
      }
    }
    this.rekeyRequested = false;
  }

  /**
   * When keys we made as initiator count as unanswered: we sealed under them and, half a
   * handshake timeout later, not one packet came back under them (null: not applicable). The
   * responder then lost its state before using them (it restarted, or its handshake budget
   * evicted the unconfirmed session): a new handshake recovers (WireGuard re-handshakes when data
   * sent gets no reply, §6.2).
   */
  private unansweredAt(s: TransportSession): number | null {
    if (!s.initiator || s.openedCount > 0 || s.sealedCount === 0) return null;
    return s.createdAt + this.host.timing.handshakeTimeoutMs / 2;
  }

  private ended(): boolean {
    return this.state === 'closed' || this.state === 'failed';
  }

  private rekeyAt(s: TransportSession): number {
    // The responder waits a little longer so both sides rarely start a rekey together
    // (WireGuard lets only the side that sends rekey; the simultaneous rule covers the rest).
    // While a responder-side rekey awaits confirmation, the peer already has newer keys: give it
    // a handshake timeout to start using them before rekeying ourselves.
    const own =
      s.createdAt + this.host.timing.rekeyAfterMs + (s.initiator ? 0 : this.host.timing.gracePeriodMs);
    return this.next ? Math.max(own, this.next.createdAt + this.host.timing.handshakeTimeoutMs) : own;
  }

  private startHandshake(now: number): void {
    const host = this.host;
    const ik = this.remoteStatic !== null;
    const hs = new HandshakeState({
      pattern: ik ? IK : XX,
      initiator: true,
      hash: 'BLAKE2s',
      backend: host.backend,
      prologue: PROLOGUE,
      s: { privateKey: host.identity.x25519Private, publicKey: host.identity.x25519Public },
      ...(ik ? { rs: this.remoteStatic as Uint8Array } : {}),
      random: host.random,
    });
    const localIndex = host.allocateIndex({ kind: 'pending', channel: this });
    const keyPhase: 0 | 1 = this.current ? ((this.current.keyPhase ^ 1) as 0 | 1) : 0;
    // IK: the first payload is encrypted and authenticated, so it carries our identity and
    // options. XX: message 1 is in clear, so it carries only the index and the key phase.
    const payload = ik
      ? encodePayload({
          senderIndex: localIndex,
          identityKey: host.identity.publicKey,
          keyPhase,
          timestamp: host.timestamp(now),
          app: host.appOptions,
        })
      : encodePayload({ senderIndex: localIndex, keyPhase });
    const noise = hs.writeMessage(payload);
    const packet = encodePacketBytes({
      type: 'handshake_init',
      version: WIRE_VERSION,
      pattern: ik ? HandshakePattern.IK : HandshakePattern.XX,
      senderIndex: localIndex,
      receiverIndex: 0,
      noise,
      mac1: new Uint8Array(MAC_LENGTH),
      mac2: new Uint8Array(MAC_LENGTH),
    });
    this.pending = {
      hs,
      pattern: ik ? 'IK' : 'XX',
      localIndex,
      keyPhase,
      packet,
      mac1: null,
      startedAt: now,
      nextSendAt: now + host.timing.handshakeRetransmitMs,
      interval: host.timing.handshakeRetransmitMs,
      cookieTaken: false,
      sends: 0,
      lastSentAt: now,
    };
    if (!this.isEstablished) this.state = 'handshaking';
    host.stats.handshakesStarted++;
    this.sendPending(now);
  }

  /** (Re)sends the pending initiation: same Noise message (a duplicate is recognised by the
   * responder and answered from its cache), fresh MACs (a cookie may have arrived). */
  private sendPending(now: number): void {
    const p = this.pending;
    if (!p) return;
    const pkt = p.packet.slice();
    p.mac1 = writeMac1(pkt, mac1Key(this.remoteStatic));
    const c = this.cookie && now - this.cookie.at < COOKIE_USE_LIFETIME_MS ? this.cookie.value : null;
    writeMac2(pkt, c);
    p.sends++;
    p.lastSentAt = now;
    this.host.transmit(this.address, pkt);
  }

  /** @internal Resend our pending initiation right away (the peer is clearly alive). */
  resendPending(now: number): void {
    this.sendPending(now);
  }

  /** @internal Forget our pending initiation (we answer the peer's instead). */
  dropPending(): void {
    const p = this.pending;
    if (!p) return;
    p.hs.destroy();
    this.host.releaseIndex(p.localIndex);
    this.pending = null;
  }

  /** @internal A cookie reply for our pending initiation. */
  handleCookieReply(now: number, nonce: Uint8Array, sealed: Uint8Array): boolean {
    const p = this.pending;
    if (!p?.mac1 || p.cookieTaken) return false;
    const key = cookieKey(p.pattern === 'IK' ? this.remoteStatic : null);
    const cookie = openCookie(key, nonce, sealed, p.mac1);
    if (!cookie) return false;
    this.cookie?.value.fill(0);
    this.cookie = { value: cookie, at: now };
    p.cookieTaken = true;
    this.host.stats.cookieRepliesAccepted++;
    // the sends before could not have been answered (they got this cookie reply): not ambiguous
    p.sends = 0;
    this.sendPending(now);
    return true;
  }

  /** @internal A handshake response (IK message 2 or XX message 2) for our pending initiation. */
  handleResponse(now: number, pkt: HandshakePacket, raw: Uint8Array, from: Address): DropReasonOrOk {
    const p = this.pending;
    const host = this.host;
    if (!p || pkt.receiverIndex !== p.localIndex) return 'unexpected';
    if ((p.pattern === 'IK') !== (pkt.pattern === HandshakePattern.IK)) return 'unexpected';
    // mac1 of a response is keyed by our static key when the responder knows it (IK).
    const ok1 = verifyMac1(raw, mac1Key(p.pattern === 'IK' ? host.identity.x25519Public : null));
    if (!ok1) return 'bad_mac1';
    // Try on a copy of the state: a forged response must not kill our pending handshake.
    const attempt = p.hs;
    const snapshot = attempt.clone();
    const payloadBytes = snapshot.readMessage(pkt.noise);
    if (payloadBytes === null) return 'handshake_failed';
    const payload = decodePayload(payloadBytes);
    if (!payload || payload.senderIndex !== pkt.senderIndex) {
      snapshot.destroy();
      return 'bad_payload';
    }
    let remoteKey = this.remoteKey;
    if (p.pattern === 'XX') {
      const rs = snapshot.remoteStatic();
      const id = payload.identityKey;
      const x = id ? tryPeerIdToX25519(id) : null;
      if (!rs || !id || !x || !equalBytes(x, rs)) {
        snapshot.destroy();
        return 'bad_payload';
      }
      if (!host.accept(id, { address: from, pattern: 'XX', options: payload.app, incoming: false })) {
        snapshot.destroy();
        this.dropPending();
        this.fail('PEER_REFUSED');
        return 'refused';
      }
      remoteKey = id;
    }
    attempt.destroy();
    p.hs = snapshot;
    let finalPacket: Uint8Array | null = null;
    if (p.pattern === 'XX') {
      const noise3 = snapshot.writeMessage(
        encodePayload({
          senderIndex: p.localIndex,
          identityKey: host.identity.publicKey,
          timestamp: host.timestamp(now),
          app: host.appOptions,
        }),
      );
      finalPacket = encodePacketBytes({
        type: 'handshake_final',
        version: WIRE_VERSION,
        pattern: HandshakePattern.XX,
        senderIndex: p.localIndex,
        receiverIndex: pkt.senderIndex,
        noise: noise3,
        mac1: new Uint8Array(MAC_LENGTH),
        mac2: new Uint8Array(MAC_LENGTH),
      });
      this.remoteKey = remoteKey;
      this.remoteStatic = snapshot.remoteStatic();
      writeMac1(finalPacket, mac1Key(this.remoteStatic));
      host.bindKey(this, remoteKey as Uint8Array);
    }
    const split = snapshot.split();
    const session = new TransportSession(
      host.backend,
      p.localIndex,
      pkt.senderIndex,
      p.keyPhase,
      split.send.key()?.slice() as Uint8Array,
      split.recv.key()?.slice() as Uint8Array,
      now,
      true,
      split.handshakeHash,
      p.pattern === 'IK', // IK: the response proves the responder holds the keys
    );
    split.send.clear();
    split.recv.clear();
    this.pending = null;
    host.setIndexOwner(p.localIndex, { kind: 'session', channel: this, session });
    this.address = from;
    if (finalPacket) {
      host.transmit(from, finalPacket);
      this.final = {
        packet: finalPacket,
        session,
        nextSendAt: now + host.timing.handshakeRetransmitMs,
        interval: host.timing.handshakeRetransmitMs,
        deadline: now + host.timing.handshakeTimeoutMs,
      };
    }
    this.install(now, session, payload.app, true, p.sends === 1 ? now - p.lastSentAt : null);
    return 'ok';
  }

  /** @internal Makes `session` current; the old current keys stay for the grace period. */
  install(
    now: number,
    session: TransportSession,
    remoteOptions: HandshakeOptions,
    initiator: boolean,
    handshakeRttMs: number | null,
  ): void {
    const host = this.host;
    if (this.next && this.next !== session) {
      this.dropSession(this.next);
    }
    this.next = null;
    if (this.current) {
      if (this.previous) this.dropSession(this.previous);
      this.previous = this.current;
      this.previousUntil = now + host.timing.gracePeriodMs;
    }
    this.current = session;
    this.remoteOptions = remoteOptions;
    this.state = 'established';
    host.stats.handshakesCompleted++;
    if (!this.established) {
      this.established = true;
      host.emit({
        type: 'established',
        channel: this,
        remoteKey: this.remoteKey as Uint8Array,
        remoteOptions,
        initiator,
        handshakeRttMs,
      });
    } else {
      host.emit({ type: 'rekeyed', channel: this, remoteOptions, initiator, handshakeRttMs });
    }
  }

  /**
   * @internal The unconfirmed responder session is given up (expired, or evicted by the
   * endpoint's handshake budget). A channel left with nothing fails when the application dialled
   * it (it waits for an outcome), else it closes without a word: nobody ever saw it.
   */
  abandonNext(): void {
    if (this.next === null) return;
    this.dropSession(this.next);
    this.next = null;
    if (this.current !== null || this.pending !== null || this.state === 'closed') return;
    if (this.dialled) this.fail('HANDSHAKE_TIMEOUT');
    else this.close();
  }

  /** @internal */
  dropSession(s: TransportSession | null): void {
    if (!s) return;
    s.destroy();
    this.host.releaseIndex(s.localIndex);
  }

  /** @internal */
  fail(code: FailureCode): void {
    this.state = 'failed';
    this.established = false;
    this.host.emit({ type: 'failed', channel: this, code });
  }

  /** @internal Simultaneous initiation: true when our own pending initiation wins. */
  winsSimultaneous(remoteKey: Uint8Array): boolean {
    // The initiation of the peer with the smaller Ed25519 key wins; both sides compute the same.
    return (
      this.pending !== null &&
      this.pending.pattern === 'IK' &&
      compareBytes(this.host.identity.publicKey, remoteKey) < 0
    );
  }
}

export type DropReasonOrOk = import('./stats.js').DropReason | 'ok';
