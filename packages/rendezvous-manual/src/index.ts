export type { ManualBackendOptions } from './manual-backend.js';
export { ManualBackend, manualBackend } from './manual-backend.js';
