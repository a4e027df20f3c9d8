import type { Address } from '@srmudp/wire';
import { addressKey } from '@srmudp/wire';
import type { Rng } from './rng.js';
import type { NatStats } from './stats.js';
import { emptyStats } from './stats.js';

/** RFC 4787 §4.1 mapping behaviour: what decides whether an outbound flow reuses a public port. */
export type NatMapping = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
/** RFC 4787 §5 filtering behaviour: which remotes may send inbound through a mapping. */
export type NatFiltering = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
/** RFC 4787 §4.2 port assignment: keep the inside port when free, else count up; or random. */
export type NatPortAllocation = 'preserve' | 'sequential' | 'random';

export interface NatConfig {
  /** The NAT's outside address (one IP; every mapping uses it). */
  publicIp: string;
  /** Name of an outer NAT whose inside this NAT's public IP lives in (CGNAT); default: the internet. */
  behind?: string;
  /** Default 'endpoint-independent'. */
  mapping?: NatMapping;
  /** Default 'address-and-port-dependent' (a common home router: "port-restricted cone"). */
  filtering?: NatFiltering;
  /** Default 'preserve'. */
  portAllocation?: NatPortAllocation;
  /** Inclusive public port range, default [1024, 65535]. */
  portRange?: [number, number];
  /** Idle time after which a mapping and its permissions expire, ms (default 120000, RFC 4787 REQ-5). */
  bindingTimeoutMs?: number;
  /** Whether inbound packets also refresh a mapping (RFC 4787 REQ-6 makes this optional); default false. */
  refreshOnInbound?: boolean;
  /** Whether an inside host can reach another inside host through the public address (RFC 4787 REQ-9); default false. */
  hairpin?: boolean;
}

