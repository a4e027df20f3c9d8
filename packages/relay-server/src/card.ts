import type { Identity } from '@srmudp/crypto';
import { type Candidate, encodeCard, signRecord } from '@srmudp/rendezvous';
import { localInterfaces } from '@srmudp/transport-node';

/** UDP candidates for the card: the configured `announce` list, else this machine's interfaces. */
export function relayCandidates(
  announce: readonly string[],
  udpPort: number | null,
  udpHost: string,
): Candidate[] {
  if (udpPort === null || udpPort === 0) return [];
  if (announce.length > 0)
    return announce.slice(0, 8).map((a) => {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(a) as RegExpExecArray;
      const host = m[1] as string;
      return { kind: 'host', family: host.includes(':') ? 6 : 4, host, port: Number(m[2]) };
    });
  if (udpHost !== '0.0.0.0' && udpHost !== '::')
    return [{ kind: 'host', family: udpHost.includes(':') ? 6 : 4, host: udpHost, port: udpPort }];
  const ifs = localInterfaces();
  const list = ifs.length > 0 ? ifs : localInterfaces({ internal: true });
  return list
    .slice(0, 8)
    .map((i) => ({ kind: 'host', family: i.family === 'IPv6' ? 6 : 4, host: i.host, port: udpPort }));
}

/**
 * The relay's contact card: its peer id and a signed record of its UDP addresses (the manual
 * case: no rendezvous needed), valid 30 days; its WebSocket URL travels beside it as
 * `<url>#<peer id>` (issue 15's relay notation), since records hold IP candidates only.
 */
export function relayCard(identity: Identity, candidates: readonly Candidate[]): string {
  const now = Date.now();
  const record = signRecord(
    { peerId: identity.publicKey, seq: now, issuedAt: now, expiresAt: now + 30 * 24 * 3600_000, candidates },
    identity.secret,
  );
  return encodeCard({
    peerId: identity.publicKey,
    locators: [],
    record,
    name: 'srmudp-relay',
    app: 'srmudp-relay/1',
  });
}
