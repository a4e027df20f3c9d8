export { parsePeerId, peerIdToString } from '@srmudp/crypto';
export type {
  BackendCapabilities,
  PublishOptions,
  PublishResult,
  RecordKey,
  RendezvousBackend,
  ResolveOptions,
  Signer,
} from './backend.js';
export { checkRecordKey, createSigner, isRendezvousBackend, RENDEZVOUS_BACKEND } from './backend.js';
export { fromBase64Url, toBase64Url } from './bytes.js';
export type { ContactCard, ParsedCard } from './card.js';
export {
  appTagProblem,
  CARD_PREFIX,
  CARD_VERSION,
  encodeCard,
  MAX_CARD_INPUT,
  MAX_CARD_LENGTH,
  parseCard,
} from './card.js';
export type { CardLine } from './card-lines.js';
export { CardLines, looksLikeCardFragment, looksLikeCardStart, MIN_FRAGMENT_LENGTH } from './card-lines.js';
export type { BackendErrorCode, RecordErrorCode, RendezvousErrorCode } from './errors.js';
export { isRendezvousError, RendezvousError, throwIfAborted } from './errors.js';
export { canonicalIP, formatIP, parseIPv4, parseIPv6 } from './ip.js';
export type { Locator, LocatorCheck } from './locator.js';
export {
  httpOrigin,
  locatorKey,
  MAX_CARD_LOCATORS,
  MAX_DHT_SALT_BYTES,
  MAX_LOCATOR_PARAMS,
  MAX_LOCATOR_STRING_BYTES,
  normalizeLocator,
} from './locator.js';
export { cleanName, cleanText, MAX_NAME_BYTES, nameProblem } from './name.js';
export type { RendezvousStats } from './operations.js';
export type { BackendPublishStatus, CandidateUpdate, PublishReport } from './publisher.js';
export type {
  Candidate,
  CandidateKind,
  DecodedRecord,
  Gate,
  HomeRelay,
  PeerRecord,
  VerifyOptions,
} from './record.js';
export {
  DEFAULT_CLOCK_SKEW_MS,
  decodeRecord,
  EXT_HOME_RELAY,
  encodeRecord,
  encodeRecordBody,
  homeRelayUrlProblem,
  MAX_RECORD_SIZE,
  MAX_RELAY_URL_BYTES,
  publicKeyOf,
  RECORD_SIGNATURE_DOMAIN,
  RECORD_VERSION,
  RECORD_VERSION_EXTENDED,
  SIGNATURE_SIZE,
  signRecord,
  verifyRecord,
} from './record.js';
export { RecordCache } from './record-cache.js';
export type { RendezvousOptions } from './rendezvous.js';
export { Rendezvous } from './rendezvous.js';
export type { ResolveResult, ResolveTarget } from './resolver.js';
export { nextSequence } from './sequence.js';
export { SequencedStore } from './sequenced-store.js';
export { linkSignals, sleep } from './sleep.js';
export type { WatchOptions } from './watch.js';
