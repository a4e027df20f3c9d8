/**
 * The contract between @srmudp/core (sans-IO endpoint) and its drivers (the srmudp façade, tests in
 * @srmudp/sim). `Endpoint` in endpoint.ts implements `EndpointApi`. Everything here is pure data
 * and methods: no I/O, time comes in as `now` (monotonic ms), randomness from `config.random`.
 */
import type { CryptoBackend, Identity } from '@srmudp/crypto';
import type { CongestionChoice } from '@srmudp/reliability';
import type { Address } from '@srmudp/wire';
import type { CoreError } from './errors.js';
import type { RelayOptions } from './relays.js';

/** A UDP endpoint: @srmudp/wire's one address type, re-exported for the contract's users. */
export type { Address } from '@srmudp/wire';

/**
 * How packets of a connection currently travel: straight to a UDP address, or through a relay
 * (a gate, a connect-via peer): `via` is the relay's peer id, `channel` our channel number on it,
 * `address` the route's handle (`relay.<via hex>`, port = channel), which is not a network address.
 */
export type PathInfo =
  | { kind: 'direct'; address: Address }
  | { kind: 'relayed'; via: Uint8Array; channel: number; address: Address };

/** Why a connection's active path changed (see the `path_changed` event). */
export type PathChangeReason = 'migration' | 'upgrade' | 'fallback';

/** Congestion control: a built-in controller by name (a shorthand), or any factory. */
export type { CongestionChoice, CongestionControllerFactory, CongestionName } from '@srmudp/reliability';

export interface EndpointLimits {
  /** established + handshaking connections (default 4096) */
  maxConnections?: number;
  /**
   * responder-side handshakes awaiting completion (half-open XX, IK awaiting key confirmation);
   * when full, the oldest is evicted, those that came without a cookie first (default 1024).
   * Per source address at most 4, per /24 or /64 prefix at most max(4, min(64, this / 4)).
   */
  maxPendingHandshakes?: number;
  /**
   * handshake initiations per second, not counting those whose initiator confirmed our answer
   * (which proves its address, as a cookie would), above which the responder is under load: it
   * then answers initiations without a valid cookie MAC (mac2) with a stateless cookie reply,
   * before any Diffie-Hellman, and rate-limits the others per source (default 64; 0 = always).
   * A flood of forged initiations counts in full; a burst of real peers only while in flight.
   */
  cookieThreshold?: number;
  /** bytes of send + receive buffering per connection (default 16 MiB) */
  maxBufferedBytesPerConnection?: number;
}

export interface EndpointConfig {
  /** Ed25519 identity (from @srmudp/crypto): public key = peer id; X25519 keys derived from it. */
  identity: Identity;
  /** cryptographically secure random bytes (driver passes crypto.getRandomValues-based) */
  random: (length: number) => Uint8Array;
  /** @srmudp/crypto backend (noble by default; the façade passes crypto-node's). */
  cryptoBackend?: CryptoBackend;
  /**
   * A monotonic clock in ms (the façade passes `performance.now`), read only to time the
   * handshakes we answer: under load their rate is capped at a share of the thread at that
   * measured cost (@srmudp/crypto's handshake-guard). Without it a fixed cost is assumed.
   */
  workClock?: () => number;
  /**
   * The caller hands each datagram passed to `handle` over and never reads it again (the façade:
   * node:dgram gives a fresh buffer per datagram): data packets are decrypted in place, into the
   * datagram (@srmudp/crypto's `openInPlace`). Default false: `handle` leaves the bytes as they were.
   */
  ownsDatagrams?: boolean;
  /**
   * congestion control per path: 'bbr' (reliability's default), 'cubic', 'newreno', or a
   * `CongestionControllerFactory` (called once per path, with a fresh controller for each)
   */
  congestion?: CongestionChoice;
  /**
   * Who may connect to us. Default: everyone (the app still sees the key). `allow` = allow-list of
   * peer ids; `policy` decides per remote key (runs before the handshake completes). A peer may
   * present either form of its id (the sign bit flipped, crypto's `samePeer`): a deny-list in
   * `policy` compares with `samePeer` or keys its set by `peerIdentityHex`, never byte for byte.
   */
  accept?: { allow?: Uint8Array[]; policy?: (remoteKey: Uint8Array, from: Address) => boolean };
  limits?: EndpointLimits;
  /** ms; defaults documented in the core README */
  keepaliveMs?: number;
  idleTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /**
   * Relays (relays.ts): `serve` makes this endpoint a relay for its peers (a gate, connect-via)
   * with the service built by @srmudp/relay's `relayService({ policy, limits? })`;
   * `acceptCircuit` judges circuits opened to us.
   */
  relay?: RelayOptions;
  /** answer STUN binding requests on this socket (default true) */
  stunResponder?: boolean;
  /**
   * wall-clock ms (since 1970) minus `now`: stamps our IK initiations so that a responder refuses
   * replays of them, also after this process restarts (`performance.timeOrigin` when `now` is
   * `performance.now()`; default 0, right for a virtual clock)
   */
  wallClockOffsetMs?: number;
  /**
   * Component logs, one sink per layer, each silent when absent (the Node façade passes the
   * `srmudp:core`, `srmudp:crypto` and `srmudp:reliability` loggers that DEBUG enables). Only rare
   * events are logged (handshakes, paths, loss bursts, PMTU, closes), so an absent sink costs a
   * null check; peers appear as the 12-character prefix of their peer id, keys and payload never.
   * Core prefixes each connection's reliability lines with `#<connection id> <peer prefix>`.
   */
  log?: EndpointLogs;
}

