/**
 * Options of a node and the targets it dials, validated with zod (a trust boundary: options may
 * come from JSON): the only place that reads `NodeOptions`. Errors name every wrong field.
 */
import type { CongestionControllerFactory } from '@srmudp/core';
import { type CryptoBackend, parsePeerId } from '@srmudp/crypto';
import { z } from 'zod';
import { NodeError } from './errors.js';

const bytes32 = z
  .instanceof(Uint8Array, { message: 'expected a Uint8Array' })
  .refine((b) => b.length === 32, { message: 'expected 32 bytes' });

const port = z.number().int().min(0).max(65535);

/** `{ host, port, peerId? }`: dial an address; without peerId the handshake is XX (trust on first use). */
export const addressTargetSchema = z.strictObject({
  host: z.string().min(1),
  port: port.min(1),
  peerId: z.union([z.string(), bytes32]).optional(),
});

/** A peer: a contact card string, or an address target. */
export const peerTargetSchema = z.union([z.string().min(1), addressTargetSchema]);

/**
 * A WebSocket relay (`srmudp-relay`): `ws://` or `wss://` URL, then `#` and the relay's peer id
 * (the relay logs it at start and serves it at `/card`).
 */
export const wsRelaySchema = z
  .string()
  .max(2048)
  .superRefine((text, ctx) => {
    const r = parseWsRelay(text);
    if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
  });

/** A parsed WebSocket relay. */
export interface WsRelaySpec {
  /** the URL without the fragment */
  url: string;
  key: Uint8Array;
  peerId: string;
}

/** `wss://host/path#<peer id>` → its parts, or what is wrong with it (text). */
export function parseWsRelay(text: string): WsRelaySpec | string {
  const hash = text.lastIndexOf('#');
  if (hash <= 0)
    return 'expected "<ws:// or wss:// url>#<relay peer id>" (srmudp-relay logs it at start and serves it at /card)';
  const url = text.slice(0, hash);
  const id = text.slice(hash + 1);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a URL (expected ws://… or wss://…)`;
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:')
    return `expected a ws:// or wss:// URL, got ${u.protocol}//`;
  if (u.username !== '' || u.password !== '')
    return 'credentials in the URL are not supported (use relayToken)';
  let key: Uint8Array;
  try {
    key = parsePeerId(id);
  } catch (e) {
    return `the part after "#" is not a relay peer id (${e instanceof Error ? e.message : String(e)})`;
  }
  return { url, key, peerId: id };
}

const peerName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'peer names use letters, digits and _ . : @ -');

