export type { DhtBackendOptions } from './dht-backend.js';
export { DEFAULT_SALT, DhtBackend, dhtBackend, MAINLINE_BOOTSTRAP } from './dht-backend.js';
export type { KrpcGuardStats } from './guarded-socket.js';
export type { KrpcDropReason } from './krpc-guard.js';
export { checkKrpcDatagram, MAX_KRPC_DATAGRAM } from './krpc-guard.js';
