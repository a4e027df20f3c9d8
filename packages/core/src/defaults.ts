/** Defaults of EndpointConfig (documented in the README's Defaults table). */
export const DEFAULTS = {
  keepaliveMs: 15_000,
  idleTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  maxConnections: 4096,
  maxPendingHandshakes: 1024,
  cookieThreshold: 64,
  maxBufferedBytesPerConnection: 16 * 1024 * 1024,
  /** graceful close: wait for acknowledgements at least this long... */
  minDrainMs: 2_000,
  /** ...and at most this long */
  maxDrainMs: 10_000,
  /** path validation: PATH_CHALLENGE attempts before giving up on a new address */
  pathChallengeTries: 5,
  /** send errors (ECONNREFUSED...) per candidate address before a handshake fails fast */
  unreachableAfterErrors: 2,
  /**
   * a relay said the peer is gone (CLOSE `peer_gone`: its hop session ended) and the connection
   * has no other live path: the peer gets this long to come back (a WebSocket reconnect with a
   * few backoff steps, a hop handshake and a new circuit) before the connection closes with
   * `CloseCode.PEER_GONE` instead of waiting for the idle timeout (`relay.peerGoneGraceMs`)
   */
  peerGoneGraceMs: 5_000,
} as const;

/** Handshake option (application range 0x10+) carrying the endpoint's boot id: a peer that comes
 * back with a new boot id restarted, so its old connection state is gone. */
export const BOOT_ID_OPTION = 0x10;
export const BOOT_ID_LENGTH = 8;

/** CLOSE codes core uses (reliability's transport codes are below 0x20). */
export const CloseCode = {
  /** reported for a connection whose peer went silent (reliability's IDLE_TIMEOUT) */
  IDLE_TIMEOUT: 0x12,
  /** the peer restarted (new boot id): its old connection state is gone */
  PEER_RESTARTED: 0x13,
  /**
   * the connection lost its keys here: they expired and could not be renewed, or the session it
   * was answering a simultaneous open with was never used by the peer (reported as ours:
   * `remote: false`; the reason says which)
   */
  SESSION_EXPIRED: 0x14,
  /**
   * a relay said the peer is gone (its hop session ended) while the connection had no other live
   * path, and the peer did not come back within `relay.peerGoneGraceMs` (reported as ours:
   * `remote: false`)
   */
  PEER_GONE: 0x15,
} as const;

/**
 * The error code of a close the peer did not send but that says it is unreachable: our idle
 * timeout (`IDLE_TIMEOUT`, like ETIMEDOUT), a relay's report that it left and did not come
 * back (`PEER_GONE`), or keys lost because the peer never answered a handshake
 * (`SESSION_EXPIRED`); null for the others (a close by the peer, or our own). The façades (Node,
 * browser) name a closed connection's error by it.
 */
export function lostPeerCode(close: {
  code: number;
  remote: boolean;
}): 'IDLE_TIMEOUT' | 'PEER_GONE' | 'SESSION_EXPIRED' | null {
  if (close.remote) return null;
  if (close.code === CloseCode.IDLE_TIMEOUT) return 'IDLE_TIMEOUT';
  if (close.code === CloseCode.PEER_GONE) return 'PEER_GONE';
  if (close.code === CloseCode.SESSION_EXPIRED) return 'SESSION_EXPIRED';
  return null;
}