export const nodeOptionsSchema = z.strictObject({
  /** identity object, or a key file path (created with mode 0600 when missing), or omitted (ephemeral) */
  identity: z.union([z.object({ secret: bytes32 }).loose(), z.string().min(1)]).optional(),
  port: port.default(0),
  /**
   * bind address: '0.0.0.0' (IPv4), '::' (dual-stack), '127.0.0.1', '::1', ...; default '::' with
   * IPv4 too (dual-stack), or '0.0.0.0' where the host has no IPv6
   */
  host: z.string().min(1).optional(),
  ipv6Only: z.boolean().default(false),
  peers: z.record(peerName, peerTargetSchema).default({}),
  /** congestion control: 'bbr' (default), 'cubic', 'newreno', or a CongestionControllerFactory */
  congestion: z
    .union([
      z.enum(['bbr', 'cubic', 'newreno']),
      z.custom<CongestionControllerFactory>((v) => typeof v === 'function', {
        message:
          "expected 'bbr', 'cubic', 'newreno' or a CongestionControllerFactory (options) => controller",
      }),
    ])
    .optional(),
  /** allow-list of peer ids (text form) that may connect; default: anyone, the app sees the key */
  allow: z.array(z.string()).optional(),
  /** accept incoming connections from peers not in `peers` (default true) */
  acceptUnknown: z.boolean().default(true),
  keepaliveMs: z.number().int().min(100).max(600_000).optional(),
  idleTimeoutMs: z.number().int().min(500).max(3_600_000).optional(),
  handshakeTimeoutMs: z.number().int().min(100).max(600_000).optional(),
  /** delay before a lost named peer is dialled again (doubles up to 30 s) */
  reconnectDelayMs: z.number().int().min(10).max(600_000).default(500),
  limits: z
    .strictObject({
      maxConnections: z.number().int().positive().optional(),
      maxPendingHandshakes: z.number().int().positive().optional(),
      cookieThreshold: z.number().int().nonnegative().optional(),
      maxBufferedBytesPerConnection: z.number().int().positive().optional(),
    })
    .optional(),
  /** rendezvous backends used to resolve contact-card locators and to publish our record */
  rendezvous: z.array(z.custom<object>((v) => typeof v === 'object' && v !== null)).optional(),
  /** publish our record to the rendezvous backends at start (default true when backends are given) */
  publish: z.boolean().default(true),
  /**
   * STUN servers for reflexive candidates, as 'host:port' (names are resolved in the background);
   * default: `@srmudp/punch`'s DEFAULT_STUN_SERVERS (public servers of several operators);
   * `[]`: no gathering
   */
  stunServers: z.array(z.string()).optional(),
  /**
   * Port mapping on the router (NAT-PMP, then UPnP-IGD): a node with a private IPv4 address asks
   * its router to forward its UDP port, publishes the mapped address first and renews it; it is
   * deleted at close. Background and bounded (3 attempts per network when no router answers).
   * Default true; false: never ask.
   */
  portMapping: z.boolean().default(true),
  /** NAT session tuning (`@srmudp/punch`'s NatTiming and BirthdayParams); the defaults are measured */
  nat: z
    .strictObject({
      timing: z
        .strictObject({
          gatherTimeoutMs: z.number().positive().optional(),
          refreshMs: z.number().nonnegative().optional(),
          blockedRetryMs: z.number().nonnegative().optional(),
          bindingKeepaliveMs: z.number().nonnegative().optional(),
          regatherMinGapMs: z.number().nonnegative().optional(),
          lanGraceMs: z.number().nonnegative().optional(),
          birthdayTimeoutMs: z.number().nonnegative().optional(),
          lastResortCooldownMs: z.number().nonnegative().optional(),
        })
        .optional(),
      birthday: z
        .strictObject({
          sockets: z.number().int().min(1).max(4096).optional(),
          maxProbes: z.number().int().min(0).max(65535).optional(),
          probeIntervalMs: z.number().nonnegative().optional(),
          socketPacingMs: z.number().nonnegative().optional(),
          resendMs: z.number().nonnegative().optional(),
          portRange: z.tuple([port.min(1), port.min(1)]).optional(),
          fallbackDelayMs: z.number().nonnegative().optional(),
        })
        .optional(),
    })
    .optional(),
  /** crypto backend (default: @srmudp/crypto-node's autoBackend(): libsodium, node:crypto, noble) */
  /**
   * Relays (gates). `serve`: relay for the peers this node accepts (its group), at
   * `rateBytesPerSec` per client (default 64 MiB/s: a gate lifts the public-relay 1 MiB/s for
   * its own group). `connectVia` (when not serving as a gate): relay between two of our live peers
   * that present the requester's voucher (circuits 2 min / 4 MiB unless `connectViaLimits` says
   * otherwise). `gates`: gates (contact cards or `{ host, port, peerId }`) to fall back to
   * when a direct punch is impossible or fails; each becomes the named peer `gate-<i>`, so the
   * node keeps a connection (its hop session) with it and redials it. `peerGoneGraceMs`: how
   * long a relay-only connection waits for a peer its relay reported gone.
   */
  relay: z
    .strictObject({
      serve: z.boolean().default(false),
      connectVia: z.boolean().default(false),
      /** connect-via circuit limits (each field defaults to 2 min / 4 MiB; 0 = no limit) */
      connectViaLimits: z
        .strictObject({
          durationMs: z.number().int().nonnegative().optional(),
          bytes: z.number().int().nonnegative().optional(),
        })
        .optional(),
      rateBytesPerSec: z.number().int().positive().optional(),
      gates: z.array(peerTargetSchema).default([]),
      /**
       * ms a connection whose only path is a relay waits after that relay reported the peer gone
       * (it may come back on a new circuit) before it closes with code 0x15; default 5,000, 0 = at
       * once (core's `relay.peerGoneGraceMs`)
       */
      peerGoneGraceMs: z.number().int().nonnegative().max(600_000).optional(),
    })
    .optional(),
  /**
   * WebSocket relays (`srmudp-relay`) for networks that block UDP: `wss://host/path#<relay peer
   * id>` (also `ws://`). The first is this node's home relay: with `relayMode` 'auto' or 'always'
   * the node keeps a hop session with it (so that peers without a direct path reach it there)
   * and publishes it in its rendezvous record and card. The others are tried when it is down.
   */
  relays: z.array(wsRelaySchema).max(8).default([]),
  /**
   * When dials go through the WebSocket relays: 'auto' (default) once the UDP verdict is
   * UDP_BLOCKED or a direct dial is hopeless; 'always' from the start (beside UDP); 'never':
   * no WebSocket at all.
   */
  relayMode: z.enum(['auto', 'always', 'never']).default('auto'),
  /** bearer token for relays with token admission */
  relayToken: z.string().min(1).max(4096).optional(),
  /**
   * A relay learnt from a target's record (not one of `relays`) that no connection uses (no
   * relayed path through it) is closed after this long, ms (default 60 s); reopened when needed.
   */
  relayIdleMs: z.number().int().min(1000).max(3_600_000).default(60_000),
  cryptoBackend: z
    .custom<CryptoBackend>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as CryptoBackend).name === 'string' &&
        typeof (v as CryptoBackend).aeadSeal === 'function' &&
        typeof (v as CryptoBackend).aeadOpen === 'function' &&
        typeof (v as CryptoBackend).x25519 === 'function' &&
        typeof (v as CryptoBackend).x25519Public === 'function',
      { message: 'expected a CryptoBackend (nobleBackend(), nodeBackend(), sodiumBackend(), ...)' },
    )
    .optional(),
});

