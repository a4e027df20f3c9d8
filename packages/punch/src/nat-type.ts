/**
 * NAT behaviour as punching needs it (RFC 4787 terms; hyperdht's OPEN / CONSISTENT / RANDOM).
 */
import { type Address, addressFamily, canonicalHost } from '@srmudp/wire';
import { equivalentAddress, isPrivateAddress } from './address.js';
import type { Candidate } from './candidate.js';

/**
 * - `open`: no NAT (the reflector sees our host address and port)
 * - `consistent`: endpoint-independent mapping (RFC 4787 §4.1 EIM): one public endpoint for all destinations
 * - `random`: endpoint-dependent mapping (address and/or port dependent, "symmetric")
 * - `unknown`: fewer than two reflectors with distinct IPs answered
 */
export type MappingBehavior = 'open' | 'consistent' | 'random' | 'unknown';

/** RFC 4787 §5 filtering, as measured with RFC 5780 §4.4 CHANGE-REQUEST tests. */
export type FilteringBehavior =
  | 'endpoint-independent'
  | 'address-dependent'
  | 'address-and-port-dependent'
  | 'unknown';

export interface NatType {
  readonly mapping: MappingBehavior;
  readonly filtering: FilteringBehavior;
  /** mapped port equals the local port towards every reflector; null when unknown */
  readonly portPreserving: boolean | null;
  /** distinct public endpoints seen by reflectors */
  readonly publicEndpoints: readonly Address[];
}

export interface MappingObservation {
  readonly reflector: Address;
  readonly mapped: Address;
}

/**
 * Classifies mapping from Binding responses of one socket (RFC 5780 §4.3 idea, with reflectors of
 * distinct IPs in place of one server's alternate address): any mapped endpoint equal to a host
 * endpoint → open; two reflectors with distinct IPs seeing the same endpoint → consistent; seeing
 * different endpoints → random. Observations of another address family than the first are compared
 * only within their family.
 */
export function classifyMapping(
  hostEndpoints: readonly Address[],
  observations: readonly MappingObservation[],
  localPort?: number,
): Pick<NatType, 'mapping' | 'portPreserving' | 'publicEndpoints'> {
  const publicEndpoints: Address[] = [];
  for (const o of observations) {
    if (!publicEndpoints.some((p) => equivalentAddress(p, o.mapped))) publicEndpoints.push(o.mapped);
  }
  if (observations.length === 0) return { mapping: 'unknown', portPreserving: null, publicEndpoints };
  const port = localPort ?? hostEndpoints[0]?.port;
  const portPreserving = port === undefined ? null : observations.every((o) => o.mapped.port === port);
  if (observations.some((o) => hostEndpoints.some((h) => equivalentAddress(h, o.mapped)))) {
    return { mapping: 'open', portPreserving, publicEndpoints };
  }
  let distinctIps = false;
  let differ = false;
  for (let i = 0; i < observations.length; i++) {
    for (let j = i + 1; j < observations.length; j++) {
      const a = observations[i]!;
      const b = observations[j]!;
      if (addressFamily(a.mapped) !== addressFamily(b.mapped)) continue;
      if (canonicalHost(a.reflector.host) === canonicalHost(b.reflector.host)) {
        // same reflector IP, other port: a difference still proves endpoint-dependent mapping
        if (!equivalentAddress(a.mapped, b.mapped)) differ = true;
        continue;
      }
      distinctIps = true;
      if (!equivalentAddress(a.mapped, b.mapped)) differ = true;
    }
  }
  if (differ) return { mapping: 'random', portPreserving, publicEndpoints };
  return { mapping: distinctIps ? 'consistent' : 'unknown', portPreserving, publicEndpoints };
}

/**
 * Infers a peer's mapping from the candidates it published, for records that carry no NAT type
 * (the rendezvous record format holds candidates only). The gatherer publishes one srflx candidate
 * per distinct mapped endpoint, so two srflx candidates on one IP with different ports mean the
 * reflectors saw different ports: endpoint-dependent mapping. A public host candidate with no
 * srflx candidate of its family means no NAT. Anything else is 'unknown' (treated as probably
 * consistent by {@link planPunch}).
 */
