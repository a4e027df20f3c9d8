export { attachNat, withReflexive } from './attach.js';
export {
  type DialVerdict,
  type NatState,
  type NatStatus,
  NatTraversal,
  type NatTraversalOptions,
} from './nat-traversal.js';
export { parseStunServer, resolveStunServers, STUN_DEFAULT_PORT } from './stun-servers.js';
