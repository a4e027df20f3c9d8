export { AMPLIFICATION_FACTOR } from './amplification.js';
export * from './api.js';
export type { CoreConnection } from './connection.js';
export { BOOT_ID_OPTION, CloseCode, DEFAULTS, lostPeerCode } from './defaults.js';
export { CoreEndpoint } from './endpoint.js';
export type { ClosedWhileConnecting } from './endpoint-events.js';
export type { CoreError, CoreErrorCode } from './errors.js';
export { RELAY_TO_CLIENT, RELAY_TO_SERVICE, relayKeyOf } from './relays.js';
