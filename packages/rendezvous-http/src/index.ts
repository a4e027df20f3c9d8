export type { HttpBackendOptions } from './http-backend.js';
export { HttpBackend, httpBackend } from './http-backend.js';
export { RateLimiter } from './rate-limiter.js';
export type { RendezvousServer, RendezvousServerOptions } from './server.js';
export { startRendezvousServer } from './server.js';
