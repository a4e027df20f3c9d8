import { rmSync, writeFileSync } from 'node:fs';
import { LabError } from './errors.js';
import type { Lab } from './lab.js';
import type { LabProcess } from './node-process.js';
import { ADDR, type Side } from './types.js';

/**
 * The public address a side's router maps ports on when it runs miniupnpd. miniupnpd 2.3 refuses
 * to map anything when its external address is private or reserved, and it counts the lab's
 * TEST-NET ranges (RFC 5737) as reserved; `ext_ip` may not be reserved either. So the router gets
 * a second WAN address outside those ranges, routed to it by inet (the lab's namespaces are
 * isolated: no host route or interface ever sees it). Mapped flows use it; masqueraded ones keep
 * the router's TEST-NET address.
 */
export const UPNP_EXTERNAL_IP: Readonly<Record<Side, string>> = {
  A: '198.51.102.10',
  B: '198.51.101.20',
};

export interface MiniupnpdOptions {
  /** Answer NAT-PMP/PCP (UDP 5351), default true. */
  readonly natpmp?: boolean;
  /** Answer UPnP-IGD (SSDP + HTTP), default true. */
  readonly upnp?: boolean;
  readonly timeoutMs?: number;
}

/** A running miniupnpd (Debian's) in a side's home router. */
export interface Miniupnpd {
  readonly side: Side;
  /** The external address its mappings use ({@link UPNP_EXTERNAL_IP}). */
  readonly externalIp: string;
  readonly process: LabProcess;
  /** The port-forwarding rules it holds now: `{ external port, internal host:port }` (UDP). */
  mappings(): Promise<{ externalPort: number; internal: string }[]>;
  stop(): Promise<void>;
}

/**
 * Starts miniupnpd in the home router of `side` (natA / natB; a stacked side's carrier NAT is in
 * front, so the mapping would be a double NAT's). Its nftables chains live in a table of their own
 * (`inet natlab_upnp`): a DNAT chain before the lab's NAT and an accept chain before the lab's
 * forward filter. Resolves once it listens for NAT-PMP and HTTP; stopped by `stop()` or `down()`.
 */
export async function startMiniupnpd(lab: Lab, side: Side, opts: MiniupnpdOptions = {}): Promise<Miniupnpd> {
  const router = side === 'A' ? 'natA' : 'natB';
  const wan = side === 'A' ? ADDR.publicA : ADDR.publicB;
  const ext = UPNP_EXTERNAL_IP[side];
  const tag = `/tmp/natlab-${lab.prefix}-miniupnpd-${side}`;
  const nft = `table inet natlab_upnp {
  chain forward { type filter hook forward priority filter - 5; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority dstnat - 5; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority srcnat - 5; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
`;
  writeFileSync(`${tag}.nft`, nft);
  await lab.exec(router, ['nft', '-f', `${tag}.nft`]).finally(() => rmSync(`${tag}.nft`, { force: true }));
  await lab.exec(router, ['ip', 'addr', 'add', `${ext}/32`, 'dev', 'wan0']);
  await lab.exec('inet', ['ip', 'route', 'replace', `${ext}/32`, 'via', wan]);
  const conf = [
    'ext_ifname=wan0',
    `ext_ip=${ext}`,
    'listening_ip=lan0',
    'http_port=0',
    `enable_natpmp=${opts.natpmp === false ? 'no' : 'yes'}`,
    `enable_upnp=${opts.upnp === false ? 'no' : 'yes'}`,
    'secure_mode=yes',
    'system_uptime=yes',
    'uuid=6c0e6a8e-3b1e-4c55-9d0a-5a7e1a0b7c01',
    'upnp_table_name=natlab_upnp',
    'upnp_nat_table_name=natlab_upnp',
    'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd',
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    'min_lifetime=120',
    'max_lifetime=86400',
    'allow 1024-65535 192.168.1.0/24 1024-65535',
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
  writeFileSync(`${tag}.conf`, conf);
  const proc = lab.spawn(router, ['miniupnpd', '-d', '-f', `${tag}.conf`, '-P', `${tag}.pid`]);
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    const ss = await lab.exec(router, ['ss', '-Hnlu', 'sport = :5351'], { check: false });
    const tcp = await lab.exec(router, ['ss', '-Hnltp'], { check: false });
    const pmpOk = opts.natpmp === false || ss.stdout.includes(':5351');
    const httpOk = opts.upnp === false || tcp.stdout.includes('miniupnpd');
    if (pmpOk && httpOk) break;
    if (proc.exit) {
      throw new LabError(
        'LAB_SETUP_FAILED',
        `miniupnpd exited: ${proc.stdout.slice(-2000)} ${proc.stderr.slice(-2000)}`,
      );
    }
    if (Date.now() > deadline) {
      await proc.kill(500);
      throw new LabError('LAB_TIMEOUT', `miniupnpd did not listen: ${proc.stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // read at start only; the pid file goes with the process (stop(), or the next start)
  rmSync(`${tag}.conf`, { force: true });
  return {
    side,
    externalIp: ext,
    process: proc,
    async mappings() {
      const r = await lab.exec(
        router,
        ['nft', 'list', 'chain', 'inet', 'natlab_upnp', 'prerouting_miniupnpd'],
        {
          check: false,
        },
      );
      const out: { externalPort: number; internal: string }[] = [];
      for (const m of r.stdout.matchAll(/dport (\d+) dnat ip to ([\d.]+:\d+)/g)) {
        out.push({ externalPort: Number(m[1]), internal: m[2]! });
      }
      return out;
    },
    async stop() {
      await proc.kill(1000);
      rmSync(`${tag}.pid`, { force: true });
    },
  };
}
