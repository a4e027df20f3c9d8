/**
 * Our side of a Noise handshake as initiator (IK when the responder's key is known, else XX):
 * the Noise state, the initiation packet and its retransmission schedule, cookie replies, and the
 * processing of the response into transport keys (plus XX message 3). The channel owns one
 * `Initiation` at a time and applies the outcome (channel.ts).
 */
import { type HandshakePacket, HandshakePattern } from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import type { SecureTiming } from './config.js';
import { handshakePacket } from './handshake-packet.js';
import { type Identity, isAuthenticatedStaticOf } from './identity.js';
import { cookieKey, mac1Key, openCookie, verifyMac1, writeMac1, writeMac2 } from './macs.js';
import { blake2sHandshake, type NoiseHandshake } from './noise/handshake-state.js';
import { IK, XX } from './noise/patterns.js';
import { decodePayload, encodePayload, type HandshakeOptions } from './options.js';
import { PROLOGUE } from './prologue.js';
import type { DropReason } from './stats.js';
import { TransportSession } from './transport-session.js';

/** What an initiation needs from the endpoint behind its channel. */
export interface InitiatorHost {
  readonly identity: Identity;
  readonly backend: CryptoBackend;
  readonly random: (n: number) => Uint8Array;
  readonly timing: SecureTiming;
  readonly appOptions: HandshakeOptions | undefined;
  /** a fresh initiation timestamp (TAI64N, strictly increasing) */
  timestamp(now: number): Uint8Array;
}

/** What a response to our initiation gave, once it proved authentic. */
export interface ResponseOutcome {
  session: TransportSession;
  remoteOptions: HandshakeOptions;
  /** XX: the responder's key learnt from message 2 (and its X25519 form); null for IK */
  learnt: { remoteKey: Uint8Array; remoteStatic: Uint8Array } | null;
  /** XX message 3 to send, mac1 written; null for IK */
  final: Uint8Array | null;
  /** handshake RTT, or null when a retransmission made it ambiguous (Karn) */
  rttMs: number | null;
}

export class Initiation {
  readonly pattern: 'IK' | 'XX';
  private hs: NoiseHandshake;
  /** Encoded packet with zero MACs; the MACs are written at each (re)send. */
  private readonly packet: Uint8Array;
  private mac1: Uint8Array | null = null;
  readonly startedAt: number;
  nextSendAt: number;
  interval: number;
  private cookieTaken = false;
  /** transmissions that could have elicited the response (RTT sample only when 1), and the last */
  private sends = 0;
  private lastSentAt: number;

  /**
   * Starts a handshake under our index `localIndex`: IK when the responder's `remoteStatic` is
   * known (our identity and options travel encrypted in message 1), else XX (message 1 is in
   * clear, so it carries only the index and the key phase).
   */
  constructor(
    private readonly host: InitiatorHost,
    remoteStatic: Uint8Array | null,
    readonly localIndex: number,
    readonly keyPhase: 0 | 1,
    now: number,
  ) {
    const ik = remoteStatic !== null;
    this.pattern = ik ? 'IK' : 'XX';
    this.hs = blake2sHandshake({
      pattern: ik ? IK : XX,
      initiator: true,
      backend: host.backend,
      prologue: PROLOGUE,
      s: { privateKey: host.identity.x25519Private, publicKey: host.identity.x25519Public },
      ...(ik ? { rs: remoteStatic } : {}),
      random: host.random,
    });
    const payload = ik
      ? encodePayload({
          senderIndex: localIndex,
          identityKey: host.identity.publicKey,
          keyPhase,
          timestamp: host.timestamp(now),
          app: host.appOptions,
        })
      : encodePayload({ senderIndex: localIndex, keyPhase });
    const noise = this.hs.writeMessage(payload);
    this.packet = handshakePacket(
      'handshake_init',
      ik ? HandshakePattern.IK : HandshakePattern.XX,
      localIndex,
      0,
      noise,
    );
    this.startedAt = now;
    this.nextSendAt = now + host.timing.handshakeRetransmitMs;
    this.interval = host.timing.handshakeRetransmitMs;
    this.lastSentAt = now;
  }

