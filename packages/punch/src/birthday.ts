/**
 * The birthday strategy for consistent × random NATs (hyperdht's holepuncher, Tailscale's "How NAT
 * traversal works", §"the birthday paradox"). The random (endpoint-dependent) side opens k sockets
 * and sends from each to the consistent side's public endpoint: its NAT creates k mappings on
 * unpredictable ports, each accepting replies from exactly that endpoint. The consistent side sends
 * n probes to random ports of the random side's public IP; one probe landing on any of the k mapped
 * ports gets through, and the reply from that socket opens the path.
 *
 * Probability of at least one hit when probing n distinct ports out of N with k mapped:
 *   P = 1 − C(N−k, n) / C(N, n) = 1 − ∏_{i=0}^{n−1} (N−k−i)/(N−i)  ≈ 1 − (1 − k/N)^n
 * With N = 64512 (ports 1024-65535), k = 256: n = 1000 → 98.1 %, n = 2000 → 99.96 %,
 * n = 2500 → 99.995 %.
 */
import type { RandomBytes } from './transmit.js';

export interface BirthdayParams {
  /** sockets the random side opens (default 256, as hyperdht) */
  readonly sockets?: number;
  /** probes the consistent side sends at most (default 2500) */
  readonly maxProbes?: number;
  /** gap between two random-port probes on the consistent side (default 10 ms: 100 packets/s) */
  readonly probeIntervalMs?: number;
  /** gap between two first sends from new sockets on the random side (default 2 ms) */
  readonly socketPacingMs?: number;
  /** the random side repeats each socket's send this often, refreshing its mappings (default 10 s) */
  readonly resendMs?: number;
  /** inclusive port range the random side's NAT allocates from (default [1024, 65535]) */
  readonly portRange?: readonly [number, number];
  /**
   * when the consistent side's filtering is unknown, birthday starts only after this long without a
   * working pair (default 1500 ms): with EIF/ADF plain probing succeeds first and costs nothing
   */
  readonly fallbackDelayMs?: number;
}

export interface ResolvedBirthdayParams {
  readonly sockets: number;
  readonly maxProbes: number;
  readonly probeIntervalMs: number;
  readonly socketPacingMs: number;
  readonly resendMs: number;
  readonly portRange: readonly [number, number];
  readonly fallbackDelayMs: number;
}

export const DEFAULT_BIRTHDAY: ResolvedBirthdayParams = {
  sockets: 256,
  maxProbes: 2500,
  probeIntervalMs: 10,
  socketPacingMs: 2,
  resendMs: 10_000,
  portRange: [1024, 65535],
  fallbackDelayMs: 1500,
};

export function resolveBirthday(p: BirthdayParams = {}): ResolvedBirthdayParams {
  const r = { ...DEFAULT_BIRTHDAY, ...p };
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(`"birthday.${name}" expected integer in [${min}, ${max}], got ${String(v)}`);
    }
  };
  int('sockets', r.sockets, 1, 4096);
  int('maxProbes', r.maxProbes, 0, 65535);
  int('portRange[0]', r.portRange[0], 1, 65535);
  int('portRange[1]', r.portRange[1], r.portRange[0], 65535);
  for (const k of ['probeIntervalMs', 'socketPacingMs', 'resendMs', 'fallbackDelayMs'] as const) {
    if (!Number.isFinite(r[k]) || r[k] < 0) {
      throw new RangeError(`"birthday.${k}" expected non-negative finite number, got ${String(r[k])}`);
    }
  }
  return r;
}

/** Exact probability that n distinct random probes over N ports hit at least one of k mapped ports. */
export function birthdayHitProbability(sockets: number, probes: number, portSpace = 64512): number {
  if (sockets <= 0 || probes <= 0) return 0;
  if (sockets + probes > portSpace) return 1;
  let miss = 1;
  for (let i = 0; i < probes; i++) miss *= (portSpace - sockets - i) / (portSpace - i);
  return 1 - miss;
}

/** Smallest number of probes reaching probability `p` with k sockets (null if unreachable). */
export function birthdayProbesFor(p: number, sockets: number, portSpace = 64512): number | null {
  if (!(p > 0 && p < 1)) throw new RangeError(`"p" expected number in (0, 1), got ${String(p)}`);
  let miss = 1;
  for (let n = 1; n <= portSpace - sockets; n++) {
    miss *= (portSpace - sockets - (n - 1)) / (portSpace - (n - 1));
    if (1 - miss >= p) return n;
  }
  return null;
}

/**
 * Draws distinct ports uniformly from [min, max] (rejection sampling on 16-bit draws, so no modulo
 * bias), never repeating a port and never more than the range holds.
 */
export class RandomPortSampler {
  readonly #random: RandomBytes;
  readonly #min: number;
  readonly #span: number;
  readonly #used = new Set<number>();
  readonly #exclude: ReadonlySet<number>;

  constructor(random: RandomBytes, range: readonly [number, number], exclude: Iterable<number> = []) {
    this.#random = random;
    this.#min = range[0];
    this.#span = range[1] - range[0] + 1;
    this.#exclude = new Set(exclude);
  }

  get drawn(): number {
    return this.#used.size;
  }

  next(): number | null {
    if (this.#used.size + this.#exclude.size >= this.#span) return null;
    const limit = 65536 - (65536 % this.#span);
    // Bounded: each attempt succeeds with probability ≥ 1/2 × (free / span); 4096 attempts is ample,
    // then fall back to a linear scan from a random start.
    for (let attempt = 0; attempt < 4096; attempt++) {
      const b = this.#random(2);
      const v = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
      if (v >= limit) continue;
      const port = this.#min + (v % this.#span);
      if (this.#used.has(port) || this.#exclude.has(port)) continue;
      this.#used.add(port);
      return port;
    }
    for (let i = 0; i < this.#span; i++) {
      const port = this.#min + i;
      if (!this.#used.has(port) && !this.#exclude.has(port)) {
        this.#used.add(port);
        return port;
      }
    }
    return null;
  }
}
