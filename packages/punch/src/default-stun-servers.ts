/**
 * Public STUN servers (RFC 8489 Binding) a node may use when the application gives none
 * (README "Default STUN servers"). Data only: host names with ports; the driver resolves them
 * (IPv4 and IPv6) and hands the addresses to {@link NatSession.setStunServers}. Several operators,
 * so that one operator's outage or policy change leaves enough servers to classify the mapping
 * (two server IPs) and so no single operator sees every gathering. The first one also answers
 * RFC 5780 CHANGE-REQUEST from a second address (filtering classification with one server).
 */
export const DEFAULT_STUN_SERVERS: readonly string[] = Object.freeze([
  // STUNTMAN reference server (RFC 5780: OTHER-ADDRESS, CHANGE-REQUEST)
  'stun.stunprotocol.org:3478',
  // Google
  'stun.l.google.com:19302',
  'stun1.l.google.com:19302',
  // Cloudflare
  'stun.cloudflare.com:3478',
  // Twilio
  'global.stun.twilio.com:3478',
  // Nextcloud (UDP 443)
  'stun.nextcloud.com:443',
  // sipgate
  'stun.sipgate.net:3478',
]);
