/**
 * NAT behaviour as punching needs it (RFC 4787 terms; hyperdht's OPEN / CONSISTENT / RANDOM).
 */
import type { Candidate } from './candidate.js';
import {
  type Endpoint,
  endpointFamily,
  isPrivateAddress,
  normalizeAddress,
  sameEndpoint,
} from './endpoint.js';

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
  readonly publicEndpoints: readonly Endpoint[];
}

export interface MappingObservation {
  readonly reflector: Endpoint;
  readonly mapped: Endpoint;
}

/**
 * Classifies mapping from Binding responses of one socket (RFC 5780 §4.3 idea, with reflectors of
 * distinct IPs in place of one server's alternate address): any mapped endpoint equal to a host
 * endpoint → open; two reflectors with distinct IPs seeing the same endpoint → consistent; seeing
 * different endpoints → random. Observations of another address family than the first are compared
 * only within their family.
 */
export function classifyMapping(
  hostEndpoints: readonly Endpoint[],
  observations: readonly MappingObservation[],
  localPort?: number,
): Pick<NatType, 'mapping' | 'portPreserving' | 'publicEndpoints'> {
  const publicEndpoints: Endpoint[] = [];
  for (const o of observations) {
    if (!publicEndpoints.some((p) => sameEndpoint(p, o.mapped))) publicEndpoints.push(o.mapped);
  }
  if (observations.length === 0) return { mapping: 'unknown', portPreserving: null, publicEndpoints };
  const port = localPort ?? hostEndpoints[0]?.port;
  const portPreserving = port === undefined ? null : observations.every((o) => o.mapped.port === port);
  if (observations.some((o) => hostEndpoints.some((h) => sameEndpoint(h, o.mapped)))) {
    return { mapping: 'open', portPreserving, publicEndpoints };
  }
  let distinctIps = false;
  let differ = false;
  for (let i = 0; i < observations.length; i++) {
    for (let j = i + 1; j < observations.length; j++) {
      const a = observations[i]!;
      const b = observations[j]!;
      if (endpointFamily(a.mapped) !== endpointFamily(b.mapped)) continue;
      if (normalizeAddress(a.reflector.host) === normalizeAddress(b.reflector.host)) {
        // same reflector IP, other port: a difference still proves endpoint-dependent mapping
        if (!sameEndpoint(a.mapped, b.mapped)) differ = true;
        continue;
      }
      distinctIps = true;
      if (!sameEndpoint(a.mapped, b.mapped)) differ = true;
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
 * consistent by {@link punchStrategy}).
 */
export function inferMapping(candidates: readonly Candidate[]): MappingBehavior {
  const ports = new Map<string, number>();
  let srflx4 = false;
  let srflx6 = false;
  for (const c of candidates) {
    if (c.type !== 'srflx') continue;
    if (endpointFamily(c.address) === 6) srflx6 = true;
    else srflx4 = true;
    const ip = normalizeAddress(c.address.host);
    const seen = ports.get(ip);
    if (seen !== undefined && seen !== c.address.port) return 'random';
    ports.set(ip, c.address.port);
  }
  for (const c of candidates) {
    if (c.type !== 'host' || isPrivateAddress(c.address.host)) continue;
    if (endpointFamily(c.address) === 4 ? !srflx4 : !srflx6) return 'open';
  }
  return 'unknown';
}

/**
 * What punching between two NATs takes (DESIGN.md §5, NATLAB-NOTES §7/§9):
 * - `direct`: plain simultaneous open works (at least one side consistent/open and the random side's
 *   probes reach it, or both consistent)
 * - `birthday`: one side random, the other consistent with port-dependent filtering: needs the
 *   birthday strategy (`localRole` says which part this side plays)
 * - `impossible`: both random (relay needed)
 */
export type PunchStrategy =
  | { readonly kind: 'direct' }
  | { readonly kind: 'birthday'; readonly localRole: 'prober' | 'sockets'; readonly certain: boolean }
  | { readonly kind: 'impossible'; readonly reason: string };

export interface NatSummary {
  readonly mapping: MappingBehavior;
  readonly filtering?: FilteringBehavior;
}

export function punchStrategy(local: NatSummary, remote: NatSummary): PunchStrategy {
  if (local.mapping === 'random' && remote.mapping === 'random') {
    return {
      kind: 'impossible',
      reason:
        'local NAT random (endpoint-dependent mapping) × remote NAT random (endpoint-dependent mapping)',
    };
  }
  // 'unknown' (one reflector answered) is most likely consistent: most NATs are EIM. It gets the
  // birthday strategy too, but only as a fallback after plain checks had their chance.
  const maybeConsistent = (m: MappingBehavior) => m === 'open' || m === 'consistent' || m === 'unknown';
  if (maybeConsistent(local.mapping) && remote.mapping === 'random') {
    return birthdayOrDirect(local.filtering, 'prober', local.mapping === 'unknown');
  }
  if (local.mapping === 'random' && maybeConsistent(remote.mapping)) {
    return birthdayOrDirect(remote.filtering, 'sockets', remote.mapping === 'unknown');
  }
  return { kind: 'direct' };
}

function birthdayOrDirect(
  consistentSideFiltering: FilteringBehavior | undefined,
  role: 'prober' | 'sockets',
  mappingUncertain: boolean,
): PunchStrategy {
  // EIF or ADF on the consistent side lets the random side's probes in once the consistent side has
  // sent anything to the random side's IP, and the pair is found peer-reflexively (NATLAB-NOTES §7).
  if (consistentSideFiltering === 'endpoint-independent' || consistentSideFiltering === 'address-dependent') {
    return { kind: 'direct' };
  }
  return {
    kind: 'birthday',
    localRole: role,
    certain: consistentSideFiltering === 'address-and-port-dependent' && !mappingUncertain,
  };
}
