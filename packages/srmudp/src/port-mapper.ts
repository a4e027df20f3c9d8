/**
 * The router I/O of port mapping (the rules are `@srmudp/punch`'s PortMapping): NAT-PMP to the
 * default gateway (nat-pmp.ts), then UPnP-IGD found by our SSDP search (ssdp-search.ts) and
 * driven through `@achingbrain/nat-port-mapper` (README "Port mapping" says why this library,
 * why not its two UDP clients, and which of its defects are worked around here). The
 * driver calls it on the NAT session's `map_port` / `unmap_port`; every call is bounded by the
 * session's timeout and runs in the background.
 */
import { readFileSync } from 'node:fs';
import type { Gateway } from '@achingbrain/nat-port-mapper';
import type { Endpoint, PortMappedResult, PortMappingProtocol } from '@srmudp/punch';
import {
  encodeExternalAddressRequest,
  encodeMapUdpRequest,
  mapAnswerFor,
  NAT_PMP_PORT,
  PMP_RESULTS,
  type PmpResponse,
  pmpExchange,
} from './nat-pmp.js';
import { IGD2_DEVICE, searchDevice } from './ssdp-search.js';

/** What the driver needs from a port mapper (tests may pass a scripted one). */
export interface PortMapperIo {
  /** Maps UDP `internal` on the router; rejects with a {@link PortMapError}. */
  map(request: {
    internal: Endpoint;
    lifetimeMs: number;
    timeoutMs: number;
    renew: { external: Endpoint; protocol: PortMappingProtocol } | null;
  }): Promise<PortMappedResult>;
  /** Deletes a mapping (best effort, bounded by `timeoutMs`). */
  unmap(
    mapping: { internal: Endpoint; external: Endpoint; protocol: PortMappingProtocol },
    timeoutMs: number,
  ): Promise<void>;
  /** Stops the map attempts under way and refuses new ones (deletes still run, bounded). */
  close(): void;
}

export class PortMapError extends Error {
  constructor(
    readonly code: 'NO_GATEWAY' | 'REFUSED',
    message: string,
  ) {
    super(message);
    this.name = 'PortMapError';
  }
}

const WAN_IP_CONNECTION_2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';

type Library = typeof import('@achingbrain/nat-port-mapper');
let library: Promise<Library> | null = null;
/** The library is loaded at the first router request: a node that never asks never pays for it. */
const lib = (): Promise<Library> => {
  library ??= import('@achingbrain/nat-port-mapper');
  return library;
};
/** NAT-PMP answers in milliseconds on a LAN; a router without it stays silent (or ICMP). */
const PMP_TIMEOUT_MS = 1500;

/** A NAT-PMP answer with a result code (RFC 6886 §3.5) as the mapper's error. */
function refusal(r: PmpResponse): PortMapError {
  return new PortMapError('REFUSED', `NAT-PMP result ${r.result}: ${PMP_RESULTS[r.result] ?? 'unknown'}`);
}
/**
 * SSDP's M-SEARCH is one UDP datagram to a multicast group: the UPnP Device Architecture (1.1,
 * §1.3.2) asks control points to send it more than once. Sent again at this interval until a
 * gateway answers or the attempt ends, so one lost datagram (or a router that starts answering
 * a moment after the search) does not cost the whole attempt and the wait until the next one
 * (punch's port-mapping.ts: minutes).
 */
const SSDP_SEARCH_INTERVAL_MS = 2000;

/** The part of the library's UPnP gateway object used to delete a mapping correctly (see unmap). */
interface SoapDevice {
  run(
    service: string,
    action: string,
    args: Array<[string, string | number]>,
    o?: { signal?: AbortSignal },
  ): Promise<unknown>;
}

/**
 * The default IPv4 gateway from /proc/net/route (Linux), or null (another OS, no default route):
 * NAT-PMP and PCP talk to it. UPnP-IGD needs no gateway address (SSDP multicast finds it).
 */
