// Shared test data of the report tests.
import type { MachineInfo } from '../src/machine.js';
import type { Report } from '../src/report.js';

/** A machine description for reports built in tests (no figure depends on it). */
export const TEST_MACHINE: MachineInfo = {
  cpuModel: 'cpu',
  cores: 2,
  memoryGiB: 1,
  node: 'v20',
  kernel: 'Linux',
  platform: 'linux-x64',
  loadAverageAtStart: [0, 0, 0],
  cpuQuota: null,
  startedAt: '2026-01-01T00:00:00.000Z',
};

/** A report with nothing measured, for the rendering tests to fill in. */
export function emptyReport(): Report {
  return {
    schema: 'srmudp-perf/1',
    generatedAt: '2026-01-01T00:00:00.000Z',
    mode: 'quick',
    command: 'test',
    wallSeconds: 1,
    machine: TEST_MACHINE,
    summary: [],
    p1: null,
    profile: null,
    handshakeProfile: null,
    p2: null,
    p3: null,
    p4: null,
    python: null,
    notMeasured: [],
  };
}
