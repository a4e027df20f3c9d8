import type { HostName, RouterProfile, V6Profile } from './types.js';

export type Mapping = 'EIM' | 'EDM';
export type Filtering = 'EIF' | 'ADF' | 'APDF';

/** What one host's probe measured through its NAT(s) (RFC 4787 / RFC 5780 terms). */
export interface MeasuredBehaviour {
  /** Any UDP answer from the reflector came back. */
  readonly udp: boolean;
  /** null when UDP is blocked (or one reflector address never answered). */
  readonly mapping: Mapping | null;
  readonly filtering: Filtering | null;
  /** Public port equals the local port (towards the primary reflector address). */
  readonly portPreserved: boolean | null;
  /** Public endpoint seen by rdv:3478 (null without UDP). */
  readonly publicIp: string | null;
  readonly publicPort: number | null;
  /** A TCP connection to rdv worked through the NAT(s). */
  readonly tcp: boolean;
  readonly localPort: number;
  /** Probe duration, ms. */
  readonly ms: number;
}

export interface ExpectedBehaviour {
  readonly udp: boolean;
  readonly mapping: Mapping | null;
  readonly filtering: Filtering | null;
  /** true: must be preserved; undefined: not checked. */
  readonly portPreserved?: true;
  readonly publicIp: string;
  readonly tcp: true;
}

export interface HostCheck {
  readonly host: HostName;
  readonly expected: ExpectedBehaviour;
  readonly measured: MeasuredBehaviour;
  /** Human-readable differences; empty when the host behaves as its profile says. */
  readonly problems: readonly string[];
  /** when TCP got no answer: what each attempt saw (the error text includes it) */
  readonly tcpLog?: readonly string[];
}

/** Checks that concern a side's routers rather than one host. */
export interface SideCheck {
  readonly side: 'A' | 'B';
  readonly profile: string;
  /** 2 when the carrier NAT saw the home router's flows; null when not checked (no cgn / no conntrack tool). */
  readonly natsCrossed: number | null;
  /** Hairpin through the home router's public address (checked only with a second host, without cgn). */
  readonly hairpin: { readonly expected: boolean; readonly measured: boolean } | null;
  readonly problems: readonly string[];
}

export interface SelfCheckReport {
  readonly ok: boolean;
  /** IPv4 checks, one per host with IPv4. */
  readonly hosts: readonly HostCheck[];
  /** IPv6 checks, one per host on a side with `ipv6` (empty in an IPv4-only lab). */
  readonly ipv6: readonly Host6Check[];
  readonly sides: readonly SideCheck[];
  readonly ms: number;
}

const FILTER_RANK: Record<Filtering, number> = { EIF: 0, ADF: 1, APDF: 2 };

function ownFiltering(p: RouterProfile): Filtering {
  return p === 'fullcone' ? 'EIF' : p === 'restricted' ? 'ADF' : 'APDF';
}

/**
 * Behaviour expected through a chain of NATs (home router first, then the carrier NAT): any
 * symmetric NAT makes the mapping endpoint-dependent; the most restrictive filter wins; ports
 * are preserved only when no NAT randomizes or restricts them.
 */
export function expectedBehaviour(
  chain: readonly { profile: RouterProfile; portRange: boolean }[],
  publicIp: string,
): ExpectedBehaviour {
  const blocked = chain.some((r) => r.profile === 'udp-blocked');
  if (blocked) return { udp: false, mapping: null, filtering: null, publicIp, tcp: true };
  const mapping: Mapping = chain.some((r) => r.profile === 'symmetric') ? 'EDM' : 'EIM';
  let filtering: Filtering = 'EIF';
  for (const r of chain) {
    const f = ownFiltering(r.profile);
    if (FILTER_RANK[f] > FILTER_RANK[filtering]) filtering = f;
  }
  const preserve = mapping === 'EIM' && !chain.some((r) => r.portRange);
  return {
    udp: true,
    mapping,
    filtering,
    ...(preserve ? { portPreserved: true as const } : {}),
    publicIp,
    tcp: true,
  };
}

/** Raw probe output (programs/probe.mjs). */
export interface ProbeOutput {
  readonly localPort: number;
  readonly udp: boolean;
  readonly observed: {
    readonly main: { ip: string; port: number } | null;
    readonly alt: { ip: string; port: number } | null;
  };
  readonly filtering: Filtering | null;
  readonly tcp: { ip: string; port: number } | null;
  /** when TCP got no answer: each attempt's events (probe-lib's tcpObserve) */
  readonly tcpLog?: readonly string[];
  readonly ms: number;
}

type Seen = { ip: string; port: number } | null;

/** EIM when both reflector addresses saw the same endpoint; null when one never answered. */
function mappingOf(o: { readonly main: Seen; readonly alt: Seen }): Mapping | null {
  if (!o.main || !o.alt) return null;
  return o.main.ip === o.alt.ip && o.main.port === o.alt.port ? 'EIM' : 'EDM';
}

export function classify(p: ProbeOutput): MeasuredBehaviour {
  const { main, alt } = p.observed;
  return {
    udp: p.udp,
    mapping: mappingOf(p.observed),
    filtering: p.filtering,
    portPreserved: main ? main.port === p.localPort : null,
    publicIp: main?.ip ?? alt?.ip ?? null,
    publicPort: main?.port ?? null,
    tcp: p.tcp !== null,
    localPort: p.localPort,
    ms: p.ms,
  };
}

