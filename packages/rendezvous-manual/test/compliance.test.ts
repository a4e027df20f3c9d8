import { SequencedStore } from '@srmudp/rendezvous';
import { testRendezvousBackend } from '@srmudp/rendezvous/compliance';
import { manualBackend } from '../src/index.js';

testRendezvousBackend('manual', {
  async setup() {
    const book = new SequencedStore();
    return { create: async () => manualBackend({ book }), teardown: async () => book.clear() };
  },
  settleMs: 500,
});
