import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { canRunLab } from '../src/can-run.js';
import type { Lab } from '../src/lab.js';
import type { LabMessage, LabProcess } from '../src/node-process.js';
import type { NodeName } from '../src/types.js';

export const LAB = canRunLab();
export const UDP_TOOL = fileURLToPath(new URL('../programs/udp-tool.mjs', import.meta.url));
export const PROGRAMS = fileURLToPath(new URL('../programs/', import.meta.url));

/**
 * Where the lab cannot run (no root, no netns), this test passes and says why, so the suite
 * stays green and the skip is visible in the output instead of silent.
 */
export function reportSkipWhenUnsupported(): void {
  if (LAB.ok) return;
  it('reports why the NAT lab suite does not run here', () => {
    console.warn(`natlab: lab tests not run on this machine: ${LAB.reason}`);
    expect(LAB.reason).toMatch(/.+/);
  });
}

export interface Tool {
  readonly proc: LabProcess;
  ask<T extends LabMessage>(msg: LabMessage & { t: string }, timeoutMs?: number): Promise<T>;
}

async function tool(lab: Lab, node: NodeName, args: string[]): Promise<Tool> {
  const proc = lab.spawnNode(node, UDP_TOOL, args);
  await proc.next((m) => m.t === 'ready', 10_000);
  return {
    proc,
    async ask<T extends LabMessage>(msg: LabMessage & { t: string }, timeoutMs = 15_000): Promise<T> {
      proc.send(msg);
      return proc.next<T>((m) => m.t === msg.t || m.t === 'error', timeoutMs);
    },
  };
}

/** UDP echo server (udp-tool echo) in a namespace. */
export function echoServer(lab: Lab, node: NodeName, ip: string, port: number): Promise<Tool> {
  return tool(lab, node, ['echo', ip, String(port)]);
}

/** udp-tool client in a namespace. */
export function client(lab: Lab, node: NodeName): Promise<Tool> {
  return tool(lab, node, ['client']);
}

export interface BurstResult extends LabMessage {
  sent: number;
  unique: number;
  dups: number;
  reordered: number;
  rtt: { min: number | null; median: number | null; max: number | null };
}
