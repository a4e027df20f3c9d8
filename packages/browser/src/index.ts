// @srmudp/browser: an srmudp node in a web page, through a WebSocket relay.

export { parseRelayAddress } from './addresses.js';
export { BrowserConnection, type BrowserStream } from './connection.js';
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
  BrowserNode,
  type BrowserNodeOptions,
  createNode,
  type NodeStatus,
  type ReceivedMessage,
} from './node.js';
export type { PeerStatus, RelayedPath } from './peers.js';
export type { RelayReconnect } from './relay-link.js';
