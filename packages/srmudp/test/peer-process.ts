import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/peer.ts', import.meta.url));

export interface PeerMessage {
  type: string;
  [k: string]: unknown;
}

/** A srmudp node in a child process, talking JSON lines. Every wait is bounded. */
export class PeerProcess {
  private readonly lines: PeerMessage[] = [];
  private waiters: Array<() => void> = [];
  readonly stderr: string[] = [];
  private constructor(readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as PeerMessage);
      } catch {
        this.stderr.push(`(stdout) ${l}`);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr?.on('data', (d) => this.stderr.push(String(d)));
  }

  /** Starts `script` (default: fixtures/peer.ts) with `options` as JSON; waits for its 'ready'. */
  static async start(
    options: object,
    script: string = fixture,
    nodeFlags: string[] = [],
  ): Promise<{ peer: PeerProcess; ready: PeerMessage }> {
    const child = spawn(
      process.execPath,
      [...nodeFlags, '--import', 'tsx', '--conditions=source', script, JSON.stringify(options)],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const peer = new PeerProcess(child);
    const ready = await peer.next((m) => m.type === 'ready', 20_000);
    return { peer, ready };
  }

  /** Resolves with the first (unconsumed) message matching `pred`, or throws after `ms`. */
  async next(pred: (m: PeerMessage) => boolean, ms: number): Promise<PeerMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex(pred);
      if (i >= 0) return this.lines.splice(i, 1)[0] as PeerMessage;
      const err = this.lines.find((m) => m.type === 'error');
      if (err) throw new Error(`peer process error: ${JSON.stringify(err)}`);
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(`peer process: timed out or exited; stderr: ${this.stderr.join('').slice(-2000)}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Removes and returns the first buffered message matching `pred`, without waiting. */
  take(pred: (m: PeerMessage) => boolean): PeerMessage | undefined {
    const i = this.lines.findIndex(pred);
    return i >= 0 ? (this.lines.splice(i, 1)[0] as PeerMessage) : undefined;
  }

  send(cmd: object): void {
    this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.send({ type: 'close' });
    const exited = new Promise((r) => this.child.once('exit', r));
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
