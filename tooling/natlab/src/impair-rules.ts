import type { Impairment, LinkName } from './types.js';

/** inet-side interface of each public link. */
export const LINK_IF: Record<LinkName, string> = { natA: 'i-natA', natB: 'i-natB', rdv: 'i-rdv' };
/** NFQUEUE number of each link's delayer. */
export const LINK_QUEUE: Record<LinkName, number> = { natA: 101, natB: 102, rdv: 103 };

function per10k(pct: number): number {
  return Math.round(pct * 100);
}

/**
 * nft loss and duplication rules for all links (NATLAB-NOTES §4), one table `ip impair` in inet,
 * at forward priority filter - 10. Each direction draws its own random number, like netem on
 * each end of the link. Duplicates are sent by `dup to ip daddr` (every destination is on-link).
 * With `ipv6`, a table `ip6 impair6` applies the same to IPv6 (`dup to ip6 daddr`: the copy
 * follows the route to the destination, so routed home prefixes work too).
 */
export function impairRuleset(links: Partial<Record<LinkName, Impairment>>, ipv6 = false): string {
  const table = (family: 'ip' | 'ip6', name: string): string => {
    const l = [
      `table ${family} ${name} {`,
      '  chain forward {',
      '    type filter hook forward priority filter - 10; policy accept;',
    ];
    for (const [link, imp] of Object.entries(links) as [LinkName, Impairment][]) {
      const dev = LINK_IF[link];
      for (const dir of ['iifname', 'oifname']) {
        if (imp.lossPct) l.push(`    ${dir} "${dev}" numgen random mod 10000 < ${per10k(imp.lossPct)} drop`);
        if (imp.dupPct)
          l.push(
            `    ${dir} "${dev}" numgen random mod 10000 < ${per10k(imp.dupPct)} dup to ${family} daddr`,
          );
      }
    }
    l.push('  }', '}');
    return `table ${family} ${name}\ndelete table ${family} ${name}\n${l.join('\n')}\n`;
  };
  return table('ip', 'impair') + (ipv6 ? table('ip6', 'impair6') : '');
}

/** Checks an impairment's fields; throws RangeError with an exact message. */
export function validateImpairment(imp: Impairment): void {
  const pct = (k: 'lossPct' | 'dupPct' | 'reorderPct'): void => {
    const v = imp[k];
    if (v !== undefined && !(v >= 0 && v <= 100)) throw new RangeError(`"${k}" expected 0..100, got ${v}`);
  };
  pct('lossPct');
  pct('dupPct');
  pct('reorderPct');
  const ms = (k: 'delayMs' | 'jitterMs'): void => {
    const v = imp[k];
    if (v !== undefined && !(v >= 0 && v <= 10_000))
      throw new RangeError(`"${k}" expected 0..10000, got ${v}`);
  };
  ms('delayMs');
  ms('jitterMs');
  if (imp.rateKbit !== undefined && !(imp.rateKbit >= 8 && imp.rateKbit <= 10_000_000)) {
    throw new RangeError(`"rateKbit" expected 8..10000000, got ${imp.rateKbit}`);
  }
  if (imp.mtu !== undefined && !(Number.isInteger(imp.mtu) && imp.mtu >= 576 && imp.mtu <= 9000)) {
    throw new RangeError(`"mtu" expected an integer 576..9000, got ${imp.mtu}`);
  }
}

export function needsDelayer(imp: Impairment | undefined): boolean {
  return imp !== undefined && ((imp.delayMs ?? 0) > 0 || (imp.jitterMs ?? 0) > 0);
}

/**
 * tc netem arguments for one end of a link (kernels that have netem). netem's `reorder` sends
 * that share of packets without delay, which is what the fallback delayer does too.
 */
export function netemArgs(imp: Impairment): string[] {
  const a = ['netem', 'limit', '10000'];
  if (imp.delayMs || imp.jitterMs)
    a.push('delay', `${imp.delayMs ?? 0}ms`, ...(imp.jitterMs ? [`${imp.jitterMs}ms`] : []));
  if (imp.reorderPct && imp.delayMs) a.push('reorder', `${imp.reorderPct}%`);
  if (imp.lossPct) a.push('loss', `${imp.lossPct}%`);
  if (imp.dupPct) a.push('duplicate', `${imp.dupPct}%`);
  if (imp.rateKbit) a.push('rate', `${imp.rateKbit}kbit`);
  return a;
}
