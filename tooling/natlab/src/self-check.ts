import type { HostName, RouterProfile } from './types.js';

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
  readonly hosts: readonly HostCheck[];
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
  readonly ms: number;
}

export function classify(p: ProbeOutput): MeasuredBehaviour {
  const { main, alt } = p.observed;
  const mapping: Mapping | null =
    main && alt ? (main.ip === alt.ip && main.port === alt.port ? 'EIM' : 'EDM') : null;
  return {
    udp: p.udp,
    mapping,
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
