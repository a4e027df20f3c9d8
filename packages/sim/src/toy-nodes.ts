import type { Address } from '@srmudp/wire';
import { addressKey } from '@srmudp/wire';
import type { SimNode } from './sim-node.js';
import type { Transmit } from './transmit.js';

/** A datagram as a node received it. */
export interface Received {
  at: number;
  from: Address;
  to: Address;
  data: Uint8Array;
}

/**
 * A scriptable node for tests: `send()` queues datagrams (optionally at a future time), every
 * received datagram is recorded in `received`, and `onReceive` may answer. It is also the base
 * of the echo and reflector nodes.
 */
export class ScriptedNode implements SimNode {
  readonly received: Received[] = [];
  onReceive: ((node: ScriptedNode, r: Received) => void) | null = null;
  readonly #out: Transmit[] = [];
  readonly #later: { at: number; t: Transmit }[] = [];

  /** Queues `data` to `to` (from `from`, default primary) now, or at absolute time `at`. */
  send(to: Address, data: Uint8Array, opts: { from?: Address; at?: number } = {}): void {
    const t: Transmit = opts.from === undefined ? { to, data } : { to, data, from: opts.from };
    if (opts.at === undefined) this.#out.push(t);
    else {
      // Keep #later sorted by time, FIFO among equal times (binary search for the insertion point).
      let lo = 0;
      let hi = this.#later.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.#later[mid]!.at <= opts.at) lo = mid + 1;
        else hi = mid;
      }
      this.#later.splice(lo, 0, { at: opts.at, t });
    }
  }

  handle(now: number, from: Address, to: Address, data: Uint8Array): void {
    const r: Received = { at: now, from: { ...from }, to: { ...to }, data };
    this.received.push(r);
    this.onReceive?.(this, r);
  }

  handleTimeout(now: number): void {
    while (this.#later.length > 0 && this.#later[0]!.at <= now) this.#out.push(this.#later.shift()!.t);
  }

  pollTransmit(_now: number): Transmit | null {
    return this.#out.shift() ?? null;
  }

  pollTimeout(): number | null {
    return this.#later[0]?.at ?? null;
  }
}

/** Answers every datagram with the same bytes, from the address it arrived at, to its source. */
export function echoNode(): ScriptedNode {
  const n = new ScriptedNode();
  n.onReceive = (self, r) => self.send(r.from, r.data, { from: r.to });
  return n;
}

/**
 * A toy STUN: answers every datagram with the text `host:port` of the source it observed (after
 * NAT rewriting), from the address the request arrived at. Decode with {@link parseReflection}.
 */
export function reflectorNode(): ScriptedNode {
  const n = new ScriptedNode();
  n.onReceive = (self, r) => self.send(r.from, new TextEncoder().encode(addressKey(r.from)), { from: r.to });
  return n;
}

/** Parses a {@link reflectorNode} answer back into an address. */
export function parseReflection(data: Uint8Array): Address {
  const s = new TextDecoder().decode(data);
  const i = s.lastIndexOf(':');
  const host = s.slice(0, i);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(s.slice(i + 1)) };
}
