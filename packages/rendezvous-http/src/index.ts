export type { Client, TrustProxyOptions } from './client-address.js';
export type { HttpBackendOptions } from './http-backend.js';
export { HttpBackend, httpBackend } from './http-backend.js';
export { RateLimiter } from './rate-limiter.js';
export type { PutResult, RecordStoreOptions } from './record-store.js';
export { RecordStore } from './record-store.js';
export type { RendezvousServer, RendezvousServerOptions, RendezvousServerStats } from './server.js';
export { startRendezvousServer } from './server.js';
export { WATCH_GOING_AWAY } from './watch-codes.js';
