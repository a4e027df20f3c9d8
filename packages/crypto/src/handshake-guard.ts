import { type Address, parseIp, toHex } from '@srmudp/wire';

/**
 * The responder's DoS policy (WireGuard §5.3 and §5.4.7, adapted to one thread): when it is under
 * load, how much handshake work each source may cause, and how many half-finished handshakes it
 * keeps. One owner for these rules; SecureEndpoint asks it before any Diffie-Hellman.
 *
 *  - Load follows the rate of handshake initiations that arrive (WireGuard: the length of its
 *    handshake queue) less those whose initiator confirmed the keys we answered (IK: it sent
 *    under them; XX: message 3), not the number of handshakes pending: forged initiations hold no
 *    state, so a pending count never rises under a flood of them. Only an initiator that received
 *    our answer at its address can confirm, which is what a cookie would have proved first; its
 *    initiation then leaves the count, and so does the one that got its address a cookie reply
 *    (its first attempt under load). A spoofed or failing initiation never leaves it, so a flood
 *    counts in full; a burst of real peers, however fast, only with its handshakes in flight.
 *    Past `loadThreshold` per second, and for one second after (WireGuard's
 *    UNDER_LOAD_AFTER_TIME), every initiation without a valid mac2 gets a cookie reply and no
 *    Diffie-Hellman.
 *  - Under load, initiations with a valid mac2 (their sender receives at its address) are rate
 *    limited per source address and per /24 (IPv4) or /64 (IPv6) prefix (WireGuard's ratelimiter:
 *    20 per second per source), and together to what `handshakeCpuShare` of the thread buys at
 *    the measured cost of a handshake ({@link HandshakeBudget}: the responder times the work of
 *    each initiation it answers with the driver's `workClock`), shared fairly: each address
 *    (prefix) that asks gets an equal part of it. The cap thus follows the machine: ~2,000/s where
 *    a handshake costs 0.25 ms, fewer on a slow or busy one (a loaded thread makes each handshake
 *    take longer). A source that was quiet keeps a burst of 5, so a real peer's handshake is
 *    answered at once whatever the others send, and the work of a flood from many sockets stays
 *    at a share of what one thread can do beside its traffic. Cookie replies
 *    are rate limited per source too, so a flood costs one MAC per datagram, not a sealed reply
 *    each; a source over its budget costs a counter lookup.
 *  - Pending responder handshakes (half-open XX, IK sessions awaiting key confirmation) are
 *    budgeted per source address, per prefix and in total. A new one is always admitted: when a
 *    budget is full the oldest pending handshake in it is evicted, those that came without a cookie
 *    first. An attacker can only displace its own state, or, at the global limit, state older than
 *    `maxPending` / (its admitted rate) seconds, which a real peer finishes within a round trip.
 */
export interface HandshakeLimits {
  /** Responder handshakes awaiting completion, in total. Default 1024. */
  maxPending: number;
  /** …from one source address (host and port). Default 4. */
  maxPendingPerAddress: number;
  /** …from one /24 (IPv4) or /64 (IPv6) prefix. Default 64. */
  maxPendingPerPrefix: number;
  /** Unconfirmed initiations per second (see above) above which the responder is under load;
   * 0: always. Default 64. */
  loadThreshold: number;
  /** Under load: the fraction of the thread's time that cookie-validated handshakes may take,
   * all sources together, shared equally among the addresses (and prefixes) asking: the cap per
   * second is this ÷ the measured cost of one handshake. Default 0.5. */
  handshakeCpuShare: number;
  /** The cost of one handshake (ms) assumed until one is measured, and always without a
   * `workClock` (a virtual clock measures nothing): 0.5 ÷ 2.5 ms = 200 per second. Default 2.5. */
  handshakeCostMs: number;
  /** Bounds of that cap per second, whatever the measurements say. Defaults 50 and 20,000. */
  minHandshakesPerSecond: number;
  maxHandshakesPerSecond: number;
  /** …at most this many per second for one source address. Default 20. */
  handshakesPerAddress: number;
  /** …for one prefix (its burst is at most 50). Default 20,000: a prefix alone may take the cap. */
  handshakesPerPrefix: number;
  /** Cookie replies per second to one source address. Default 10. */
  cookieRepliesPerAddress: number;
  /** …to one prefix. Default 200; raised to the cap of validated handshakes when that is higher
   * (each new address of a prefix needs a cookie before its handshake, so a lower cookie rate
   * would keep a prefix below the handshake cap it may take). */
  cookieRepliesPerPrefix: number;
}

