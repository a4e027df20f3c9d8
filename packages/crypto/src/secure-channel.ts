import { type Address, addressKey, compareBytes, copyAddress, type HandshakePacket } from '@srmudp/wire';
import type { ChannelHost, FailureCode, Opened } from './channel-events.js';
import { channelDeadline, channelTimeout, type FinalRetransmit } from './channel-timers.js';
import { CryptoError } from './errors.js';
import { tryPeerIdToX25519 } from './identity.js';
import { Initiation } from './initiator.js';
import { COOKIE_USE_LIFETIME_MS } from './macs.js';
import { type HandshakeOptions, packOptions, unpackOptions } from './options.js';
import { shortPeerId } from './peer-id.js';
import type { DropReason } from './stats.js';
import type { TransportSession } from './transport-session.js';

/** A channel's options until a handshake brings the peer's: one shared empty map (read-only by its
 * type), not two empty maps of ~180 bytes each per channel (issue 19) */
const NO_OPTIONS: HandshakeOptions = new Map();

export type ChannelState = 'idle' | 'handshaking' | 'established' | 'failed' | 'closed';

// What a channel tells its host, and needs from it: channel-events.ts. Its timer dispatch
// (retransmissions, rekeys by time and volume, expiry, grace of the previous session):
// channel-timers.ts. The rest is here: sessions and their install, the initiator side.

/**
 * The secure channel to one peer: its sessions (the current transport keys, the previous ones
 * during the grace period after a rekey, a responder session awaiting key confirmation), our
 * initiation in progress (initiator.ts; the endpoint drives the responder side, responder.ts),
 * rekeys and their timers. Created by {@link SecureEndpoint.connect} or by an incoming handshake.
 */
export class SecureChannel {
  /** Ed25519 public key of the peer; null while an XX dial has not learnt it yet. */
  remoteKey: Uint8Array | null;
  /**
   * X25519 static key of the peer (Noise `rs`) while {@link remoteKey} is unknown; null once it
   * is known (then {@link remoteStatic} derives it, see there).
   */
  private staticKey: Uint8Array | null = null;
  /**
   * Where this channel's handshake packets go by default: the dialled address, then the address
   * the peer last answered or initiated from. A host may route them elsewhere (its transmits
   * name the channel): core sends a rekey of an established connection on its active path.
   */
  address: Address;
  state: ChannelState = 'idle';
  /** the peer's options, packed ({@link remoteOptions}) */
  private packedOptions: string | null = null;

  /** @internal */ current: TransportSession | null = null;
  /** @internal */ previous: TransportSession | null = null;
  /** @internal When {@link previous} is dropped; null without one. Not a number field from the
   * start: after the first rekey in the process it would hold a 16-byte box in every channel. */
  previousUntil: number | null = null;
  /**
   * @internal A responder session awaiting key confirmation: used (made current, reported) once
   * the initiator sends under it; dropped after one handshake timeout. An initiation alone can be
   * a replay or a forgery of a recorded one, so it never makes a connection by itself.
   */
  next: TransportSession | null = null;
  /** @internal */ nextOptions: HandshakeOptions = NO_OPTIONS;
  /** @internal our initiation in progress */ pending: Initiation | null = null;
  /** @internal */ final: FinalRetransmit | null = null;
  private cookie: { value: Uint8Array; at: number } | null = null;
  /** @internal the packet limit of the current keys was reached */ rekeyRequested = false;
  /** @internal the channel reported 'established' */ established = false;
  /** connect() was called: an abandoned unconfirmed session then fails the channel (the caller
   * waits for an outcome) instead of closing it quietly */
  private dialled = false;
  /** the host let go of it while a session of the peer awaited confirmation ({@link release}) */
  private released = false;
  /**
   * @internal Simultaneous open in progress: the peer's initiation crossed ours, we answered it
   * and use that session at once (early, unconfirmed), and our own initiation is still out
   * ({@link installEarly}, {@link settle}).
   */
  simultaneous = false;

  /** @internal */
  constructor(
    /** @internal */ readonly host: ChannelHost,
    remoteKey: Uint8Array | null,
    address: Address,
    remoteStatic?: Uint8Array | null,
  ) {
    this.remoteKey = remoteKey;
    if (remoteKey === null) this.staticKey = remoteStatic ?? null;
    this.address = address;
  }

