import { cardOnlyConnectAndRestart } from 'srmudp/testing';
import { describe, it } from 'vitest';
import { dhtBackend } from '../src/index.js';
import { loopbackDht } from './loopback-dht.js';

describe('end to end with the façade', () => {
  it('dht: two nodes connect from locator-only cards; a restart on a new port is re-resolved', async () => {
    const net = await loopbackDht(6);
    try {
      await cardOnlyConnectAndRestart({
        backend: async () => {
          const b = dhtBackend({
            bootstrap: false,
            nodes: net.nodes,
            host: '127.0.0.1',
            minPublishIntervalMs: 0,
            timeoutMs: 5000,
            queryTimeoutMs: 500,
          });
          await b.ready({ minNodes: net.nodes.length });
          return b;
        },
      });
    } finally {
      await net.close();
    }
  });
});
