/** @internal What a channel (and the initiator and responder logic) needs from its endpoint. */
import { WIRE_VERSION } from '@srmudp/wire';
import type { CryptoBackend } from './backend.js';
import type { AcceptInfo, SecureTiming } from './config.js';
import type { SecureEvent, SecureTransmit } from './events.js';
import type { Identity } from './identity.js';
import type { HandshakeOptions } from './options.js';
import type { SecureChannel } from './secure-channel.js';
import type { CryptoStats } from './stats.js';
import type { TransportSession } from './transport-session.js';

/** Noise prologue: binds the protocol and wire version so a version downgrade breaks the handshake. */
export function prologue(): Uint8Array {
  const p = new TextEncoder().encode('srmudp v1\0');
  const out = new Uint8Array(p.length + 1);
  out.set(p, 0);
  out[p.length] = WIRE_VERSION;
  return out;
}
export const PROLOGUE = prologue();

/** Result of opening a data packet. */
export interface Opened {
  packetNumber: number;
  plaintext: Uint8Array;
}

/** @internal Who a session index belongs to. */
export type IndexOwner =
  | { kind: 'session'; channel: SecureChannel; session: TransportSession }
  | { kind: 'pending'; channel: SecureChannel }
  | { kind: 'half_open'; halfOpen: unknown };

/** @internal */
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
  transmit(t: SecureTransmit): void;
  emit(event: SecureEvent): void;
  accept(remoteKey: Uint8Array, info: AcceptInfo): boolean;
  bindKey(channel: SecureChannel, remoteKey: Uint8Array): void;
  openData(now: number, datagram: Uint8Array, only: SecureChannel | null): Opened | null;
  unbind(channel: SecureChannel): void;
}
