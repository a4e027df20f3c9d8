export type { BirthdayParams, ResolvedBirthdayParams } from './birthday.js';
export {
  birthdayHitProbability,
  birthdayProbesFor,
  DEFAULT_BIRTHDAY,
  RandomPortSampler,
} from './birthday.js';
export type { Candidate, CandidatePair, CandidateType } from './candidate.js';
export {
  candidatePriority,
  comparePairs,
  formPairs,
  localPreference,
  makeCandidate,
  pairPriority,
  TYPE_PREFERENCE,
} from './candidate.js';
export type { Endpoint } from './endpoint.js';
export {
  endpointFamily,
  endpointKey,
  fromIpAddress,
  isPrivateAddress,
  normalizeAddress,
  sameEndpoint,
  toIpAddress,
} from './endpoint.js';
export type {
  GatherEvent,
  GathererConfig,
  GathererStats,
  GatherFailureCode,
  GatherState,
} from './gatherer.js';
export { Gatherer } from './gatherer.js';
export type { KeepaliveConfig, KeepaliveEvent, KeepaliveState } from './keepalive.js';
export { Keepalive } from './keepalive.js';
export type {
  FilteringBehavior,
  MappingBehavior,
  MappingObservation,
  NatSummary,
  NatType,
  PunchStrategy,
} from './nat-type.js';
export { classifyMapping, inferMapping, punchStrategy } from './nat-type.js';
export type {
  Probe,
  PunchEvent,
  PuncherConfig,
  PuncherStats,
  PunchFailureCode,
  PunchState,
} from './puncher.js';
export { Puncher } from './puncher.js';
export type {
  StunClientConfig,
  StunClientEvent,
  StunClientStats,
  StunErrorCode,
  StunRequestOptions,
  StunTiming,
} from './stun-client.js';
export { StunClient } from './stun-client.js';
export { isStun, transactionKey, tryDecodeBinding } from './stun-codec.js';
export type { BindingRequestInfo, BindingResponseParams, StunResponderOptions } from './stun-responder.js';
export {
  buildBindingError,
  buildBindingResponse,
  DEFAULT_SOFTWARE,
  handleStunRequest,
  parseBindingRequest,
} from './stun-responder.js';
export type { RandomBytes, Transmit } from './transmit.js';
