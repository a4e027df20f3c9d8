import type { PeerStatus } from '../../node.js';
import { formatPath, formatRtt } from '../format.js';
import type { Peer } from './roster.js';

/** The /peers table: one row per peer with its state, path, RTTs, loss and byte counts. */
export function peersTable(peers: readonly Peer[], status: Readonly<Record<string, PeerStatus>>): string[] {
  const rows = [['peer', 'state', 'path', 'rtt', 'min rtt', 'loss', 'sent', 'received', 'id', 'last error']];
  for (const p of peers) {
    const s = status[p.peerId];
    const path = formatPath(s?.path);
    const c = p.conn && !p.conn.isClosed ? p.conn.stats() : null;
    rows.push([
      p.nick ?? '?',
      s?.state ?? (p.conn ? 'established' : 'closed'),
      path,
      s?.rttMs != null ? formatRtt(s.rttMs) : '-',
      c?.rttMeasured ? formatRtt(c.minRttMs) : '-',
      s?.lossRate != null ? `${(s.lossRate * 100).toFixed(1)}%` : '-',
      formatCount(s?.bytesSent ?? 0),
      formatCount(s?.bytesReceived ?? 0),
      `${p.peerId.slice(0, 12)}...`,
      s?.lastError ? s.lastError.code : '',
    ]);
  }
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** Bytes for the peers table: 2143, 12.3k, 4.5M. */
function formatCount(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 10_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}
