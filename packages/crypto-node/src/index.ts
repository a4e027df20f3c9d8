export { autoBackend, type BackendCandidates, chooseBackend } from './auto-backend.js';
export { nodeVerifySignature } from './ed25519-verify.js';
export type { KeyFileErrorCode } from './key-file.js';
export {
  decodeKeyFile,
  encodeKeyFile,
  KEY_FILE_FORMAT,
  KEY_FILE_VERSION,
  KeyFileError,
  loadIdentity,
  loadOrCreateIdentity,
  randomBytes,
  saveIdentity,
} from './key-file.js';
export { nodeBackend } from './node-backend.js';
export {
  createSodiumBackend,
  type SodiumApi,
  sodiumBackend,
  sodiumUnavailableReason,
} from './sodium-backend.js';
