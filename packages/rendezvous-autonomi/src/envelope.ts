import { equalBytes } from '@srmudp/wire';

/**
 * What srmudp stores in an Autonomi slot: "SRA1" || seq (u64 big-endian) || value. The sequence
 * number travels outside the value so the backend can order values without parsing them
 * (backends store opaque bytes); the value itself is the signed record the resolver verifies.
 */
const MAGIC = new Uint8Array([0x53, 0x52, 0x41, 0x31]); // "SRA1"
export const ENVELOPE_OVERHEAD = 12;

export function wrapEnvelope(seq: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(ENVELOPE_OVERHEAD + value.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setBigUint64(4, BigInt(seq));
  out.set(value, ENVELOPE_OVERHEAD);
  return out;
}

/** Returns null for anything that is not a well-formed envelope. */
export function unwrapEnvelope(data: Uint8Array): { seq: number; value: Uint8Array } | null {
  if (data.length < ENVELOPE_OVERHEAD || !equalBytes(data.subarray(0, 4), MAGIC)) return null;
  const seq = new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(4);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { seq: Number(seq), value: data.slice(ENVELOPE_OVERHEAD) };
}
