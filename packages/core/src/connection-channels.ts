/**
 * How one connection is reached below reliability: the crypto channels whose sessions feed it
 * (one to seal with: the most recently established), the candidate addresses of our dial and
 * their send errors, and the peer's boot id (restart detection). The endpoint attaches and takes
 * channels as crypto reports them; the connection seals with `sealer`.
 */
import type { SecureChannel } from '@srmudp/crypto';
import { type Address, addressKey, bytesKey, copyAddress, sameAddress } from '@srmudp/wire';

/** the candidates of a connection we did not dial: no array of its own (frozen; addCandidates
 * replaces it) */
const NONE = Object.freeze([]) as unknown as never[];

/** A boot id as the text it is kept and compared as (one char per byte), or null: not sent. */
export function bootText(boot: Uint8Array | null): string | null {
  return boot === null ? null : bytesKey(boot);
}

export class ConnectionChannels {
  // Allocated small or on first use: an idle connection's heap (issue 19). Its channels: none, the
  // one channel itself (most connections have one: no array), or an array of them in the order
  // they were used.
  private list: SecureChannel | SecureChannel[] | null = null;
  private sealWith: SecureChannel | null = null;
  private candidateList: Address[] = NONE;
  /** send errors per candidate address key (reportSendError while handshaking) */
  private dialErrors: Map<string, number> | null = null;
  /** the peer's boot id, one char per byte: a short string is ~30 bytes, an 8-byte array with
   * its buffer ~180 (issue 19) */
  private boot: string | null = null;

  /** the channel data is sealed with (the most recently established one), or null */
  get sealer(): SecureChannel | null {
    return this.sealWith;
  }

  get size(): number {
    const list = this.list;
    return list === null ? 0 : Array.isArray(list) ? list.length : 1;
  }

  /** candidate addresses of the peer our handshake goes to (outgoing connections) */
  get candidates(): readonly Address[] {
    return this.candidateList;
  }

  /**
   * Restart detection: true when both the peer's boot id from its last handshake and `boot` (a
   * new handshake's) are known and differ.
   */
  bootDiffers(boot: Uint8Array | null): boolean {
    return this.boot !== null && boot !== null && this.boot !== bootText(boot);
  }

  /** A channel of this peer: ours to dial with, or another established one; sealed with from now on. */
  use(channel: SecureChannel): void {
    const list = this.list;
    if (list === null) this.list = channel;
    else if (Array.isArray(list)) {
      if (!list.includes(channel)) list.push(channel);
    } else if (list !== channel) this.list = [list, channel];
    this.sealWith = channel;
  }

  /** The channel now belongs to another connection: never seal with it again. */
  detach(channel: SecureChannel): void {
    const list = this.list;
    let last: SecureChannel | null = null;
    if (Array.isArray(list)) {
      const i = list.indexOf(channel);
      if (i >= 0) list.splice(i, 1);
      last = list[list.length - 1] ?? null;
    } else if (list === channel) this.list = null;
    else last = list;
    if (this.sealWith === channel) this.sealWith = last;
  }

  /** Hands every channel back (the connection finished or failed). */
  takeAll(): SecureChannel[] {
    const list = this.list;
    this.list = null;
    return list === null ? [] : Array.isArray(list) ? list : [list];
  }

  /** The addresses a handshake of ours goes to (duplicates ignored). */
  addCandidates(addresses: readonly Address[]): void {
    for (const a of addresses) {
      if (this.candidateList.some((c) => sameAddress(c, a))) continue;
      if (this.candidateList.length === 0) this.candidateList = [copyAddress(a)];
      else this.candidateList.push(copyAddress(a));
    }
  }

  /** The peer's boot id from its last handshake (one char per byte), or null: not sent. */
  get remoteBoot(): string | null {
    return this.boot;
  }

  /** The peer's boot id from the handshake that just completed. */
  setRemoteBoot(boot: Uint8Array | null): void {
    this.boot = bootText(boot);
  }

  /**
   * A send to `to` failed during our handshake. Returns null when `to` is none of our candidates,
   * else whether every candidate has now failed `unreachableAfter` times with an unreachable
   * code (the dial can fail fast instead of waiting for its timeout).
   */
  noteDialError(to: Address, unreachable: boolean, unreachableAfter: number): boolean | null {
    if (!this.candidateList.some((a) => sameAddress(a, to))) return null;
    const key = addressKey(to);
    const errors = (this.dialErrors ??= new Map());
    errors.set(key, (errors.get(key) ?? 0) + 1);
    if (!unreachable) return false;
    return this.candidateList.every((a) => (errors.get(addressKey(a)) ?? 0) >= unreachableAfter);
  }
}
