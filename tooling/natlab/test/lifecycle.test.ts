import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { canRunLab } from '../src/can-run.js';
import { cleanStale, createLab, downPrefix, type Lab, listNamespaces } from '../src/lab.js';
import { runSync } from '../src/run.js';
import { ADDR } from '../src/types.js';
import { LAB, PROGRAMS, reportSkipWhenUnsupported } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Host state the lab must never change. */
function hostSnapshot() {
  const clean = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
  return {
    links: runSync(['ip', '-o', 'link', 'show']).stdout.replace(/\\.*$/gm, ''),
    addrs: runSync(['ip', '-o', 'addr', 'show']).stdout,
    routes: runSync(['ip', 'route', 'show', 'table', 'all']).stdout,
    routes6: runSync(['ip', '-6', 'route', 'show', 'table', 'all']).stdout,
    nft: runSync(['nft', 'list', 'ruleset']).stdout,
    iptables: clean(runSync(['iptables-save']).stdout),
    ip6tables: clean(runSync(['ip6tables-save']).stdout),
    sysctl: runSync([
      'sysctl',
      'net.ipv4.ip_forward',
      'net.ipv6.conf.all.forwarding',
      'net.ipv6.conf.all.disable_ipv6',
      'net.ipv6.conf.default.accept_dad',
      'net.netfilter.nf_conntrack_udp_timeout',
      'net.netfilter.nf_conntrack_udp_timeout_stream',
    ]).stdout,
  };
}

const ours = (lab: Lab) => listNamespaces().filter((n) => n.startsWith(`${lab.prefix}-`));

describe.runIf(LAB.ok)('natlab lifecycle', () => {
  const labs: Lab[] = [];
  const make = (...a: Parameters<typeof createLab>) => {
    const l = createLab(...a);
    labs.push(l);
    return l;
  };
  afterEach(async () => {
    await Promise.all(labs.splice(0).map((l) => l.down()));
  });

  it('canRunLab says yes as root with namespaces', () => {
    expect(canRunLab()).toEqual({ ok: true });
  });

  it('up is idempotent, down removes every namespace and process, the host is unchanged', async () => {
    const before = hostSnapshot();
    const lab = make({
      A: { profile: 'eim', hairpin: true, secondHost: true, udpTimeout: 10, udpTimeoutStream: 10 },
      B: { profile: 'cgnat', secondHost: true, ipv6: 'firewall' },
      impair: { natA: { delayMs: 5, lossPct: 1, rateKbit: 10_000, mtu: 1400 } },
    });
    const [a, b] = await Promise.all([lab.up(), lab.up()]);
    expect(a).toBe(lab);
    expect(b).toBe(lab);
    await lab.up();
    expect(ours(lab).sort()).toEqual(
      lab
        .nodes()
        .map((n) => lab.ns(n))
        .sort(),
    );
    expect(lab.nodes()).toEqual([
      'inet',
      'rdv',
      'natA',
      'hostA',
      'hostA2',
      'natB',
      'cgnB',
      'hostB',
      'hostB2',
    ]);
    for (const n of lab.nodes()) expect(lab.ns(n).length).toBeLessThanOrEqual(15);
    const sleeper = lab.spawn('hostA', ['sleep', '600']);
    // A stray process the lab did not start also holds a namespace (pitfall 3).
    const stray = spawn('ip', ['netns', 'exec', lab.ns('natB'), 'sleep', '600'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    const coturn = await lab.startCoturn();
    expect(existsSync(`/run/natlab/${lab.prefix}.json`)).toBe(true);
    // Nothing on the host side: no interfaces, rules, routes or sysctls changed.
    expect(hostSnapshot()).toEqual(before);
    await lab.down();
    expect(ours(lab)).toEqual([]);
    expect(sleeper.exit).toBeDefined();
    expect(coturn.process.exit).toBeDefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(stray.exitCode !== null || stray.signalCode !== null).toBe(true);
    expect(existsSync(`/run/natlab/${lab.prefix}.json`)).toBe(false);
    expect(hostSnapshot()).toEqual(before);
    await lab.down(); // twice is fine
    await expect(lab.exec('hostA', ['true'])).rejects.toMatchObject({ code: 'LAB_NOT_UP' });
  }, 30_000);

  it('two labs run at once without touching each other', async () => {
    const l1 = make({ A: 'eim', B: 'symmetric' });
    const l2 = make({ A: 'fullcone', B: 'restricted' });
    await Promise.all([l1.up(), l2.up()]);
    expect(l1.prefix).not.toBe(l2.prefix);
    const [r1, r2] = await Promise.all([l1.selfCheck(), l2.selfCheck()]);
    expect(r1.hosts.find((h) => h.host === 'hostB')?.measured.mapping).toBe('EDM');
    expect(r2.hosts.find((h) => h.host === 'hostA')?.measured.filtering).toBe('EIF');
    await l1.down();
    expect(ours(l1)).toEqual([]);
    expect(ours(l2)).toHaveLength(l2.nodes().length);
    expect((await l2.selfCheck()).ok).toBe(true);
  }, 30_000);

  it('refuses a prefix another live lab owns, without touching that lab', async () => {
    const first = await make().up();
    const second = make({ prefix: first.prefix });
    await expect(second.up()).rejects.toMatchObject({ code: 'LAB_SETUP_FAILED' });
    await second.down();
    expect(ours(first)).toHaveLength(first.nodes().length);
    expect((await first.exec('hostA', ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain(
      ADDR.hostA,
    );
  });

  it('a killed owner leaves nothing: SIGTERM tears down, SIGKILL leftovers go with cleanStale / down --prefix', async () => {
    const owner = (sig: NodeJS.Signals) =>
      new Promise<string[]>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--conditions=source', '--import', `${PROGRAMS}ts-loader.mjs`, `${FIXTURES}lab-owner.ts`],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        let err = '';
        child.stderr.on('data', (d) => {
          err += d;
        });
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`owner did not come up: ${err}`));
        }, 15_000);
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) {
            clearTimeout(timer);
            const msg = JSON.parse(out.split('\n')[0] ?? '{}') as { ns: string[] };
            child.on('close', () => resolve(msg.ns));
            child.kill(sig);
          }
        });
      });
    const termed = await owner('SIGTERM');
    expect(termed.length).toBe(7);
    expect(listNamespaces().filter((n) => termed.includes(n))).toEqual([]);

    const killed = await owner('SIGKILL');
    expect(listNamespaces().filter((n) => killed.includes(n))).toHaveLength(7);
    const prefix = (killed[0] ?? '').split('-')[0] ?? '';
    const gone = cleanStale();
    expect(gone.sort()).toEqual([...killed].sort());
    expect(listNamespaces().filter((n) => killed.includes(n))).toEqual([]);
    expect(downPrefix(prefix)).toEqual([]);
  }, 40_000);

  it('the CLI removes a lab by prefix', async () => {
    const lab = make({ prefix: `cli${Math.floor(Math.random() * 1e4)}`, keepOnExit: true });
    await lab.up();
    const r = runSync(
      [
        process.execPath,
        '--conditions=source',
        '--import',
        `${PROGRAMS}ts-loader.mjs`,
        fileURLToPath(new URL('../src/cli.ts', import.meta.url)),
        'down',
        '--prefix',
        lab.prefix,
      ],
      { timeoutMs: 15_000 },
    );
    expect(r.stdout).toMatch(/^deleted /);
    expect(r.stdout).toContain(lab.ns('inet'));
    expect(ours(lab)).toEqual([]);
  }, 30_000);
});

reportSkipWhenUnsupported();
