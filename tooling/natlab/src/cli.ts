#!/usr/bin/env node
// natlab CLI: clean up leftovers, list labs, or bring a lab up by hand for debugging.
//   node tooling/natlab/dist/cli.js down --prefix <p>
//   node tooling/natlab/dist/cli.js down --all-stale
//   node tooling/natlab/dist/cli.js list
//   node tooling/natlab/dist/cli.js up [--prefix p] [--A profile] [--B profile] [--ipv6] [--check]
//     (--ipv6: both sides dual-stack, IPv6 behind the home routers' stateful firewalls)
import { cleanStale, createLab, downPrefix, listNamespaces } from './lab.js';
import { readStates } from './registry.js';
import type { NatProfile } from './types.js';

const [cmd, ...rest] = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : undefined;
};

async function main(): Promise<number> {
  if (cmd === 'down') {
    if (rest.includes('--all-stale')) {
      const gone = cleanStale();
      console.log(gone.length ? `deleted ${gone.join(' ')}` : 'no stale lab namespaces');
      return 0;
    }
    const prefix = flag('prefix');
    if (!prefix) {
      console.error('usage: cli.js down --prefix <p> | --all-stale');
      return 2;
    }
    const gone = downPrefix(prefix);
    console.log(gone.length ? `deleted ${gone.join(' ')}` : `no namespaces with prefix ${prefix}`);
    return 0;
  }
  if (cmd === 'list') {
    for (const s of readStates()) console.log(`${s.prefix} pid=${s.pid} created=${s.created}`);
    for (const ns of listNamespaces()) console.log(`  ${ns}`);
    return 0;
  }
  if (cmd === 'up') {
    const prefix = flag('prefix');
    const ipv6 = rest.includes('--ipv6') ? ('firewall' as const) : false;
    const lab = createLab({
      ...(prefix ? { prefix } : {}),
      A: { profile: (flag('A') ?? 'eim') as NatProfile, ipv6 },
      B: { profile: (flag('B') ?? 'eim') as NatProfile, ipv6 },
      keepOnExit: true,
    });
    await lab.up();
    console.log(
      `lab ${lab.prefix} up: ${lab
        .nodes()
        .map((n) => lab.ns(n))
        .join(' ')}`,
    );
    if (rest.includes('--check')) console.log(JSON.stringify(await lab.selfCheck(), null, 2));
    console.log(`remove with: node tooling/natlab/dist/cli.js down --prefix ${lab.prefix}`);
    return 0;
  }
  console.error(
    'usage: cli.js down --prefix <p> | down --all-stale | list | up [--prefix p] [--A profile] [--B profile] [--ipv6] [--check]',
  );
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
