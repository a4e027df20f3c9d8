/**
 * The route vocabulary, one rule: what a route is and how it ranks. A route is where a path's
 * datagrams go, a direct UDP address or a relayed circuit (relays.ts: a route handle for a relay
 * hop + channel, RELAYS.md); this module says which kind an address is (`routeOf`), how the API
 * shows it (`routeInfo`), its tier (direct IPv6 over direct IPv4 over relayed: `routeTier`), and
 * its PMTU search ceiling (`maxUdpPayload`). It holds no state and makes no choice: the choice
 * between routes is `PathSet`'s (paths.ts).
 */
import { type Address, addressFamily, sameAddress } from '@srmudp/wire';
import type { PathInfo } from './api.js';
import { isRelayRoute, relayKeyOf } from './relays.js';

/**
 * Where a path's datagrams go: a UDP address (`direct`), or a circuit through a relay
 * (`relayed`), named by its route handle (relays.ts: `relay.<key hex>` and our channel number).
 */
export type Route = { readonly kind: 'direct' | 'relayed'; readonly address: Address };

/** The route to `address` (a relayed one when it is a route handle). */
export function routeOf(address: Address): Route {
  return { kind: isRelayRoute(address) ? 'relayed' : 'direct', address };
}

/** A route as the API shows it. */
export function routeInfo(route: Route): PathInfo {
  // a direct route is already what the API shows ({ kind, address }): the route itself, not a
  // copy of it in every connection (issue 19)
  if (route.kind === 'direct') return route as PathInfo;
  const via = route.kind === 'relayed' ? relayKeyOf(route.address) : null;
  if (via !== null) return { kind: 'relayed', via, channel: route.address.port, address: route.address };
  return { kind: 'direct', address: route.address };
}

/** Preference between routes: a higher tier wins at once (an upgrade), a lower one only as a fallback. */
export const RouteTier = { relayed: 1, directIpv4: 2, directIpv6: 3 } as const;

/** The tier of `route` (`RouteTier`). */
export function routeTier(route: Route): number {
  if (route.kind === 'relayed' || isRelayRoute(route.address)) return RouteTier.relayed;
  return addressFamily(route.address) === 6 && !route.address.host.toLowerCase().startsWith('::ffff:')
    ? RouteTier.directIpv6
    : RouteTier.directIpv4;
}

/** Both routes lead to the same address. */
export function sameRoute(a: Route, b: Route): boolean {
  return sameAddress(a.address, b.address);
}

/**
 * PMTU search ceiling of a route: 1472 bytes of UDP payload over IPv4, 1452 over IPv6 text; a
 * relayed route 1448 (the 4-byte channel header on a hop of either family: relayedPmtu).
 */
export function maxUdpPayload(route: Route): number {
  if (route.kind === 'relayed' || isRelayRoute(route.address)) return 1448;
  return addressFamily(route.address) === 6 ? 1452 : 1472;
}