  /**
   * X25519 static key of the peer (Noise `rs`), needed only to initiate (a rekey, a redial) and
   * for the MACs of those packets. Derived from {@link remoteKey} on each use through the
   * process-wide conversion cache (identity.ts), not kept: an established channel holds no copy
   * (a 32-byte array is ~220 bytes of heap, per idle connection; issue 19). Every handshake
   * checks that the peer's `rs` is the image of its identity key, so the two agree.
   */
  get remoteStatic(): Uint8Array | null {
    const key = this.remoteKey;
    return key !== null ? tryPeerIdToX25519(key, this.host.backend) : this.staticKey;
  }

  /**
   * Application options the peer sent in the last completed handshake: a new map at each read
   * (the channel keeps them packed in a string, not as a map: issue 19).
   */
  get remoteOptions(): HandshakeOptions {
    return this.packedOptions === null ? NO_OPTIONS : unpackOptions(this.packedOptions);
  }

  set remoteOptions(value: HandshakeOptions) {
    this.packedOptions = packOptions(value);
  }

  /** Sets the peer's static key; ignored once {@link remoteKey} is known (it derives the same). */
  set remoteStatic(value: Uint8Array | null) {
    this.staticKey = this.remoteKey === null ? value : null;
  }

  /** @internal A static key of the peer is known (we can initiate): cheap, for the timer paths. */
  get knowsStatic(): boolean {
    return this.remoteKey !== null || this.staticKey !== null;
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

  /** True after {@link release} while the peer's new session awaits confirmation. */
  get isReleased(): boolean {
    return this.released;
  }

  /**
   * Starts a handshake (IK when the remote key is known, else XX). No-op while one is in
   * progress or when the channel is established.
   */
  connect(now: number): void {
    if (this.state === 'closed') throw new CryptoError('CLOSED', 'channel is closed');
    this.host.touch(this);
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
    if (s === null || !s.alive) throw new CryptoError('NO_SESSION', 'no established session to seal with');
    const datagram = s.seal(packetNumber, plaintext, out);
    if (s.sealedCount >= this.host.timing.rekeyAfterPackets && !this.pending) {
      this.rekeyRequested = true;
      this.host.touch(this);
    } else if (s.sealedCount === 1) this.host.touch(this); // the first seal arms unansweredAt
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
    this.host.log?.(`${this.label()}: channel closed, keys erased`);
    this.dropPending();
    for (const s of [this.current, this.previous, this.next]) this.dropSession(s);
    this.current = this.previous = this.next = null;
    this.final = null;
    this.cookie?.value.fill(0);
    this.cookie = null;
    this.state = 'closed';
    this.host.unbind(this);
  }

  /**
   * The host is done with this channel (its connection ended). Closes it, keys erased, unless
   * the peer already started a new session on it (an initiation awaiting key confirmation: a
   * reconnect that arrived while the old connection drained). Then the channel waits for that
   * session: confirmed, it is reported as 'rekeyed' with `reopened: true` and the host takes the
   * channel again; given up (one handshake timeout, or evicted by the handshake budget), the
   * channel closes.
   */
  release(): void {
    if (this.state === 'closed') return;
    this.host.touch(this);
    if (this.next === null) {
      this.close();
      return;
    }
    this.released = true;
  }

  /** Earliest time this channel needs {@link handleTimeout}, or null. */
  pollTimeout(): number | null {
    return channelDeadline(this);
  }

  /** @internal Time-driven work: retransmissions, rekeys, expiry of old keys (channel-timers.ts). */
  handleTimeout(now: number): void {
    channelTimeout(this, now);
  }

  /** @internal */
  startHandshake(now: number): void {
    const host = this.host;
    const localIndex = host.allocateIndex({ kind: 'pending', channel: this });
    const keyPhase: 0 | 1 = this.current ? ((this.current.keyPhase ^ 1) as 0 | 1) : 0;
    this.pending = new Initiation(host, this.remoteStatic, localIndex, keyPhase, now);
    if (!this.isEstablished) this.state = 'handshaking';
    host.stats.handshakesStarted++;
    host.log?.(
      `${this.label()}: ${this.pending.pattern} handshake started to ${addressKey(this.address)}${this.isEstablished ? ' (rekey)' : ''}`,
    );
    this.sendPending(now);
  }

  /** @internal (Re)sends the pending initiation (with the cookie while it is fresh). */
  sendPending(now: number): void {
    const p = this.pending;
    if (!p) return;
    const c = this.cookie && now - this.cookie.at < COOKIE_USE_LIFETIME_MS ? this.cookie.value : null;
    this.send('initiation', p.datagram(now, this.remoteStatic, c));
  }

  /** @internal */
  send(kind: 'initiation' | 'final', data: Uint8Array): void {
    this.host.transmit({ to: this.address, data, kind, channel: this, answersUnverified: false });
  }

  /** @internal Resend our pending initiation right away (the peer is clearly alive). */
  resendPending(now: number): void {
    this.sendPending(now);
  }

  /** @internal Forget our pending initiation (we answer the peer's instead). */
  dropPending(): void {
    const p = this.pending;
    if (!p) return;
    p.destroy();
    this.host.releaseIndex(p.localIndex);
    this.pending = null;
  }

  /** @internal A cookie reply for our pending initiation. */
  handleCookieReply(now: number, nonce: Uint8Array, sealed: Uint8Array): boolean {
    const p = this.pending;
    const cookie = p?.openCookieReply(this.remoteStatic, nonce, sealed) ?? null;
    if (cookie === null) return false;
    this.cookie?.value.fill(0);
    this.cookie = { value: cookie, at: now };
    this.host.stats.cookieRepliesAccepted++;
    this.host.log?.(`${this.label()}: cookie reply (the peer is under load): initiation resent with it`);
    this.sendPending(now);
    return true;
  }

  /** @internal A handshake response (IK message 2 or XX message 2) for our pending initiation. */
  handleResponse(now: number, pkt: HandshakePacket, raw: Uint8Array, from: Address): DropReason | 'ok' {
    const p = this.pending;
    if (!p) return 'unexpected';
    const host = this.host;
    const r = p.readResponse(now, pkt, raw, (id, options) =>
      host.accept(id, { address: from, pattern: 'XX', options, incoming: false }),
    );
    if (r === 'refused') {
      this.dropPending();
      this.fail('PEER_REFUSED');
      return 'refused';
    }
    if (typeof r === 'string') return r;
    if (r.learnt !== null) {
      this.remoteKey = r.learnt.remoteKey;
      this.staticKey = null; // derived from the key from now on (the handshake checked they agree)
      host.bindKey(this, r.learnt.remoteKey);
    }
    this.pending = null;
    r.session.channel = this;
    host.setIndexOwner(p.localIndex, r.session);
    if (this.simultaneous) {
      this.settle(now, r.session, r.remoteOptions, r.rttMs);
      return 'ok';
    }
    this.address = from;
    if (r.final !== null) {
      this.send('final', r.final);
      this.final = {
        packet: r.final,
        session: r.session,
        nextSendAt: now + host.timing.handshakeRetransmitMs,
        interval: host.timing.handshakeRetransmitMs,
        deadline: now + host.timing.handshakeTimeoutMs,
      };
    }
    this.install(now, r.session, r.remoteOptions, true, r.rttMs);
    return 'ok';
  }

  /** @internal Makes `session` current; the old current keys stay for the grace period. */
  install(
    now: number,
    session: TransportSession,
    remoteOptions: HandshakeOptions,
    initiator: boolean,
    handshakeRttMs: number | null,
    announce = true,
  ): void {
    const host = this.host;
    if (this.next && this.next !== session) {
      this.dropSession(this.next);
    }
    this.next = null;
    this.nextOptions = NO_OPTIONS;
    if (this.current) {
      if (this.previous) this.dropSession(this.previous);
      this.previous = this.current;
      this.previousUntil = now + host.timing.gracePeriodMs;
    }
    this.current = session;
    this.packedOptions = packOptions(remoteOptions);
    this.state = 'established';
    host.stats.handshakesCompleted++;
    if (!announce) return;
    // a plain copy for the event (only host and port, whatever the transport's object carries),
    // which the channel keeps too: the host's path to the peer and the channel then share one
    // read-only object (issue 19: one address per idle connection, not two)
    const address = copyAddress(this.address);
    this.address = address;
    host.log?.(
      `${this.label()}: ${this.established ? (this.released ? 'new session on a released channel' : 'rekeyed') : 'handshake done'} (${initiator ? 'initiator' : 'responder'}, ${addressKey(address)}, key phase ${session.keyPhase}${handshakeRttMs === null ? '' : `, rtt ${handshakeRttMs.toFixed(1)} ms`})`,
    );
    if (!this.established) {
      this.established = true;
      host.emit({
        type: 'established',
        channel: this,
        remoteKey: this.remoteKey as Uint8Array,
        remoteOptions,
        initiator,
        address,
        handshakeRttMs,
      });
    } else {
      const reopened = this.released;
      this.released = false;
      host.emit({
        type: 'rekeyed',
        channel: this,
        remoteOptions,
        initiator,
        address,
        handshakeRttMs,
        reopened,
      });
    }
  }

  /**
   * @internal Simultaneous open (responder.ts): the peer's IK initiation crossed our own, which
   * stays out. The session we answered is current at once, unconfirmed, and reported
   * 'established' so the host may send under it (Noise IK's responder payload after message 2:
   * confidential to the holder of the peer's static and ephemeral keys, see the README).
   */
  installEarly(now: number, session: TransportSession, remoteOptions: HandshakeOptions): void {
    this.simultaneous = true;
    this.install(now, session, remoteOptions, false, null);
  }

  /**
   * @internal Simultaneous open: our own initiation got its answer (`session`, confirmed). Both
   * sides settle on the session of the initiation of the smaller key (the rule of
   * {@link winsSimultaneous}), without a word to the host (the connection is the same):
   * the winner makes its initiator session current, the early one kept for the grace period
   * (packets the peer sealed under it still open: it does when it completed its own initiation
   * before ours reached it); the loser keeps this one for the grace
   * period only to open what the winner sent early under it, and goes on with the session it
   * answered.
   */
  private settle(
    now: number,
    session: TransportSession,
    remoteOptions: HandshakeOptions,
    rttMs: number | null,
  ): void {
    this.simultaneous = false;
    const remoteKey = this.remoteKey as Uint8Array;
    if (compareBytes(this.host.identity.publicKey, remoteKey) < 0) {
      this.host.log?.(`${this.label()}: simultaneous open settled on our initiation (smaller key)`);
      this.install(now, session, remoteOptions, true, rttMs, false);
      return;
    }
    this.host.log?.(`${this.label()}: simultaneous open settled on the peer's initiation (smaller key)`);
    if (this.previous) this.dropSession(this.previous);
    this.previous = session;
    this.previousUntil = now + this.host.timing.gracePeriodMs;
  }

  /**
   * @internal The early session of a simultaneous open got its first packet before our own
   * initiation was answered: the peer uses it (the loser, as it should; the winner, when the
   * peer completed its own initiation before ours reached it, so it never saw a simultaneous
   * open). Both sides are then on this session: our initiation is not needed any more.
   */
  earlyConfirmed(): void {
    if (!this.simultaneous) return;
    this.simultaneous = false;
    this.dropPending();
    this.host.log?.(
      `${this.label()}: simultaneous open settled on the session we answered (confirmed first)`,
    );
  }

  /**
   * @internal The unconfirmed responder session is given up (expired, or evicted by the
   * endpoint's handshake budget). A released channel closes. A channel left with nothing fails
   * when the application dialled it (it waits for an outcome), else it closes without a word:
   * nobody ever saw it.
   */
  abandonNext(): void {
    if (this.next === null) return;
    this.host.touch(this); // (also reached from another channel's handshake: budget eviction)
    this.host.log?.(`${this.label()}: unconfirmed session given up (no packet under its keys)`);
    this.dropSession(this.next);
    this.next = null;
    this.nextOptions = NO_OPTIONS;
    if (this.released) {
      this.close();
      return;
    }
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
    this.host.log?.(`${this.label()}: failed (${code})`);
    this.state = 'failed';
    this.established = false;
    this.host.emit({ type: 'failed', channel: this, code });
  }

  /** @internal How logs name this channel: the peer id prefix ('?' while an XX dial has not learnt it). */
  label(): string {
    return `peer ${shortPeerId(this.remoteKey)}`;
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
