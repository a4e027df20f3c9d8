/**
 * Port mapping (UPnP-IGD, NAT-PMP, PCP) as decisions, without I/O: when to ask the router for a
 * mapping of the main socket's port, when to renew it, when to give up, and what it means for
 * candidates and dial verdicts. The host (the façade's driver) talks to the router when the
 * session emits `map_port` / `unmap_port` and answers with {@link PortMapping.mapped} or
 * {@link PortMapping.failed}. Owned by {@link NatSession}.
 *
 * Rules (README "Port mapping"):
 * - asked for only when the main socket has a private IPv4 address (a LAN behind a router);
 *   again when the interface addresses or the port change (the old mapping is deleted first);
 * - one attempt at a time, bounded by `attemptTimeoutMs` (a late answer to an abandoned attempt
 *   that did map something is deleted at once);
 * - no router answered: retried after `retryMs`, `retryMs × 3`, … at most `maxAttempts` times in
 *   all, then given up until the addresses change (a network without a router that maps costs
 *   `maxAttempts` bounded attempts, then nothing);
 * - a mapping whose external address is private (a router behind another NAT) is useless to
 *   peers: it is deleted, status says `DOUBLE_NAT`, and it is not tried again on this network;
 * - renewed at half its lifetime; a failed renewal is retried every `attemptTimeoutMs` until the
 *   lease ends, then the mapping is dropped (candidate gone) and the retry rules start over;
 * - close: the mapping (or an attempt under way) is deleted (`unmap_port`).
 */
import { type Address, addressFamily, canonicalHost } from '@srmudp/wire';
import { isPrivateAddress, toIpAddress } from './address.js';

export type PortMappingProtocol = 'upnp-igd' | 'nat-pmp' | 'pcp';

export type PortMappingState =
  /** turned off by the application (`portMapping: false`) */
  | 'off'
  /** no private IPv4 address: nothing to map (public address, IPv6 only, or not known yet) */
  | 'idle'
  /** an attempt is under way (the host is asking the router) */
  | 'mapping'
  | 'mapped'
  /** the last attempt failed; see `error` and `retryAt` */
  | 'failed'
  | 'closed';

export type PortMappingErrorCode =
  /** no router answered any of the protocols within the attempt */
  | 'NO_GATEWAY'
  /** a router answered but refused (or the host's I/O failed): the message says which */
  | 'REFUSED'
  /** the router's external address is private: it sits behind another NAT */
  | 'DOUBLE_NAT'
  /** the lease ran out without a successful renewal */
  | 'EXPIRED';

export interface PortMappingStatus {
  readonly state: PortMappingState;
  /** the router's public endpoint that forwards to our main socket (state 'mapped') */
  readonly external: Address | null;
  /** our endpoint it forwards to */
  readonly internal: Address | null;
  readonly protocol: PortMappingProtocol | null;
  /** `now` when the current lease ends */
  readonly expiresAt: number | null;
  /** `now` of the next attempt or renewal, if one is planned */
  readonly nextAt: number | null;
  readonly error: { readonly code: PortMappingErrorCode; readonly message: string } | null;
  /** attempts made on this network (renewals not counted) */
  readonly attempts: number;
  /** successful mappings and renewals */
  readonly renewals: number;
}

export interface PortMappingTiming {
  /** lease asked for (the router may grant less; RFC 6886 recommends 2 h) */
  readonly lifetimeMs: number;
  /** the host must have answered an attempt by then (it bounds its own I/O by it too) */
  readonly attemptTimeoutMs: number;
  /** first retry after a failed attempt; each later one waits 3 times longer */
  readonly retryMs: number;
  /** attempts on one network before giving up until the addresses change */
  readonly maxAttempts: number;
}

export const DEFAULT_PORT_MAPPING_TIMING: PortMappingTiming = {
  lifetimeMs: 7_200_000,
  attemptTimeoutMs: 10_000,
  retryMs: 300_000,
  maxAttempts: 3,
};

