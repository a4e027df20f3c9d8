// @srmudp/relay-server/testing: a thin client driver (core Endpoint + RelayClient over UDP or a
// WebSocket) for tests, benchmarks and image checks, until the façade has relayed paths.
export { bounded, type Carrier, RelayPeer, type RelayPeerOptions, viaAddress } from './relay-peer.js';
