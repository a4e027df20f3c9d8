import { ed25519 } from '@noble/curves/ed25519.js';
import { isRendezvousError, parseCard, Rendezvous } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import { manualBackend } from '../src/index.js';

const open: Rendezvous[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

describe('manual backend', () => {
  it('the card carries the candidates; a newer card replaces an older one, never the reverse', async () => {
    const secretKey = ed25519.utils.randomSecretKey();
    const cards: Uint8Array[] = [];
    const alice = new Rendezvous({
      backends: [manualBackend({ onPublish: (r) => cards.push(r) })],
      secretKey,
    });
    open.push(alice);
    await alice.publish({ candidates: [{ kind: 'host', family: 4, host: '10.0.0.1', port: 7000 }] });
    const card1 = alice.card({ name: 'alice' });
    expect(cards.length).toBe(1);
    expect(parseCard(card1).locators).toEqual([{ backend: 'manual' }]);
    await alice.publish({ candidates: [{ kind: 'host', family: 4, host: '10.0.0.1', port: 7001 }] });
    const card2 = alice.card();
    expect(cards.length).toBe(2);

    const book = manualBackend();
    const bob = new Rendezvous({ backends: [book] });
    open.push(bob);
    book.addCard(card2);
    book.addCard(card1); // older: ignored
    // Resolving by peer id alone (no record in hand) reads the book.
    const r = await bob.resolve({ peerId: parseCard(card1).peerId, locators: [{ backend: 'manual' }] });
    expect(r?.record.candidates[0]?.port).toBe(7001);
    // Resolving the old card itself still gives the newest known record.
    const r1 = await bob.resolve(card1);
    expect(r1?.record.candidates[0]?.port).toBe(7001);
  });

  it('addCard refuses a damaged card with INVALID_CARD', () => {
    const m = manualBackend();
    try {
      m.addCard('srmudp1:damaged');
      expect.unreachable();
    } catch (error) {
      expect(isRendezvousError(error, 'INVALID_CARD')).toBe(true);
    }
  });
});
