import { AEAD_TAG_LENGTH, DATA_HEADER_LENGTH, writeDataHeader } from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import type { SplitResult } from './noise/handshake-state.js';
import { ReplayWindow } from './replay-window.js';
import type { SecureChannel } from './secure-channel.js';

/** Largest packet number a session seals: nonces are packet numbers and must fit 2^53-1. */
export const MAX_PACKET_NUMBER = Number.MAX_SAFE_INTEGER;

/**
 * One set of transport keys (the result of one handshake): ChaCha20-Poly1305 with the packet
 * number as the nonce (Noise nonce layout) and the 13-byte data header as associated data, a
 * replay window for received packet numbers. Packet numbers come from the reliability layer
 * and must strictly increase per session, so a nonce is never reused under one key.
 */
export class TransportSession {
  private sendKey: Uint8Array | null;
  private recvKey: Uint8Array | null;
  readonly replay = new ReplayWindow();
  /** Last packet number sealed; -1 before the first. */
  lastSealed = -1;
  sealedCount = 0;
  openedCount = 0;
  /** Set when the peer proved it holds these keys (a packet authenticated under them). */
  confirmed: boolean;
  /** Responder: how many times the handshake response was sent (a duplicate initiation is
   * answered again), so the confirmation's round trip is ambiguous above 1 (Karn). */
  answers = 1;
  /** @internal IK responder: the key of the initiation's cached answer (responder.ts), forgotten
   * once the keys are confirmed; null otherwise. */
  recentKey: string | null = null;
  /** @internal The channel it belongs to, set when it takes its index (the endpoint's index map
   * holds the session itself, see IndexOwner). */
  channel: SecureChannel | null = null;

  constructor(
    private readonly backend: CryptoBackend,
    localIndex: number,
    remoteIndex: number,
    readonly keyPhase: 0 | 1,
    sendKey: Uint8Array,
    recvKey: Uint8Array,
    readonly createdAt: number,
    /** True if this side sent the handshake initiation that created the session. */
    readonly initiator: boolean,
    handshakeHash: Uint8Array,
    confirmed: boolean,
  ) {
    this.sendKey = sendKey;
    this.recvKey = recvKey;
    this.confirmed = confirmed;
    this.localIndexBits = localIndex | 0;
    this.remoteIndexBits = remoteIndex | 0;
    // where the hash lies, not a view of it: a view is ~96 bytes per session (issue 19), the hash
    // is read only for channel binding
    this.hashBuffer = handshakeHash.buffer;
    this.hashOffset = handshakeHash.byteOffset;
    this.hashLength = handshakeHash.length;
  }

  // The 32-bit indexes as int32: a small integer in a field, where an index of 2^31 or more is a
  // boxed number (16 bytes more per field; issue 19).
  private readonly localIndexBits: number;
  private readonly remoteIndexBits: number;
  private readonly hashBuffer: ArrayBufferLike;
  private readonly hashOffset: number;
  private readonly hashLength: number;

  /** Our session index: the peer puts it in the header of every packet it seals under these keys. */
  get localIndex(): number {
    return this.localIndexBits >>> 0;
  }

  /** The peer's session index, written in the header of every packet sealed under these keys. */
  get remoteIndex(): number {
    return this.remoteIndexBits >>> 0;
  }

  /** Noise handshake hash of the handshake that made these keys (channel binding). */
  get handshakeHash(): Uint8Array {
    return new Uint8Array(this.hashBuffer, this.hashOffset, this.hashLength);
  }

  /**
   * The session a completed handshake gives: keys copied out of Noise's `split()`, whose cipher
   * states are then cleared. `initiator`: this side sent the initiation; `confirmed`: the peer
   * already proved it holds the keys (IK response, XX message 3).
   */
  static fromSplit(
    backend: CryptoBackend,
    split: SplitResult,
    indexes: { local: number; remote: number; keyPhase: 0 | 1 },
    now: number,
    initiator: boolean,
    confirmed: boolean,
  ): TransportSession {
    // both keys and the handshake hash in one buffer (one ArrayBuffer per session, not three:
    // the heap of an idle connection, issue 19)
    const hh = split.handshakeHash;
    const keys = new Uint8Array(64 + hh.length);
    keys.set(split.send.key() as Uint8Array, 0);
    keys.set(split.recv.key() as Uint8Array, 32);
    keys.set(hh, 64);
    const session = new TransportSession(
      backend,
      indexes.local,
      indexes.remote,
      indexes.keyPhase,
      keys.subarray(0, 32),
      keys.subarray(32, 64),
      now,
      initiator,
      keys.subarray(64),
      confirmed,
    );
    split.send.clear();
    split.recv.clear();
    return session;
  }

  /** @internal Its kind among the owners of a session index (IndexOwner): on the prototype, no field. */
  get kind(): 'session' {
    return 'session';
  }

  get alive(): boolean {
    return this.sendKey !== null;
  }

  /**
   * Writes header + ciphertext + tag into `out` (allocated when absent) and returns the datagram
   * (a subarray of `out`). Throws RangeError if `packetNumber` does not increase or exceeds
   * {@link MAX_PACKET_NUMBER}; SrmudpError-free: callers check {@link alive}.
   */
  seal(packetNumber: number, plaintext: Uint8Array, out?: Uint8Array): Uint8Array {
    const key = this.sendKey;
    if (key === null) throw new RangeError('session keys were erased');
    if (
      !Number.isInteger(packetNumber) ||
      packetNumber <= this.lastSealed ||
      packetNumber > MAX_PACKET_NUMBER
    ) {
      throw new RangeError(
        `"packetNumber" must be an integer above ${this.lastSealed} and at most 2^53-1, got ${packetNumber}`,
      );
    }
    const size = DATA_HEADER_LENGTH + plaintext.length + AEAD_TAG_LENGTH;
    let buf: Uint8Array;
    if (out) {
      if (out.length < size) throw new RangeError(`"out" needs ${size} bytes, got ${out.length}`);
      buf = out;
    } else {
      buf = new Uint8Array(size);
    }
    writeDataHeader(buf, 0, this.keyPhase, this.remoteIndex, packetNumber);
    this.backend.aeadSeal(
      key,
      packetNumber,
      buf.subarray(0, DATA_HEADER_LENGTH),
      plaintext,
      buf.subarray(DATA_HEADER_LENGTH, size),
    );
    this.lastSealed = packetNumber;
    this.sealedCount++;
    return buf.length === size ? buf : buf.subarray(0, size);
  }

  /**
   * Authenticates and decrypts a data packet addressed to this session (header already parsed
   * by the caller). Returns the plaintext, 'replay' / 'too_old' for replayed packet numbers, or
   * null when authentication fails. The replay window only moves after authentication.
   */
  open(
    datagram: Uint8Array,
    packetNumber: number,
    out?: Uint8Array,
  ): Uint8Array | 'duplicate' | 'too_old' | null {
    const key = this.recvKey;
    if (key === null) return null;
    const verdict = this.replay.check(packetNumber);
    if (verdict !== 'ok') return verdict;
    const plaintext = this.backend.aeadOpen(
      key,
      packetNumber,
      datagram.subarray(0, DATA_HEADER_LENGTH),
      datagram.subarray(DATA_HEADER_LENGTH),
      out,
    );
    if (plaintext === null) return null;
    this.replay.update(packetNumber);
    this.openedCount++;
    this.confirmed = true;
    return plaintext;
  }

  /** Zeroes both keys; the session cannot seal or open afterwards. */
  destroy(): void {
    this.sendKey?.fill(0);
    this.recvKey?.fill(0);
    this.sendKey = null;
    this.recvKey = null;
  }
}
