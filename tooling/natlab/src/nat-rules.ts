import type { RouterProfile, V6Profile } from './types.js';

export interface NatRulesInput {
  readonly profile: RouterProfile;
  /** The private network behind lan0 (192.168.1.0/24, or 100.64.0.0/24 for a carrier NAT). */
  readonly lanNet: string;
  /** This router's own WAN address (hairpin target). */
  readonly wanIp: string;
  readonly hairpin: boolean;
  /** Restrict new mappings to this port range (set by natReboot so the public port changes). */
  readonly portRange?: readonly [number, number] | undefined;
  /** Lifetime of the learned mappings of restricted/fullcone/hairpin, seconds. */
  readonly mapTimeout: number;
}

/**
 * The nft ruleset of one NAT router (NATLAB-NOTES §3), loaded atomically into table `ip natlab`.
 * Loading replaces any previous version (and so forgets learned mappings, like a reboot).
 */
export function natRuleset(o: NatRulesInput): string {
  const useMap = o.profile === 'restricted' || o.profile === 'fullcone' || o.hairpin;
  const useContacted = o.profile === 'restricted';
  const range = o.portRange ? ` to :${o.portRange[0]}-${o.portRange[1]}` : '';
  // fully-random skips conntrack's source-mapping reuse: that is what makes the mapping
  // endpoint-dependent (NATLAB-NOTES §7); plain masquerade stays EIM even when the port changes.
  const masq = o.profile === 'symmetric' ? `masquerade${range} fully-random` : `masquerade${range}`;
  const l: string[] = [];
  l.push('table ip natlab {');
  if (useMap) {
    l.push(
      `  map mapped { type inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${o.mapTimeout}s; }`,
    );
  }
  if (useContacted) {
    l.push(
      `  set contacted { type inet_service . ipv4_addr; flags dynamic,timeout; timeout ${o.mapTimeout}s; }`,
    );
  }
  l.push('  chain postrouting {');
  l.push('    type nat hook postrouting priority srcnat; policy accept;');
  if (o.hairpin) l.push(`    oifname "lan0" ip saddr ${o.lanNet} ct status dnat snat to ${o.wanIp}`);
  if (o.portRange) {
    // A port range needs a transport match; other protocols (ICMP) keep plain masquerade.
    l.push(`    oifname "wan0" ip saddr ${o.lanNet} meta l4proto { tcp, udp } ${masq}`);
    l.push(
      `    oifname "wan0" ip saddr ${o.lanNet} ${o.profile === 'symmetric' ? 'masquerade fully-random' : 'masquerade'}`,
    );
  } else l.push(`    oifname "wan0" ip saddr ${o.lanNet} ${masq}`);
  l.push('  }');
  if (useMap) {
    // Runs after SNAT: `udp sport` is already the public port, `ct original` the internal endpoint.
    l.push('  chain learn {');
    l.push('    type filter hook postrouting priority srcnat + 10; policy accept;');
    l.push(
      '    oifname "wan0" meta l4proto udp ct direction original update @mapped { udp sport : ct original ip saddr . ct original proto-src }',
    );
    if (useContacted)
      l.push('    oifname "wan0" meta l4proto udp update @contacted { udp sport . ip daddr }');
    l.push('  }');
    l.push('  chain prerouting {');
    l.push('    type nat hook prerouting priority dstnat; policy accept;');
    if (o.profile === 'restricted') {
      l.push(
        '    iifname "wan0" meta l4proto udp udp dport . ip saddr @contacted dnat ip to udp dport map @mapped',
      );
    } else if (o.profile === 'fullcone') {
      l.push('    iifname "wan0" meta l4proto udp dnat ip to udp dport map @mapped');
    }
    if (o.hairpin)
      l.push(`    iifname "lan0" ip daddr ${o.wanIp} meta l4proto udp dnat ip to udp dport map @mapped`);
    l.push('  }');
  }
  l.push('  chain forward {');
  l.push('    type filter hook forward priority filter; policy drop;');
  l.push('    ct state established,related accept');
  if (o.profile === 'udp-blocked') l.push('    iifname "lan0" oifname "wan0" udp dport != 53 drop');
  l.push('    iifname "lan0" accept');
  l.push('    ct status dnat accept');
  l.push('  }');
  // Unsolicited WAN input must be dropped before conntrack confirms it, else the router's own
  // stack leaves an entry that steals the host's later mapping (NATLAB-NOTES pitfall 1).
  l.push('  chain input {');
  l.push('    type filter hook input priority filter; policy accept;');
  l.push('    iifname "wan0" ct state established,related accept');
  l.push('    iifname "wan0" meta l4proto icmp accept');
  l.push('    iifname "wan0" drop');
  l.push('  }');
  l.push('}');
  return `${l.join('\n')}\n`;
}

/** Prefix that makes loading idempotent: create-if-missing, then delete, then the new table. */
export const REPLACE_TABLE = 'table ip natlab\ndelete table ip natlab\n';

export interface Firewall6Input {
  readonly profile: V6Profile;
  /** The home's routed IPv6 prefix behind lan0 (e.g. 2001:db8:1:a::/64). */
  readonly lanNet: string;
}

/**
 * The IPv6 firewall of one home router, table `ip6 natlab6` (no NAT: IPv6 homes get a routed
 * prefix). `firewall` follows RFC 6092's simple security: the forward chain lets out what the LAN
 * sends (source inside the home's prefix: no spoofing), lets in only what conntrack ties to it
 * (replies, related ICMPv6 errors) and drops the rest. ICMPv6 that RFC 4890 §4.3.1 says must not
 * be dropped passes in both directions (destination unreachable, packet too big, time exceeded,
 * parameter problem, echo), and the router's own input takes every ICMPv6 (neighbour discovery,
 * PMTUD) but drops unsolicited WAN UDP/TCP, like the IPv4 rules.
 */
export function firewall6Ruleset(o: Firewall6Input): string {
  const l: string[] = [];
  l.push('table ip6 natlab6 {');
  l.push('  chain forward {');
  l.push('    type filter hook forward priority filter; policy drop;');
  l.push('    ct state established,related accept');
  l.push(
    '    meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, echo-reply } accept',
  );
  l.push(`    iifname "lan0" oifname "wan0" ip6 saddr ${o.lanNet} accept`);
  l.push('  }');
  l.push('  chain input {');
  l.push('    type filter hook input priority filter; policy accept;');
  l.push('    iifname "wan0" ct state established,related accept');
  l.push('    iifname "wan0" meta l4proto ipv6-icmp accept');
  l.push('    iifname "wan0" drop');
  l.push('  }');
  l.push('}');
  return `${l.join('\n')}\n`;
}

/** Like {@link REPLACE_TABLE}, for the IPv6 firewall's table. */
export const REPLACE_TABLE6 = 'table ip6 natlab6\ndelete table ip6 natlab6\n';
