export type { RandomBytes } from './bytes.js';
export type { ChannelDatagram } from './channel-data.js';
export {
  CHANNEL_HEADER_LENGTH,
  CHANNEL_MAX,
  CHANNEL_MIN,
  decodeChannelData,
  encodeChannelData,
  isChannelData,
  isChannelNumber,
  MAX_CHANNEL_PAYLOAD,
  peekChannel,
  relayedPmtu,
  writeChannelHeader,
} from './channel-data.js';
export type { ChannelInfo } from './client-bindings.js';
export type {
  AcceptMessage,
  BoundMessage,
  CloseMessage,
  ConnectMessage,
  ControlHeader,
  ControlMessage,
  IncomingMessage,
  RefreshMessage,
  RejectMessage,
  RelayStatus,
  StatusMessage,
} from './control.js';
export {
  CONTROL_VERSION,
  ControlType,
  decodeControl,
  encodeControl,
  INSTANCE_ID_LENGTH,
  MAX_VOUCHER_BYTES,
  peekControlHeader,
} from './control.js';
export type { RelayErrorCode } from './errors.js';
export { RelayError } from './errors.js';
export type { CircuitLimits, ClientLimits, RelayLimits } from './limits.js';
export {
  CONNECT_VIA_CIRCUIT_LIMITS,
  DEFAULT_RELAY_LIMITS,
  NO_CIRCUIT_LIMITS,
  resolveRelayLimits,
  tighterLimits,
} from './limits.js';
export type {
  AdmissionPolicy,
  CircuitAdmission,
  CircuitRequest,
  ConnectViaPolicyOptions,
  GroupPolicyOptions,
  OpenPolicyOptions,
  PredicatePolicyOptions,
} from './policy.js';
export { allowListPolicy, connectViaPolicy, groupPolicy, openPolicy, predicatePolicy } from './policy.js';
export type { CloseReason, RejectReason, StatusCode } from './reasons.js';
export { CLOSE_REASONS, REJECT_REASONS, STATUS_CODES } from './reasons.js';
export type {
  AnnouncedLimits,
  ChannelCloseReason,
  RelayClientConfig,
  RelayClientEvent,
  RequestFailure,
} from './relay-client.js';
export { RelayClient } from './relay-client.js';
export type {
  RelayClientDropReason,
  RelayClientStats,
  RelayDropReason,
  RelayStats,
} from './relay-metrics.js';
export { RELAY_CLIENT_DROP_REASONS, RELAY_DROP_REASONS } from './relay-metrics.js';
export { RelayService, relayService } from './relay-service.js';
export type {
  ClientUpInfo,
  RelayEvent,
  RelayServiceComponents,
  RelayServiceConfig,
  RelayServiceFactory,
  RelayServiceInit,
  RelayTransmit,
} from './relay-service-api.js';
export { TokenBucket } from './token-bucket.js';
export type {
  CreateVoucherOptions,
  Voucher,
  VoucherCheck,
  VoucherErrorCode,
  VoucherExpectation,
  VoucherFields,
} from './voucher.js';
export {
  createVoucher,
  decodeVoucher,
  MAX_GROUP_LENGTH,
  MAX_VOUCHER_TTL_MS,
  VOUCHER_DOMAIN,
  VoucherNonceCache,
  verifyVoucher,
} from './voucher.js';
