import { project } from '../../vitest.shared.ts';

// Real sockets on loopback, up to 1,000 WebSocket clients with Noise handshakes: generous bounds
// for a loaded 2-core machine (every wait inside the tests has its own bound).
export default project('relay-server', { testTimeout: 120_000, hookTimeout: 60_000 });
