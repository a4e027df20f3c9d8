import type { SrmudpNode } from '../src/index.js';

/** Polls `cond` every 10 ms until true; throws after `ms` with `what`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function allEstablished(node: SrmudpNode, names: string[]): boolean {
  const s = node.status();
  return names.every((n) => s[n]?.state === 'established');
}

export const text = (b: Uint8Array) => new TextDecoder().decode(b);
