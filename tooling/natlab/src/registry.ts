import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where each running lab records its owner pid, so leftovers of killed processes can be found. */
export const STATE_DIR = '/run/natlab';

export interface LabState {
  readonly prefix: string;
  readonly pid: number;
  readonly namespaces: readonly string[];
  readonly created: string;
  /** Kept on purpose after its owner exits (`keepOnExit`): only `down --prefix` removes it. */
  readonly keep?: boolean;
}

export function writeState(s: LabState): void {
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(join(STATE_DIR, `${s.prefix}.json`), `${JSON.stringify(s)}\n`);
}

export function removeState(prefix: string): void {
  rmSync(join(STATE_DIR, `${prefix}.json`), { force: true });
}

export function readStates(): LabState[] {
  let names: string[];
  try {
    names = readdirSync(STATE_DIR);
  } catch {
    return [];
  }
  const out: LabState[] = [];
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(readFileSync(join(STATE_DIR, n), 'utf8')) as LabState);
    } catch {
      // a half-written file: ignore
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Labs alive in this process; torn down synchronously on exit and on SIGINT/SIGTERM/SIGHUP. */
const live = new Set<{ downSync(): void }>();
let installed = false;

function downAll(): void {
  for (const lab of [...live]) {
    try {
      lab.downSync();
    } catch {
      // keep going: every lab gets its chance
    }
  }
  live.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  downAll();
  // Only this handler listening: restore the default action (terminate) by re-raising.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

export function registerLive(lab: { downSync(): void }): void {
  live.add(lab);
  if (installed) return;
  installed = true;
  process.on('exit', downAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, onSignal);
}

export function unregisterLive(lab: { downSync(): void }): void {
  live.delete(lab);
}
