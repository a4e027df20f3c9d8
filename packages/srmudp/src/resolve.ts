import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Address } from '@srmudp/core';
import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import { nodeVerifySignature } from '@srmudp/crypto-node';
import type { RemoteCandidate } from '@srmudp/punch';
import { type Candidate, type Gate, parseCard, type Rendezvous } from '@srmudp/rendezvous';
import { canonicalAddress, type Address as WireAddress } from '@srmudp/wire';
import { abortError } from './async-queue.js';
import { type PeerTarget, parseWsRelay, type WsRelaySpec } from './config.js';
import { dialAddresses } from './dial-pacer.js';
import { NodeError } from './errors.js';

/** Where to dial and (when known) whom we expect to find there. */
export interface ResolvedTarget {
  addresses: Address[];
  /** the same addresses with the kind the record gave them (the NAT session's dial verdict) */
  candidates: RemoteCandidate[];
  /** responder's peer id; absent = XX handshake, trust on first use */
  key?: Uint8Array;
  /** the gates its record lists (a relayed route when the direct dial is hopeless) */
  gates?: readonly Gate[];
  /** the peer's home relay (a WebSocket relay), from its record */
  homeRelay?: WsRelaySpec;
}

export type TargetResolver = (target: PeerTarget, signal?: AbortSignal) => Promise<ResolvedTarget>;

/**
 * Host candidates first (same LAN / machine), then reflexive, then relayed (DESIGN.md §5), IPv6
 * before IPv4 within a kind (a hint: core sends its initiation to all at once, in this order);
 * distinct, at most MAX_DIAL_CANDIDATES (a hostile record may list 125 third parties).
 */
export function dialCandidates(candidates: readonly Candidate[]): RemoteCandidate[] {
  const rank = { host: 0, srflx: 1, relay: 2 } as const;
  const sorted = [...candidates].sort(
    (a, b) => rank[a.kind] - rank[b.kind] || Number(b.host.includes(':')) - Number(a.host.includes(':')),
  );
  const addresses = dialAddresses(sorted);
  return addresses.map((a) => {
    const c = sorted.find((x) => sameHost(x, a));
    return c === undefined ? a : { ...a, kind: c.kind };
  });
}

function sameHost(c: Candidate, a: Address): boolean {
  if (c.port !== a.port) return false;
  return canonicalAddress(c as WireAddress).host === a.host;
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
 * Ed25519 verification of cards and records: node:crypto's (OpenSSL; noble decides what OpenSSL
 * refuses). noble's first verification in a process costs tens of ms and a connect(card) checks
 * the same signature three times (card, resolve, cache): that delayed the first handshake packet
 * by 30-45 ms in the NAT lab (P3), about one path RTT.
 */
export const recordVerify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean =>
  nodeVerifySignature(publicKey, message, signature);

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
    const card = parseCard(target, { verify: recordVerify });
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
    const home = result?.record.homeRelay;
    const homeRelay = home ? parseWsRelay(`${home.url}#${peerIdToString(home.peerId)}`) : undefined;
    if (result === null || (result.record.candidates.length === 0 && typeof homeRelay !== 'object')) {
      throw new NodeError('RESOLVE_FAILED', `no current address for ${card.peerIdText}`);
    }
    const candidates = dialCandidates(result.record.candidates);
    return {
      addresses: candidates.map((c) => ({ host: c.host, port: c.port })),
      candidates,
      key: card.peerId,
      ...(result.record.gates && result.record.gates.length > 0 ? { gates: result.record.gates } : {}),
      ...(typeof homeRelay === 'object' ? { homeRelay } : {}),
    };
  }
  const host = await resolveHost(target.host);
  const key =
    target.peerId === undefined
      ? undefined
      : typeof target.peerId === 'string'
        ? parsePeerId(target.peerId)
        : target.peerId;
  const address = { host, port: target.port };
  return { addresses: [address], candidates: [address], ...(key ? { key } : {}) };
}
