/**
 * P2: goodput through the NAT lab with 40 ms RTT, 1 % random loss and a 100 Mbit/s rate limit.
 *
 * Topology: hostA (192.168.1.10) behind natA (profile eim) sends to a sink on the public rdv host
 * (203.0.113.200). The impairments sit on natA's public link, both directions: 20 ms delay each
 * way (40 ms RTT), 1 % loss each way, tbf 100 Mbit/s each way. srmudp with each congestion
 * controller, and Linux TCP (the namespace's default congestion control) through the same lab.
 */
import { ADDR } from '@srmudp/natlab';
import { inEimLab, labWorker } from './lab.js';
import type { WorkerHandle } from './proc.js';
import { MB } from './stats.js';
import { type TimedTransferResult, timedTransfer } from './transfer.js';

export type P2Variant = 'newreno' | 'cubic' | 'bbr' | 'tcp' | 'tcp-cubic';

export interface P2Row {
  variant: P2Variant;
  label: string;
  goodputMbit: number;
  result: TimedTransferResult | null;
  /** srmudp: smoothed/min RTT and loss rate the sender's connection saw */
  rttMs: number | null;
  minRttMs: number | null;
  lossRate: number | null;
  /** TCP rows: the congestion control `ss -ti` showed on the sender's socket during the window */
  tcpCongestionSeen?: string | null;
  error?: string;
}

export interface P2Result {
  ran: boolean;
  reason?: string;
  topology: string;
  impairment: { delayMsEachWay: number; lossPctEachWay: number; rateMbit: number };
  warmupSeconds: number;
  windowSeconds: number;
  tcpCongestionControl: string | null;
  impairBackend: string | null;
  rows: P2Row[];
}

export const P2_TOPOLOGY =
  'hostA (192.168.1.10, sender) → natA (eim: masquerade, port-preserving) → natA public link ' +
  '(impaired both directions) → inet router → rdv 203.0.113.200 (receiver, public, no NAT)';

export async function runP2(opts: {
  warmupSeconds: number;
  windowSeconds: number;
  variants?: P2Variant[];
  log?: (s: string) => void;
}): Promise<P2Result> {
  const impairment = { delayMsEachWay: 20, lossPctEachWay: 1, rateMbit: 100 };
  const base: P2Result = {
    ran: false,
    topology: P2_TOPOLOGY,
    impairment,
    warmupSeconds: opts.warmupSeconds,
    windowSeconds: opts.windowSeconds,
    tcpCongestionControl: null,
    impairBackend: null,
    rows: [],
  };
  return inEimLab(base, async (lab) => {
    await lab.impair('natA', {
      delayMs: impairment.delayMsEachWay,
      lossPct: impairment.lossPctEachWay,
      rateKbit: impairment.rateMbit * 1000,
    });
    base.impairBackend = await lab.impairBackend();
    base.tcpCongestionControl = (
      await lab.exec('hostA', ['sysctl', '-n', 'net.ipv4.tcp_congestion_control'])
    ).stdout.trim();
    for (const variant of opts.variants ?? (['newreno', 'cubic', 'bbr', 'tcp', 'tcp-cubic'] as const)) {
      const isTcp = variant === 'tcp' || variant === 'tcp-cubic';
      const proto = isTcp ? 'tcp' : 'srmudp';
      const cc = isTcp ? [] : ['--congestion', variant];
      const label =
        variant === 'tcp'
          ? `Linux TCP (namespace default: ${base.tcpCongestionControl}) through the same lab`
          : variant === 'tcp-cubic'
            ? 'Linux TCP cubic through the same lab'
            : `srmudp, ${variant} congestion control`;
      let seen: string | null = null;
      const inspect = isTcp
        ? async () => {
            const r = await lab.exec('hostA', ['ss', '-tinH', 'state', 'established'], { check: false });
            seen = /\b(cubic|bbr|reno|bic|htcp|vegas|westwood)\b/.exec(r.stdout)?.[1] ?? null;
          }
        : undefined;
      let sink: WorkerHandle | null = null;
      let src: WorkerHandle | null = null;
      try {
        // cubic for TCP: a per-route congestion control in hostA's namespace (the namespace's
        // sysctl is read-only here); the default run uses the plain route. The sender's socket
        // is checked with `ss -ti` during the window.
        if (isTcp) {
          const congctl = variant === 'tcp-cubic' ? ['congctl', 'cubic'] : [];
          await lab.exec('hostA', [
            'ip',
            'route',
            'replace',
            'default',
            'via',
            ADDR.lanGateway,
            'dev',
            'eth0',
            ...congctl,
          ]);
        }
        sink = labWorker(lab, 'rdv', 'stream-sink', ['--proto', proto, '--host', ADDR.rdv, ...cc]);
        src = labWorker(lab, 'hostA', 'stream-source', ['--proto', proto, '--host', '0.0.0.0', ...cc]);
        const r = await timedTransfer(
          sink,
          src,
          proto,
          opts.warmupSeconds * 1000,
          opts.windowSeconds * 1000,
          inspect,
        );
        const st = r.senderStats;
        base.rows.push({
          variant,
          label,
          goodputMbit: (r.goodputBps * 8) / MB,
          result: r,
          rttMs: typeof st?.rttMs === 'number' ? st.rttMs : null,
          minRttMs: typeof st?.minRttMs === 'number' ? st.minRttMs : null,
          lossRate: typeof st?.lossRate === 'number' ? st.lossRate : null,
          ...(isTcp ? { tcpCongestionSeen: seen } : {}),
        });
        opts.log?.(`P2 ${variant}: ${((r.goodputBps * 8) / MB).toFixed(2)} Mbit/s`);
      } catch (err) {
        const msg = String((err as Error).message ?? err);
        opts.log?.(`P2 ${variant} failed: ${msg}`);
        base.rows.push({
          variant,
          label,
          goodputMbit: Number.NaN,
          result: null,
          rttMs: null,
          minRttMs: null,
          lossRate: null,
          error: msg,
        });
      } finally {
        await Promise.all([sink?.kill(2000), src?.kill(2000)]);
      }
    }
    base.ran = true;
    return base;
  });
}
