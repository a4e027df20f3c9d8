/**
 * The relay service's interface with its host (relay-service.ts): what it is configured with,
 * what the host tells it about a hop session, and what it gives back: transmits (control
 * messages for a client's hop session, channel datagrams for a hop) and events.
 */
import type { RandomBytes } from './bytes.js';
import type { CircuitLimits, RelayLimits } from './limits.js';
import type { AdmissionPolicy } from './policy.js';
import type { CloseReason, RejectReason } from './reasons.js';
import type { RelayService } from './relay-service.js';

export interface RelayServiceConfig<H> {
  /** the relay's own peer id (vouchers must name it) */
  readonly relayId: Uint8Array;
  /** CSPRNG (the instance id) */
  readonly random: RandomBytes;
  readonly policy: AdmissionPolicy;
  readonly limits?: Partial<RelayLimits>;
  /**
   * Identity of a hop for lookups: the host passes a fresh handle per datagram (e.g. a UDP
   * source address object), so give a key function such as `addressKey`. Default: the handle
   * itself (strings, or objects with a stable identity such as a WebSocket).
   */
  readonly hopKey?: (hop: H) => unknown;
  /** Unix ms = now + this (voucher expiry is wall-clock time; `now` is monotonic). Default 0. */
  readonly unixTimeOffsetMs?: number;
  /** events kept undrained at most (then counted in `eventsDropped`); default 10,000 */
  readonly maxEvents?: number;
}

export interface ClientUpInfo {
  /**
   * The hop session itself runs over a relayed path: this client may neither request circuits
   * nor be the target of one (srmudp allows at most two hops, never relay chains).
   */
  readonly relayed?: boolean;
}

export type RelayTransmit<H> =
  /** a control message: send it reliably, in order and whole in `client`'s hop session */
  | { readonly kind: 'control'; readonly client: Uint8Array; readonly hop: H; readonly data: Uint8Array }
  /** a channel datagram: send it as is on `hop` (UDP to the validated address, or a WebSocket message) */
  | { readonly kind: 'channel'; readonly hop: H; readonly data: Uint8Array };

export type RelayEvent =
  | { readonly type: 'client_up'; readonly client: Uint8Array; readonly admitted: boolean }
  | { readonly type: 'client_down'; readonly client: Uint8Array }
  | {
      readonly type: 'circuit_opened';
      readonly circuit: number;
      readonly requester: Uint8Array;
      readonly target: Uint8Array;
      readonly limits: CircuitLimits;
      readonly voucher: boolean;
    }
  | {
      readonly type: 'circuit_rejected';
      readonly requester: Uint8Array;
      readonly target: Uint8Array;
      readonly reason: RejectReason;
    }
  | {
      readonly type: 'circuit_closed';
      readonly circuit: number;
      readonly requester: Uint8Array;
      readonly target: Uint8Array;
      readonly reason: CloseReason;
      readonly bytes: number;
      readonly packets: number;
    };

/**
 * What a host gives the relay service it builds from a {@link RelayServiceFactory}: its own
 * identity, randomness, hop identity and clock (core's endpoint when it serves as a relay).
 */
export type RelayServiceComponents<H> = Pick<
  RelayServiceConfig<H>,
  'relayId' | 'random' | 'hopKey' | 'unixTimeOffsetMs'
>;

/**
 * Builds a relay service for a host (`relayService(init)` returns one): the host supplies its
 * components, the caller chose the policy and limits. A host that takes a factory instead of a
 * policy (core's `relay.serve`) needs none of the serving code unless its caller serves.
 */
export type RelayServiceFactory = <H>(components: RelayServiceComponents<H>) => RelayService<H>;

/** What `relayService(init)` is configured with: the caller's side of {@link RelayServiceConfig}. */
export type RelayServiceInit = Pick<RelayServiceConfig<unknown>, 'policy' | 'limits' | 'maxEvents'>;
