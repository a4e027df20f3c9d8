/**
 * Orchestrator side of the JSON-lines channel for workers on this machine (loopback runs); the
 * NAT lab's LabProcess speaks the same protocol inside namespaces. Every wait is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type Msg = { t: string } & Record<string, unknown>;

/** The subset of natlab's LabProcess the benchmarks use (so one code path drives both). */
export interface WorkerHandle {
  send(msg: Record<string, unknown>): void;
  next(pred?: (m: Msg) => boolean, timeoutMs?: number): Promise<Msg>;
  kill(graceMs?: number): Promise<unknown>;
}

const isTs = import.meta.url.endsWith('.ts');

/** Absolute path of a worker script next to this module (src/workers/*.ts or dist/workers/*.js). */
export function workerPath(name: string): string {
  return fileURLToPath(new URL(`./workers/${name}.${isTs ? 'ts' : 'js'}`, import.meta.url));
}

/** Node flags a worker needs: from sources (vitest, tsx) through tsx with the "source" condition. */
export function workerNodeArgs(): string[] {
  return isTs ? ['--import', 'tsx', '--conditions=source'] : [];
}

export class LocalWorker implements WorkerHandle {
  readonly child: ChildProcess;
  private readonly queue: Msg[] = [];
  private readonly waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(
    script: string,
    args: readonly string[] = [],
    nodeArgs: readonly string[] = [],
    env: Record<string, string> = {},
  ) {
    this.child = spawn(process.execPath, [...workerNodeArgs(), ...nodeArgs, script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      let m: Msg;
      try {
        m = JSON.parse(line) as Msg;
      } catch {
        return;
      }
      const i = this.waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
      else this.queue.push(m);
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-16_384);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  send(msg: Record<string, unknown>): void {
    this.child.stdin?.write(`${JSON.stringify(msg)}\n`);
  }

  /** The first message matching `pred` (queued or future); rejects on timeout, exit or an error message. */
  next(pred: (m: Msg) => boolean = () => true, timeoutMs = 10_000): Promise<Msg> {
    const wanted = (m: Msg) => pred(m) || m.t === 'error';
    const i = this.queue.findIndex(wanted);
    const settle = (m: Msg) =>
      m.t === 'error' && !pred(m) ? Promise.reject(workerError(m)) : Promise.resolve(m);
    if (i >= 0) return settle(this.queue.splice(i, 1)[0] as Msg);
    return new Promise<Msg>((resolve, reject) => {
      let done = false;
      const w = {
        pred: wanted,
        resolve: (m: Msg) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          settle(m).then(resolve, reject);
        },
      };
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`worker timeout after ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      this.waiters.push(w);
      void this.exited.then((e) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`worker exited (${e.code ?? e.signal}); stderr: ${this.stderr.slice(-2000)}`));
      });
    });
  }

  /** Closes stdin (the worker exits by itself, writing any --cpu-prof profile), then SIGKILL after graceMs. */
  async kill(graceMs = 3000): Promise<unknown> {
    if (this.exitInfo) return this.exitInfo;
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }
}

function workerError(m: Msg): Error {
  const e = new Error(`worker error: ${String(m.message)}${m.code ? ` (${String(m.code)})` : ''}`);
  if (typeof m.stack === 'string') e.stack = `${e.message}\n  worker stack: ${m.stack}`;
  return e;
}
