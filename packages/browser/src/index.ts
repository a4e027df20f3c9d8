// @srmudp/browser: an srmudp node in a web page, through a WebSocket relay.
export {
  exportKeyFile,
  forgetIdentity,
  importKeyFile,
  KEY_FILE_FORMAT,
  KEY_FILE_VERSION,
  loadOrCreateIdentity,
  randomBytes,
  storeIdentity,
} from './identity.js';
export {
  BrowserConnection,
  BrowserNode,
  type BrowserNodeOptions,
  type BrowserStream,
  createNode,
  type NodeStatus,
  type PeerStatus,
  parseRelayAddress,
  type ReceivedMessage,
  type RelayedPath,
} from './node.js';