/** A log sink: one line of text (no newline) per call. */
export type LogSink = (message: string) => void;

/** {@link EndpointConfig.log}: a sink per component. */
export interface EndpointLogs {
  core?: LogSink;
  crypto?: LogSink;
  reliability?: LogSink;
}

export interface ConnectTarget {
  /** known candidate addresses of the peer (host / reflexive), tried in parallel (may be empty with `relays`) */
  addresses: Address[];
  /**
   * relays to reach the peer through as well (needs `remoteKey`): peers we have an established
   * connection with that serve as relays (a gate, a connect-via peer). Each is asked for a
   * circuit; a bound circuit becomes one more candidate route of the handshake, and a relayed
   * path of the connection (the lowest tier: a direct path that validates later replaces it).
   * `voucher`: the requester's signed voucher (@srmudp/relay's createVoucher), for connect-via.
   */
  relays?: { key: Uint8Array; voucher?: Uint8Array }[];
  /** responder's peer id: IK when present, XX (trust on first use) when absent */
  remoteKey?: Uint8Array;
}

export type ConnectionState = 'handshaking' | 'established' | 'closing' | 'closed';

export interface ConnectionStats {
  state: ConnectionState;
  path: PathInfo | null;
  /** smoothed RTT; 333 ms (RFC 9002's initial RTT) until {@link rttMeasured} */
  rttMs: number;
  /** the RTT has been measured (a handshake seed or an acknowledged packet) */
  rttMeasured: boolean;
  minRttMs: number;
  lossRate: number;
  cwnd: number;
  bytesInFlight: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  pmtu: number;
  /** datagrams dropped for this connection, by reason */
  drops: Record<string, number>;
}

export type EndpointEvent =
  /**
   * a connection finished its handshake (initiated by us: `outgoing`; else incoming). Handed out
   * only while the connection is established: one that closed before this event was polled is
   * never announced (a dial of it ends in 'connect_failed' `CLOSED`, an incoming one in no event)
   */
  | { type: 'connected'; id: number; remoteKey: Uint8Array; outgoing: boolean; path: PathInfo }
  /**
   * a dial failed: its handshake, or it closed before its 'connected' was polled (`CLOSED`, the
   * close's `{ code, reason, remote, successor }` in `error.cause`: `ClosedWhileConnecting`;
   * `successor`: the restarted peer's new connection that replaced it, announced next)
   */
  | { type: 'connect_failed'; id: number; error: CoreError }
  /** an announced connection closed: exactly once after its 'connected', never without one */
  | { type: 'closed'; id: number; code: number; reason: string; remote: boolean }
  /**
   * the connection is gone: its closing period is over and the endpoint forgot it, so
   * `connection(id)` is undefined from now on. Follows its 'closed' (at once after an abrupt
   * close); a connection that was never announced ('connected') has none. Until then its session still carries
   * what arrives late (a relay keeps a closing hop up until it is gone).
   */
  | { type: 'gone'; id: number }
  /**
   * the connection moved to another path (`path.kind` says direct or relayed): a NAT rebinding or
   * network change of the peer (`migration`), a better path validated in the background
   * (`upgrade`: IPv6 over IPv4, direct over relayed), or the previous path after the active one
   * died (`fallback`). Streams, messages and packet numbers carry on.
   */
  | { type: 'path_changed'; id: number; path: PathInfo; reason: PathChangeReason }
  /**
   * the active path stopped working (no answer for 3 probe timeouts, or the network reports it
   * unreachable): re-gather candidates (the NAT session's `regather('path_lost')`). A
   * `path_changed` follows when another validated path takes over; else the connection keeps
   * trying until its idle timeout.
   */
  | { type: 'path_lost'; id: number; path: PathInfo }
  | { type: 'stream_opened'; id: number; streamId: number }
  | { type: 'readable'; id: number; streamId: number }
  | { type: 'writable'; id: number; streamId: number }
  | { type: 'stream_finished'; id: number; streamId: number }
  | { type: 'stream_reset'; id: number; streamId: number; code: number }
  | { type: 'message'; id: number; data: Uint8Array; unordered: boolean }
  /** the message send buffer has room again after sendMessage returned false */
  | { type: 'message_writable'; id: number }
  | { type: 'datagram'; id: number; data: Uint8Array }
  /**
   * a CONTROL message of the punch-coordination protocol (`ControlProtocol.Punch`) from the peer
   * (its protocol byte removed): the NAT driver's, never the application's. Sent with
   * `CoreEndpoint.sendPunch`.
   */
  | { type: 'punch'; id: number; data: Uint8Array }
  /** STUN message not consumed by the endpoint's responder (e.g. a reply to the driver's client) */
  | { type: 'stun'; from: Address; data: Uint8Array };

