/**
 * NAT behaviour of one router (RFC 4787 terms):
 * - `eim`: endpoint-independent mapping, port preserved when free, address-and-port-dependent filtering.
 * - `restricted`: endpoint-independent mapping, address-dependent filtering (nft maps).
 * - `fullcone`: endpoint-independent mapping, endpoint-independent filtering (nft maps).
 * - `symmetric`: endpoint-dependent mapping (`masquerade fully-random`), address-and-port-dependent filtering.
 * - `udp-blocked`: UDP out is dropped (DNS excepted); TCP works through an `eim` NAT.
 * - `cgnat`: an `eim` home router behind an `eim` carrier NAT (two NATs stacked).
 */
export type NatProfile = 'eim' | 'restricted' | 'fullcone' | 'symmetric' | 'udp-blocked' | 'cgnat';

/** Profiles a single router can have (`cgnat` is a stack of two of these). */
export type RouterProfile = Exclude<NatProfile, 'cgnat'>;

export const NAT_PROFILES: readonly NatProfile[] = [
  'eim',
  'restricted',
  'fullcone',
  'symmetric',
  'udp-blocked',
  'cgnat',
];

/**
 * IPv6 behaviour of a home router. IPv6 homes get a routed prefix, not a NAT, so the router's
 * only job is filtering:
 * - `firewall`: a stateful firewall without NAT (RFC 6092 "simple security", what home routers
 *   ship): outbound allowed, replies and related ICMPv6 allowed, unsolicited inbound dropped.
 *   Filtering is conntrack's, so address-and-port-dependent: after a host sent to a peer, that
 *   peer's packets (from that address and port) pass; nothing else does.
 */
export type V6Profile = 'firewall';

export const V6_PROFILES: readonly V6Profile[] = ['firewall'];

/** The two sides of the lab: each has a home NAT router (natA/natB) and optionally a carrier NAT. */
export type Side = 'A' | 'B';

/** Logical namespace names; {@link Lab.ns} maps them to the real (prefixed) names. */
export type NodeName =
  | 'inet'
  | 'rdv'
  | 'natA'
  | 'natB'
  | 'cgnA'
  | 'cgnB'
  | 'hostA'
  | 'hostA2'
  | 'hostB'
  | 'hostB2'
  | 'natC'
  | 'hostC';

/** NAT routers (the ones {@link Lab.natReboot} and conntrack settings apply to). */
export type RouterName = 'natA' | 'natB' | 'cgnA' | 'cgnB' | 'natC';

/** Hosts behind the NATs. */
export type HostName = 'hostA' | 'hostA2' | 'hostB' | 'hostB2';

/** Public links of the `inet` router; impairments apply here. */
export type LinkName = 'natA' | 'natB' | 'rdv';

export interface SideOptions {
  /** NAT profile of this side (default `eim`). */
  readonly profile?: NatProfile;
  /** Profile of a carrier NAT stacked in front of the home router (`cgnat` implies `eim`). */
  readonly cgn?: RouterProfile;
  /** The home router hairpins (a LAN host reaches another LAN host at its public mapping). */
  readonly hairpin?: boolean;
  /** A second host behind the same home router (hostA2 / hostB2). */
  readonly secondHost?: boolean;
  /** conntrack timeouts in the routers of this side, seconds (kernel defaults 30 / 120). */
  readonly udpTimeout?: number;
  readonly udpTimeoutStream?: number;
  /**
   * IPv6 on this side: the hosts get addresses in the side's routed 2001:db8 prefix and the home
   * router filters IPv6 as the profile says (default false: no IPv6 at all on this side).
   */
  readonly ipv6?: V6Profile | false;
  /**
   * IPv4 on the hosts (default true). `false` with `ipv6` makes an IPv6-only home: the hosts
   * have no IPv4 address or route (the routers keep their IPv4 side; nothing uses it).
   */
  readonly ipv4?: boolean;
}

/** Impairment of one public link, applied in both directions (like netem on both ends). */
export interface Impairment {
  /** Loss per direction, percent (0..100). */
  readonly lossPct?: number;
  /** Duplication per direction, percent (0..100). */
  readonly dupPct?: number;
  /** One-way delay per direction, ms (the RTT over one impaired link is 2× this). */
  readonly delayMs?: number;
  /** Uniform jitter ±ms around delayMs; reordering follows from jitter. */
  readonly jitterMs?: number;
  /** Percent of packets sent without delay (netem's `reorder`); needs delayMs. */
  readonly reorderPct?: number;
  /** Rate limit per direction, kbit/s (tbf). */
  readonly rateKbit?: number;
  /** MTU of the link (both ends). */
  readonly mtu?: number;
}