export function inferMapping(candidates: readonly Candidate[]): MappingBehavior {
  const ports = new Map<string, number>();
  let srflx4 = false;
  let srflx6 = false;
  for (const c of candidates) {
    if (c.type !== 'srflx') continue;
    if (addressFamily(c.address) === 6) srflx6 = true;
    else srflx4 = true;
    const ip = canonicalHost(c.address.host);
    const seen = ports.get(ip);
    if (seen !== undefined && seen !== c.address.port) return 'random';
    ports.set(ip, c.address.port);
  }
  for (const c of candidates) {
    if (c.type !== 'host' || isPrivateAddress(c.address.host)) continue;
    if (addressFamily(c.address) === 4 ? !srflx4 : !srflx6) return 'open';
  }
  return 'unknown';
}

/**
 * What punching between two NATs takes (DESIGN.md §5, NATLAB-NOTES §7/§9), as the roles this side
 * plays. The random (endpoint-dependent) side of a pair needs the birthday strategy when the other
 * side is consistent with port-dependent filtering: the random side opens many sockets towards the
 * consistent side (`sockets`), the consistent side probes random ports of the random side's IP
 * (`prober`).
 * - `direct`: plain simultaneous open works (both consistent or open; or the consistent side's
 *   EIF/ADF filter lets the random side in and it is found peer-reflexively). `open` (no NAT)
 *   counts as consistent: a host firewall may still filter by address and port.
 * - `birthday`: the roles this side plays, and when they start: `now` when both mappings are known
 *   and the consistent side's filtering is known to be address-and-port-dependent; `fallback`
 *   (one side known random, the filtering not known) after `fallbackDelayMs` without success;
 *   `last_resort` (neither side known random, one unknown) only once a plain punch failed.
 * - `impossible`: both random (a relay is needed)
 *
 * With `unknownFallback` (the NAT session's rule) an `unknown` mapping may be either: a side whose
 * own mapping is unknown plays `sockets` against a possibly consistent peer, a side facing an
 * unknown peer plays `prober`, and unknown × unknown plays both, as a last resort. Without it (the
 * rule of the façade's first NAT module), the birthday is only tried when one side is known to be
 * random.
 * A peer's mapping inferred from its candidates is `unknown` whenever it published one srflx
 * candidate, consistent or not (records carry no NAT type): hence "last resort", not "fallback".
 */
export type PunchPlan =
  | { readonly kind: 'direct' }
  | {
      readonly kind: 'birthday';
      readonly sockets: boolean;
      readonly prober: boolean;
      readonly start: 'now' | 'fallback' | 'last_resort';
    }
  | { readonly kind: 'impossible'; readonly reason: string };

export interface NatSummary {
  readonly mapping: MappingBehavior;
  readonly filtering?: FilteringBehavior;
}

export function planPunch(
  local: NatSummary,
  remote: NatSummary,
  options: { readonly unknownFallback?: boolean } = {},
): PunchPlan {
  const l = local.mapping;
  const r = remote.mapping;
  if (l === 'random' && r === 'random') {
    return {
      kind: 'impossible',
      reason:
        'local NAT random (endpoint-dependent mapping) × remote NAT random (endpoint-dependent mapping)',
    };
  }
  if (options.unknownFallback !== true && l !== 'random' && r !== 'random') return { kind: 'direct' };
  const maybeRandom = (m: MappingBehavior) => m === 'random' || m === 'unknown';
  // 'open' (no NAT) may still filter like a port-restricted NAT (a stateful firewall)
  const maybeConsistent = (m: MappingBehavior) => m === 'open' || m === 'consistent' || m === 'unknown';
  // EIF or ADF on the consistent side lets the random side's probes in once the consistent side has
  // sent anything to the random side's IP, and the pair is found peer-reflexively (NATLAB-NOTES §7).
  const letsIn = (f: FilteringBehavior | undefined) =>
    f === 'endpoint-independent' || f === 'address-dependent';
  const prober = maybeConsistent(l) && maybeRandom(r) && !letsIn(local.filtering);
  const sockets = maybeRandom(l) && maybeConsistent(r) && !letsIn(remote.filtering);
  if (!prober && !sockets) return { kind: 'direct' };
  const apdf = (f: FilteringBehavior | undefined) => f === 'address-and-port-dependent';
  const start =
    l !== 'random' && r !== 'random'
      ? 'last_resort'
      : l !== 'unknown' && r !== 'unknown' && (prober ? apdf(local.filtering) : apdf(remote.filtering))
        ? 'now'
        : 'fallback';
  return { kind: 'birthday', sockets, prober, start };
}
