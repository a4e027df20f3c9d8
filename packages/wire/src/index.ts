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
export * from './packets.js';
export { Reader } from './reader.js';
export * from './types.js';
export { MAX_VARINT, readVarint, varintLengthFromFirstByte, varintSize, writeVarint } from './varint.js';