export interface LabOptions {
  /** Namespace name prefix, `[a-z0-9]{1,8}`; default `nl` + 4 random characters. */
  readonly prefix?: string;
  readonly A?: NatProfile | SideOptions;
  readonly B?: NatProfile | SideOptions;
  /**
   * A third home (default: none): router `natC` of this profile with one host `hostC` behind it,
   * on its own public link (198.18.0.0/24, not impaired), IPv4 only. Not part of
   * {@link Lab.selfCheck}: a test that uses it checks the profile it relies on itself (a node's
   * own NAT classification, say). For a member that must be behind a NAT and reach both sides,
   * as a connect-via relay between them.
   */
  readonly C?: RouterProfile;
  /** Impairments per public link, applied at `up()`; change later with {@link Lab.impair}. */
  readonly impair?: Partial<Record<LinkName, Impairment>>;
  /**
   * IPv6 on the public segment (inet, rdv) even when no side has IPv6. Implied by a side's
   * `ipv6`. Namespaces of sides without IPv6 always have IPv6 disabled (IPv4-only homes).
   */
  readonly ipv6?: boolean;
  /** Leave namespaces alive when the process exits (debugging; default false). */
  readonly keepOnExit?: boolean;
  /**
   * How impairments are made: `netem` (tc netem on both ends of a link), `fallback` (nft loss
   * and duplication, NFQUEUE delayer, tbf; for kernels without netem, like this project's
   * machines), or `auto` (default: netem when the kernel has it, else the fallback).
   */
  readonly impairBackend?: 'auto' | 'netem' | 'fallback';
}

/** The addresses of the lab (fixed; every lab instance uses the same ones in its own namespaces). */
export const ADDR = {
  /** rdv: reflector / STUN host. */
  rdv: '203.0.113.200',
  /** rdv: second IP (mapping probe). */
  rdvAlt: '203.0.113.201',
  /** rdv: third IP, never contacted by probes (filtering probe, NATLAB-NOTES pitfall 7). */
  rdvFilter: '203.0.113.202',
  /** Public (WAN) address of side A (natA, or cgnA when stacked). */
  publicA: '203.0.113.10',
  /** Public (WAN) address of side B (natB, or cgnB when stacked). */
  publicB: '198.51.100.20',
  inetA: '203.0.113.1',
  inetRdv: '203.0.113.129',
  inetB: '198.51.100.1',
  lanGateway: '192.168.1.1',
  hostA: '192.168.1.10',
  hostA2: '192.168.1.11',
  hostB: '192.168.1.20',
  hostB2: '192.168.1.21',
  /** The third home (option `C`): natC's public address, inet's end of that link, hostC. */
  publicC: '198.18.0.30',
  inetC: '198.18.0.1',
  hostC: '192.168.1.30',
  /** Carrier-side gateway (cgn lan0) and the home routers' WAN addresses behind a cgn. */
  cgnGateway: '100.64.0.1',
  natAWanBehindCgn: '100.64.0.10',
  natBWanBehindCgn: '100.64.0.20',
} as const;

/**
 * IPv6 addresses of the lab: documentation prefix 2001:db8::/32 only (RFC 3849), one /64 per
 * public link, a routed /64 per home (what prefix delegation gives a home router). Hosts keep
 * their last byte from IPv4 (.10 -> ::10), so logs read the same in both families.
 */
export const ADDR6 = {
  /** rdv: reflector / STUN host (2001:db8:0:100::/64, the rendezvous link). */
  rdv: '2001:db8:0:100::200',
  /** rdv: second address (mapping probe). */
  rdvAlt: '2001:db8:0:100::201',
  /** rdv: third address, never contacted by the filtering step (pitfall 7). */
  rdvFilter: '2001:db8:0:100::202',
  inetRdv: '2001:db8:0:100::1',
  /** WAN link of side A (inet i-natA ::1, the side's outer router ::10). */
  inetA: '2001:db8:0:a::1',
  wanA: '2001:db8:0:a::10',
  /** WAN link of side B (inet i-natB ::1, the side's outer router ::20). */
  inetB: '2001:db8:0:b::1',
  wanB: '2001:db8:0:b::20',
  /** Routed home prefixes (lan0 of natA / natB), gateway ::1. */
  lanA: '2001:db8:1:a::/64',
  lanB: '2001:db8:1:b::/64',
  lanGatewayA: '2001:db8:1:a::1',
  lanGatewayB: '2001:db8:1:b::1',
  hostA: '2001:db8:1:a::10',
  hostA2: '2001:db8:1:a::11',
  hostB: '2001:db8:1:b::20',
  hostB2: '2001:db8:1:b::21',
  /** Behind a carrier router (cgnA/cgnB): the carrier routes IPv6 (no NAT66, no filter). */
  cgnGatewayA: '2001:db8:2:a::1',
  natAWanBehindCgn: '2001:db8:2:a::10',
  cgnGatewayB: '2001:db8:2:b::1',
  natBWanBehindCgn: '2001:db8:2:b::20',
} as const;

/** Ports the self-check reflector uses in rdv; coturn defaults to 3480 to avoid them. */
export const REFLECTOR_PORTS = { primary: 3478, alt: 3479 } as const;
export const COTURN_PORT = 3480;
