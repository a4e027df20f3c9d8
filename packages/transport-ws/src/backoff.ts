/** Reconnect schedule: exponential with jitter, reset after a successful open. */
export interface BackoffOptions {
  /** first delay in ms (default 250) */
  initialDelayMs?: number;
  /** ceiling in ms (default 30,000) */
  maxDelayMs?: number;
  /** growth per failed attempt (default 2) */
  factor?: number;
  /** 0..1: each delay is scaled by a random factor in [1 - jitter, 1] (default 0.5) */
  jitter?: number;
  /** failed attempts in a row before giving up (default unlimited) */
  maxAttempts?: number;
}

export class Backoff {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly jitter: number;
  readonly maxAttempts: number;
  /** failed attempts since the last success */
  attempts = 0;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialDelayMs = positive('initialDelayMs', options.initialDelayMs ?? 250);
    this.maxDelayMs = positive('maxDelayMs', options.maxDelayMs ?? 30_000);
    this.factor = options.factor ?? 2;
    if (!(this.factor >= 1)) throw new RangeError(`"factor" expected a number >= 1, got ${this.factor}`);
    this.jitter = options.jitter ?? 0.5;
    if (!(this.jitter >= 0 && this.jitter <= 1))
      throw new RangeError(`"jitter" expected a number in 0..1, got ${this.jitter}`);
    this.maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
    if (!(this.maxAttempts >= 1))
      throw new RangeError(`"maxAttempts" expected >= 1, got ${this.maxAttempts}`);
  }

  /** The delay before the next attempt, or null when `maxAttempts` failures happened. */
  next(minDelayMs = 0): number | null {
    if (this.attempts >= this.maxAttempts) return null;
    const base = Math.min(this.maxDelayMs, this.initialDelayMs * this.factor ** this.attempts);
    this.attempts++;
    const jittered = base * (1 - this.jitter * this.random());
    return Math.max(minDelayMs, Math.round(jittered));
  }

  reset(): void {
    this.attempts = 0;
  }
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`"${name}" expected a positive number, got ${v}`);
  return v;
}
