import { testRendezvousBackend } from '@srmudp/rendezvous/compliance';
import { MemoryStore, memoryBackend } from '../src/index.js';

testRendezvousBackend('memory', {
  async setup() {
    const store = new MemoryStore();
    return { create: async () => memoryBackend({ store }), teardown: async () => store.clear() };
  },
  settleMs: 500,
});

testRendezvousBackend('memory with 5 ms latency', {
  async setup() {
    const store = new MemoryStore();
    return {
      create: async () => memoryBackend({ store, latencyMs: 5 }),
      teardown: async () => store.clear(),
    };
  },
  settleMs: 500,
});
