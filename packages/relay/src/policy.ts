/**
 * Admission: who may use a relay, and which circuits it opens. One relay service, three roles,
 * each a policy (RELAYS.md "one relay service, three policies"):
 *  - a **gate** serves the members of its group ({@link groupPolicy});
 *  - a **connect-via** participant serves two of its live peers when the requester presents a
 *    valid voucher ({@link connectViaPolicy}, 2 min / 4 MiB circuits unless it opts in to more);
 *  - a **relay server** follows its configuration ({@link openPolicy}, {@link allowListPolicy},
 *    {@link predicatePolicy}).
 * The service checks everything that is not a choice (hop authenticated, target connected, no
 * relay chains, voucher signature/expiry/replay, resource limits); a policy only decides.
 */
import { equalBytes, toHex } from '@srmudp/wire';
import { type CircuitLimits, type ClientLimits, CONNECT_VIA_CIRCUIT_LIMITS } from './limits.js';
import type { Voucher } from './voucher.js';

export interface CircuitRequest {
  readonly requester: Uint8Array;
  readonly target: Uint8Array;
  /** a voucher that passed every check (signature, names, expiry, replay), or null when none was sent */
  readonly voucher: Voucher | null;
  /** what the requester asked for */
  readonly limits: CircuitLimits;
}

export type CircuitAdmission =
  | { readonly allow: true; readonly limits?: Partial<CircuitLimits> }
  | { readonly allow: false; readonly reason?: 'permission_denied' | 'refused' | 'resource_limit' };

export interface AdmissionPolicy {
  readonly name: string;
  /** `required`: a CONNECT without a valid voucher is refused (`voucher_invalid`). Default: checked when present. */
  readonly voucher?: 'required' | 'optional';
  /** Called once per hop session. false: the client may neither request nor be reached (STATUS denied). */
  admitClient(key: Uint8Array): boolean | ClientLimits;
  /** Called for each CONNECT that passed the service's own checks. */
  admitCircuit(request: CircuitRequest): CircuitAdmission;
}

const ALLOW: CircuitAdmission = Object.freeze({ allow: true });
const DENY: CircuitAdmission = Object.freeze({ allow: false, reason: 'permission_denied' });

export interface OpenPolicyOptions {
  /** limits of every circuit (default: the service's `limits.circuit`) */
  readonly limits?: Partial<CircuitLimits>;
  /** per-client overrides (default: the service's limits) */
  readonly client?: ClientLimits;
}

/** Everyone may relay to everyone connected (a public relay server; limits still apply). */
export function openPolicy(opts: OpenPolicyOptions = {}): AdmissionPolicy {
  const admission: CircuitAdmission = opts.limits ? { allow: true, limits: opts.limits } : ALLOW;
  return {
    name: 'open',
    admitClient: () => opts.client ?? true,
    admitCircuit: () => admission,
  };
}

function keySet(keys: Iterable<Uint8Array>): Set<string> {
  const s = new Set<string>();
  for (const k of keys) s.add(toHex(k));
  return s;
}

/** Only keys on the list may use the relay, as requesters and as targets. */
export function allowListPolicy(keys: Iterable<Uint8Array>, opts: OpenPolicyOptions = {}): AdmissionPolicy {
  const allowed = keySet(keys);
  const admission: CircuitAdmission = opts.limits ? { allow: true, limits: opts.limits } : ALLOW;
  return {
    name: 'allow-list',
    admitClient: (key) => (allowed.has(toHex(key)) ? (opts.client ?? true) : false),
    admitCircuit: (r) => (allowed.has(toHex(r.requester)) && allowed.has(toHex(r.target)) ? admission : DENY),
  };
}

export interface GroupPolicyOptions extends OpenPolicyOptions {
  /** the roster: a list of member keys, or a predicate over the current roster */
  readonly members: Iterable<Uint8Array> | ((key: Uint8Array) => boolean);
  /** the gate's group id: a voucher naming another (non-empty) group is refused */
  readonly group?: Uint8Array;
}

/** A gate: both ends must be members of its group (a gate may lift the rate with `client`). */
export function groupPolicy(opts: GroupPolicyOptions): AdmissionPolicy {
  let isMember: (key: Uint8Array) => boolean;
  if (typeof opts.members === 'function') isMember = opts.members;
  else {
    const set = keySet(opts.members);
    isMember = (key) => set.has(toHex(key));
  }
  const admission: CircuitAdmission = opts.limits ? { allow: true, limits: opts.limits } : ALLOW;
  const group = opts.group;
  return {
    name: 'group',
    admitClient: (key) => (isMember(key) ? (opts.client ?? true) : false),
    admitCircuit: (r) => {
      if (!isMember(r.requester) || !isMember(r.target)) return DENY;
      if (r.voucher && r.voucher.group.length > 0 && !(group && equalBytes(group, r.voucher.group)))
        return DENY;
      return admission;
    },
  };
}

export interface ConnectViaPolicyOptions {
  /** which live peers this participant is willing to relay for (default: every live peer) */
  readonly peers?: (key: Uint8Array) => boolean;
  /** circuit limits; default 2 min / 4 MiB ({@link CONNECT_VIA_CIRCUIT_LIMITS}) */
  readonly limits?: Partial<CircuitLimits>;
  readonly client?: ClientLimits;
}

/**
 * Connect-via: an ordinary participant relays between two of its live peers (each is a client of
 * its relay service through the connection it already has), only with the requester's voucher.
 */
export function connectViaPolicy(opts: ConnectViaPolicyOptions = {}): AdmissionPolicy {
  const peers = opts.peers ?? (() => true);
  const admission: CircuitAdmission = { allow: true, limits: opts.limits ?? CONNECT_VIA_CIRCUIT_LIMITS };
  return {
    name: 'connect-via',
    voucher: 'required',
    admitClient: (key) => (peers(key) ? (opts.client ?? true) : false),
    admitCircuit: (r) => (peers(r.requester) && peers(r.target) ? admission : DENY),
  };
}

export interface PredicatePolicyOptions {
  readonly name?: string;
  readonly voucher?: 'required' | 'optional';
  readonly client?: (key: Uint8Array) => boolean | ClientLimits;
  readonly circuit: (request: CircuitRequest) => boolean | CircuitAdmission;
}

/** Any rule the host can write (an HTTP callout's cached answer, a bearer token's key, …). */
export function predicatePolicy(opts: PredicatePolicyOptions): AdmissionPolicy {
  const client = opts.client ?? (() => true);
  return {
    name: opts.name ?? 'predicate',
    ...(opts.voucher ? { voucher: opts.voucher } : {}),
    admitClient: client,
    admitCircuit: (r) => {
      const d = opts.circuit(r);
      if (d === true) return ALLOW;
      if (d === false) return DENY;
      return d;
    },
  };
}
