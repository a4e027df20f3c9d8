import { WIRE_VERSION } from '@srmudp/wire';

/** Noise prologue: binds the protocol and wire version so a version downgrade breaks the handshake. */
export function prologue(): Uint8Array {
  const p = new TextEncoder().encode('srmudp v1\0');
  const out = new Uint8Array(p.length + 1);
  out.set(p, 0);
  out[p.length] = WIRE_VERSION;
  return out;
}
export const PROLOGUE = prologue();
