export { type Admission, admissionFromConfig } from './admission.js';
export { relayCandidates, relayCard } from './card.js';
export {
  loadRelayConfig,
  parseRelayConfig,
  type RelayConfig,
  type RelayConfigInput,
  relayConfigSchema,
  USAGE,
} from './config.js';
export { RelayServerError, type RelayServerErrorCode } from './errors.js';
export { type HopCarrier, HopTransport } from './hop-transport.js';
export { jsonLogger, type Logger, type LogLevel } from './log.js';
export { RateWindow, renderMetrics } from './metrics.js';
export { RelayEngine, type RelayEngineOptions } from './relay-engine.js';
export { runRelayCli } from './run.js';
export { createRelayServer, type RelayServer, type RelayServerOptions } from './server.js';
