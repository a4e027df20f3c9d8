// Network helpers for tests and benches alike: no vitest import here.
import type { SrmudpNode } from '../src/index.js';

/** Drops every datagram `n` sends to `port` (no direct path from it there); returns the undo. */
export function blockTo(n: SrmudpNode, port: number): () => void {
  const t = n.transport;
  const { send, sendUrgent } = t;
  t.send = (data, host, p) => (p === port ? true : send.call(t, data, host, p));
  t.sendUrgent = (data, host, p) => (p === port ? true : sendUrgent.call(t, data, host, p));
  return () => {
    t.send = send;
    t.sendUrgent = sendUrgent;
  };
}
