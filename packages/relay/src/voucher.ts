/**
 * Vouchers for connect-via: the requester's signed permission for one relay to open one circuit
 * to one target. The relay checks it before it asks the target; the target checks it again, so it
 * knows who asked without trusting the relay's word (the relay could otherwise claim anyone).
 *
 *   version (u8 = 1)
 *   relay id (32) | requester id (32) | target id (32)      Ed25519 public keys (peer ids)
 *   expires at (varint, Unix milliseconds; at most 10 min ahead)
 *   nonce (16 random bytes)
 *   limits: duration ms (varint) | bytes (varint)           0 = no limit asked
 *   group length (u8, 0-64) | group                          opaque group id, empty = none
 *   signature (64)
 *
 * signature = Ed25519(requester, DOMAIN || BLAKE2s-256(DOMAIN || every byte before the signature))
 * with DOMAIN = "srmudp/relay/voucher/v1\0". The domain separates voucher signatures from every
 * other signature a peer key makes (rendezvous records sign "srmudp/rendezvous/record/v1\0" ||
 * …); the digest doubles as the voucher's id.
 */
import { blake2s } from '@noble/hashes/blake2.js';
import { type Identity, signWithIdentity, verifySignature } from '@srmudp/crypto';
import { equalBytes, Reader, toHex, varintSize, WireDecodeError, writeVarint } from '@srmudp/wire';
import { checkBytes, type RandomBytes } from './bytes.js';
import { type CircuitLimits, checkCircuitLimits } from './limits.js';
import type { RejectReason } from './reasons.js';

export const VOUCHER_VERSION = 1;
export const VOUCHER_DOMAIN = new TextEncoder().encode('srmudp/relay/voucher/v1\0');
export const VOUCHER_NONCE_LENGTH = 16;
export const VOUCHER_SIGNATURE_LENGTH = 64;
export const MAX_GROUP_LENGTH = 64;
/** DESIGN: a voucher is short-lived (expiry at most 10 min ahead). */
export const MAX_VOUCHER_TTL_MS = 600_000;

export interface VoucherFields {
  readonly relay: Uint8Array;
  readonly requester: Uint8Array;
  readonly target: Uint8Array;
  /** Unix time in milliseconds */
  readonly expiresAt: number;
  readonly nonce: Uint8Array;
  readonly limits: CircuitLimits;
  readonly group: Uint8Array;
}

export interface Voucher extends VoucherFields {
  readonly signature: Uint8Array;
  /** BLAKE2s-256(DOMAIN || body): what the signature covers, and the voucher's id */
  readonly digest: Uint8Array;
}

export interface CreateVoucherOptions {
  readonly relay: Uint8Array;
  readonly target: Uint8Array;
  /** Unix milliseconds; at most 10 min after the verifier's clock (+ its skew allowance) */
  readonly expiresAt: number;
  readonly limits?: Partial<CircuitLimits>;
  readonly group?: Uint8Array;
  /** 16 bytes; default random(16) */
  readonly nonce?: Uint8Array;
}

function encodeBody(f: VoucherFields): Uint8Array {
  const size =
    1 +
    96 +
    varintSize(f.expiresAt) +
    VOUCHER_NONCE_LENGTH +
    varintSize(f.limits.durationMs) +
    varintSize(f.limits.bytes) +
    1 +
    f.group.length;
  const out = new Uint8Array(size);
  out[0] = VOUCHER_VERSION;
  out.set(f.relay, 1);
  out.set(f.requester, 33);
  out.set(f.target, 65);
  let o = writeVarint(out, 97, f.expiresAt);
  out.set(f.nonce, o);
  o += VOUCHER_NONCE_LENGTH;
  o = writeVarint(out, o, f.limits.durationMs);
  o = writeVarint(out, o, f.limits.bytes);
  out[o++] = f.group.length;
  out.set(f.group, o);
  return out;
}

function digestOf(body: Uint8Array): Uint8Array {
  const input = new Uint8Array(VOUCHER_DOMAIN.length + body.length);
  input.set(VOUCHER_DOMAIN, 0);
  input.set(body, VOUCHER_DOMAIN.length);
  return blake2s(input);
}