/** Common NAT profiles by their classic (RFC 3489) names. Spread them: `{ ...natPresets.symmetric, publicIp }`. */
export const natPresets = {
  /** EIM + EIF: anyone can send to a mapped port. */
  fullCone: { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  /** EIM + ADF. */
  restrictedCone: { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  /** EIM + APDF: the usual home router. */
  portRestrictedCone: { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  /** APDM + APDF with random ports: a new public port per destination ("hard" NAT). */
  symmetric: {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    portAllocation: 'random',
  },
} as const satisfies Record<string, Omit<NatConfig, 'publicIp'>>;

interface Mapping {
  key: string;
  internal: Address;
  publicPort: number;
  lastActive: number;
  /** filter key -> last outbound time to it */
  perms: Map<string, number>;
}

/** Outcome of an inbound lookup. */
export type NatInbound = Address | 'unsolicited' | 'filtered';

/** A NAT box: the translation table and its counters (the Network does the forwarding). */
export class Nat {
  readonly name: string;
  readonly publicIp: string;
  readonly behind: string | null;
  readonly mapping: NatMapping;
  readonly filtering: NatFiltering;
  readonly portAllocation: NatPortAllocation;
  readonly portMin: number;
  readonly portMax: number;
  readonly bindingTimeoutMs: number;
  readonly refreshOnInbound: boolean;
  readonly hairpin: boolean;
  /** Live counters, updated by the Network; `mappings` is only current in {@link Nat.statsAt}. */
  readonly stats: NatStats;
  readonly #byKey = new Map<string, Mapping>();
  readonly #byPort = new Map<number, Mapping>();
  readonly #rng: Rng;
  #nextPort: number;

  constructor(name: string, cfg: NatConfig, rng: Rng) {
    if (typeof cfg?.publicIp !== 'string' || cfg.publicIp.length === 0) {
      throw new TypeError(`"publicIp" expected a non-empty string, got ${String(cfg?.publicIp)}`);
    }
    this.name = name;
    this.publicIp = cfg.publicIp;
    this.behind = cfg.behind ?? null;
    this.mapping = oneOf(cfg.mapping, 'mapping', BEHAVIOURS, 'endpoint-independent');
    this.filtering = oneOf(cfg.filtering, 'filtering', BEHAVIOURS, 'address-and-port-dependent');
    this.portAllocation = oneOf(cfg.portAllocation, 'portAllocation', ALLOCATIONS, 'preserve');
    const [lo, hi] = cfg.portRange ?? [1024, 65535];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
      throw new RangeError(
        `"portRange" expected [min, max] with 1 <= min <= max <= 65535, got [${lo}, ${hi}]`,
      );
    }
    this.portMin = lo;
    this.portMax = hi;
    const t = cfg.bindingTimeoutMs ?? 120_000;
    if (!(t > 0)) throw new RangeError(`"bindingTimeoutMs" expected a number > 0, got ${t}`);
    this.bindingTimeoutMs = t;
    this.refreshOnInbound = cfg.refreshOnInbound ?? false;
    this.hairpin = cfg.hairpin ?? false;
    this.#rng = rng;
    this.#nextPort = lo;
    this.stats = {
      ...emptyStats(),
      mappings: 0,
      mappingsCreated: 0,
      mappingsExpired: 0,
      natDrops: { unsolicited: 0, filtered: 0, hairpin: 0, portExhausted: 0 },
    };
  }

  /**
   * Translates an outbound packet's source: finds or creates the mapping for (internal, remote),
   * refreshes it and opens the filter for `remote`. Returns the public port, or null when no
   * port is free.
   */
  outbound(now: number, internal: Address, remote: Address): number | null {
    const key = this.#mappingKey(internal, remote);
    let m = this.#byKey.get(key);
    if (m !== undefined && this.#expired(m, now)) {
      this.#remove(m);
      m = undefined;
    }
    if (m === undefined) {
      const port = this.#allocate(now, internal.port);
      if (port === null) {
        this.stats.natDrops.portExhausted++;
        return null;
      }
      m = {
        key,
        internal: { host: internal.host, port: internal.port },
        publicPort: port,
        lastActive: now,
        perms: new Map(),
      };
      this.#byKey.set(key, m);
      this.#byPort.set(port, m);
      this.stats.mappingsCreated++;
    }
    m.lastActive = now;
    m.perms.set(this.#filterKey(remote), now);
    return m.publicPort;
  }

  /** Translates an inbound packet from `remote` to `publicPort`: the inside address, or why it is dropped. */
  inbound(now: number, remote: Address, publicPort: number): NatInbound {
    const m = this.#byPort.get(publicPort);
    if (m === undefined) return 'unsolicited';
    if (this.#expired(m, now)) {
      this.#remove(m);
      return 'unsolicited';
    }
    const fk = this.#filterKey(remote);
    const t = m.perms.get(fk);
    if (t === undefined || now - t >= this.bindingTimeoutMs) return 'filtered';
    if (this.refreshOnInbound) {
      m.lastActive = now;
      m.perms.set(fk, now);
    }
    return m.internal;
  }

  /**
   * Forgets every mapping, as a NAT reboot or a rebinding would (counted in `mappingsExpired`).
   * With `portAllocation: 'sequential'` or `'random'` the next outbound flow gets a new public port.
   */
  reset(): void {
    for (const m of [...this.#byKey.values()]) this.#remove(m);
  }

  /** Live mappings at `now` (expired ones are removed first), for tests and debugging. */
  mappings(now: number): { internal: Address; publicPort: number; lastActive: number }[] {
    this.#sweep(now);
    return [...this.#byKey.values()].map((m) => ({
      internal: { ...m.internal },
      publicPort: m.publicPort,
      lastActive: m.lastActive,
    }));
  }

  /** Counters, with `mappings` counted at `now`. */
  statsAt(now: number): NatStats {
    this.#sweep(now);
    const s = this.stats;
    return { ...s, dropped: { ...s.dropped }, natDrops: { ...s.natDrops }, mappings: this.#byKey.size };
  }

  #sweep(now: number): void {
    for (const m of [...this.#byKey.values()]) if (this.#expired(m, now)) this.#remove(m);
  }

  #expired(m: Mapping, now: number): boolean {
    return now - m.lastActive >= this.bindingTimeoutMs;
  }

  #remove(m: Mapping): void {
    this.#byKey.delete(m.key);
    this.#byPort.delete(m.publicPort);
    this.stats.mappingsExpired++;
  }

  #mappingKey(internal: Address, remote: Address): string {
    const k = addressKey(internal);
    if (this.mapping === 'endpoint-independent') return k;
    if (this.mapping === 'address-dependent') return `${k}|${remote.host}`;
    return `${k}|${addressKey(remote)}`;
  }

  #filterKey(remote: Address): string {
    if (this.filtering === 'endpoint-independent') return '';
    if (this.filtering === 'address-dependent') return remote.host;
    return addressKey(remote);
  }

  #free(port: number, now: number): boolean {
    const m = this.#byPort.get(port);
    if (m === undefined) return true;
    if (this.#expired(m, now)) {
      this.#remove(m);
      return true;
    }
    return false;
  }

  #allocate(now: number, insidePort: number): number | null {
    const lo = this.portMin;
    const span = this.portMax - lo + 1;
    if (this.portAllocation === 'preserve' && insidePort >= lo && insidePort <= this.portMax) {
      if (this.#free(insidePort, now)) return insidePort;
    }
    if (this.portAllocation === 'random') {
      for (let i = 0; i < 64; i++) {
        const p = lo + this.#rng.int(span);
        if (this.#free(p, now)) return p;
      }
    }
    // Sequential (also the fallback of the other two): next free port after the last one given.
    for (let i = 0; i < span; i++) {
      const p = this.#nextPort;
      this.#nextPort = p >= this.portMax ? lo : p + 1;
      if (this.#free(p, now)) return p;
    }
    return null;
  }
}

const BEHAVIOURS = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] as const;
const ALLOCATIONS = ['preserve', 'sequential', 'random'] as const;

function oneOf<T extends string>(v: T | undefined, name: string, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!allowed.includes(v))
    throw new RangeError(`"${name}" expected one of ${allowed.join(', ')}, got ${String(v)}`);
  return v;
}
