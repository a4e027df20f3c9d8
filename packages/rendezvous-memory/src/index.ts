export type { MemoryBackendOptions } from './memory-backend.js';
export { MemoryBackend, memoryBackend } from './memory-backend.js';
export { MemoryStore } from './memory-store.js';
