export { connectWs } from './connect.js';
export { nodeWebSocket } from './node-websocket.js';
export * from './portable.js';
