export { canRunLab } from './can-run.js';
export { type Coturn, startCoturn } from './coturn.js';
export { LabError, type LabErrorCode } from './errors.js';
export {
  cleanStale,
  createLab,
  downPrefix,
  Lab,
  listNamespaces,
  type NatRebootResult,
  type SpawnOptions,
} from './lab.js';
export { type LabMessage, LabProcess, type LabProcessExit } from './node-process.js';
export type { RunOptions, RunResult } from './run.js';
export type {
  ExpectedBehaviour,
  Filtering,
  HostCheck,
  Mapping,
  MeasuredBehaviour,
  SelfCheckReport,
  SideCheck,
} from './self-check.js';
export {
  ADDR,
  COTURN_PORT,
  type HostName,
  type Impairment,
  type LabOptions,
  type LinkName,
  NAT_PROFILES,
  type NatProfile,
  type NodeName,
  REFLECTOR_PORTS,
  type RouterName,
  type RouterProfile,
  type Side,
  type SideOptions,
} from './types.js';
