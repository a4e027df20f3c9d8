import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Address } from '@srmudp/core';
import { parsePeerId } from '@srmudp/crypto';
import { type Candidate, parseCard, type Rendezvous } from '@srmudp/rendezvous';
import { abortError } from './async-queue.js';
import type { PeerTarget } from './config.js';
import { dialAddresses } from './dial-pacer.js';
import { NodeError } from './errors.js';

/** Where to dial and (when known) whom we expect to find there. */
export interface ResolvedTarget {
  addresses: Address[];
  /** responder's peer id; absent = XX handshake, trust on first use */
  key?: Uint8Array;
}

export type TargetResolver = (target: PeerTarget, signal?: AbortSignal) => Promise<ResolvedTarget>;

/**
 * Host candidates first (same LAN / machine), then reflexive, then relayed (DESIGN.md §5);
 * distinct, at most MAX_DIAL_CANDIDATES (a hostile record may list 125 third parties).
 */
export function candidatesToAddresses(candidates: readonly Candidate[]): Address[] {
  const rank = { host: 0, srflx: 1, relay: 2 } as const;
  return dialAddresses(
    [...candidates].sort((a, b) => rank[a.kind] - rank[b.kind]).map((c) => ({ host: c.host, port: c.port })),
  );
}

async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (cause) {
    throw new NodeError('RESOLVE_FAILED', `cannot resolve host name "${host}"`, { cause });
  }
}

/**
 * Resolves a contact card (its embedded record and/or its locators, through the node's
 * rendezvous backends; signature, sequence and expiry checked) or `{ host, port, peerId? }`.
 */
export async function resolveTarget(
  target: PeerTarget,
  rendezvous: Rendezvous,
  signal?: AbortSignal,
): Promise<ResolvedTarget> {
  if (signal?.aborted) throw abortError(signal);
  if (typeof target === 'string') {
    const card = parseCard(target);
    let result: Awaited<ReturnType<Rendezvous['resolve']>>;
    try {
      result = await rendezvous.resolve(card, signal ? { signal } : {});
    } catch (cause) {
      if (signal?.aborted) throw abortError(signal);
      throw new NodeError(
        'RESOLVE_FAILED',
        `cannot resolve ${card.peerIdText}: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    if (result === null || result.record.candidates.length === 0) {
      throw new NodeError('RESOLVE_FAILED', `no current address for ${card.peerIdText}`);
    }
    return { addresses: candidatesToAddresses(result.record.candidates), key: card.peerId };
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