export const DEFAULT_LIMITS: HandshakeLimits = {
  maxPending: 1024,
  maxPendingPerAddress: 4,
  maxPendingPerPrefix: 64,
  loadThreshold: 64,
  handshakeCpuShare: 0.5,
  handshakeCostMs: 2.5,
  minHandshakesPerSecond: 50,
  maxHandshakesPerSecond: 20_000,
  handshakesPerAddress: 20,
  handshakesPerPrefix: 20_000,
  cookieRepliesPerAddress: 10,
  cookieRepliesPerPrefix: 200,
};

/** How long the responder stays under load after the rate last exceeded the threshold. */
export const UNDER_LOAD_AFTER_MS = 1000;
const WINDOW_MS = 1000;
/** How long a counted initiation stays in the load estimate (its window and the next). */
export const LOAD_HORIZON_MS = 2 * WINDOW_MS;
/** Bounds of the per-source tables (least recently used forgotten: that only restores a burst). */
const MAX_ADDRESSES = 16_384;
const MAX_PREFIXES = 4096;
/** A prefix's burst: whatever its rate, at most this many handshakes at once. */
const MAX_PREFIX_BURST = 50;

/**
 * Sliding-window estimate of counted initiations per second (current window + the previous one,
 * weighted); {@link forget} takes back one that turned out not to count (it was confirmed).
 */
export class LoadMeter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private count = 0;
  private previous = 0;
  private overUntil = Number.NEGATIVE_INFINITY;

  constructor(private readonly threshold: number) {}

  /** Counts one initiation at `now`; returns whether the responder is under load. */
  record(now: number): boolean {
    this.roll(now);
    this.count++;
    if (this.rate(now) > this.threshold) this.overUntil = now + UNDER_LOAD_AFTER_MS;
    return now < this.overUntil;
  }

  /**
   * Takes back one initiation counted at `at` (≤ `now`), from the window that counted it; one
   * counted before the previous window has left the estimate already. Whether the responder is
   * under load stays as it is: a verdict, once given, lasts its second.
   */
  forget(at: number, now: number): void {
    this.roll(now);
    if (at >= this.windowStart) this.count = Math.max(0, this.count - 1);
    else if (at >= this.windowStart - WINDOW_MS) this.previous = Math.max(0, this.previous - 1);
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed < WINDOW_MS) return;
    if (elapsed < 2 * WINDOW_MS) {
      this.previous = this.count;
      this.windowStart += WINDOW_MS;
    } else {
      this.previous = 0;
      this.windowStart = now;
    }
    this.count = 0;
  }

  /** Initiations per second around `now`. */
  rate(now: number): number {
    const into = Math.min(1, Math.max(0, (now - this.windowStart) / WINDOW_MS));
    return this.previous * (1 - into) + this.count;
  }

  /** Whether the responder is under load at `now` (threshold 0: always). */
  underLoad(now: number): boolean {
    return this.threshold === 0 || now < this.overUntil;
  }
}

/** Weight of a new sample in the moving average of the handshake cost. */
const COST_GAIN = 1 / 8;
/** Event-loop utilisation (driver's report) at or above which the cap halves at each report… */
export const BUSY_UTILIZATION = 0.9;
/** …and below which it grows back (×1.5 per report) to what the CPU share buys. */
export const CALM_UTILIZATION = 0.7;

/**
 * The cap of cookie-validated handshakes answered per second under load, from their measured
 * cost: `handshakeCpuShare` × 1000 ÷ the moving average of the milliseconds each answered
 * initiation took (its Diffie-Hellman, state and reply), within [min, max]. Timed with the
 * driver's clock around the responder's own work, so a busier thread (slower handshakes) lowers
 * the cap and a faster backend raises it; no fixed rate. The driver also reports how busy its
 * event loop is ({@link reportUtilization}): a saturated loop (which stops reading its socket in
 * time, so real peers' packets are lost in the kernel) halves the cap at each report, down to
 * the floor, whatever the handshakes cost; a calm one lets it grow back.
 */
