/**
 * The contract between a secure channel and its host, in both directions: what @srmudp/crypto
 * tells its host (core, or any other user) — events about channels and the handshake datagrams to
 * send, each saying which channel and which kind it is, so the host never parses these bytes nor
 * reads a channel's internals to route them ("route once") — and what a channel (and the
 * responder logic) needs from its endpoint (`ChannelHost`). Declarations only: no code.
 */
import type { Address } from '@srmudp/wire';
import type { AcceptInfo } from './config.js';
import type { DataResult } from './handle-result.js';
import type { InitiatorHost } from './initiator.js';
import type { HandshakeOptions } from './options.js';
import type { SecureChannel } from './secure-channel.js';
import type { CryptoStats } from './stats.js';
import type { TransportSession } from './transport-session.js';

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
       * The address the session was proven with: the responder's answer (initiator), XX message 3
       * or the first packet under the new keys (responder). A copy.
       */
      address: Address;
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
      address: Address;
      handshakeRttMs: number | null;
      /**
       * The channel had been released by its host ({@link SecureChannel.release}) while the
       * peer's new session awaited key confirmation: this session starts something new (the peer
       * reconnected or restarted while the old connection drained), it does not continue it.
       */
      reopened: boolean;
    }
  | { type: 'failed'; channel: SecureChannel; code: FailureCode };

/** Which handshake message a datagram is (wire-format.md §5). */
export type HandshakeKind = 'initiation' | 'response' | 'final' | 'cookie_reply';

/** A handshake datagram to send (data packets are sealed by the host with `channel.seal`). */
export interface SecureTransmit {
  to: Address;
  data: Uint8Array;
  kind: HandshakeKind;
  /**
   * The channel it belongs to: our initiation (new or a rekey), XX message 3, or an IK response
   * (the responder's channel to that peer). Null for answers that hold no channel: XX message 2
   * of a half-open handshake and cookie replies.
   */
  channel: SecureChannel | null;
  /**
   * It answers a datagram from `to`, an address nothing has proven yet (a response or a cookie
   * reply): the host applies its anti-amplification limit (RFC 9000 §8.1). False for what we send
   * on our own initiative (initiations, XX message 3) to an address we chose.
   */
  answersUnverified: boolean;
}

/** Result of opening a data packet. */
export interface Opened {
  packetNumber: number;
  plaintext: Uint8Array;
  /**
   * the first packet opened under its session: a peer that continues a connection across a new
   * session numbers on from its packets under the older ones (packet numbers are the
   * connection's), so one numbered at or below them starts a new connection (core checks)
   */
  firstOfSession: boolean;
}

/** @internal Who a session index belongs to: a session (with its channel), not a wrapper object
 * around the two (~50 bytes per connection, issue 19). */
export type IndexOwner =
  | TransportSession
  | { kind: 'pending'; channel: SecureChannel }
  | { kind: 'half_open'; halfOpen: unknown };

/** @internal What a channel (and the responder logic) needs from its endpoint. */
export interface ChannelHost extends InitiatorHost {
  readonly stats: CryptoStats;
  /** the component log (rare events only; peers as id prefixes, never keys), or null: silent */
  readonly log: ((message: string) => void) | null;
  allocateIndex(owner: IndexOwner): number;
  setIndexOwner(index: number, owner: IndexOwner): void;
  releaseIndex(index: number): void;
  transmit(t: SecureTransmit): void;
  emit(event: SecureEvent): void;
  accept(remoteKey: Uint8Array, info: AcceptInfo): boolean;
  bindKey(channel: SecureChannel, remoteKey: Uint8Array): void;
  openData(now: number, datagram: Uint8Array, only: SecureChannel | null): DataResult | null;
  unbind(channel: SecureChannel): void;
  /** the channel's next deadline may have moved (the endpoint keeps channels in a timer heap) */
  touch(channel: SecureChannel): void;
}
