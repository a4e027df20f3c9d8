import { type LinkConfig, type NatConfig, Network } from '@srmudp/sim';
import type { Endpoint } from '../src/index.js';
import { addReflector, type Directory, type HostOptions, SimNatHost } from './harness.js';

/** RFC 5780 capable (alternate IP R1_ALT, ports 3478/3479), as coturn on two addresses */
export const R1 = { host: '203.0.113.200', port: 3478 };
export const R1_ALT = '203.0.113.202';
/** plain reflectors */
export const R2 = { host: '203.0.113.201', port: 3478 };
export const R3 = { host: '203.0.113.203', port: 3478 };

export const SERVERS = {
  /** two server IPs, one of them RFC 5780 capable: mapping and filtering classified */
  two: [R1, R2],
  /** two plain servers: mapping classified, filtering unknown */
  twoPlain: [R2, R3],
  /** one RFC 5780 server alone (OTHER-ADDRESS, CHANGE-REQUEST) */
  rfc5780: [R1],
  /** one plain server: mapping unknown */
  plain: [R2],
} as const satisfies Record<string, Endpoint[]>;

export interface SideSpec {
  /** NAT config without publicIp; null = a public host; 'sameAsA' = behind A's NAT */
  nat: Omit<NatConfig, 'publicIp'> | null | 'sameAsA';
  host?: Partial<Omit<HostOptions, 'name' | 'rng' | 'main' | 'nat'>>;
}

export interface TwoHosts {
  net: Network;
  dir: Directory;
  a: SimNatHost;
  b: SimNatHost;
}

/**
 * Two homes (both LANs 192.168.1.0/24, as NATLAB-NOTES §2) and three reflectors on the internet.
 * A is 192.168.1.10 behind natA (203.0.113.10), B is 192.168.1.20 behind natB (198.51.100.20), or
 * 192.168.1.11 behind natA with `nat: 'sameAsA'`.
 */
export function twoHosts(
  seed: number | string,
  sa: SideSpec,
  sb: SideSpec,
  opts: { servers?: readonly Endpoint[]; link?: LinkConfig } = {},
): TwoHosts {
  const net = new Network({ seed, defaultLink: opts.link ?? { latencyMs: 10 } });
  addReflector(net, 'r1', R1.host, R1_ALT);
  addReflector(net, 'r2', R2.host, null);
  addReflector(net, 'r3', R3.host, null);
  const dir: Directory = new Map();
  const servers = [...(opts.servers ?? SERVERS.two)];
  const mk = (name: string, side: SideSpec, lanIp: string, publicIp: string, natName: string) => {
    let main: Endpoint[];
    let nat: string | undefined;
    if (side.nat === null) {
      main = [{ host: publicIp, port: 5000 }];
    } else if (side.nat === 'sameAsA') {
      main = [{ host: lanIp, port: 5000 }];
      nat = 'natA';
    } else {
      net.addNat(natName, { publicIp, ...side.nat });
      main = [{ host: lanIp, port: 5000 }];
      nat = natName;
    }
    return new SimNatHost(net, dir, {
      name,
      rng: net.rng.fork(name),
      main,
      servers,
      ...(nat !== undefined ? { nat } : {}),
      ...side.host,
    });
  };
  const a = mk('a', sa, '192.168.1.10', '203.0.113.10', 'natA');
  const b = mk('b', sb, sb.nat === 'sameAsA' ? '192.168.1.11' : '192.168.1.20', '198.51.100.20', 'natB');
  return { net, dir, a, b };
}

/** Runs until both have gathered (or failed). */
export function gatherBoth(t: TwoHosts, maxTimeMs = 20_000): void {
  const done = (h: SimNatHost) => {
    const s = h.session.status().state;
    return s === 'ready' || s === 'failed' || s === 'off';
  };
  t.net.drive({ until: () => done(t.a) && done(t.b), maxTimeMs });
}

/** Both dial each other (simultaneous open) and run until both dials ended. */
export function dialBoth(t: TwoHosts, maxTimeMs = 40_000): void {
  t.a.connect(t.net.now, 'b');
  t.b.connect(t.net.now, 'a');
  const ended = (h: SimNatHost, p: string) => h.dials.get(p)!.state !== 'dialing';
  t.net.drive({ until: () => ended(t.a, 'b') && ended(t.b, 'a'), maxTimeMs });
}