export type PortMappingEvent =
  /**
   * Ask the router (host I/O) to map UDP `internal.port` of `internal.host` for `lifetimeMs`; a
   * renewal names the current mapping in `renew` (ask for the same external port). Answer with
   * `portMapped(now, request, …)` or `portMapFailed(now, request, …)` within `attemptTimeoutMs`.
   */
  | {
      readonly type: 'map_port';
      readonly request: number;
      readonly internal: Address;
      readonly lifetimeMs: number;
      readonly timeoutMs: number;
      readonly renew: { readonly external: Address; readonly protocol: PortMappingProtocol } | null;
    }
  /** delete this mapping on the router (host I/O, best effort, no answer expected) */
  | {
      readonly type: 'unmap_port';
      readonly internal: Address;
      readonly external: Address;
      readonly protocol: PortMappingProtocol;
    }
  /** the mapping's state changed (the status is also in `NatSession.status().portMapping`) */
  | { readonly type: 'port_mapping'; readonly status: PortMappingStatus };

/** What the host reports after a `map_port`. */
export interface PortMappedResult {
  readonly protocol: PortMappingProtocol;
  readonly external: Address;
  /** the lease the router granted */
  readonly lifetimeMs: number;
}

interface Lease {
  readonly protocol: PortMappingProtocol;
  readonly internal: Address;
  external: Address;
  expiresAt: number;
}

export class PortMapping {
  readonly #t: PortMappingTiming;
  readonly #emit: (e: PortMappingEvent) => void;
  readonly #log: ((m: string) => void) | undefined;
  #state: PortMappingState;
  #internal: Address | null = null;
  #lease: Lease | null = null;
  /** the attempt under way: its request id, deadline and whether it renews */
  #pending: { id: number; deadline: number; internal: Address; renew: boolean } | null = null;
  #nextRequest = 1;
  #nextAt: number | null = null;
  #attempts = 0;
  #renewals = 0;
  #error: PortMappingStatus['error'] = null;
  #gaveUp = false;

  constructor(
    enabled: boolean,
    timing: PortMappingTiming,
    emit: (e: PortMappingEvent) => void,
    log?: (m: string) => void,
  ) {
    this.#t = timing;
    this.#emit = emit;
    this.#log = log;
    this.#state = enabled ? 'idle' : 'off';
  }