export interface Transmit {
  to: Address;
  data: Uint8Array;
}

export interface ConnectionApi {
  readonly id: number;
  /** peer id of the remote (known once established; the dialled key for IK before that) */
  readonly remoteKey: Uint8Array | null;
  readonly state: ConnectionState;
  readonly path: PathInfo | null;
  openStream(): number;
  /** returns bytes accepted (0 = buffer full: wait for 'writable') */
  write(streamId: number, data: Uint8Array): number;
  finish(streamId: number): void;
  /**
   * Up to `max` bytes in order; null when nothing is buffered now. Takes `now`: reading frees
   * receive window, and whether the window grows depends on the time (no cached clocks).
   */
  read(now: number, streamId: number, max?: number): Uint8Array | null;
  reset(streamId: number, code: number): void;
  /**
   * Whole-or-nothing message; throws RangeError over the message size limit. Returns false (and
   * queues nothing) while the connection's message send buffer is full: retry after the
   * 'message_writable' event. (Backpressure: a sender cannot make us buffer without limit.)
   */
  sendMessage(data: Uint8Array, opts?: { unordered?: boolean }): boolean;
  /** unreliable; false when dropped (too big or no room), counted */
  sendDatagram(data: Uint8Array): boolean;
  /**
   * A CONTROL message (frame 0x1d: reliable, ordered, never delivered to the application; its
   * first byte names the protocol, `ControlProtocol`). For a relay service outside core
   * (`RelayOptions.external`); false when it cannot be queued now.
   */
  sendControl(data: Uint8Array): boolean;
  /**
   * Graceful close at `now`: data written so far is sent and acknowledged first (bounded:
   * max(3 PTO, 2 s), at most 10 s), then CLOSE. `EndpointApi.close` closes at once instead.
   */
  close(now: number, code?: number, reason?: string): void;
  stats(): ConnectionStats;
}

export interface EndpointStats {
  /** established or closing connections */
  connections: number;
  /** our outgoing connections still handshaking */
  handshaking: number;
  /** responder handshakes awaiting completion (half-open XX, IK awaiting key confirmation) */
  pendingHandshakes: number;
  /** initiations answered with Diffie-Hellman work (every other initiation cost at most MACs) */
  initiationsProcessed: number;
  cookieRepliesSent: number;
  /** pending responder handshakes evicted to admit newer ones */
  pendingEvicted: number;
  /** what one answered initiation costs (ms): measured with `workClock`, else assumed */
  handshakeCostMs: number;
  /** under load, cookie-validated handshakes answered per second at that cost (all sources) */
  handshakesPerSecondUnderLoad: number;
  /** dropped datagrams by reason */
  drops: Record<string, number>;
}

export interface EndpointApi {
  handle(now: number, from: Address, data: Uint8Array): void;
  handleTimeout(now: number): void;
  pollTransmit(now: number): Transmit | null;
  pollTimeout(): number | null;
  pollEvent(): EndpointEvent | null;
  /** starts a connection; progress and result arrive as events with the returned id */
  connect(now: number, target: ConnectTarget): ConnectionApi;
  /**
   * The connection with this id, in any state, until pollEvent has handed out its last event
   * ('closed' or 'connect_failed'); undefined after that. So a consumer routing any event of a
   * connection finds it: at 'connected' established (it is announced only then), later perhaps
   * closed (and gone) already, when its calls return 0 / false / null or throw `CONNECTION_CLOSED`.
   */
  connection(id: number): ConnectionApi | undefined;
  /** the connection to the peer whose Ed25519 key is `keyHex` (lower-case hex): the one
   * `connect()` to that key would return, in any state, or undefined */
  connectionOfPeer(keyHex: string): ConnectionApi | undefined;
  /** how busy the driver's thread was over its last interval (event-loop utilisation, 0…1):
   * under load, the cap of handshakes answered per second follows it */
  reportLoad?(now: number, utilization: number): void;
  /** record that a local send to `to` failed (ICMP unreachable etc.), for path health */
  reportSendError(now: number, to: Address, code: string): void;
  /** peer ids of connected peers that serve as relays for us (they greeted us): candidates for `ConnectTarget.relays` */
  relays(): Uint8Array[];
  /** sends a punch-coordination message (`punch` events at the peer) in established connection `id` */
  sendPunch(id: number, data: Uint8Array): boolean;
  /** closes every connection at once: CLOSE goes first, ahead of queued data (abandoned) */
  close(now: number, code?: number, reason?: string): void;
  stats(): EndpointStats;
}
