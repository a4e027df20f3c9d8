export type { Endpoint } from './address.js';
export {
  canonicalKey,
  endpointFamily,
  endpointKey,
  equivalentAddress,
  fromIpAddress,
  isPrivateAddress,
  normalizeAddress,
  sameEndpoint,
  toIpAddress,
} from './address.js';
export type { BirthdayParams, ResolvedBirthdayParams } from './birthday.js';
export {
  birthdayHitProbability,
  birthdayProbesFor,
  DEFAULT_BIRTHDAY,
  RandomPortSampler,
} from './birthday.js';
export { BirthdayProber, BirthdaySockets } from './birthday-roles.js';
export type { Candidate, CandidateType } from './candidate.js';
export { candidatePriority, localPreference, makeCandidate, TYPE_PREFERENCE } from './candidate.js';
export { DEFAULT_STUN_SERVERS } from './default-stun-servers.js';
export type {
  DialEvent,
  DialNext,
  DialOutcome,
  DialPlan,
  DialStats,
  DialVerdict,
  RemoteCandidate,
} from './dials.js';
export type {
  GatherEvent,
  GathererConfig,
  GathererStats,
  GatherFailureCode,
  GatherState,
} from './gatherer.js';
export { Gatherer } from './gatherer.js';
export type {
  GatheringEvent,
  GatheringState,
  NatErrorCode,
  NatStatus,
  NatTiming,
  ReflexiveCandidate,
  RegatherReason,
} from './gathering.js';
export { DEFAULT_NAT_TIMING } from './gathering.js';
export type { NatEvent, NatSessionConfig, NatSessionStats, NatSessionStatus } from './nat-session.js';
export { NatSession } from './nat-session.js';
export type {
  FilteringBehavior,
  MappingBehavior,
  MappingObservation,
  NatSummary,
  NatType,
  PunchPlan,
} from './nat-type.js';
export { classifyMapping, inferMapping, planPunch } from './nat-type.js';
export type {
  PortMappedResult,
  PortMappingErrorCode,
  PortMappingEvent,
  PortMappingProtocol,
  PortMappingState,
  PortMappingStatus,
  PortMappingTiming,
} from './port-mapping.js';
export { DEFAULT_PORT_MAPPING_TIMING, PortMapping } from './port-mapping.js';
export type {
  StunClientConfig,
  StunClientEvent,
  StunClientStats,
  StunErrorCode,
  StunRequestOptions,
  StunTiming,
} from './stun-client.js';
export { StunClient } from './stun-client.js';
export { encodeBindingRequest, isStun, transactionKey, tryDecodeBinding } from './stun-codec.js';
export type { BindingRequestInfo, BindingResponseParams, StunResponderOptions } from './stun-responder.js';
export {
  buildBindingError,
  buildBindingResponse,
  DEFAULT_SOFTWARE,
  handleStunRequest,
  parseBindingRequest,
} from './stun-responder.js';
export type { RandomBytes, Transmit } from './transmit.js';
