/** The NAT lab pieces P2 and P3 share: can it run, and a LabProcess as a WorkerHandle. */
import type { Lab, LabProcess } from '@srmudp/natlab';
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
