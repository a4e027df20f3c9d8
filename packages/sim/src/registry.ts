// Owns who is where: the hosts and NATs of a Network, the networks ("realms": the internet and
// the inside of each NAT) they sit on, which address belongs to whom in each, and which entities
// are adjacent (share a network). The Network validates its public arguments through it; the
// forwarder looks destinations up in its realms.
import { type Address, addressKey, checkAddress } from '@srmudp/wire';
import type { Nat } from './nat.js';
import type { SimNode } from './sim-node.js';
import type { TrafficStats } from './stats.js';
import type { SendFilter } from './transmit.js';

export interface HostEntry {
  kind: 'host';
  /** Creation order, never reused: identifies the host in the trace hash. */
  id: number;
  name: string;
  node: SimNode;
  addresses: Address[];
  keys: Set<string>;
  realm: string;
  timer: number | null;
  stats: TrafficStats;
  removed: boolean;
  /** drops some of what it sends (Network.setSendFilter), or null */
  filter: SendFilter | null;
}

export interface NatEntry {
  kind: 'nat';
  name: string;
  nat: Nat;
  /** The realm its public IP lives in. */
  outer: string;
}

export type Entity = HostEntry | NatEntry;

export interface Realm {
  /** addressKey -> host */
  hosts: Map<string, HostEntry>;
  /** ips owned by hosts (a packet to a known ip but unknown port is not sent to the gateway) */
  hostIps: Map<string, number>;
  /** public ip -> NAT whose outside is this realm */
  nats: Map<string, NatEntry>;
  /** the NAT whose inside this realm is, or null for the internet */
  gateway: NatEntry | null;
}

/** The realm of the public internet; every other realm is named after the NAT it is inside. */
export const INTERNET = '';

/** Hosts, NATs and the realms they live in (address ownership and adjacency). */
export class Registry {
  readonly hosts = new Map<string, HostEntry>();
  /** Live hosts in creation order: the polling order and the timer tie-break order. */
  readonly hostList: HostEntry[] = [];
  readonly nats = new Map<string, NatEntry>();
  readonly realms = new Map<string, Realm>();

  constructor() {
    this.realms.set(INTERNET, newRealm(null));
  }

  /** Registers a host (attached to its addresses by the caller with {@link attach}). */
  addHost(h: HostEntry): void {
    this.hosts.set(h.name, h);
    this.hostList.push(h);
  }

  /** Forgets a detached host; it is never polled again. */
  removeHost(h: HostEntry): void {
    h.removed = true;
    this.hosts.delete(h.name);
    this.hostList.splice(this.hostList.indexOf(h), 1);
  }

  /** Adds a NAT whose outside is `outer` and creates the realm of its inside. */
  addNat(name: string, nat: Nat, outer: string): void {
    const realm = this.realm(outer, `"behind" names no NAT: ${String(nat.behind)}`);
    if (realm.nats.has(nat.publicIp) || realm.hostIps.has(nat.publicIp)) {
      throw new RangeError(`address ${nat.publicIp} is already used in that network`);
    }
    const e: NatEntry = { kind: 'nat', name, nat, outer };
    realm.nats.set(nat.publicIp, e);
    this.nats.set(name, e);
    this.realms.set(name, newRealm(e));
  }

  /** Puts `h` at `addresses` in the realm of `nat` (default: the internet); throws before changing anything. */
  attach(h: HostEntry, addresses: Address[], nat: string | undefined): void {
    if (!Array.isArray(addresses) || addresses.length === 0) {
      throw new RangeError(`"addresses" expected a non-empty array of addresses`);
    }
    const realmName = nat ?? INTERNET;
    const realm = this.realm(realmName, `"nat" names no NAT: ${String(nat)}`);
    const keys = new Set<string>();
    for (const a of addresses) {
      checkAddress(a, 'address');
      const k = addressKey(a);
      if (realm.hosts.has(k) || keys.has(k))
        throw new RangeError(`address ${k} is already used in that network`);
      if (realm.nats.has(a.host))
        throw new RangeError(`address ${a.host} is a NAT's public IP in that network`);
      keys.add(k);
    }
    h.addresses = addresses.map((a) => ({ host: a.host, port: a.port }));
    h.keys = keys;
    h.realm = realmName;
    for (const a of h.addresses) {
      realm.hosts.set(addressKey(a), h);
      realm.hostIps.set(a.host, (realm.hostIps.get(a.host) ?? 0) + 1);
    }
  }

  /** Releases the addresses of `h` (datagrams in flight to them then find no route). */
  detach(h: HostEntry): void {
    const realm = this.realms.get(h.realm)!;
    for (const a of h.addresses) {
      realm.hosts.delete(addressKey(a));
      const c = (realm.hostIps.get(a.host) ?? 1) - 1;
      if (c === 0) realm.hostIps.delete(a.host);
      else realm.hostIps.set(a.host, c);
    }
    h.keys = new Set();
  }

  realm(name: string, msg: string): Realm {
    const r = this.realms.get(name);
    if (r === undefined) throw new RangeError(msg);
    return r;
  }

  host(name: string): HostEntry {
    const h = this.hosts.get(name);
    if (h === undefined) throw new RangeError(`no host named "${name}"`);
    return h;
  }

  nat(name: string): NatEntry {
    const e = this.nats.get(name);
    if (e === undefined) throw new RangeError(`no NAT named "${name}"`);
    return e;
  }

  /**
   * Datagrams only ever hop between entities on a common network, so a link between two others
   * would silently never be used: refuse it and say which hops exist.
   */
  checkAdjacent(from: string, to: string): void {
    const a = this.#networksOf(from);
    const b = this.#networksOf(to);
    if (a.some((r) => b.includes(r))) return;
    const where = (name: string, r: string[]) =>
      this.hosts.has(name) ? (r[0] === INTERNET ? 'on the internet' : `behind NAT "${r[0]}"`) : 'a NAT';
    throw new RangeError(
      `"${from}" (${where(from, a)}) and "${to}" (${where(to, b)}) are not adjacent: configure the hops between them (e.g. the host and its NAT)`,
    );
  }

  /** The networks an entity sits on: a host its own; a NAT its outside and its inside. */
  #networksOf(name: string): string[] {
    const h = this.hosts.get(name);
    if (h !== undefined) return [h.realm];
    const n = this.nats.get(name);
    if (n !== undefined) return [n.outer, n.name];
    throw new RangeError(`no host or NAT named "${name}"`);
  }
}

function newRealm(gateway: NatEntry | null): Realm {
  return { hosts: new Map(), hostIps: new Map(), nats: new Map(), gateway };
}
