// Who may use the relay: a client's admission when its hop session comes up (the policy, and the
// limits it may tighten), and a CONNECT's checks (both ends admitted and not relayed themselves,
// the voucher, the policy, the circuit budgets). RelayService applies the answer.
import { equalBytes } from '@srmudp/wire';
import type { ClientState } from './circuit-table.js';
import type { ConnectMessage, IncomingMessage } from './control.js';
import { type ClientLimits, checkClientLimits, type RelayLimits } from './limits.js';
import type { AdmissionPolicy, CircuitAdmission } from './policy.js';
import type { RejectReason } from './reasons.js';
import { type Voucher, type VoucherNonceCache, verifyVoucher, voucherRejectReason } from './voucher.js';

/** The policy's answer for a new client: admitted or not, and its own limits (checked). */
export function admitClient(
  policy: AdmissionPolicy,
  key: Uint8Array,
): { admitted: boolean; overrides: ClientLimits } {
  let admission: boolean | ClientLimits = false;
  try {
    admission = policy.admitClient(key);
  } catch {
    admission = false; // a failing policy denies
  }
  if (typeof admission === 'object') checkClientLimits(admission);
  const overrides: ClientLimits = typeof admission === 'object' ? admission : {};
  return { admitted: admission !== false, overrides };
}

export interface ConnectRules {
  readonly relayId: Uint8Array;
  readonly policy: AdmissionPolicy;
  readonly limits: RelayLimits;
  readonly nonces: VoucherNonceCache;
}

/**
 * The service's own checks of a CONNECT from `c` to `t` (the client up with the target key, if
 * any), then the policy's: the target, or why not. `unixNow` is the wall clock vouchers are read
 * against; `load` the circuits open and pending at the relay.
 */
export function checkConnect<H>(
  rules: ConnectRules,
  unixNow: number,
  load: number,
  c: ClientState<H>,
  t: ClientState<H> | undefined,
  m: ConnectMessage,
):
  | RejectReason
  | { target: ClientState<H>; voucher: Voucher | null; admission: CircuitAdmission & { allow: true } } {
  if (!c.admitted) return 'permission_denied';
  if (c.relayed) return 'relay_chain';
  if (equalBytes(m.target, c.key)) return 'malformed';
  if (m.firstPacket && (m.firstPacket[0]! & 0xc0) !== 0x80) return 'malformed';
  if (!t) return 'target_unavailable';
  if (!t.admitted) return 'permission_denied';
  if (t.relayed) return 'relay_chain';
  const { limits } = rules;
  let voucher: Voucher | null = null;
  if (m.voucher) {
    const check = verifyVoucher(m.voucher, {
      relay: rules.relayId,
      requester: c.key,
      target: t.key,
      unixNow,
      maxTtlMs: limits.voucherMaxTtlMs,
      clockSkewMs: limits.clockSkewMs,
    });
    if (!check.ok) return voucherRejectReason(check.code);
    const fresh = rules.nonces.remember(check.voucher, unixNow, limits.clockSkewMs);
    if (fresh !== 'ok') return voucherRejectReason(fresh);
    voucher = check.voucher;
  } else if (rules.policy.voucher === 'required') {
    return 'voucher_invalid';
  }
  let admission: CircuitAdmission;
  try {
    admission = rules.policy.admitCircuit({ requester: c.key, target: t.key, voucher, limits: m.limits });
  } catch {
    admission = { allow: false, reason: 'permission_denied' };
  }
  if (!admission.allow) return admission.reason ?? 'permission_denied';
  if (
    c.channels.size + c.pendingOut.size >= c.maxCircuits ||
    t.channels.size + t.pendingIn.size >= t.maxCircuits ||
    t.pendingIn.size >= limits.maxPendingPerTarget ||
    load >= limits.maxCircuits
  ) {
    return 'resource_limit';
  }
  return { target: t, voucher, admission };
}

/**
 * The target's check of an INCOMING's voucher (the relay checked it too, but a target trusts only
 * its own check): null without one, the voucher (a copy) when it names this relay, requester and
 * target, is in date and fresh, else the typed reason to reject with.
 */
export function checkIncomingVoucher(
  rules: {
    readonly relayId: Uint8Array;
    readonly self: Uint8Array;
    readonly maxTtlMs: number;
    readonly clockSkewMs: number;
    readonly nonces: VoucherNonceCache;
  },
  unixNow: number,
  m: IncomingMessage,
): Voucher | null | RejectReason {
  if (!m.voucher) return null;
  const check = verifyVoucher(m.voucher, {
    relay: rules.relayId,
    requester: m.requester,
    target: rules.self,
    unixNow,
    maxTtlMs: rules.maxTtlMs,
    clockSkewMs: rules.clockSkewMs,
  });
  const fresh = check.ok ? rules.nonces.remember(check.voucher, unixNow, rules.clockSkewMs) : check.code;
  if (fresh !== 'ok') return voucherRejectReason(fresh);
  return check.ok ? copyVoucher(check.voucher) : null;
}

function copyVoucher(v: Voucher): Voucher {
  return {
    relay: v.relay.slice(),
    requester: v.requester.slice(),
    target: v.target.slice(),
    expiresAt: v.expiresAt,
    nonce: v.nonce.slice(),
    limits: v.limits,
    group: v.group.slice(),
    signature: v.signature.slice(),
    digest: v.digest.slice(),
  };
}