export function defaultGateway4(routeTable?: string): string | null {
  let text = routeTable;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/net/route', 'utf8');
    } catch {
      return null;
    }
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Iface Destination Gateway Flags …; RTF_GATEWAY = 0x2
    if (f.length < 4 || f[1] !== '00000000' || (Number.parseInt(f[3]!, 16) & 2) === 0) continue;
    const hex = f[2]!;
    if (!/^[0-9A-Fa-f]{8}$/.test(hex)) continue;
    const n = Number.parseInt(hex, 16);
    // little-endian on the machines Node runs on
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
  }
  return null;
}

/** Port mapping with the router through NAT-PMP, then UPnP-IGD. */
export class RouterPortMapper implements PortMapperIo {
  #upnp: Gateway | null = null;
  readonly #aborts = new Set<AbortController>();
  #closed = false;

  /**
   * `protocols`: the ones tried, in this order (a renewal starts with the lease's own). Every
   * protocol by default; tests ask for NAT-PMP alone, which talks to `gateway()` only, never to
   * the network around it as SSDP's multicast does.
   */
  constructor(
    private readonly log?: (m: string) => void,
    private readonly gateway: () => string | null = defaultGateway4,
    private readonly protocols: readonly PortMappingProtocol[] = ['nat-pmp', 'upnp-igd'],
  ) {}

