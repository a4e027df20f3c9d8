import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import { DATA_OVERHEAD, WIRE_VERSION } from '@srmudp/wire';

/** Runs the packages' self-test; returns the report lines and whether everything passed. */
export function selfTest(): { ok: boolean; lines: string[] } {
  const key = new Uint8Array(32).map((_, i) => (i * 7) & 0xff);
  const id = peerIdToString(key);
  const back = parsePeerId(id);
  const ok = back.every((b, i) => b === key[i]);
  return {
    ok,
    lines: [
      'srmudp self-test',
      `  wire: version ${WIRE_VERSION}, data packet overhead ${DATA_OVERHEAD} bytes`,
      `  crypto: peer id round trip ${ok ? 'ok' : 'FAILED'} (${id})`,
    ],
  };
}