  /**
   * The main socket's addresses (with its port). The first private IPv4 one is what a router on
   * the LAN can map; a change deletes the old mapping and asks again.
   */
  setHostAddresses(now: number, addresses: readonly Address[]): void {
    if (this.#state === 'off' || this.#state === 'closed') return;
    const lan = addresses.find(
      (a) => addressFamily(a) === 4 && isPrivateAddress(a.host) && !a.host.startsWith('127.'),
    );
    const internal = lan === undefined ? null : { host: canonicalHost(lan.host), port: lan.port };
    if (sameAddress(internal, this.#internal)) return;
    this.#internal = internal;
    this.#drop('address changed');
    if (this.#pending !== null) this.#abandon(this.#pending);
    this.#pending = null;
    this.#attempts = 0;
    this.#gaveUp = false;
    this.#error = null;
    if (internal === null) {
      this.#nextAt = null;
      this.#set('idle');
      return;
    }
    this.#attempt(now, false);
  }

  /**
   * The host's answer to `map_port` `request`: the router mapped `result.external`. What a router
   * says is network input: an unusable address or protocol is a refusal, never a throw.
   */
  mapped(now: number, request: number, result: PortMappedResult): void {
    const ip = typeof result?.external?.host === 'string' ? toIpAddress(result.external) : null;
    const protocol = PROTOCOLS.includes(result?.protocol) ? result.protocol : null;
    const p = this.#pending;
    if (p === null || p.id !== request || this.#state === 'closed') {
      // an abandoned attempt (timed out, addresses changed, closed) that did map: delete it
      const internal = p?.id !== request ? this.#internalOf(request) : null;
      if (ip !== null && ip.port > 0 && protocol !== null && internal !== null) {
        this.#emit({ type: 'unmap_port', internal, external: { host: ip.host, port: ip.port }, protocol });
      }
      return;
    }
    if (ip === null || ip.port === 0 || protocol === null) {
      this.#fail(now, 'REFUSED', `the router answered an unusable mapping: ${safeText(result)}`);
      return;
    }
    this.#pending = null;
    const external = { host: ip.host, port: ip.port };
    const granted = Number.isFinite(result.lifetimeMs) ? result.lifetimeMs : this.#t.lifetimeMs;
    const lifetime = Math.max(1000, Math.min(granted, this.#t.lifetimeMs * 4));
    if (isPrivateAddress(external.host) || addressFamily(external) !== 4 || external.host === '0.0.0.0') {
      this.#emit({ type: 'unmap_port', internal: p.internal, external, protocol: protocol });
      this.#drop('double NAT');
      this.#error = {
        code: 'DOUBLE_NAT',
        message: `the router (${protocol}) mapped ${external.host}:${external.port}, a private address: it is behind another NAT, so the mapping is of no use to peers`,
      };
      this.#gaveUp = true;
      this.#nextAt = null;
      this.#set('failed');
      return;
    }
    const old = this.#lease;
    if (old !== null && (old.protocol !== protocol || !sameAddress(old.external, external))) {
      this.#log?.(
        `port mapping: renewal moved ${old.external.host}:${old.external.port} -> ${external.host}:${external.port}`,
      );
    }
    this.#lease = { protocol: protocol, internal: p.internal, external, expiresAt: now + lifetime };
    this.#renewals++;
    this.#error = null;
    this.#attempts = 0;
    this.#nextAt = now + lifetime / 2;
    this.#log?.(
      `port mapping (${protocol}): ${external.host}:${external.port} -> ${p.internal.host}:${p.internal.port} for ${Math.round(lifetime / 1000)} s`,
    );
    this.#set('mapped', true);
  }

  /** The host's answer to `map_port` `request`: no router answered, or it refused. */
  failed(now: number, request: number, code: 'NO_GATEWAY' | 'REFUSED', message: string): void {
    const p = this.#pending;
    if (p === null || p.id !== request || this.#state === 'closed') return;
    this.#fail(now, code === 'REFUSED' ? 'REFUSED' : 'NO_GATEWAY', String(message));
  }

  handleTimeout(now: number): void {
    if (this.#state === 'off' || this.#state === 'closed') return;
    const p = this.#pending;
    if (p !== null && now >= p.deadline) {
      this.#fail(now, 'NO_GATEWAY', `no answer from a router within ${this.#t.attemptTimeoutMs} ms`);
    }
    const l = this.#lease;
    if (l !== null && now >= l.expiresAt) {
      this.#lease = null;
      this.#pending = null;
      this.#error = { code: 'EXPIRED', message: 'the lease ended without a successful renewal' };
      this.#log?.('port mapping: lease expired');
      this.#retryLater(now);
      return;
    }
    if (this.#pending === null && this.#nextAt !== null && now >= this.#nextAt) {
      this.#nextAt = null;
      this.#attempt(now, this.#lease !== null);
    }
  }

  pollTimeout(): number | null {
    if (this.#state === 'off' || this.#state === 'closed') return null;
    let t: number | null = this.#pending?.deadline ?? null;
    const min = (v: number | null) => {
      if (v !== null && (t === null || v < t)) t = v;
    };
    min(this.#lease?.expiresAt ?? null);
    if (this.#pending === null) min(this.#nextAt);
    return t;
  }

  /** The mapped endpoint while the lease holds (for records, cards and the dial verdict). */
  external(): Address | null {
    return this.#lease === null ? null : { ...this.#lease.external };
  }

  status(): PortMappingStatus {
    const l = this.#lease;
    return {
      state: this.#state,
      external: l === null ? null : { ...l.external },
      internal: l === null ? null : { ...l.internal },
      protocol: l?.protocol ?? null,
      expiresAt: l?.expiresAt ?? null,
      nextAt: this.#pending === null ? this.#nextAt : null,
      error: this.#error,
      attempts: this.#attempts,
      renewals: this.#renewals,
    };
  }

  /** Deletes the mapping (and whatever an attempt under way maps, when its answer comes). */
  close(): void {
    if (this.#state === 'off' || this.#state === 'closed') return;
    this.#drop('closing');
    this.#nextAt = null;
    this.#closedPending = this.#pending;
    this.#pending = null;
    this.#state = 'closed';
  }

  // ---------------------------------------------------------------- internals

  /** the attempt under way when close() came: its late success is deleted */
  #closedPending: { id: number; internal: Address } | null = null;
  /** recently abandoned attempts (timed out, superseded): their late successes are deleted */
  readonly #abandoned = new Map<number, Address>();

  #internalOf(request: number): Address | null {
    if (this.#closedPending?.id === request) return this.#closedPending.internal;
    return this.#abandoned.get(request) ?? null;
  }

  #attempt(now: number, renew: boolean): void {
    const internal = this.#internal;
    if (internal === null || this.#gaveUp) return;
    if (this.#pending !== null) this.#abandon(this.#pending);
    const id = this.#nextRequest++;
    this.#pending = { id, deadline: now + this.#t.attemptTimeoutMs, internal, renew };
    if (!renew) this.#attempts++;
    const l = this.#lease;
    this.#emit({
      type: 'map_port',
      request: id,
      internal: { ...internal },
      lifetimeMs: this.#t.lifetimeMs,
      timeoutMs: this.#t.attemptTimeoutMs,
      renew: renew && l !== null ? { external: { ...l.external }, protocol: l.protocol } : null,
    });
    if (!renew) this.#set('mapping');
  }

  #abandon(p: { id: number; internal: Address }): void {
    this.#abandoned.set(p.id, p.internal);
    // a bounded memory: answers come within the attempt timeout, never dozens of attempts later
    if (this.#abandoned.size > 8) this.#abandoned.delete(this.#abandoned.keys().next().value as number);
  }

  #fail(now: number, code: PortMappingErrorCode, message: string): void {
    const p = this.#pending;
    if (p !== null) this.#abandon(p);
    this.#pending = null;
    if (p?.renew && this.#lease !== null) {
      // keep the lease while it lasts; try again soon
      this.#log?.(`port mapping: renewal failed (${code}: ${message})`);
      this.#nextAt = Math.min(now + this.#t.attemptTimeoutMs, this.#lease.expiresAt);
      return;
    }
    this.#error = { code, message };
    this.#log?.(`port mapping: ${code}: ${message}`);
    this.#retryLater(now);
  }

  #retryLater(now: number): void {
    if (this.#attempts >= this.#t.maxAttempts) {
      this.#gaveUp = true;
      this.#nextAt = null;
    } else {
      this.#nextAt = now + this.#t.retryMs * 3 ** Math.max(0, this.#attempts - 1);
    }
    this.#set('failed', true);
  }

  /** Deletes the current mapping on the router (an `unmap_port` event). */
  #drop(why: string): void {
    const l = this.#lease;
    if (l === null) return;
    this.#lease = null;
    this.#log?.(`port mapping: deleting ${l.external.host}:${l.external.port} (${why})`);
    this.#emit({ type: 'unmap_port', internal: l.internal, external: l.external, protocol: l.protocol });
  }

  #set(state: PortMappingState, always = false): void {
    if (state === this.#state && !always) return;
    this.#state = state;
    this.#emit({ type: 'port_mapping', status: this.status() });
  }
}

const PROTOCOLS: readonly PortMappingProtocol[] = ['upnp-igd', 'nat-pmp', 'pcp'];

function safeText(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
}

function sameAddress(a: Address | null, b: Address | null): boolean {
  if (a === null || b === null) return a === b;
  return canonicalHost(a.host) === canonicalHost(b.host) && a.port === b.port;
}
