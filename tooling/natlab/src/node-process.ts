import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LabError } from './errors.js';
import { trace } from './run.js';

/** JSON value received from a lab process (one line of its stdout). */
export type LabMessage = Record<string, unknown>;

export interface LabProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A process running inside a lab namespace. Channel: every stdout line that parses as a JSON
 * object is a message; `send` writes one JSON line to its stdin. Other stdout lines and stderr
 * are kept (bounded) for diagnostics.
 */
export class LabProcess {
  readonly pid: number;
  /** Real namespace name. */
  readonly ns: string;
  /** Ends when the process has exited. */
  readonly exited: Promise<LabProcessExit>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: LabMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private errText = '';
  private outText = '';
  private exitInfo: LabProcessExit | undefined;

  /** @internal use {@link Lab.spawnNode} or {@link Lab.spawn}. */
  constructor(ns: string, argv: readonly string[], env: NodeJS.ProcessEnv) {
    this.ns = ns;
    // Spawned directly (no shell, no wrapper function): `ip netns exec` execs the program, so
    // this pid is the program itself and killing it stops it (NATLAB-NOTES pitfall 4).
    trace(`spawn ip netns exec ${ns} ${argv.join(' ')}`);
    this.child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'], env });
    if (this.child.pid === undefined)
      throw new LabError('LAB_SETUP_FAILED', `cannot spawn in ${ns}: ${argv.join(' ')}`);
    this.pid = this.child.pid;
    this.child.stdin.on('error', () => {});
    createInterface({ input: this.child.stdout }).on('line', (line) => this.onLine(line));
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.errText = (this.errText + d).slice(-16_384);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        for (const w of this.waiters) w();
        resolve(this.exitInfo);
      });
    });
  }

  /** Everything the process wrote to stderr (last 16 KiB). */
  get stderr(): string {
    return this.errText;
  }

  /** Non-JSON stdout lines (last 16 KiB). */
  get stdout(): string {
    return this.outText;
  }

  /** Exit status once exited, else undefined. */
  get exit(): LabProcessExit | undefined {
    return this.exitInfo;
  }

  /** Sends one JSON line to the process's stdin. */
  send(msg: unknown): void {
    if (this.exitInfo)
      throw new LabError('LAB_PROCESS_EXITED', `process ${this.pid} in ${this.ns} has exited`);
    this.child.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  /**
   * Resolves with the first message (already received or arriving within timeoutMs) that matches
   * predicate, and removes it from the queue. Rejects with LAB_TIMEOUT or LAB_PROCESS_EXITED.
   */
  next<T extends LabMessage = LabMessage>(
    predicate: (msg: LabMessage) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<T> {
    const take = (): T | undefined => {
      const i = this.queue.findIndex(predicate);
      if (i < 0) return undefined;
      return this.queue.splice(i, 1)[0] as T;
    };
    const found = take();
    if (found) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer); // an uncleared timer keeps Node alive (NATLAB-NOTES pitfall 5)
        this.waiters.delete(check);
      };
      const check = (): void => {
        const m = take();
        if (m) {
          finish();
          resolve(m);
        } else if (this.exitInfo) {
          finish();
          reject(
            new LabError(
              'LAB_PROCESS_EXITED',
              `process ${this.pid} in ${this.ns} exited (${this.exitInfo.code ?? this.exitInfo.signal}) before the awaited message; stderr: ${this.errText.slice(-2000)}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new LabError(
            'LAB_TIMEOUT',
            `no matching message from process ${this.pid} in ${this.ns} within ${timeoutMs} ms; stderr: ${this.errText.slice(-2000)}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Messages received and not yet taken by {@link next}. */
  pending(): readonly LabMessage[] {
    return this.queue.slice();
  }

  /** Stops the process: SIGTERM, then SIGKILL after graceMs; resolves once it has exited. */
  async kill(graceMs = 2_000): Promise<LabProcessExit> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, forced]);
    clearTimeout(timer);
    return this.exited;
  }

  /** Synchronous SIGKILL (exit handlers). */
  killNow(): void {
    if (!this.exitInfo) this.child.kill('SIGKILL');
  }

  private onLine(line: string): void {
    const t = line.trim();
    if (t.startsWith('{')) {
      try {
        const v: unknown = JSON.parse(t);
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
          this.queue.push(v as LabMessage);
          if (this.queue.length > 10_000) this.queue.shift();
          for (const w of this.waiters) w();
          return;
        }
      } catch {
        // not a message: keep as plain output
      }
    }
    this.outText = `${this.outText}${line}\n`.slice(-16_384);
  }
}
