/** The NAT lab pieces P2 and P3 share: can it run, and a LabProcess as a WorkerHandle. */
import { canRunLab, createLab, type Lab, type LabProcess } from '@srmudp/natlab';
import { type Msg, type WorkerHandle, workerPath } from './proc.js';

export function labWorker(
  lab: Lab,
  node: Parameters<Lab['spawnNode']>[0],
  name: string,
  args: string[],
): WorkerHandle {
  const p: LabProcess = lab.spawnNode(node, workerPath(name), args);
  return {
    send: (msg) => p.send(msg),
    next: async (pred = () => true, timeoutMs = 10_000) => {
      const m = (await p.next(
        (x) => (x as Msg).t === 'error' || pred(x as Msg),
        timeoutMs,
      )) as unknown as Msg;
      if (m.t === 'error' && !pred(m)) throw new Error(`worker error in ${node}: ${String(m.message)}`);
      return m;
    },
    kill: (graceMs) => p.kill(graceMs),
  };
}

/**
 * Runs `measure` in a fresh, self-checked eim × eim lab that is always taken down. When the lab
 * cannot run here or fails, returns `base` with the reason instead (a figure not measured).
 */
export async function inEimLab<T extends { reason?: string | null }>(
  base: T,
  measure: (lab: Lab) => Promise<T>,
): Promise<T> {
  const can = canRunLab();
  if (!can.ok) return { ...base, reason: `NAT lab cannot run here: ${can.reason ?? 'unknown reason'}` };
  const lab = createLab({ A: 'eim', B: 'eim' });
  try {
    await lab.up();
    await lab.selfCheck();
    return await measure(lab);
  } catch (err) {
    return { ...base, reason: `NAT lab failed: ${String((err as Error).message ?? err)}` };
  } finally {
    await lab.down();
  }
}