  async map(request: Parameters<PortMapperIo['map']>[0]): Promise<PortMappedResult> {
    const ac = this.#abortAfter(request.timeoutMs, true);
    const errors: string[] = [];
    let refused: string | null = null;
    try {
      const first = request.renew?.protocol;
      const order = this.protocols
        .filter((p) => p === first)
        .concat(this.protocols.filter((p) => p !== first));
      for (const protocol of order) {
        if (ac.signal.aborted || this.#closed) break;
        try {
          return protocol === 'nat-pmp'
            ? await this.#pmp(request, ac.signal)
            : await this.#igd(request, ac.signal);
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          errors.push(`${protocol}: ${msg}`);
          if (e instanceof PortMapError && e.code === 'REFUSED') refused ??= `${protocol}: ${msg}`;
        }
      }
    } finally {
      this.#done(ac);
    }
    if (refused !== null) throw new PortMapError('REFUSED', refused);
    throw new PortMapError('NO_GATEWAY', errors.join('; ') || 'closed');
  }

  async unmap(m: Parameters<PortMapperIo['unmap']>[0], timeoutMs: number): Promise<void> {
    const ac = this.#abortAfter(timeoutMs, false);
    try {
      if (m.protocol === 'nat-pmp') {
        const gw = this.gateway();
        if (gw === null) return;
        // RFC 6886 §3.4: lifetime 0 and external port 0 delete the mapping of this internal port
        const r = await pmpExchange(
          gw,
          encodeMapUdpRequest(m.internal.port, 0, 0),
          mapAnswerFor(m.internal.port),
          ac.signal,
        );
        if (r.result !== 0) throw refusal(r);
        return;
      }
      const g = this.#upnp;
      if (g === null) return;
      // the library's unmap() sends an empty NewProtocol and the internal port as the external
      // one (routers keep the mapping): DeletePortMapping is sent here with the right fields
      const device = (g as unknown as { gateway?: Partial<SoapDevice> }).gateway;
      if (typeof device?.run === 'function') {
        await device.run(
          WAN_IP_CONNECTION_2,
          'DeletePortMapping',
          [
            ['NewRemoteHost', ''],
            ['NewExternalPort', m.external.port],
            ['NewProtocol', 'UDP'],
          ],
          { signal: ac.signal },
        );
      } else {
        await g.unmap(m.internal.port, { signal: ac.signal });
      }
    } catch (e) {
      this.log?.(
        `port mapping: delete ${m.external.host}:${m.external.port} failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      this.#done(ac);
    }
  }

  close(): void {
    this.#closed = true;
    for (const ac of this.#aborts) ac.abort();
    this.#aborts.clear();
  }

  // ---------------------------------------------------------------- protocols

  async #pmp(r: Parameters<PortMapperIo['map']>[0], outer: AbortSignal): Promise<PortMappedResult> {
    const gw = this.gateway();
    if (gw === null) throw new PortMapError('NO_GATEWAY', 'no default IPv4 gateway');
    // The timeout is a controller of ours, held until `finally`, not AbortSignal.timeout(): Node
    // 20's AbortSignal.any holds its sources weakly, so an AbortSignal.timeout() that nothing
    // else references can be garbage-collected before it fires, and the composite then never
    // aborts (nodejs/node#57736). A silent gateway then held the attempt to punch's 10 s limit
    // and UPnP-IGD was never tried: the lab's upnp-igd case failed in CI when a collection came
    // at the wrong moment.
    const timeout = this.#abortAfter(PMP_TIMEOUT_MS, false);
    const signal = AbortSignal.any([outer, timeout.signal]);
    try {
      const seconds = Math.max(1, Math.round(r.lifetimeMs / 1000));
      const ext = await pmpExchange(gw, encodeExternalAddressRequest(), (x) => x.op === 'external', signal);
      if (ext.op !== 'external' || ext.result !== 0) throw refusal(ext);
      const m = await pmpExchange(
        gw,
        encodeMapUdpRequest(r.internal.port, r.renew?.external.port ?? r.internal.port, seconds),
        mapAnswerFor(r.internal.port),
        signal,
      );
      if (m.op !== 'map-udp' || m.result !== 0) throw refusal(m);
      return {
        protocol: 'nat-pmp',
        external: { host: ext.address, port: m.externalPort },
        lifetimeMs: m.lifetimeS * 1000,
      };
    } catch (e) {
      if (e instanceof PortMapError) throw e;
      throw new PortMapError(
        'NO_GATEWAY',
        signal.aborted ? `no answer from ${gw}:${NAT_PMP_PORT}` : (e as Error).message,
      );
    } finally {
      this.#done(timeout);
    }
  }

  async #igd(r: Parameters<PortMapperIo['map']>[0], signal: AbortSignal): Promise<PortMappedResult> {
    let g = this.#upnp;
    if (g === null) {
      // our own search (ssdp-search.ts says why not the library's), then the library's gateway
      // object from the location found
      const location = await searchDevice({
        st: IGD2_DEVICE,
        intervalMs: SSDP_SEARCH_INTERVAL_MS,
        signal,
        ...(this.log ? { log: this.log } : {}),
      });
      if (location === null) throw new PortMapError('NO_GATEWAY', 'no UPnP-IGD (v2) gateway answered SSDP');
      try {
        g = await (await lib()).upnpNat({ autoRefresh: false }).getGateway(location, { signal });
      } catch (e) {
        throw new PortMapError(
          'NO_GATEWAY',
          `the UPnP device at ${location.href} is no usable IGD v2 gateway: ${(e as Error).message}`,
        );
      }
      this.#upnp = g;
      this.log?.(`port mapping: UPnP-IGD gateway ${g.host}:${g.port}`);
    }
    try {
      const m = await g.map(r.internal.port, r.internal.host, {
        protocol: 'udp',
        externalPort: r.renew?.external.port ?? r.internal.port,
        // UPnP leases are given in ms here (the library asks for at least an hour)
        ttl: r.lifetimeMs,
        autoRefresh: false,
        description: 'srmudp',
        signal,
      });
      return {
        protocol: 'upnp-igd',
        external: { host: m.externalHost, port: m.externalPort },
        lifetimeMs: Math.max(r.lifetimeMs, 3_600_000),
      };
    } catch (e) {
      // the gateway may have gone (a new network, a router reboot): found again next time
      this.#upnp = null;
      throw new PortMapError(signal.aborted ? 'NO_GATEWAY' : 'REFUSED', (e as Error).message);
    }
  }

  /** A controller aborted after `ms`; a map attempt's (`cancellable`) also by close(). */
  #abortAfter(ms: number, cancellable: boolean): AbortController {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), Math.max(1, ms));
    t.unref();
    ac.signal.addEventListener('abort', () => clearTimeout(t), { once: true });
    if (cancellable) {
      this.#aborts.add(ac);
      if (this.#closed) ac.abort();
    }
    return ac;
  }

  #done(ac: AbortController): void {
    this.#aborts.delete(ac);
    ac.abort();
  }
}
