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
