export type { CryptoBackend, HashFunctions } from './backend.js';
export { nobleBackend } from './backend.js';
export { writeNoiseNonce } from './bytes.js';
export type { FailureCode, HandshakeKind, Opened, SecureEvent, SecureTransmit } from './channel-events.js';
export type { AcceptInfo, SecureConfig, SecureEndpointConfig, SecureTiming } from './config.js';
export { DEFAULT_TIMING } from './config.js';
export type { CryptoErrorCode } from './errors.js';
export type { DataResult, HandleResult } from './handle-result.js';
export type { HandshakeLimits } from './handshake-guard.js';
export { DEFAULT_LIMITS as DEFAULT_HANDSHAKE_LIMITS } from './handshake-guard.js';
export type { Identity } from './identity.js';
export {
  generateIdentity,
  identityFromSecret,
  peerIdToX25519,
  signWithIdentity,
  tryPeerIdToX25519,
  verifySignature,
  wipeIdentity,
} from './identity.js';
export { decodeKeyFileText, encodeKeyFileText, KEY_FILE_FORMAT, KEY_FILE_VERSION } from './key-file-text.js';
export { CipherState } from './noise/cipher-state.js';
export type { KeyPair, SplitResult } from './noise/handshake-state.js';
export { HandshakeState } from './noise/handshake-state.js';
export type { HandshakePatternDef } from './noise/patterns.js';
export { IK, NN, XX } from './noise/patterns.js';
export type { HandshakeOptions } from './options.js';
export { FIRST_APP_OPTION, OptionType } from './options.js';
export * from './peer-id.js';
export { REPLAY_WINDOW_SIZE, ReplayWindow } from './replay-window.js';
export type { ChannelState } from './secure-channel.js';
export { SecureChannel } from './secure-channel.js';
export type { ConnectOptions, HandleOptions } from './secure-endpoint.js';
export { SecureEndpoint } from './secure-endpoint.js';
export type { CryptoStats, DropReason } from './stats.js';
export { DROP_REASONS } from './stats.js';
export { MAX_PACKET_NUMBER, TransportSession } from './transport-session.js';
