import { randomBytes } from 'node:crypto';
import { hasTool } from './lab.js';
import { runSync } from './run.js';

let cached: { ok: boolean; reason?: string } | undefined;

/**
 * Whether this machine can run the lab: root, `ip netns add` works, nft and iptables present.
 * Synchronous (usable in `describe.runIf`) and cached. `reason` says why not.
 */
export function canRunLab(): { ok: boolean; reason?: string } {
  if (cached) return cached;
  cached = probe();
  return cached;
}

function probe(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux')
    return { ok: false, reason: `needs Linux network namespaces (platform ${process.platform})` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ok: false, reason: `needs root (uid ${process.getuid()}); CI runs the lab suite as root` };
  }
  for (const t of ['ip', 'nft', 'iptables', 'sysctl']) {
    if (!hasTool(t))
      return {
        ok: false,
        reason: `${t} not installed (apt-get install -y iproute2 nftables iptables procps)`,
      };
  }
  const ns = `nlcan${randomBytes(2).toString('hex')}`;
  const add = runSync(['ip', 'netns', 'add', ns]);
  if (add.code !== 0) return { ok: false, reason: `ip netns add failed: ${add.stderr.trim()}` };
  const nft = runSync(['ip', 'netns', 'exec', ns, 'nft', 'add', 'table', 'ip', 'probe']);
  runSync(['ip', 'netns', 'del', ns]);
  if (nft.code !== 0) return { ok: false, reason: `nft inside a namespace failed: ${nft.stderr.trim()}` };
  return { ok: true };
}
