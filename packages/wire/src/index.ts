export * from './address.js';
export {
  BoundedFifo,
  type FifoBytes,
  MAX_UNREAD_MESSAGE_BYTES,
  MAX_UNREAD_MESSAGES,
  unreadMessageBytes,
} from './bounded-fifo.js';
export { ByteSlab, sharedSlab } from './byte-slab.js';
export {
  bytesKey,
  compareBytes,
  concatBytes,
  equalBytes,
  fromHex,
  keyBytes,
  keyToHex,
  readU32,
  toHex,
  writeU32,
  writeU64,
} from './bytes.js';
export { ContainedCount } from './contained.js';
export { crc32 } from './crc32.js';
export * from './demux.js';
export * from './errors.js';
export { decodeFrame, decodeFrames, FrameDecoder, FramePool, readFrame } from './frame-decode.js';
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
export { GenerationalMap } from './generational-map.js';
export { canonicalIp, type FormatIpOptions, formatIp, parseIp } from './ip.js';
export * from './packets.js';
export { PollQueue } from './poll-queue.js';
export { Reader } from './reader.js';
export { type Schedulable, Schedule } from './schedule.js';
export {
  decodeStun,
  decodeStunNoIntegrity,
  isComprehensionRequired,
  unknownComprehensionRequired,
  verifyStunIntegrity,
} from './stun-decode.js';
export {
  encodeStun,
  encodeStunInto,
  encodeStunNoIntegrity,
  stunMessageType,
  stunSize,
} from './stun-encode.js';
export { stunShortTermKey } from './stun-integrity.js';
export * from './stun-types.js';
export { type HeapEntry, TimerHeap } from './timer-heap.js';
export * from './types.js';
export { MAX_VARINT, readVarint, varintLengthFromFirstByte, varintSize, writeVarint } from './varint.js';
export { type AfterTimer, type WaitSignal, waitNext } from './wait-next.js';
