/**
 * Introductions: the cards of other members a peer lists in its hello. Following them is how a
 * newcomer meets the whole group, and also how a hostile peer could make us dial anyone (each
 * card lists up to 8 addresses). The user decides, with one of three policies:
 *
 * - 'auto' (default): introductions from a peer the user joined (by /join, --join or the saved
 *   peers file) are followed, at most {@link PER_HELLO} per hello and {@link BURST} at once, then
 *   {@link PER_MINUTE} per minute; the rest wait for /accept. Introductions from peers that only
 *   connected to us wait for /accept too.
 * - 'ask': every introduction waits for /accept.
 * - 'off': introductions are ignored.
 *
 * Only the first hello on a connection introduces anyone; at most {@link MAX_PENDING} wait, the
 * oldest dropped first.
 */
export type IntroductionPolicy = 'auto' | 'ask' | 'off';
export const INTRODUCTION_POLICIES: readonly IntroductionPolicy[] = ['auto', 'ask', 'off'];

export const PER_HELLO = 8;
export const BURST = 16;
export const PER_MINUTE = 16;
export const MAX_PENDING = 32;

export interface Introduced {
  readonly peerId: string;
  readonly card: string;
  readonly nick: string | null;
  readonly by: string;
}

export class Introductions {
  readonly #pending = new Map<string, Introduced>();
  #tokens = BURST;
  #at: number;

  constructor(
    readonly policy: IntroductionPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.#at = now();
  }

  /** Whether to follow an introduction now (true) or keep it for /accept (false). */
  admit(intro: Introduced, fromJoinedPeer: boolean): boolean {
    if (this.policy === 'off') return false;
    if (this.policy === 'auto' && fromJoinedPeer && this.#take()) return true;
    this.#pending.delete(intro.peerId);
    this.#pending.set(intro.peerId, intro);
    if (this.#pending.size > MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value as string);
    return false;
  }

  #take(): boolean {
    const now = this.now();
    this.#tokens = Math.min(BURST, this.#tokens + ((now - this.#at) * PER_MINUTE) / 60_000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  pending(): Introduced[] {
    return [...this.#pending.values()];
  }

  /** Removes and returns the waiting introductions that `who` names ('all', a nickname or a peer id prefix). */
  take(who: string): Introduced[] {
    const w = who.toLowerCase();
    const hits = this.pending().filter(
      (i) => w === 'all' || i.nick?.toLowerCase() === w || (w.length >= 4 && i.peerId.startsWith(who)),
    );
    for (const i of hits) this.#pending.delete(i.peerId);
    return hits;
  }

  forget(peerId: string): void {
    this.#pending.delete(peerId);
  }
}