export class HandshakeBudget {
  private cost: number;
  private samples = 0;
  /** the utilisation reports' factor on the cap, in (0, 1] */
  private scale = 1;

  constructor(private readonly limits: HandshakeLimits) {
    this.cost = limits.handshakeCostMs;
  }

  /** Records the time (ms) one answered initiation took; nonsense (negative, NaN) is ignored. */
  record(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    // a sample far above the estimate (the thread was preempted, a GC ran) moves it by at most
    // 4× (+37 % at the average's weight): a lasting rise still comes through within a few samples
    const x = Math.min(ms, 4 * this.cost, 1000);
    // the first samples replace the assumption faster (a mean of what was seen), then average
    this.samples++;
    const gain = Math.max(COST_GAIN, 1 / this.samples);
    this.cost += (x - this.cost) * gain;
  }

  /** The thread's event-loop utilisation over the driver's last interval (0…1). */
  reportUtilization(u: number): void {
    if (!(u >= 0 && u <= 1)) return;
    if (u >= BUSY_UTILIZATION) this.scale = Math.max(1 / 1024, this.scale / 2);
    else if (u < CALM_UTILIZATION) this.scale = Math.min(1, this.scale * 1.5);
  }

  /** Milliseconds per handshake: measured (moving average) or the assumed `handshakeCostMs`. */
  get costMs(): number {
    return this.cost;
  }

  /** Handshakes per second the responder answers under load, all sources together. */
  perSecond(): number {
    const l = this.limits;
    const r = (this.scale * l.handshakeCpuShare * 1000) / Math.max(this.cost, 1e-3);
    return Math.min(l.maxHandshakesPerSecond, Math.max(l.minHandshakesPerSecond, r));
  }
}

interface Bucket {
  tokens: number;
  at: number;
  /** the window (of WINDOW_MS) in which this key last took a token: counts active keys */
  window: number;
}

/**
 * Token buckets by key, bursts of `burst` (default rate / 4); bounded, least recently used dropped.
 * With `share`, each key's rate is min(`rate`, `share` / keys that took a token in the last window
 * or the one before): a fair part of a common rate.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private window = 0;
  private active = 0;
  private activeBefore = 0;

  constructor(
    private rate: number,
    private readonly maxEntries: number,
    private share = Number.POSITIVE_INFINITY,
    burst?: number,
  ) {
    this.burst = burst ?? Math.max(1, Math.ceil(rate / 4));
  }

  /** Keys holding a bucket now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Changes the common rate shared among the keys (from the next refill on). */
  setShare(share: number): void {
    this.share = share;
  }

  /** Changes the rate of each key (from the next refill on; the burst stays). */
  setRate(rate: number): void {
    this.rate = rate;
  }

  /** True when `key` has a token at `now` (nothing is taken). */
  peek(now: number, key: string): boolean {
    const b = this.buckets.get(key);
    return b === undefined || this.refill(b, now) >= 1;
  }

  /** Takes a token; false (nothing taken) when there is none. */
  take(now: number, key: string): boolean {
    this.roll(now);
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxEntries) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.burst, at: now, window: -1 };
    } else {
      this.buckets.delete(key); // re-inserted below: most recently used last
    }
    this.buckets.set(key, b);
    if (b.window !== this.window) {
      b.window = this.window;
      this.active++;
    }
    if (this.refill(b, now) < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * When {@link tick} may drop buckets next: the next window's start while any key holds one,
   * else +Inf. A responder that went quiet after a burst of handshakes so lets go of its
   * sources' buckets on its timer, not only when the next handshake arrives.
   */
  nextPruneAt(): number {
    return this.buckets.size === 0 ? Number.POSITIVE_INFINITY : (this.window + 1) * WINDOW_MS;
  }

  /** Rolls the window at `now` as a take would: drops the buckets the rate has filled again. */
  tick(now: number): void {
    this.roll(now);
  }

  /** Rate of one key now: its ceiling, or its fair part of the shared rate. */
  currentRate(): number {
    const keys = Math.max(1, this.active, this.activeBefore);
    return Math.min(this.rate, this.share / keys);
  }

  private roll(now: number): void {
    const w = Math.floor(now / WINDOW_MS);
    if (w === this.window) return;
    this.activeBefore = w === this.window + 1 ? this.active : 0;
    this.active = 0;
    this.window = w;
    this.prune(now);
  }

  /**
   * Drops the buckets that the rate in effect has filled again, least recently used first, up to
   * the first that is not full: a new key starts with a full bucket and none took a token in the
   * new window yet, so a source that handshook a while ago stops holding heap (about 200 bytes
   * per idle connection of a busy responder, issue 19). O(dropped + 1), once per window.
   */
  private prune(now: number): void {
    const rate = this.currentRate();
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * rate) / 1000 < this.burst) return;
      this.buckets.delete(key);
    }
  }

  private refill(b: Bucket, now: number): number {
    if (now > b.at) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.currentRate()) / 1000);
      b.at = now;
    }
    return b.tokens;
  }

  clear(): void {
    this.buckets.clear();
  }
}

