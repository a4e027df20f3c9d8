import { testRendezvousBackend } from '@srmudp/rendezvous/compliance';
import { httpBackend, startRendezvousServer } from '../src/index.js';

testRendezvousBackend('http (server on 127.0.0.1)', {
  async setup() {
    const server = await startRendezvousServer({ rateLimitPerMinute: 60_000, rateLimitBurst: 1000 });
    return {
      create: async () => httpBackend({ url: server.url, timeoutMs: 3000 }),
      teardown: () => server.close(),
    };
  },
  settleMs: 1000,
});
