import { encodePacketBytes, type HandshakePacket, MAC_LENGTH, WIRE_VERSION } from '@srmudp/wire';
import { writeMac1 } from './macs.js';

/** Both MACs before they are written (the encoder only reads them). */
const ZERO_MAC = new Uint8Array(MAC_LENGTH);

/**
 * A handshake packet (wire-format.md §5) around a Noise message. With `mac1Key` its mac1 is
 * written at once (responses, XX message 3); without, both MACs stay zero for the sender to
 * write at each transmission (an initiation: a cookie may arrive between two).
 */
export function handshakePacket(
  type: HandshakePacket['type'],
  pattern: HandshakePacket['pattern'],
  senderIndex: number,
  receiverIndex: number,
  noise: Uint8Array,
  mac1Key?: Uint8Array,
): Uint8Array {
  const bytes = encodePacketBytes({
    type,
    version: WIRE_VERSION,
    pattern,
    senderIndex,
    receiverIndex,
    noise,
    mac1: ZERO_MAC,
    mac2: ZERO_MAC,
  });
  if (mac1Key !== undefined) writeMac1(bytes, mac1Key);
  return bytes;
}
