import { networkInterfaces } from 'node:os';
import type { AddressFamily } from './address.js';

/** One address of a local network interface: a host candidate for the punch layer (RFC 8445 §5.1.1.1). */
export interface LocalInterfaceAddress {
  /** IP literal; link-local IPv6 carries its zone ('fe80::1%eth0') so it can be sent to. */
  readonly host: string;
  readonly family: AddressFamily;
  /** Interface name as the OS reports it ('eth0', 'lo'). */
  readonly interface: string;
  /** True for loopback addresses. */
  readonly internal: boolean;
}

export interface LocalInterfacesOptions {
  /** Include loopback addresses (127.0.0.0/8, ::1). Default false: useless to a remote peer. */
  readonly internal?: boolean;
  /** Include link-local IPv6 (fe80::/10). Default false: only reachable on the same link, needs a zone. */
  readonly linkLocal?: boolean;
  /** Restrict to one family. Default: both. */
  readonly family?: AddressFamily;
}

function isLinkLocalV6(address: string): boolean {
  // fe80::/10 covers fe80.. through febf..
  const head = address.slice(0, 4).toLowerCase();
  return head === 'fe80' || head === 'fe90' || head === 'fea0' || head === 'feb0' || /^fe[89ab]/.test(head);
}

/**
 * Lists the host's own addresses from os.networkInterfaces(), IPv4 first then IPv6, skipping
 * loopback and link-local IPv6 unless asked. IPv4 link-local (169.254/16) is kept: some LANs use it.
 */
export function localInterfaces(options: LocalInterfacesOptions = {}): LocalInterfaceAddress[] {
  const wantInternal = options.internal === true;
  const wantLinkLocal = options.linkLocal === true;
  const v4: LocalInterfaceAddress[] = [];
  const v6: LocalInterfaceAddress[] = [];
  const seen = new Set<string>();
  const table = networkInterfaces();
  for (const name of Object.keys(table)) {
    for (const info of table[name] ?? []) {
      if (info.internal && !wantInternal) continue;
      if (info.family === 'IPv4') {
        if (options.family === 'IPv6' || seen.has(info.address)) continue;
        seen.add(info.address);
        v4.push({ host: info.address, family: 'IPv4', interface: name, internal: info.internal });
      } else {
        if (options.family === 'IPv4') continue;
        let host = info.address;
        if (isLinkLocalV6(host)) {
          if (!wantLinkLocal) continue;
          if (!host.includes('%')) host = `${host}%${name}`;
        }
        if (seen.has(host)) continue;
        seen.add(host);
        v6.push({ host, family: 'IPv6', interface: name, internal: info.internal });
      }
    }
  }
  return v4.concat(v6);
}
