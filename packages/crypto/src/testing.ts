/**
 * Tools for testing a responder against hostile initiators (`@srmudp/crypto/testing`): forged
 * handshake initiations of the kinds a DoS attacker sends, and the cookie handling an attacker
 * that receives at its source address can do. Used by the flood tests of core and the srmudp
 * façade; never needed by an application. Pure: randomness comes in as an argument.
 */
import { encodePacketBytes, HandshakePattern, MAC_LENGTH, WIRE_VERSION } from '@srmudp/wire';
import { peerIdToX25519 } from './identity.js';
import { cookieKey, mac1Key, mac1Of, openCookie, writeMac1, writeMac2 } from './macs.js';
import { encodePayload } from './options.js';

/** Length of the Noise part of a forged IK initiation: e(32) + sealed s(48) + sealed payload. */
const IK_NOISE_LENGTH = 32 + 48 + 96;

export interface ForgerOptions {
  /** Random bytes (need not be cryptographic: this is an attacker). */
  random: (n: number) => Uint8Array;
  /** Ed25519 public key (peer id) of the responder under attack: needed for IK mac1. */
  responderKey?: Uint8Array;
}

/**
 * Builds the initiations a flood test sends. Each call returns a distinct datagram (fresh sender
 * index and ephemeral key), so a responder cannot recognise it as a retransmission.
 */
export class InitiationForger {
  private readonly random: (n: number) => Uint8Array;
  private readonly ikMac1Key: Uint8Array | null;
  private readonly zeroMac1Key = mac1Key(null);

  constructor(opts: ForgerOptions) {
    this.random = opts.random;
    this.ikMac1Key = opts.responderKey ? mac1Key(peerIdToX25519(opts.responderKey)) : null;
  }

  /** An initiation-shaped datagram with random contents: dropped at mac1 (one MAC of work). */
  junk(): Uint8Array {
    const d = this.random(11 + IK_NOISE_LENGTH + 2 * MAC_LENGTH).slice();
    d[0] = 0x81;
    d[1] = WIRE_VERSION;
    d[2] = (d[2] as number) & 1;
    d[7] = d[8] = d[9] = d[10] = 0; // receiver index 0, as a real initiation
    return d;
  }

  /**
   * A Noise IK initiation with a valid mac1 (anyone can compute it: the responder's key is in its
   * contact card) and random Noise bytes: a responder that processes it does one Diffie-Hellman
   * before the decryption of the static key fails.
   */
  ik(): Uint8Array {
    if (this.ikMac1Key === null) throw new TypeError('"responderKey" is needed to forge IK initiations');
    const d = encodePacketBytes({
      type: 'handshake_init',
      version: WIRE_VERSION,
      pattern: HandshakePattern.IK,
      senderIndex: this.index(),
      receiverIndex: 0,
      noise: this.random(IK_NOISE_LENGTH).slice(),
      mac1: new Uint8Array(MAC_LENGTH),
      mac2: new Uint8Array(MAC_LENGTH),
    });
    writeMac1(d, this.ikMac1Key);
    return d;
  }

  /**
   * A well-formed Noise XX message 1 (random ephemeral key, valid payload and mac1): a responder
   * that answers it does the Diffie-Hellman of message 2 and keeps a half-open state until message
   * 3 (which never comes) or its handshake timeout.
   */
  xx(): Uint8Array {
    const senderIndex = this.index();
    const payload = encodePayload({ senderIndex, keyPhase: 0 });
    const noise = new Uint8Array(32 + payload.length);
    noise.set(this.random(32), 0);
    noise.set(payload, 32);
    const d = encodePacketBytes({
      type: 'handshake_init',
      version: WIRE_VERSION,
      pattern: HandshakePattern.XX,
      senderIndex,
      receiverIndex: 0,
      noise,
      mac1: new Uint8Array(MAC_LENGTH),
      mac2: new Uint8Array(MAC_LENGTH),
    });
    writeMac1(d, this.zeroMac1Key);
    return d;
  }

  private index(): number {
    const b = this.random(4);
    const i =
      (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>>
      0;
    return i === 0 ? 1 : i;
  }
}

/**
 * What an attacker that receives at its source address does with a cookie reply: opens it (it
 * knows the mac1 of the initiation it sent) and sends initiations with a valid mac2 from then on.
 */
export class CookieJar {
  private cookie: Uint8Array | null = null;
  private readonly key: Uint8Array;

  /** `responderKey`: the responder's peer id for IK; omit it for XX (zero key). */
  constructor(responderKey?: Uint8Array) {
    this.key = cookieKey(responderKey ? peerIdToX25519(responderKey) : null);
  }

  /** True once a cookie was taken from a reply. */
  get hasCookie(): boolean {
    return this.cookie !== null;
  }

  /**
   * Takes the cookie from a cookie reply (61 bytes) that answers `init`; false when the reply does
   * not authenticate for that initiation.
   */
  take(init: Uint8Array, reply: Uint8Array): boolean {
    if (reply.length !== 61 || reply[0] !== 0x84) return false;
    const c = openCookie(this.key, reply.subarray(5, 29), reply.subarray(29, 61), mac1Of(init));
    if (c === null) return false;
    this.cookie = c;
    return true;
  }

  /** Writes mac2 of `init` in place with the cookie (zero without one) and returns it. */
  sign(init: Uint8Array): Uint8Array {
    writeMac2(init, this.cookie);
    return init;
  }
}