/** A source address and its prefix, as keys of the budget tables. */
export interface Source {
  address: string;
  prefix: string;
}

/** One pending responder handshake in the budget. */
export interface PendingEntry {
  readonly localIndex: number;
  readonly source: Source;
  /** came with a valid mac2 (its sender proved it receives at its address) */
  readonly cookie: boolean;
  /** frees the handshake's state (called when the entry is evicted) */
  readonly evict: () => void;
}

/**
 * Pending responder handshakes with per-address, per-prefix and total budgets; adding to a full
 * budget evicts the oldest entry in it (for the total: the oldest that came without a cookie, if
 * any). O(1) per operation except the per-source lists, which are short by construction.
 */
export class PendingTable {
  /** insertion order = age; without and with a valid cookie */
  private readonly plain = new Map<number, PendingEntry>();
  private readonly validated = new Map<number, PendingEntry>();
  private readonly byAddress = new Map<string, PendingEntry[]>();
  private readonly byPrefix = new Map<string, PendingEntry[]>();
  evicted = 0;

  constructor(private readonly limits: HandshakeLimits) {}

  get size(): number {
    return this.plain.size + this.validated.size;
  }

  add(e: PendingEntry): void {
    const a = this.byAddress.get(e.source.address);
    if (a !== undefined && a.length >= this.limits.maxPendingPerAddress)
      this.evictEntry(a[0] as PendingEntry);
    const p = this.byPrefix.get(e.source.prefix);
    if (p !== undefined && p.length >= this.limits.maxPendingPerPrefix) this.evictEntry(p[0] as PendingEntry);
    if (this.size >= this.limits.maxPending) {
      const oldest = this.plain.values().next().value ?? this.validated.values().next().value;
      if (oldest !== undefined) this.evictEntry(oldest);
    }
    (e.cookie ? this.validated : this.plain).set(e.localIndex, e);
    push(this.byAddress, e.source.address, e);
    push(this.byPrefix, e.source.prefix, e);
  }

  /** Forgets the entry of `localIndex` (the handshake completed or expired); false when none. */
  remove(localIndex: number): boolean {
    const e = this.plain.get(localIndex) ?? this.validated.get(localIndex);
    if (e === undefined) return false;
    this.plain.delete(localIndex);
    this.validated.delete(localIndex);
    pull(this.byAddress, e.source.address, e);
    pull(this.byPrefix, e.source.prefix, e);
    return true;
  }

  private evictEntry(e: PendingEntry): void {
    this.remove(e.localIndex);
    this.evicted++;
    e.evict();
  }

  clear(): void {
    this.plain.clear();
    this.validated.clear();
    this.byAddress.clear();
    this.byPrefix.clear();
  }
}

function push(m: Map<string, PendingEntry[]>, k: string, e: PendingEntry): void {
  const l = m.get(k);
  if (l === undefined) m.set(k, [e]);
  else l.push(e);
}

function pull(m: Map<string, PendingEntry[]>, k: string, e: PendingEntry): void {
  const l = m.get(k);
  if (l === undefined) return;
  const i = l.indexOf(e);
  if (i >= 0) l.splice(i, 1);
  if (l.length === 0) m.delete(k);
}

