// End to end with the façade (issue 7): two nodes that know only each other's contact cards
// (locators, no IP:port) find each other and connect; when one restarts on a new port, the
// other re-resolves and reconnects. Shared by the backend packages' e2e tests.
import { ed25519 } from '@noble/curves/ed25519.js';
import type { RendezvousBackend } from '@srmudp/rendezvous';
import { parseCard } from '@srmudp/rendezvous';
import { createNode, type SrmudpNode } from 'srmudp';
import { expect } from 'vitest';

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const text = (b: Uint8Array) => new TextDecoder().decode(b);

export interface ScenarioOptions {
  /** A fresh backend for each node (all reaching the same rendezvous). */
  readonly backend: () => RendezvousBackend | Promise<RendezvousBackend>;
  /** Card of the publisher: default its locators only (no candidates). */
  readonly card?: (node: SrmudpNode) => string;
  /** Called after the publisher restarted, with its new card (the manual case hands it over). */
  readonly afterRestart?: (newCard: string, resolverBackend: RendezvousBackend) => void;
  readonly timeoutMs?: number;
}

export async function cardOnlyConnectAndRestart(options: ScenarioOptions): Promise<void> {
  const timeout = options.timeoutMs ?? 15_000;
  const secret = ed25519.utils.randomSecretKey();
  const nodes: SrmudpNode[] = [];
  try {
    const alice = await createNode({
      host: '127.0.0.1',
      identity: { secret },
      rendezvous: [await options.backend()],
    });
    nodes.push(alice);
    const card = options.card ? options.card(alice) : alice.contactCard({ candidates: false });
    const parsed = parseCard(card);
    if (options.card === undefined) {
      expect(parsed.record).toBeUndefined(); // no IP:port in the card
      expect(parsed.locators.length).toBeGreaterThan(0);
    }
    const bobBackend = await options.backend();
    const bob = await createNode({
      host: '127.0.0.1',
      rendezvous: [bobBackend],
      peers: { alice: card },
      handshakeTimeoutMs: 1000,
      // Long enough that the restarted publisher has published before bob's first redial. With
      // the façade as of this commit, a redial to the old (dead) address stays 'connecting'
      // instead of failing after handshakeTimeoutMs and retrying: reported to the façade owner.
      reconnectDelayMs: 1500,
    });
    nodes.push(bob);
    await waitFor(() => bob.status().alice?.state === 'established', timeout, 'bob connected to alice');
    const firstPort = alice.address().port;
    const path1 = bob.status().alice?.path;
    expect(path1?.kind === 'direct' ? path1.address.port : 0).toBe(firstPort);
    bob.send('hello alice', { to: ['alice'] });
    expect(text((await alice.receive({ timeout: 5000 }))?.data ?? new Uint8Array())).toBe('hello alice');

    // Alice restarts: same identity, new port, publishes again.
    await alice.close();
    const alice2 = await createNode({
      host: '127.0.0.1',
      identity: { secret },
      rendezvous: [await options.backend()],
    });
    nodes.push(alice2);
    const newPort = alice2.address().port;
    expect(newPort).not.toBe(firstPort);
    options.afterRestart?.(
      options.card ? options.card(alice2) : alice2.contactCard({ candidates: false }),
      bobBackend,
    );
    await waitFor(
      () => {
        const s = bob.status().alice;
        return s?.state === 'established' && s.path?.kind === 'direct' && s.path.address.port === newPort;
      },
      timeout,
      'bob re-resolved alice and reconnected to her new port',
    );
    bob.send('hello again', { to: ['alice'] });
    expect(text((await alice2.receive({ timeout: 5000 }))?.data ?? new Uint8Array())).toBe('hello again');
  } finally {
    await Promise.allSettled(nodes.map((n) => n.close()));
  }
}
