import { type Address, type LinkConfig, type NatConfig, Network } from '@srmudp/sim';
import { addReflector, PeerNode, type PeerOptions, secret, socketsFor } from './harness.js';

export const R1 = { host: '203.0.113.200', port: 3478 };
export const R1_ALT = '203.0.113.202';
export const R2 = { host: '203.0.113.201', port: 3478 };

export interface TwoPeers {
  net: Network;
  a: PeerNode;
  b: PeerNode;
}

export interface SideSpec {
  /** NAT config without publicIp, or null for a public host, or 'sameAs-a' to sit behind A's NAT */
  nat: Omit<NatConfig, 'publicIp'> | null | 'sameAsA';
  /** extra (birthday) sockets to bind */
  sockets?: number;
  peer?: Partial<PeerOptions>;
}

/**
 * Two homes (both LANs 192.168.1.0/24, as NATLAB-NOTES §2), two reflectors on the internet (one
 * RFC 5780 capable with an alternate IP).
 */
export function twoPeers(
  seed: number | string,
  sa: SideSpec,
  sb: SideSpec,
  link: LinkConfig = { latencyMs: 10 },
): TwoPeers {
  const net = new Network({ seed, defaultLink: link });
  addReflector(net, 'r1', R1.host, R1_ALT);
  addReflector(net, 'r2', R2.host, null);
  const reflectors = [R1, R2];
  const mk = (
    name: string,
    side: SideSpec,
    lanIp: string,
    publicIp: string,
    natName: string,
    sharedNat?: string,
  ) => {
    const sec = secret(typeof seed === 'number' ? seed : 7);
    const rng = net.rng.fork(name);
    let addresses: Address[];
    let opts = {};
    if (side.nat === null) {
      addresses = socketsFor(publicIp, 5000, side.sockets ?? 0);
    } else if (side.nat === 'sameAsA') {
      addresses = socketsFor(lanIp, 5000, side.sockets ?? 0);
      opts = { nat: sharedNat! };
    } else {
      net.addNat(natName, { publicIp, ...side.nat });
      addresses = socketsFor(lanIp, 5000, side.sockets ?? 0);
      opts = { nat: natName };
    }
    const p = new PeerNode({ name, secret: sec, rng, addresses, reflectors, ...side.peer });
    net.addHost(name, p, addresses, opts);
    return p;
  };
  const a = mk('a', sa, '192.168.1.10', '203.0.113.10', 'natA');
  const b = mk(
    'b',
    sb,
    sb.nat === 'sameAsA' ? '192.168.1.11' : '192.168.1.20',
    '198.51.100.20',
    'natB',
    'natA',
  );
  return { net, a, b };
}