  /** The datagram to (re)send: the same Noise message (a duplicate is recognised by the
   * responder and answered from its cache), fresh MACs (a cookie may have arrived). */
  datagram(now: number, remoteStatic: Uint8Array | null, cookie: Uint8Array | null): Uint8Array {
    const pkt = this.packet.slice();
    this.mac1 = writeMac1(pkt, mac1Key(remoteStatic, this.host.backend));
    writeMac2(pkt, cookie);
    this.sends++;
    this.lastSentAt = now;
    return pkt;
  }

  /** The retransmission timer fired: the next send may use a new cookie; back off. */
  onRetransmit(now: number): void {
    this.cookieTaken = false;
    this.interval = Math.min(this.interval * 2, this.host.timing.handshakeMaxRetransmitMs);
    this.nextSendAt = now + this.interval;
  }

  /** A cookie reply for this initiation: the cookie, or null when it does not open. */
  openCookieReply(remoteStatic: Uint8Array | null, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    if (!this.mac1 || this.cookieTaken) return null;
    const key = cookieKey(this.pattern === 'IK' ? remoteStatic : null, this.host.backend);
    const cookie = openCookie(key, nonce, sealed, this.mac1);
    if (!cookie) return null;
    this.cookieTaken = true;
    // the sends before could not have been answered (they got this cookie reply): not ambiguous
    this.sends = 0;
    return cookie;
  }

  /**
   * A handshake response (IK or XX message 2). Tried on a copy of the Noise state, so a forged
   * response cannot kill the handshake. `accept` is the policy for a key an XX dial learns;
   * 'refused' means it said no. On success the Noise state is consumed (`destroy` not needed).
   */
  readResponse(
    now: number,
    pkt: HandshakePacket,
    raw: Uint8Array,
    accept: (remoteKey: Uint8Array, options: HandshakeOptions) => boolean,
  ): ResponseOutcome | DropReason {
    const host = this.host;
    if (pkt.receiverIndex !== this.localIndex) return 'unexpected';
    if ((this.pattern === 'IK') !== (pkt.pattern === HandshakePattern.IK)) return 'unexpected';
    // mac1 of a response is keyed by our static key when the responder knows it (IK).
    if (!verifyMac1(raw, mac1Key(this.pattern === 'IK' ? host.identity.x25519Public : null, host.backend)))
      return 'bad_mac1';
    const snapshot = this.hs.clone();
    const payloadBytes = snapshot.readMessage(pkt.noise);
    if (payloadBytes === null) return 'handshake_failed';
    const payload = decodePayload(payloadBytes);
    if (!payload || payload.senderIndex !== pkt.senderIndex) {
      snapshot.destroy();
      return 'bad_payload';
    }
    let learnt: ResponseOutcome['learnt'] = null;
    let final: Uint8Array | null = null;
    if (this.pattern === 'XX') {
      const rs = snapshot.remoteStatic();
      const id = payload.identityKey;
      if (!rs || !id || !isAuthenticatedStaticOf(id, rs)) {
        snapshot.destroy();
        return 'bad_payload';
      }
      if (!accept(id, payload.app)) {
        snapshot.destroy();
        return 'refused';
      }
      const noise3 = snapshot.writeMessage(
        encodePayload({
          senderIndex: this.localIndex,
          identityKey: host.identity.publicKey,
          timestamp: host.timestamp(now),
          app: host.appOptions,
        }),
      );
      final = handshakePacket(
        'handshake_final',
        HandshakePattern.XX,
        this.localIndex,
        pkt.senderIndex,
        noise3,
        mac1Key(rs, host.backend),
      );
      learnt = { remoteKey: id, remoteStatic: rs };
    }
    this.hs.destroy();
    this.hs = snapshot;
    const session = TransportSession.fromSplit(
      host.backend,
      snapshot.split(),
      { local: this.localIndex, remote: pkt.senderIndex, keyPhase: this.keyPhase },
      now,
      true,
      this.pattern === 'IK', // IK: the response proves the responder holds the keys
    );
    return {
      session,
      remoteOptions: payload.app,
      learnt,
      final,
      rttMs: this.sends === 1 ? now - this.lastSentAt : null,
    };
  }

  /** Erases the Noise state (the handshake is abandoned or replaced). */
  destroy(): void {
    this.hs.destroy();
  }
}