export type NodeOptions = z.input<typeof nodeOptionsSchema>;
export type ResolvedNodeOptions = z.output<typeof nodeOptionsSchema>;
export type AddressTarget = z.infer<typeof addressTargetSchema>;
export type PeerTarget = z.infer<typeof peerTargetSchema>;

/** Validates options; throws SrmudpError('INVALID_OPTIONS') naming every wrong field. */
export function parseNodeOptions(options: unknown): ResolvedNodeOptions {
  // A peer named "__proto__" (an own key, as JSON.parse makes) is skipped by the schema's record
  // without a word, and would be lost in every plain object keyed by name (peers.status()).
  const peers = (options as { peers?: unknown } | null | undefined)?.peers;
  if (typeof peers === 'object' && peers !== null && Object.hasOwn(peers, '__proto__'))
    throw new NodeError(
      'INVALID_OPTIONS',
      'invalid srmudp node options: the peer name "__proto__" is reserved',
    );
  const r = nodeOptionsSchema.safeParse(options ?? {});
  if (r.success) return r.data;
  throw new NodeError('INVALID_OPTIONS', `invalid srmudp node options:\n${z.prettifyError(r.error)}`, {
    cause: r.error,
  });
}

export function parsePeerTarget(target: unknown, what = 'target'): PeerTarget {
  const r = peerTargetSchema.safeParse(target);
  if (r.success) return r.data;
  throw new NodeError(
    'INVALID_TARGET',
    `invalid ${what} (expected a contact card string or { host, port, peerId? }):\n${z.prettifyError(r.error)}`,
    { cause: r.error },
  );
}
