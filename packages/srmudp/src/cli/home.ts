import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the command line keeps its files: `$SRMUDP_HOME`, else `~/.srmudp` (mode 0700): key
 * files (`<name>.key`, 0600), chat peers files, and `run/` with the control sockets of running
 * commands (`srmudp status`).
 */
export function srmudpHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.SRMUDP_HOME !== undefined && env.SRMUDP_HOME !== ''
    ? env.SRMUDP_HOME
    : join(homedir(), '.srmudp');
}

/** The directory, created 0700 when missing. */
export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The default key file of a name ('id' for `srmudp id`, the nickname for chat). */
export function defaultKeyFile(name: string): string {
  return join(ensureDir(srmudpHome()), `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.key`);
}

/** Directory of the control sockets (0700). */
export function runDir(): string {
  return ensureDir(join(ensureDir(srmudpHome()), 'run'));
}
