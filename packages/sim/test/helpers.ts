import type { Address, SimNode, Transmit } from '../src/index.js';

/** Sends `count` datagrams of `size` bytes to `to`, one every `intervalMs` from `start`; byte 0..3 = sequence. */
export class Blaster implements SimNode {
  sent = 0;
  readonly #to: Address;
  readonly #count: number;
  readonly #size: number;
  readonly #interval: number;
  readonly #start: number;
  readonly sendTimes: number[] = [];

  constructor(to: Address, count: number, size: number, intervalMs: number, start = 0) {
    this.#to = to;
    this.#count = count;
    this.#size = size;
    this.#interval = intervalMs;
    this.#start = start;
  }

  handle(): void {}
  handleTimeout(): void {}

  pollTransmit(now: number): Transmit | null {
    if (this.sent >= this.#count) return null;
    if (this.#start + this.sent * this.#interval > now) return null;
    const data = new Uint8Array(this.#size);
    new DataView(data.buffer).setUint32(0, this.sent);
    this.sendTimes.push(now);
    this.sent++;
    return { to: this.#to, data };
  }

  pollTimeout(): number | null {
    return this.sent < this.#count ? this.#start + this.sent * this.#interval : null;
  }
}

/** Records (sequence, arrival time, size) of every datagram. */
export class Sink implements SimNode {
  readonly seqs: number[] = [];
  readonly times: number[] = [];
  readonly sizes: number[] = [];
  readonly froms: Address[] = [];

  handle(now: number, from: Address, _to: Address, data: Uint8Array): void {
    this.seqs.push(new DataView(data.buffer, data.byteOffset).getUint32(0));
    this.times.push(now);
    this.sizes.push(data.length);
    this.froms.push(from);
  }
  handleTimeout(): void {}
  pollTransmit(): Transmit | null {
    return null;
  }
  pollTimeout(): number | null {
    return null;
  }
}

/** |measured - p| within k standard deviations of a binomial(n, p) proportion. */
export function withinSigma(measured: number, p: number, n: number, k = 5, inflation = 1): boolean {
  const sigma = Math.sqrt((inflation * p * (1 - p)) / n);
  return Math.abs(measured - p) <= k * sigma + 1e-12;
}

/**
 * Extra seed text from the SIM_SEED environment variable (empty by default), appended to every
 * statistical test's seed so CI can re-run the model checks on fresh randomness:
 * `SIM_SEED=$RANDOM npx vitest run --project sim`. Failures print the full seed.
 */
export const SEED_SUFFIX: string =
  (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.SIM_SEED ?? '';
