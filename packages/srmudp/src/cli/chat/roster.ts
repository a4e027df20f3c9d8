import type { Connection } from '../../connection.js';

/** A chat peer by peer id; its nickname comes from its hello or its card. */
export interface Peer {
  peerId: string;
  nick: string | null;
  card: string | null;
  /** the connection we greeted, while it is open */
  conn: Connection | null;
  /** added to the node's named peers (redialled after a loss) */
  named: boolean;
  /** the user joined it (/join, --join, saved peers): its introductions may be followed */
  joined: boolean;
}

/** The peers a chat member knows, and those the user left. */
export class Roster {
  readonly #peers = new Map<string, Peer>();
  /** peers the user left: other members' hellos do not bring them back, only /join does */
  readonly #forgotten = new Set<string>();

  get size(): number {
    return this.#peers.size;
  }

  ids(): string[] {
    return [...this.#peers.keys()];
  }

  all(): Peer[] {
    return [...this.#peers.values()];
  }

  get(peerId: string): Peer | undefined {
    return this.#peers.get(peerId);
  }

  /** The peer of this id, added when new. */
  peer(peerId: string): Peer {
    let p = this.#peers.get(peerId);
    if (!p) {
      p = { peerId, nick: null, card: null, conn: null, named: false, joined: false };
      this.#peers.set(peerId, p);
    }
    return p;
  }

  isForgotten(peerId: string): boolean {
    return this.#forgotten.has(peerId);
  }

  /** Removes the peer and keeps other members' hellos from bringing it back. */
  forget(p: Peer): void {
    this.#peers.delete(p.peerId);
    this.#forgotten.add(p.peerId);
  }

  /** The user joined it again: hellos may bring it back. */
  unforget(peerId: string): void {
    this.#forgotten.delete(peerId);
  }

  online(): Peer[] {
    return this.all().filter((p) => p.conn !== null && !p.conn.isClosed);
  }

  /** Cards of the joined peers (what a restart needs to find the group again). */
  joinedCards(): string[] {
    return this.all()
      .filter((p) => p.named && p.card !== null)
      .map((p) => p.card as string);
  }

  /** A peer by nickname (case-insensitive) or by the start of its peer id; a string is an error. */
  find(who: string): Peer | string {
    const all = this.all();
    let hits = all.filter((p) => p.nick?.toLowerCase() === who.toLowerCase());
    if (hits.length === 0 && who.length >= 4) hits = all.filter((p) => p.peerId.startsWith(who));
    if (hits.length === 1) return hits[0] as Peer;
    if (hits.length === 0) return `no peer called ${who} (/peers lists them)`;
    return `${who} is ambiguous: use the start of a peer id (${hits.map((p) => p.peerId.slice(0, 12)).join(', ')})`;
  }
}

export function label(p: Peer): string {
  return p.nick ?? `${p.peerId.slice(0, 12)}...`;
}