function signedMessage(digest: Uint8Array): Uint8Array {
  const m = new Uint8Array(VOUCHER_DOMAIN.length + digest.length);
  m.set(VOUCHER_DOMAIN, 0);
  m.set(digest, VOUCHER_DOMAIN.length);
  return m;
}

/** A voucher signed by `identity` (the requester). TypeError/RangeError for bad arguments. */
export function createVoucher(
  identity: Identity,
  opts: CreateVoucherOptions,
  random?: RandomBytes,
): Uint8Array {
  checkBytes('relay', opts.relay, 32);
  checkBytes('target', opts.target, 32);
  const group = opts.group ?? new Uint8Array(0);
  checkBytes('group', group);
  if (group.length > MAX_GROUP_LENGTH) throw new RangeError(`"group" longer than ${MAX_GROUP_LENGTH} bytes`);
  if (!Number.isSafeInteger(opts.expiresAt) || opts.expiresAt < 0) {
    throw new RangeError(`"expiresAt" expected Unix milliseconds, got ${opts.expiresAt}`);
  }
  let nonce = opts.nonce;
  if (nonce === undefined) {
    if (typeof random !== 'function') throw new TypeError('"random" is required when no nonce is given');
    nonce = random(VOUCHER_NONCE_LENGTH);
  }
  checkBytes('nonce', nonce, VOUCHER_NONCE_LENGTH);
  const fields: VoucherFields = {
    relay: opts.relay,
    requester: identity.publicKey,
    target: opts.target,
    expiresAt: opts.expiresAt,
    nonce,
    limits: checkCircuitLimits('limits', opts.limits),
    group,
  };
  const body = encodeBody(fields);
  const signature = signWithIdentity(identity, signedMessage(digestOf(body)));
  const out = new Uint8Array(body.length + VOUCHER_SIGNATURE_LENGTH);
  out.set(body, 0);
  out.set(signature, body.length);
  return out;
}

/**
 * Decodes a voucher without checking its signature. Total: a value or {@link WireDecodeError}
 * (`TRUNCATED`, `UNSUPPORTED_VERSION`, `BAD_VALUE`, `VARINT_RANGE`, `TRAILING_BYTES`).
 */
export function decodeVoucher(bytes: Uint8Array): Voucher {
  const r = new Reader(bytes);
  const version = r.u8('voucher version');
  if (version !== VOUCHER_VERSION)
    throw new WireDecodeError('UNSUPPORTED_VERSION', `voucher version ${version}`);
  const relay = r.take(32, 'relay');
  const requester = r.take(32, 'requester');
  const target = r.take(32, 'target');
  const expiresAt = r.varint('expires at');
  const nonce = r.take(VOUCHER_NONCE_LENGTH, 'nonce');
  const limits = { durationMs: r.varint('limits.durationMs'), bytes: r.varint('limits.bytes') };
  const glen = r.u8('group length');
  if (glen > MAX_GROUP_LENGTH)
    throw new WireDecodeError('BAD_VALUE', `group length ${glen} > ${MAX_GROUP_LENGTH}`);
  const group = r.take(glen, 'group');
  const bodyEnd = r.pos;
  const signature = r.take(VOUCHER_SIGNATURE_LENGTH, 'signature');
  if (r.remaining !== 0)
    throw new WireDecodeError('TRAILING_BYTES', `${r.remaining} bytes after the voucher`);
  const digest = digestOf(bytes.subarray(0, bodyEnd));
  return { relay, requester, target, expiresAt, nonce, limits, group, signature, digest };
}

export type VoucherErrorCode =
  | 'VOUCHER_MALFORMED'
  | 'VOUCHER_WRONG_RELAY'
  | 'VOUCHER_WRONG_REQUESTER'
  | 'VOUCHER_WRONG_TARGET'
  | 'VOUCHER_EXPIRED'
  | 'VOUCHER_TOO_LONG'
  | 'VOUCHER_BAD_SIGNATURE'
  | 'VOUCHER_REPLAYED'
  | 'VOUCHER_CACHE_FULL';

