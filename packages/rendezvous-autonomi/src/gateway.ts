/**
 * The one internal API every Autonomi gateway adapter implements: a mutable slot on the network
 * (a pointer to a chunk, or a public scratchpad) that the gateway's key owns and that holds a few
 * hundred bytes. Adapters speak one gateway's REST dialect and validate its answers with zod.
 * Errors: RendezvousError UNAVAILABLE (network, 5xx, garbage, timeouts), PAYMENT_REQUIRED (402),
 * ABORTED.
 */
export type SlotType = 'pointer' | 'scratchpad';
export type GatewayKind = 'antd' | 'anttp' | 'dweb';

export interface SlotValue {
  readonly data: Uint8Array;
  /** The network's version counter of the slot (for diagnostics; ordering uses our seq). */
  readonly counter: number;
}

export interface CreateResult {
  readonly address: string;
  /** True when the slot already existed (the gateway told us its address instead of creating it). */
  readonly existed: boolean;
}

export interface AutonomiGateway {
  readonly kind: GatewayKind;
  readonly slotType: SlotType;
  /** Base URL, used to serialise writers of one slot inside this process. */
  readonly url: string;
  /**
   * Creates the slot identified by `slot` (antd: an owner secret key; AntTP, dweb: a name the
   * gateway derives a key from) holding `data`. Paid.
   */
  create(slot: string, data: Uint8Array, signal?: AbortSignal): Promise<CreateResult>;
  /** Replaces the content of an existing slot (its counter increases). Paid on current networks. */
  update(slot: string, address: string, data: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Reads a slot by network address; null when the network has none. Free. */
  read(address: string, signal?: AbortSignal): Promise<SlotValue | null>;
}

/** Network addresses are 32 to 48 bytes of hex (XOR names, BLS public keys). */
export const ADDRESS_PATTERN = /^[0-9a-f]{64,96}$/;
