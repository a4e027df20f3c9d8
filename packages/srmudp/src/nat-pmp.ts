/**
 * NAT-PMP (RFC 6886), the client side: the two requests port mapping needs (the router's
 * external address, a UDP mapping), as a pure codec plus one small socket exchange.
 *
 * Our own instead of `@achingbrain/nat-port-mapper`'s NAT-PMP client, whose socket (bound to
 * port 5350 on every address) read any datagram that came while a request was pending at fixed
 * offsets without checking its length or sender: one empty datagram from the LAN threw inside
 * the socket's message handler and ended the process. Here the socket has an ephemeral port
 * (udp-query.ts), only datagrams from the gateway's port 5351 are looked at, and `decodePmpResponse` returns null
 * for anything that is not a well-formed answer. It also passes on the lifetime the router
 * granted, which the library did not.
 */
import { udpQuery } from './udp-query.js';

/** The NAT-PMP server port on the gateway. */
export const NAT_PMP_PORT = 5351;
const OP_EXTERNAL_ADDRESS = 0;
const OP_MAP_UDP = 1;
/** A response's opcode is the request's + 128 (RFC 6886 §3.2, §3.3). */
const RESPONSE = 128;

/** RFC 6886 §3.5 result codes. */
export const PMP_RESULTS: Readonly<Record<number, string>> = {
  1: 'unsupported version',
  2: 'not authorized or refused',
  3: 'network failure',
  4: 'out of resources',
  5: 'unsupported opcode',
};

export type PmpResponse =
  | { readonly op: 'external'; readonly result: number; readonly address: string }
  | {
      readonly op: 'map-udp';
      readonly result: number;
      readonly internalPort: number;
      readonly externalPort: number;
      readonly lifetimeS: number;
    };

/** "What is your external address?" (RFC 6886 §3.2). */
export function encodeExternalAddressRequest(): Uint8Array {
  return Uint8Array.of(0, OP_EXTERNAL_ADDRESS);
}

/**
 * A UDP mapping request (RFC 6886 §3.3): `lifetimeS` 0 with `externalPort` 0 deletes the
 * mapping of `internalPort` (§3.4).
 */
export function encodeMapUdpRequest(
  internalPort: number,
  externalPort: number,
  lifetimeS: number,
): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  b[1] = OP_MAP_UDP;
  v.setUint16(4, internalPort);
  v.setUint16(6, externalPort);
  v.setUint32(8, lifetimeS);
  return b;
}

/**
 * A NAT-PMP response, or null for anything else: another version, an opcode that is no
 * response, too short for what it says. An error response (result ≠ 0) needs only its first 8
 * bytes (routers differ). Never throws.
 */
export function decodePmpResponse(b: Uint8Array): PmpResponse | null {
  if (b.length < 8 || b[0] !== 0) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const op = b[1] as number;
  const result = v.getUint16(2);
  if (op === RESPONSE + OP_EXTERNAL_ADDRESS) {
    if (result !== 0) return { op: 'external', result, address: '' };
    if (b.length < 12) return null;
    return { op: 'external', result, address: `${b[8]}.${b[9]}.${b[10]}.${b[11]}` };
  }
  if (op === RESPONSE + OP_MAP_UDP) {
    if (result !== 0) return { op: 'map-udp', result, internalPort: 0, externalPort: 0, lifetimeS: 0 };
    if (b.length < 16) return null;
    return {
      op: 'map-udp',
      result,
      internalPort: v.getUint16(8),
      externalPort: v.getUint16(10),
      lifetimeS: v.getUint32(12),
    };
  }
  return null;
}

/**
 * Sends `request` to the gateway and resolves with the first well-formed answer from its
 * NAT-PMP port for which `accept` is true (whatever its result code), retransmitting at 250 ms,
 * then doubling (RFC 6886 §3.1), until `signal` aborts (rejects with its reason). Anything else
 * that reaches the socket is ignored.
 */
export async function pmpExchange(
  gateway: string,
  request: Uint8Array,
  accept: (r: PmpResponse) => boolean,
  signal: AbortSignal,
  port = NAT_PMP_PORT,
): Promise<PmpResponse> {
  const r = await udpQuery({
    from: [undefined],
    to: { host: gateway, port },
    request,
    retryMs: (sent) => 250 * 2 ** (sent - 1),
    answer: (msg, from) => {
      if (from.address !== gateway || from.port !== port) return null;
      const x = decodePmpResponse(msg);
      return x !== null && accept(x) ? x : null;
    },
    signal,
  });
  if (r !== null) return r;
  throw signal.aborted ? signal.reason : new Error(`no socket could reach ${gateway}:${port}`);
}

/** `accept` for the answer to a UDP mapping (or deletion) of `internalPort`. */
export function mapAnswerFor(internalPort: number): (r: PmpResponse) => boolean {
  return (r) => r.op === 'map-udp' && (r.result !== 0 || r.internalPort === internalPort);
}
