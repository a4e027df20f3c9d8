import type { PathInfo } from '@srmudp/core';
import { peerIdToString } from '@srmudp/crypto';
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** '4M', '512k', '1.5G', '1000' (bytes) -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)i?b?$/i.exec(text.trim());
  if (!m) throw new RangeError(`"${text}" is not a size (examples: 1000, 512k, 4M, 1G)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] as string).toLowerCase()] as number;
  const n = Math.floor(Number(m[1]) * mult);
  if (n <= 0) throw new RangeError(`"${text}" must be more than 0 bytes`);
  return n;
}

/** A round-trip time rounded for people: "0.4 ms", "27 ms", "1.2 s". */
export function formatRtt(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A path as people read it: `direct 1.2.3.4:5` or `via gate <peer id start>` (relayed). */
export function formatPath(p: PathInfo | null | undefined): string {
  if (!p) return '-';
  if (p.kind === 'relayed') return `relayed via ${peerIdToString(p.via).slice(0, 12)}…`;
  return `direct ${p.address.host}:${p.address.port}`;
}
