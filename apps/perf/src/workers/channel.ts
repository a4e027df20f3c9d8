// Child side of the JSON-lines channel (same protocol as @srmudp/natlab's LabProcess, so a worker
// runs unchanged on loopback and inside a lab namespace): one JSON object per line on stdout to
// the orchestrator, one per line on stdin from it. The orchestrator closing stdin ends the worker.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
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

// CPU profile of the measured window only (start-up and module loading excluded): the V8 CPU
// profiler that `node --cpu-prof` uses, driven through node:inspector when PERF_CPU_PROFILE names
// the .cpuprofile file to write.
let profiler: Session | null = null;

export function startProfile(): void {
  if (!process.env.PERF_CPU_PROFILE || profiler) return;
  profiler = new Session();
  profiler.connect();
  profiler.post('Profiler.enable');
  profiler.post('Profiler.setSamplingInterval', { interval: 500 });
  profiler.post('Profiler.start');
}

export function stopProfile(): Promise<void> {
  const file = process.env.PERF_CPU_PROFILE;
  const s = profiler;
  if (!file || !s) return Promise.resolve();
  profiler = null;
  return new Promise((resolve, reject) => {
    s.post('Profiler.stop', (err, res) => {
      if (err) reject(err);
      else {
        writeFileSync(file, JSON.stringify(res.profile));
        s.disconnect();
        resolve();
      }
    });
  });
}
