import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Address } from '@srmudp/core';
import { parsePeerId } from '@srmudp/crypto';
import {
  type Candidate,
  isRendezvousBackend,
  type ParsedCard,
  parseCard,
  type RendezvousBackend,
  verifyRecord,
} from '@srmudp/rendezvous';
import { SrmudpError } from '@srmudp/wire';
import { abortError } from './async-queue.js';
import type { PeerTarget, ResolvedNodeOptions } from './options.js';

/** Where to dial and (when known) whom we expect to find there. */
export interface ResolvedTarget {
  addresses: Address[];
  /** responder's peer id; absent = XX handshake, trust on first use */
  key?: Uint8Array;
}

export type TargetResolver = (target: PeerTarget, signal?: AbortSignal) => Promise<ResolvedTarget>;

function candidatesToAddresses(candidates: readonly Candidate[]): Address[] {
  // host candidates first (same LAN / loopback), then reflexive, then relayed (DESIGN.md §5)
  const rank = { host: 0, srflx: 1, relay: 2 } as const;
  return [...candidates]
    .sort((a, b) => rank[a.kind] - rank[b.kind])
    .map((c) => ({ host: c.host, port: c.port }));
}

async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (cause) {
    throw new SrmudpError('RESOLVE_FAILED', `cannot resolve host name "${host}"`, { cause });
  }
}

async function resolveCardRecord(
  card: ParsedCard,
  backends: RendezvousBackend[],
  signal?: AbortSignal,
): Promise<Candidate[]> {
  const errors: string[] = [];
  let best: { seq: number; candidates: Candidate[] } | null = null;
  if (card.embedded && card.embedded.expiresAt > Date.now()) {
    best = { seq: card.embedded.seq, candidates: [...card.embedded.candidates] };
  }
  for (const locator of card.locators) {
    const backend = backends.find(
      (b) => b.name === locator.backend && (b.canResolve ? b.canResolve(locator) : true),
    );
    if (!backend) {
      errors.push(`no "${locator.backend}" backend configured`);
      continue;
    }
    try {
      const bytes = await backend.resolve({ peerId: card.peerId, locator }, signal ? { signal } : {});
      if (bytes === null) {
        errors.push(`${locator.backend}: not found`);
        continue;
      }
      const { record } = verifyRecord(bytes, { expectedPeerId: card.peerId });
      if (!best || record.seq > best.seq) best = { seq: record.seq, candidates: [...record.candidates] };
    } catch (e) {
      if (signal?.aborted) throw abortError(signal);
      errors.push(`${locator.backend}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (best && best.candidates.length > 0) return best.candidates;
  throw new SrmudpError(
    'RESOLVE_FAILED',
    `no current address for ${card.peerIdText}${errors.length ? ` (${errors.join('; ')})` : ''}`,
  );
}

/** Resolves a contact card or `{ host, port, peerId? }` to addresses and an expected key. */
export async function resolveTarget(
  target: PeerTarget,
  options: ResolvedNodeOptions,
  signal?: AbortSignal,
): Promise<ResolvedTarget> {
  if (signal?.aborted) throw abortError(signal);
  if (typeof target === 'string') {
    const card = parseCard(target);
    const backends = (options.rendezvous ?? []).filter(isRendezvousBackend);
    const candidates = await resolveCardRecord(card, backends, signal);
    return { addresses: candidatesToAddresses(candidates), key: card.peerId };
  }
  const host = await resolveHost(target.host);
  const key =
    target.peerId === undefined
      ? undefined
      : typeof target.peerId === 'string'
        ? parsePeerId(target.peerId)
        : target.peerId;
  return { addresses: [{ host, port: target.port }], ...(key ? { key } : {}) };
}
