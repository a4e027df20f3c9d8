import { testRendezvousBackend } from '@srmudp/rendezvous/compliance';
import { dhtBackend } from '../src/index.js';
import { loopbackDht } from './loopback-dht.js';

testRendezvousBackend('dht (6-node mainline DHT on 127.0.0.1)', {
  async setup() {
    const net = await loopbackDht(6);
    return {
      async create() {
        const b = dhtBackend({
          bootstrap: false,
          nodes: net.nodes,
          host: '127.0.0.1',
          timeoutMs: 5000,
          queryTimeoutMs: 500,
        });
        await b.ready({ minNodes: net.nodes.length });
        return b;
      },
      teardown: () => net.close(),
    };
  },
  settleMs: 3000,
});
