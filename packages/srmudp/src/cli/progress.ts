import { SingleBar } from 'cli-progress';
import { formatBytes, formatDuration, formatRate } from './format.js';

/**
 * Progress of a transfer on stderr: a bar (bytes, rate, ETA) on a terminal, otherwise one line per
 * `intervalMs` (`progress <done>/<total> bytes (…, 42%) 9.8 MiB/s ETA 2s`), which logs and tests read.
 */
export class ProgressReporter {
  private bar: SingleBar | null = null;
  private lastLine = Number.NEGATIVE_INFINITY;
  private readonly t0 = performance.now();

  constructor(
    private readonly total: number,
    private readonly start: number,
    private readonly intervalMs = 1000,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    if (out.isTTY === true) {
      this.bar = new SingleBar({
        format: '[{bar}] {percentage}% | {doneText} / {totalText} | {rateText} | ETA {etaText}',
        barsize: 30,
        hideCursor: true,
        stream: out,
      });
      this.bar.start(total, start, {
        doneText: formatBytes(start),
        totalText: formatBytes(total),
        rateText: '',
        etaText: '--',
      });
    }
  }

  /** `done` bytes of `total` are there now. */
  update(done: number): void {
    const elapsed = performance.now() - this.t0;
    const rate = ((done - this.start) * 1000) / Math.max(elapsed, 1);
    const eta = rate > 0 ? (this.total - done) / rate : Number.POSITIVE_INFINITY;
    if (this.bar) {
      this.bar.update(done, {
        doneText: formatBytes(done),
        rateText: formatRate(rate),
        etaText: formatDuration(eta),
      });
      return;
    }
    if (elapsed - this.lastLine < this.intervalMs && done < this.total) return;
    this.lastLine = elapsed;
    this.out.write(
      `progress ${done}/${this.total} bytes (${formatBytes(done)}, ${Math.floor((done * 100) / Math.max(this.total, 1))}%) ` +
        `${formatRate(rate)} ETA ${formatDuration(eta)}\n`,
    );
  }

  /** Ends the bar (the cursor back, the line finished). */
  stop(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }
}
