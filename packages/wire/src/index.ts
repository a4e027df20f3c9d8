export { ByteSlab, sharedSlab } from './byte-slab.js';
export { crc32 } from './crc32.js';
export * from './demux.js';
export * from './errors.js';
export { decodeFrame, decodeFrames, readFrame } from './frame-decode.js';
export {
  datagramFrameOverhead,
  encodeFrame,
  encodeFrames,
  frameSize,
  messageFrameOverhead,
  relayFrameOverhead,
  streamFrameOverhead,
} from './frame-encode.js';
export * from './frame-types.js';
export { canonicalIp, formatIp, type IpAddress, parseIp } from './ip.js';
export * from './packets.js';
export { Reader } from './reader.js';
export {
  decodeStun,
  isComprehensionRequired,
  unknownComprehensionRequired,
  verifyStunIntegrity,
} from './stun-decode.js';
export { encodeStun, encodeStunInto, stunMessageType, stunSize } from './stun-encode.js';
export { stunShortTermKey } from './stun-integrity.js';
export * from './stun-types.js';
export * from './types.js';
export { MAX_VARINT, readVarint, varintLengthFromFirstByte, varintSize, writeVarint } from './varint.js';
