// Shared test data of the report tests.
import type { MachineInfo } from '../src/machine.js';

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
