export type { FetchJob } from './blobs.js';
export type {
  FrameTypeName,
  GossipFrame,
  IHaveItem,
  MessageFields,
  Payload,
  PeerRecord,
  SignedMessage,
} from './codec.js';
export {
  copyMessage,
  decodeFrame,
  encodeFrame,
  encodeGossipFrame,
  encodeMessageBody,
  encodeSignedMessage,
  FRAME_TYPE,
  GOSSIP_WIRE_VERSION,
  MAX_BLOB_SIZE,
  MAX_IHAVE_ITEMS,
  MAX_INLINE_SIZE,
  MAX_RECORD_SIZE,
  MAX_ROUND,
  MAX_SHUFFLE_ENTRIES,
  MESSAGE_ID_LENGTH,
  PEER_ID_LENGTH,
  peekFrameType,
  SHUFFLE_ID_LENGTH,
  SIGNATURE_LENGTH,
  TOPIC_ID_LENGTH,
} from './codec.js';
export type { GossipConfig, GossipOptions } from './config.js';
export { DEFAULT_GOSSIP_OPTIONS } from './config.js';
export type { DropCause, DropReason, GossipEvent, GossipStats, PenaltyReason } from './events.js';
export { DROP_REASONS } from './events.js';
export type { GossipErrorCode, GossipTransmit, TopicView } from './gossip.js';
export { Gossip, GossipError } from './gossip.js';
export type { PeerInfo } from './membership.js';
export type { Signer, Verifier } from './message.js';
export {
  blobHash,
  createMessage,
  defaultVerifier,
  identitySigner,
  messageId,
  signatureInput,
  topicId,
  verifyMessage,
} from './message.js';
export type { PassiveEntry } from './passive-view.js';