export function compare(e: ExpectedBehaviour, m: MeasuredBehaviour): string[] {
  const out: string[] = [];
  if (e.udp !== m.udp)
    out.push(`udp: expected ${e.udp ? 'open' : 'blocked'}, measured ${m.udp ? 'open' : 'blocked'}`);
  if (e.udp && m.udp) {
    if (e.mapping !== m.mapping)
      out.push(`mapping: expected ${e.mapping}, measured ${m.mapping ?? 'unknown'}`);
    if (e.filtering !== m.filtering)
      out.push(`filtering: expected ${e.filtering}, measured ${m.filtering ?? 'unknown'}`);
    if (e.portPreserved && m.portPreserved !== true)
      out.push(`port: expected preserved ${m.localPort}, measured ${m.publicPort}`);
    if (m.publicIp !== e.publicIp) out.push(`public ip: expected ${e.publicIp}, measured ${m.publicIp}`);
  }
  if (!m.tcp) out.push('tcp: expected to work, measured blocked');
  return out;
}

// --- IPv6 (a home router's stateful firewall; no NAT)

/** What one host's IPv6 probe measured through its home router (programs/probe6.mjs). */
export interface Measured6 {
  /** Replies from the reflector came back. */
  readonly udp: boolean;
  /** The reflector saw another address or port than the host's own (a NAT66 in the path). */
  readonly translated: boolean | null;
  readonly mapping: Mapping | null;
  readonly filtering: Filtering | null;
  /**
   * A packet to a local port the host never sent from (from an address it did contact) arrived
   * (`passed`) or not (`dropped`); null when the reflector never acknowledged the request.
   */
  readonly unsolicited: 'dropped' | 'passed' | null;
  /**
   * After the host sent to an address whose packets had been dropped, that address's packets
   * passed (a hole punched: endpoint-dependent filtering). null when not measured (the address
   * was never filtered, or the reflector never acknowledged).
   */
  readonly pinhole: boolean | null;
  /** Endpoint the reflector saw (the host's own address and port when nothing translates). */
  readonly observedIp: string | null;
  readonly observedPort: number | null;
  /** A TCP connection to rdv worked over IPv6. */
  readonly tcp: boolean;
  readonly localPort: number;
  readonly ms: number;
}

export interface Expected6 {
  readonly udp: true;
  readonly translated: false;
  readonly mapping: 'EIM';
  readonly filtering: Filtering;
  readonly unsolicited: 'dropped';
  readonly pinhole: true;
  /** The host's own address: what the reflector must see. */
  readonly ip: string;
  readonly tcp: true;
}

export interface Host6Check {
  readonly host: HostName;
  readonly profile: V6Profile;
  readonly expected: Expected6;
  readonly measured: Measured6;
  readonly problems: readonly string[];
}

/** Raw output of programs/probe6.mjs. */
export interface Probe6Output {
  readonly localPort: number;
  readonly udp: boolean;
  readonly observed: {
    readonly main: { ip: string; port: number } | null;
    readonly alt: { ip: string; port: number } | null;
  };
  readonly filtering: Filtering | null;
  readonly unsolicited: { readonly acks: number; readonly arrived: boolean };
  readonly pinhole: { readonly acks: number; readonly arrived: boolean } | null;
  readonly tcp: { ip: string; port: number } | null;
  readonly ms: number;
}

/** What an IPv6 profile must measure. `firewall`: conntrack filtering, nothing translated. */
export function expectedBehaviour6(profile: V6Profile, ip: string): Expected6 {
  switch (profile) {
    case 'firewall':
      return {
        udp: true,
        translated: false,
        mapping: 'EIM',
        filtering: 'APDF',
        unsolicited: 'dropped',
        pinhole: true,
        ip,
        tcp: true,
      };
  }
}

export function classify6(p: Probe6Output, ownIp: string): Measured6 {
  const seen = p.observed.main ?? p.observed.alt;
  return {
    udp: p.udp,
    translated: seen ? seen.ip !== ownIp || seen.port !== p.localPort : null,
    mapping: mappingOf(p.observed),
    filtering: p.filtering,
    unsolicited: p.unsolicited.arrived ? 'passed' : p.unsolicited.acks > 0 ? 'dropped' : null,
    pinhole: p.pinhole === null ? null : p.pinhole.arrived ? true : p.pinhole.acks > 0 ? false : null,
    observedIp: seen?.ip ?? null,
    observedPort: seen?.port ?? null,
    tcp: p.tcp !== null,
    localPort: p.localPort,
    ms: p.ms,
  };
}

export function compare6(e: Expected6, m: Measured6): string[] {
  const out: string[] = [];
  if (!m.udp) return ['ipv6 udp: expected replies to pass, measured none'];
  if (m.translated !== false)
    out.push(`ipv6 address: expected ${e.ip} untranslated, measured ${m.observedIp}:${m.observedPort}`);
  if (m.mapping !== e.mapping)
    out.push(`ipv6 mapping: expected ${e.mapping}, measured ${m.mapping ?? 'unknown'}`);
  if (m.filtering !== e.filtering)
    out.push(`ipv6 filtering: expected ${e.filtering}, measured ${m.filtering ?? 'unknown'}`);
  if (m.unsolicited !== e.unsolicited)
    out.push(`ipv6 unsolicited inbound: expected dropped, measured ${m.unsolicited ?? 'unknown'}`);
  if (m.pinhole !== e.pinhole)
    out.push(
      `ipv6 pinhole: expected the peer's packets to pass after outbound, measured ${m.pinhole === null ? 'unknown' : 'still dropped'}`,
    );
  if (!m.tcp) out.push('ipv6 tcp: expected to work, measured blocked');
  return out;
}
