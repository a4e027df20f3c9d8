// Test helpers for rendezvous backend authors (`import { cardOnlyConnectAndRestart } from
// 'srmudp/testing'`), next to @srmudp/rendezvous's compliance suite: that suite checks a backend
// alone, this scenario checks it end to end through real srmudp nodes on loopback.
import { randomBytes } from 'node:crypto';
import { parseCard, type RendezvousBackend } from '@srmudp/rendezvous';
import { createNode } from './create-node.js';
import type { SrmudpNode } from './node.js';

export interface ScenarioOptions {
  /** A fresh backend for each node (all reaching the same rendezvous). */
  readonly backend: () => RendezvousBackend | Promise<RendezvousBackend>;
  /** Card of the publisher: default its locators only (no candidates). */
  readonly card?: (node: SrmudpNode) => string;
  /** Called after the publisher restarted, with its new card (the manual case hands it over). */
  readonly afterRestart?: (newCard: string, resolverBackend: RendezvousBackend) => void;
  readonly timeoutMs?: number;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`rendezvous end-to-end scenario: ${what}`);
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : '');

/**
 * Two nodes that know only each other's contact cards (locators, no IP:port) find each other
 * through the backend and connect; when the publisher restarts on a new port (same identity), the
 * other re-resolves it and reconnects. Throws on any failure.
 */
export async function cardOnlyConnectAndRestart(options: ScenarioOptions): Promise<void> {
  const timeout = options.timeoutMs ?? 15_000;
  const secret = new Uint8Array(randomBytes(32));
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
      check(parsed.record === undefined, 'the card carries no address record');
      check(parsed.locators.length > 0, 'the card carries a locator');
    }
    const bobBackend = await options.backend();
    const bob = await createNode({
      host: '127.0.0.1',
      rendezvous: [bobBackend],
      peers: { alice: card },
      handshakeTimeoutMs: 1000,
      reconnectDelayMs: 300,
    });
    nodes.push(bob);
    await waitFor(() => bob.status().alice?.state === 'established', timeout, 'bob connected to alice');
    const firstPort = alice.address().port;
    const path1 = bob.status().alice?.path;
    check(path1?.kind === 'direct' && path1.address.port === firstPort, 'direct path to alice');
    bob.send('hello alice', { to: ['alice'] });
    check(text((await alice.receive({ timeout: 5000 }))?.data) === 'hello alice', 'alice got the message');

    // Alice restarts: same identity, new port, publishes again.
    await alice.close();
    const alice2 = await createNode({
      host: '127.0.0.1',
      identity: { secret },
      rendezvous: [await options.backend()],
    });
    nodes.push(alice2);
    const newPort = alice2.address().port;
    check(newPort !== firstPort, 'alice restarted on another port');
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
    check(
      text((await alice2.receive({ timeout: 5000 }))?.data) === 'hello again',
      'restarted alice got the message',
    );
  } finally {
    await Promise.allSettled(nodes.map((n) => n.close()));
  }
}
