export { canRunLab } from './can-run.js';
export {
  type Coturn,
  type CoturnOptions,
  type Rfc5780Check,
  rfc5780Problems,
  type StunProbeAnswer,
  startCoturn,
} from './coturn.js';
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
export { type Miniupnpd, type MiniupnpdOptions, startMiniupnpd, UPNP_EXTERNAL_IP } from './miniupnpd.js';
export { type LabMessage, LabProcess, type LabProcessExit } from './node-process.js';
export type { RunOptions, RunResult } from './run.js';
export type {
  Expected6,
  ExpectedBehaviour,
  Filtering,
  Host6Check,
  HostCheck,
  Mapping,
  Measured6,
  MeasuredBehaviour,
  SelfCheckReport,
  SideCheck,
} from './self-check.js';
export {
  ADDR,
  ADDR6,
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
  V6_PROFILES,
  type V6Profile,
} from './types.js';
