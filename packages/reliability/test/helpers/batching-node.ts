import type { Address, SimNode, Transmit } from '@srmudp/sim';

/**
 * Models a host whose event loop handles datagrams in batches, the way a Node process does: the
 * socket is read only when the loop wakes (every `periodMs`, on a fixed grid), up to `maxBatch`
 * datagrams per wake-up, and the protocol is driven once per batch, so one ACK covers the whole
 * batch. The sender then sees ACKs arrive aggregated: nothing for a period, then a whole period's
 * worth of data acknowledged at once (the ACK aggregation BBR's extra_acked term is for).
 * Timers of the wrapped node still fire on time; only the reading of datagrams is batched.
 */
export class BatchingNode implements SimNode {
  private queue: { from: Address; to: Address; data: Uint8Array }[] = [];
  private wake: number | null = null;
  /** batches handled and the largest batch, for test diagnostics */
  batches = 0;
  largestBatch = 0;

  constructor(
    readonly inner: SimNode,
    readonly periodMs: number,
    readonly maxBatch = 32,
  ) {
    if (!(periodMs > 0)) throw new RangeError(`"periodMs" expected a positive number, got ${periodMs}`);
  }

  handle(now: number, from: Address, to: Address, data: Uint8Array): void {
    this.queue.push({ from, to, data });
    // the next wake-up of the loop on the grid (strictly later: this one is already running)
    if (this.wake === null) this.wake = (Math.floor(now / this.periodMs) + 1) * this.periodMs;
  }

  handleTimeout(now: number): void {
    if (this.wake !== null && now >= this.wake) {
      const n = Math.min(this.queue.length, this.maxBatch);
      const batch = this.queue.splice(0, n);
      for (const d of batch) this.inner.handle(now, d.from, d.to, d.data);
      this.batches++;
      if (n > this.largestBatch) this.largestBatch = n;
      // a full batch leaves the rest for the next loop iteration, which runs at once
      this.wake = this.queue.length > 0 ? now : null;
    }
    const t = this.inner.pollTimeout();
    if (t !== null && t <= now) this.inner.handleTimeout(now);
  }

  pollTransmit(now: number): Transmit | null {
    return this.inner.pollTransmit(now);
  }

  pollTimeout(): number | null {
    const t = this.inner.pollTimeout();
    if (this.wake === null) return t;
    return t === null ? this.wake : Math.min(t, this.wake);
  }
}
