import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  platform: string;
  loadAverageAtStart: [number, number, number];
  /** cpu cgroup quota in cores when the process is limited below the visible cores */
  cpuQuota: number | null;
  startedAt: string;
}

/** The machine the report was measured on (load average taken now: call it before any benchmark). */
export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  const la = os.loadavg();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    platform: `${process.platform}-${process.arch}`,
    loadAverageAtStart: [round2(la[0] ?? 0), round2(la[1] ?? 0), round2(la[2] ?? 0)],
    cpuQuota: cgroupQuota(),
    startedAt: new Date().toISOString(),
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function cgroupQuota(): number | null {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota === undefined || quota === 'max' || period === undefined) return null;
    return Number(quota) / Number(period);
  } catch {
    return null;
  }
}

export interface SourceInfo {
  commit: string | null;
  /** files under packages/ that differ from the commit (the run measured them as they were) */
  uncommitted: string[];
}

/** The commit the measured code comes from, and any uncommitted package files. */
export function describeSource(): SourceInfo {
  const cwd = fileURLToPath(new URL('../../../', import.meta.url));
  const git = (args: string[]) =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const commit = git(['rev-parse', '--short=12', 'HEAD']).trim();
    const uncommitted = git(['status', '--porcelain', '--', 'packages'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    return { commit, uncommitted };
  } catch {
    return { commit: null, uncommitted: [] };
  }
}
