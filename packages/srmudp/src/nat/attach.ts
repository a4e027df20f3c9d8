import { randomBytes } from 'node:crypto';
import type { Candidate } from '@srmudp/rendezvous';
import type { SrmudpNode } from '../node.js';
import { NatTraversal, type NatTraversalOptions } from './nat-traversal.js';
import { resolveStunServers } from './stun-servers.js';

const debugEnabled = /(^|,)\s*srmudp:(nat|\*)|(^|,)\s*\*/.test(process.env.DEBUG ?? '');

/**
 * Creates the node's NAT module on its bound socket and waits for the first gathering (mapping
 * known, or UDP_BLOCKED after `timeoutMs`), so the first contact card already carries the
 * reflexive candidates. STUN responses arrive through the node's 'stun' events (the endpoint's
 * responder answers requests itself); requests leave through `node.transport`.
 */
export async function attachNat(
  node: SrmudpNode,
  stunServers: readonly string[],
  opts: { republish?: boolean } & Partial<
    Pick<NatTraversalOptions, 'timeoutMs' | 'refreshMs' | 'interfacePollMs' | 'lanGraceMs'>
  > = {},
): Promise<NatTraversal> {
  const servers = await resolveStunServers(stunServers);
  const { republish, ...timing } = opts;
  const nat = new NatTraversal({
    stunServers: servers,
    random: (n) => new Uint8Array(randomBytes(n)),
    send: (data, host, port) => {
      node.transport.send(data, host, port);
    },
    hostAddresses: () =>
      node
        .candidates()
        .filter((c) => c.kind === 'host')
        .map((c) => ({ host: c.host, port: c.port })),
    localPort: () => node.address().port,
    deliver: (data, from) => node.receiveFromNat(data, from),
    bindHost: () => (node.address().family === 6 ? '0.0.0.0' : node.address().host),
    ...timing,
    ...(debugEnabled ? { log: (m: string) => process.stderr.write(`srmudp:nat ${m}\n`) } : {}),
  });
  node.on('stun', (e: { from: { host: string; port: number }; data: Uint8Array }) => {
    nat.handleStun(e.from, e.data);
  });
  if (republish && node.rendezvous.backends.length > 0) {
    // a new mapping (NAT reboot, network change): peers resolving our card must find it
    nat.on('changed', () => {
      node.publish().catch(() => {
        /* best effort: the next change or an explicit publish() retries */
      });
    });
  }
  await nat.start();
  return nat;
}

/**
 * Host candidates with the reflexive ones inserted before loopback addresses (records keep the
 * first 8 candidates: LAN first, then public mappings, loopback last).
 */
export function withReflexive(host: readonly Candidate[], reflexive: readonly Candidate[]): Candidate[] {
  const loop = (c: Candidate) => c.host === '::1' || c.host.startsWith('127.');
  const out = host.filter((c) => !loop(c));
  for (const r of reflexive) if (!host.some((c) => c.host === r.host && c.port === r.port)) out.push(r);
  for (const c of host) if (loop(c)) out.push(c);
  return out;
}
