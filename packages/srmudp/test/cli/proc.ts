import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const tsx = pathToFileURL(createRequire(`${root}package.json`).resolve('tsx')).href;
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** `srmudp` from the sources: node with tsx and the workspace's source condition. */
export const SRMUDP = [process.execPath, '--import', tsx, '--conditions=source', MAIN];

/** `srmudp <args>` from src/ in a child process (tsx, workspace sources), its output collected. */
export class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;

  constructor(
    args: string[],
    cwd?: string,
    options: { stdin?: string | 'pipe'; env?: NodeJS.ProcessEnv; stdout?: 'pipe' | 'ignore' } = {},
  ) {
    this.child = spawn(SRMUDP[0] as string, [...SRMUDP.slice(1), ...args], {
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', options.stdout ?? 'pipe', 'pipe'],
      ...(cwd ? { cwd } : {}),
      env: { ...process.env, ...options.env },
    });
    this.child.stdout?.on('data', (d) => {
      this.stdout += String(d);
    });
    this.child.stderr?.on('data', (d) => {
      this.stderr += String(d);
    });
    if (options.stdin !== undefined && options.stdin !== 'pipe') this.child.stdin?.end(options.stdin);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
  }

  get output(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr}`;
  }

  /** Waits until `test` matches stdout+stderr (bounded); returns the match. */
  async waitFor(
    test: RegExp | ((p: Proc) => boolean),
    ms: number,
    what: string,
  ): Promise<RegExpMatchArray | null> {
    const end = Date.now() + ms;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    for (;;) {
      if (typeof test === 'function') {
        if (test(this)) return null;
      } else {
        const m = (this.stdout + this.stderr).match(test);
        if (m) return m;
      }
      if (exited) throw new Error(`process exited while waiting for ${what}\n${this.output}`);
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Exit code within `ms`, else kill and throw. */
  async exit(ms: number): Promise<number | null> {
    const t = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
    const r = await Promise.race([this.exited, t]);
    if (r === 'timeout') {
      this.kill();
      throw new Error(`process did not exit within ${ms} ms\n${this.output}`);
    }
    return r.code;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}