/** What the verifier knows independently of the voucher. */
export interface VoucherExpectation {
  readonly relay: Uint8Array;
  /** the key the hop session authenticated (relay side) or INCOMING names (target side) */
  readonly requester: Uint8Array;
  readonly target: Uint8Array;
  /** the verifier's Unix time in milliseconds */
  readonly unixNow: number;
  /** default 10 min */
  readonly maxTtlMs?: number;
  /** tolerated clock difference, default 30 s */
  readonly clockSkewMs?: number;
}

export type VoucherCheck =
  | { readonly ok: true; readonly voucher: Voucher }
  | { readonly ok: false; readonly code: VoucherErrorCode };

/**
 * Checks a voucher: format, that it names this relay, requester and target, its expiry (not past,
 * not more than `maxTtlMs` ahead, both with `clockSkewMs` of slack), then the signature (the
 * expensive check last). Never throws on any input. Replay is the caller's {@link VoucherNonceCache}.
 */
export function verifyVoucher(bytes: Uint8Array, expect: VoucherExpectation): VoucherCheck {
  let v: Voucher;
  try {
    v = decodeVoucher(bytes);
  } catch {
    return { ok: false, code: 'VOUCHER_MALFORMED' };
  }
  if (!equalBytes(v.relay, expect.relay)) return { ok: false, code: 'VOUCHER_WRONG_RELAY' };
  if (!equalBytes(v.requester, expect.requester)) return { ok: false, code: 'VOUCHER_WRONG_REQUESTER' };
  if (!equalBytes(v.target, expect.target)) return { ok: false, code: 'VOUCHER_WRONG_TARGET' };
  const skew = expect.clockSkewMs ?? 30_000;
  if (v.expiresAt + skew < expect.unixNow) return { ok: false, code: 'VOUCHER_EXPIRED' };
  if (v.expiresAt > expect.unixNow + (expect.maxTtlMs ?? MAX_VOUCHER_TTL_MS) + skew) {
    return { ok: false, code: 'VOUCHER_TOO_LONG' };
  }
  if (!verifySignature(v.requester, signedMessage(v.digest), v.signature)) {
    return { ok: false, code: 'VOUCHER_BAD_SIGNATURE' };
  }
  return { ok: true, voucher: v };
}

/** The typed reject reason a failed voucher check is reported with. */
export function voucherRejectReason(code: VoucherErrorCode): RejectReason {
  switch (code) {
    case 'VOUCHER_EXPIRED':
      return 'voucher_expired';
    case 'VOUCHER_REPLAYED':
      return 'voucher_replayed';
    case 'VOUCHER_CACHE_FULL':
      return 'resource_limit';
    default:
      return 'voucher_invalid';
  }
}

/**
 * Nonces of accepted vouchers, each kept until its voucher has expired (plus the skew), so a
 * voucher works once. Bounded: when full of unexpired nonces, new vouchers are refused
 * (`VOUCHER_CACHE_FULL`) rather than an old nonce forgotten (which would allow its replay).
 */
export class VoucherNonceCache {
  readonly #max: number;
  readonly #until = new Map<string, number>();

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`"max" expected positive integer, got ${max}`);
    this.#max = max;
  }

  get size(): number {
    return this.#until.size;
  }

  /** Remembers the voucher's nonce; `VOUCHER_REPLAYED` if already there, `VOUCHER_CACHE_FULL` if no room. */
  remember(
    v: Voucher,
    unixNow: number,
    clockSkewMs: number,
  ): 'ok' | 'VOUCHER_REPLAYED' | 'VOUCHER_CACHE_FULL' {
    const k = toHex(v.requester) + toHex(v.nonce);
    const until = this.#until.get(k);
    if (until !== undefined && until >= unixNow) return 'VOUCHER_REPLAYED';
    if (until === undefined && this.#until.size >= this.#max) {
      for (const [key, t] of this.#until) if (t < unixNow) this.#until.delete(key);
      if (this.#until.size >= this.#max) return 'VOUCHER_CACHE_FULL';
    }
    this.#until.set(k, v.expiresAt + clockSkewMs);
    return 'ok';
  }
}
