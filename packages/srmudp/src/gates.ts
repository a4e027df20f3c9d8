/**
 * Gates in records and cards (issue 14, DESIGN.md §6): which gates this node publishes, and the
 * gates it learned from the records of the peers it dialled.
 *
 * - Published: this node itself when it serves as a gate and is reachable unsolicited (its port
 *   mapping, or a public address of its own: no NAT in front), then the gates it is configured
 *   with, at the address its hop session with each one reaches (or the literal address it was
 *   given; loopback too, for peers on the same machine, as candidates). A gate entry naming the publisher itself says "I am reachable and relay for my
 *   group"; the record encoding (`@srmudp/rendezvous`'s `gates`) is unchanged.
 * - Learned: a dialled peer's record lists the gates it keeps a hop session with. When the direct
 *   dial of that peer is hopeless, the node dials those gates (at most {@link MAX_GATES_TRIED})
 *   and asks them for a circuit; no local gate configuration is needed. Self-announced gates go
 *   into a small pool that any later fallback may try (the group's possible route).
 */

import { isPrivateAddress } from '@srmudp/punch';
import type { Candidate, Gate } from '@srmudp/rendezvous';
import { equalBytes, toHex } from '@srmudp/wire';

/** Gates a record carries at most (each is 39 or 51 bytes of a 999-byte record). */
export const MAX_PUBLISHED_GATES = 4;
/** Learned gates of one peer dialled at most when its direct dial is hopeless. */
export const MAX_GATES_TRIED = 2;
/** Peers whose gates are remembered (oldest forgotten first). */
const MAX_PEERS = 1024;
/** Self-announced gates remembered for any peer. */
const MAX_POOL = 4;

/** A gate as the dialler knows it. */
export interface KnownGate {
  readonly key: Uint8Array;
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

const isLoopback = (host: string) => host === '::1' || host.startsWith('127.');
const familyOf = (host: string): 4 | 6 => (host.includes(':') ? 6 : 4);

/** What {@link gatesToPublish} looks at. */
export interface PublishInput {
  readonly self: Uint8Array;
  /** this node serves as a gate (`relay.serve`) */
  readonly serving: boolean;
  /** the router's public endpoint for our socket (port mapping), if it holds */
  readonly mapped: { host: string; port: number } | null;
  /** our host candidates (an address of our own that is public reaches us unsolicited) */
  readonly host: readonly Candidate[];
  /** configured gates: the key and where we reach it (null: not known yet) */
  readonly configured: readonly { key: Uint8Array | null; address: { host: string; port: number } | null }[];
}

/** The gates this node's record and card carry, at most {@link MAX_PUBLISHED_GATES}. */
export function gatesToPublish(p: PublishInput): Gate[] {
  const out: Gate[] = [];
  const add = (peerId: Uint8Array, host: string, port: number) => {
    if (out.length >= MAX_PUBLISHED_GATES || host.includes('%')) return;
    if (out.some((g) => g.host === host && g.port === port && equalBytes(g.peerId, peerId))) return;
    out.push({ peerId: peerId.slice(), family: familyOf(host), host, port });
  };
  if (p.serving) {
    if (p.mapped !== null) add(p.self, p.mapped.host, p.mapped.port);
    for (const c of p.host) if (!isPrivateAddress(c.host) && !isLoopback(c.host)) add(p.self, c.host, c.port);
  }
  for (const g of p.configured) {
    if (g.key !== null && g.address !== null && !equalBytes(g.key, p.self))
      add(g.key, g.address.host, g.address.port);
  }
  return out;
}

/** Gates learned from the records of the peers this node dialled. */
export class GateBook {
  readonly #byPeer = new Map<string, KnownGate[]>();
  readonly #pool: KnownGate[] = [];

  /** Notes the gates of `peer`'s record (replacing what its previous record said). */
  learn(peer: Uint8Array, gates: readonly Gate[] | undefined): void {
    const hex = toHex(peer);
    const mine: KnownGate[] = [];
    for (const g of gates ?? []) {
      if (!(g.peerId instanceof Uint8Array) || g.peerId.length !== 32) continue;
      const k: KnownGate = { key: g.peerId.slice(), host: g.host, port: g.port, family: g.family };
      if (equalBytes(g.peerId, peer)) {
        // the peer relays for its group: a possible route to any member
        this.#remember(k);
        continue;
      }
      if (mine.length < MAX_GATES_TRIED) mine.push(k);
    }
    this.#byPeer.delete(hex);
    if (mine.length === 0) return;
    this.#byPeer.set(hex, mine);
    if (this.#byPeer.size > MAX_PEERS) {
      const oldest = this.#byPeer.keys().next().value as string;
      this.#byPeer.delete(oldest);
    }
  }

  /** Gates to try for `peer`: its own, then self-announced ones (never `peer` itself), at most {@link MAX_GATES_TRIED}. */
  for(peer: Uint8Array): KnownGate[] {
    const hex = toHex(peer);
    const out = [...(this.#byPeer.get(hex) ?? [])];
    for (const g of this.#pool) {
      if (out.length >= MAX_GATES_TRIED) break;
      if (!equalBytes(g.key, peer) && !out.some((o) => equalBytes(o.key, g.key))) out.push(g);
    }
    return out.slice(0, MAX_GATES_TRIED);
  }

  /** Whether `key` is a gate we learned (its connection is a relay route for its peers). */
  isGate(key: Uint8Array): boolean {
    if (this.#pool.some((g) => equalBytes(g.key, key))) return true;
    for (const list of this.#byPeer.values()) if (list.some((g) => equalBytes(g.key, key))) return true;
    return false;
  }

  #remember(g: KnownGate): void {
    const i = this.#pool.findIndex((o) => equalBytes(o.key, g.key));
    if (i >= 0) this.#pool.splice(i, 1);
    this.#pool.unshift(g);
    if (this.#pool.length > MAX_POOL) this.#pool.length = MAX_POOL;
  }
}
