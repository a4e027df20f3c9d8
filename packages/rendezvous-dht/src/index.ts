export type { DhtBackendOptions } from './dht-backend.js';
export { DEFAULT_SALT, DhtBackend, dhtBackend, MAINLINE_BOOTSTRAP } from './dht-backend.js';
