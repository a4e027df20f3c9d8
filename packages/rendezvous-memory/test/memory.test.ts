import { ed25519 } from '@noble/curves/ed25519.js';
import { Rendezvous } from '@srmudp/rendezvous';
import { describe, expect, it } from 'vitest';
import { MemoryStore, memoryBackend } from '../src/index.js';

describe('memory backend with Rendezvous', () => {
  it('two nodes in one process find each other from cards and follow updates', async () => {
    const store = new MemoryStore();
    const alice = new Rendezvous({
      backends: [memoryBackend({ store })],
      secretKey: ed25519.utils.randomSecretKey(),
    });
    const bob = new Rendezvous({ backends: [memoryBackend({ store })] });
    try {
      await alice.publish({ candidates: [{ kind: 'host', family: 6, host: '::1', port: 9000 }] });
      const card = alice.card();
      expect((await bob.resolve(card))?.record.candidates[0]?.host).toBe('::1');
      const ports: number[] = [];
      for await (const r of bob.watch(card)) {
        ports.push(r.record.candidates[0]?.port ?? 0);
        if (ports.length === 1)
          await alice.publish({ candidates: [{ kind: 'host', family: 6, host: '::1', port: 9001 }] });
        else break;
      }
      expect(ports).toEqual([9000, 9001]);
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
