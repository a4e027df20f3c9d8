// Child side of the JSON-lines channel (same protocol as @srmudp/natlab's LabProcess, so a worker
// runs unchanged on loopback and inside a lab namespace): one JSON object per line on stdout to
// the orchestrator, one per line on stdin from it. The orchestrator closing stdin ends the worker.
import { createInterface } from 'node:readline';

export type Msg = { t: string } & Record<string, unknown>;

export function send(msg: Msg): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

export function onMessage(handler: (m: Msg) => void | Promise<void>): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let msg: Msg;
    try {
      msg = JSON.parse(line) as Msg;
    } catch {
      return;
    }
    Promise.resolve(handler(msg)).catch((err: unknown) => fail(err));
  });
  rl.on('close', () => process.exit(0));
}

/** Reports an error to the orchestrator and exits non-zero. */
export function fail(err: unknown): never {
  const e = err as { message?: string; code?: string; stack?: string };
  send({ t: 'error', message: String(e?.message ?? err), code: e?.code ?? null, stack: e?.stack ?? null });
  process.stderr.write(`worker error: ${e?.stack ?? String(err)}\n`);
  process.exit(1);
}

/** CPU seconds (user + system) since `start` (a process.cpuUsage() value). */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

/** Peak resident set size of this process in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Monotonic milliseconds comparable across processes on one machine (performance.timeOrigin based). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
