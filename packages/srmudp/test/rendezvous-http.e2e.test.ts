import { SequencedStore } from '@srmudp/rendezvous';
import { httpBackend, startRendezvousServer } from '@srmudp/rendezvous-http';
import type { ManualBackend } from '@srmudp/rendezvous-manual';
import { manualBackend } from '@srmudp/rendezvous-manual';
import { describe, it } from 'vitest';
import { cardOnlyConnectAndRestart } from '../src/testing.js';

describe('end to end with the façade', () => {
  it('http: two nodes connect from locator-only cards; a restart on a new port is re-resolved', async () => {
    const server = await startRendezvousServer();
    try {
      await cardOnlyConnectAndRestart({
        backend: () => httpBackend({ url: server.url, minPublishIntervalMs: 0 }),
      });
    } finally {
      await server.close();
    }
  });

  it('manual: the card carries the candidates; after a restart the new card is handed over', async () => {
    // Each node has its own book (nothing shared): only cards travel between them.
    await cardOnlyConnectAndRestart({
      backend: () => manualBackend({ book: new SequencedStore() }),
      card: (node) => node.contactCard(),
      afterRestart: (newCard, bobBackend) => {
        (bobBackend as ManualBackend).addCard(newCard);
      },
    });
  });
});
