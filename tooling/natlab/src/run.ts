import { spawn, spawnSync } from 'node:child_process';
import { LabError } from './errors.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin. */
  readonly input?: string;
  /** Kill the command after this many ms (default 10 000). */
  readonly timeoutMs?: number;
  /** Throw a LAB_SETUP_FAILED LabError on a non-zero exit (default true). */
  readonly check?: boolean;
}

/** `DEBUG=srmudp:natlab` (or `srmudp:*`) traces every command the lab runs, on stderr. */
const TRACE = /(^|,)\s*srmudp:(natlab|\*)\s*(,|$)/.test(process.env.DEBUG ?? '');

export function trace(what: string): void {
  if (TRACE) process.stderr.write(`srmudp:natlab ${what}\n`);
}

/** Runs argv (no shell) and collects its output; every run is bounded in time. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError('"argv" expected a non-empty array');
  trace(argv.join(' '));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new LabError('LAB_SETUP_FAILED', `${argv.join(' ')}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (signal === 'SIGKILL' && code === null) {
        reject(new LabError('LAB_TIMEOUT', `${argv.join(' ')}: no exit within ${timeoutMs} ms`));
      } else if (res.code !== 0 && opts.check !== false) {
        reject(new LabError('LAB_SETUP_FAILED', `${argv.join(' ')} exited ${res.code}: ${stderr.trim()}`));
      } else resolve(res);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Synchronous twin of {@link run}, for exit handlers (which cannot await). Never throws. */
export function runSync(
  argv: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): RunResult {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError('"argv" expected a non-empty array');
  trace(argv.join(' '));
  const r = spawnSync(cmd, args, {
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 10_000,
  });
  return {
    code: r.status ?? 1,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? (r.error ? String(r.error) : ''),
  };
}