/**
 * The budget keys of an address: `host|port`, and its /24 (IPv4, IPv4-mapped IPv6) or /64 (IPv6)
 * prefix. A host that is not an IP literal is its own prefix. Prefixes are cached (bounded).
 */
export class SourceKeys {
  private readonly prefixes = new Map<string, string>();

  of(from: Address): Source {
    let prefix = this.prefixes.get(from.host);
    if (prefix === undefined) {
      prefix = prefixOf(from.host);
      if (this.prefixes.size >= MAX_PREFIXES) this.prefixes.clear();
      this.prefixes.set(from.host, prefix);
    }
    return { address: `${from.host}|${from.port}`, prefix };
  }
}

export function prefixOf(host: string): string {
  const b = parseIp(host);
  if (b === undefined) return host;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}/24`;
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}/24`;
  return `${toHex(b.subarray(0, 8))}/64`;
}

/** The per-source rate limits of one purpose (handshakes answered, or cookie replies sent). */
export class SourceRate {
  private readonly byAddress: RateLimiter;
  private readonly byPrefix: RateLimiter;

  /** `total`: a common rate shared fairly among the sources asking (default: none). */
  constructor(perAddress: number, perPrefix: number, total = Number.POSITIVE_INFINITY) {
    // a quiet address can always start a few handshakes at once (burst), whatever the others do
    this.byAddress = new RateLimiter(
      perAddress,
      MAX_ADDRESSES,
      total,
      Math.max(1, Math.ceil(perAddress / 4)),
    );
    this.byPrefix = new RateLimiter(
      perPrefix,
      MAX_PREFIXES,
      total,
      Math.max(1, Math.ceil(Math.min(perPrefix, MAX_PREFIX_BURST * 4) / 4)),
    );
  }

  /** Sets the common rate shared among the sources (the budget's current cap). */
  setTotal(total: number): void {
    this.byAddress.setShare(total);
    this.byPrefix.setShare(total);
  }

  /** Sets the rate of each prefix (the burst stays). */
  setPrefixRate(rate: number): void {
    this.byPrefix.setRate(rate);
  }

  /** True when both the address and its prefix have a token (nothing taken). */
  peek(now: number, s: Source): boolean {
    return this.byAddress.peek(now, s.address) && this.byPrefix.peek(now, s.prefix);
  }

  /** Takes a token from both; false (nothing taken from the address) when either is empty. */
  take(now: number, s: Source): boolean {
    if (!this.byPrefix.peek(now, s.prefix) || !this.byAddress.take(now, s.address)) return false;
    return this.byPrefix.take(now, s.prefix);
  }

  /** When {@link tick} may drop buckets next (+Inf: none held). */
  nextPruneAt(): number {
    return Math.min(this.byAddress.nextPruneAt(), this.byPrefix.nextPruneAt());
  }

  /** Drops the buckets that the rates have filled again (as the next take would). */
  tick(now: number): void {
    this.byAddress.tick(now);
    this.byPrefix.tick(now);
  }

  clear(): void {
    this.byAddress.clear();
    this.byPrefix.clear();
  }
}

/** Validates user-given limits (API misuse throws RangeError) and fills defaults. */
export function resolveLimits(given: Partial<HandshakeLimits> | undefined): HandshakeLimits {
  const l: HandshakeLimits = { ...DEFAULT_LIMITS, ...given };
  for (const [k, v] of Object.entries(l)) {
    const min = k === 'loadThreshold' ? 0 : k === 'handshakeCpuShare' || k === 'handshakeCostMs' ? 1e-3 : 1;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
      throw new RangeError(`"limits.${k}" expected a number >= ${min}, got ${v}`);
  }
  if (l.handshakeCpuShare > 1)
    throw new RangeError(`"limits.handshakeCpuShare" expected a number <= 1, got ${l.handshakeCpuShare}`);
  if (l.minHandshakesPerSecond > l.maxHandshakesPerSecond)
    throw new RangeError('"limits.minHandshakesPerSecond" must not exceed "limits.maxHandshakesPerSecond"');
  return l;
}
