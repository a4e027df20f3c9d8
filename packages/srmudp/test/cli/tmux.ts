import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const tsx = pathToFileURL(createRequire(`${root}package.json`).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const q = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;

/** Fails loudly (not a skip) when tmux is missing: CI installs it. */
export function requireTmux(): void {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(
      `tmux is required for the terminal end-to-end tests (apt-get install tmux): ${String(e).split('\n')[0]}`,
    );
  }
}

/** One private tmux server (own socket name) holding one session per chat user. */
export class Tmux {
  readonly socket = `srmudp-chat-${process.pid}-${randomBytes(4).toString('hex')}`;

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], {
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 10_000,
    });
  }

  /** Starts `srmudp chat <args>` in a detached 250x50 session named after the user. */
  startChat(session: string, args: string[], env: Record<string, string> = {}): void {
    this.startCli(session, ['chat', ...args], env);
  }

  /** Starts `srmudp <args>` (from the sources) in a detached 250x50 session. */
  startCli(session: string, args: string[], env: Record<string, string> = {}): void {
    this.startShell(session, `exec ${this.command(args, env)}`);
  }

  /** The shell command line running `srmudp <args>` with extra environment variables. */
  command(args: string[], env: Record<string, string> = {}): string {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${q(v)}`);
    const cmd = [process.execPath, '--import', tsx, '--conditions=source', main, ...args].map(q);
    return [...(vars.length > 0 ? ['env', ...vars] : []), ...cmd].join(' ');
  }

  /** Starts a shell command line in a detached 250x50 session (an interactive sh when empty). */
  startShell(session: string, line?: string): void {
    this.tmux('new-session', '-d', '-s', session, '-x', '250', '-y', '50', ...(line ? [line] : ['sh']));
  }

  /** The screen with its colours (escape sequences kept). */
  screenWithEscapes(session: string): string {
    try {
      return this.tmux('capture-pane', '-p', '-e', '-J', '-S', '-2000', '-t', session);
    } catch {
      return '';
    }
  }

  /** Sends keys as tmux names them ('C-c', 'C-d', 'Enter'). */
  keys(session: string, ...keys: string[]): void {
    this.tmux('send-keys', '-t', session, ...keys);
  }

  /** The whole screen plus scrollback, wrapped lines joined. '' once the session is gone. */
  screen(session: string): string {
    try {
      return this.tmux('capture-pane', '-p', '-J', '-S', '-2000', '-t', session);
    } catch {
      return '';
    }
  }

  type(session: string, text: string): void {
    // '--': a card may start with '-' (base64url), which tmux would take for a flag
    this.tmux('send-keys', '-t', session, '-l', '--', text);
    this.tmux('send-keys', '-t', session, 'Enter');
  }

  pid(session: string): number {
    return Number(this.tmux('display-message', '-p', '-t', session, '#{pane_pid}').trim());
  }

  /** Waits (bounded) until the session's screen satisfies `test`; returns the screen. */
  async waitFor(
    session: string,
    test: RegExp | ((screen: string) => boolean),
    ms: number,
    what: string,
  ): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const s = this.screen(session);
      if (typeof test === 'function' ? test(s) : test.test(s)) return s;
      if (Date.now() > end) {
        throw new Error(`timed out after ${ms} ms waiting for ${what} on ${session}'s screen:\n${s}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  killServer(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
  }
}
