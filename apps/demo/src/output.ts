import { SingleBar } from 'cli-progress';

export type Output = (line: string) => void;

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s (${((bytesPerSecond * 8) / 1e6).toFixed(0)} Mbit/s)`;
}

/** Left-aligned columns. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** A live bar on a TTY (cli-progress); otherwise a line per quarter, so logs stay short. */
export function progressBar(out: Output, total: number, tty: boolean) {
  if (tty) {
    const bar = new SingleBar({
      format: '   [{bar}] {percentage}% {done} {rate}',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
    });
    bar.start(total, 0, { done: formatBytes(0), rate: '' });
    return {
      update(n: number, ms: number) {
        bar.update(n, { done: formatBytes(n), rate: formatRate((n * 1000) / Math.max(ms, 1)) });
      },
      done(n: number, ms: number) {
        this.update(n, ms);
        bar.stop();
      },
    };
  }
  let next = 0.25;
  return {
    update(n: number, ms: number) {
      while (n / total >= next && next < 1) {
        out(`   ${Math.round(next * 100)}%  ${formatBytes(n)}  ${formatRate((n * 1000) / Math.max(ms, 1))}`);
        next += 0.25;
      }
    },
    done(_n: number, _ms: number) {},
  };
}
