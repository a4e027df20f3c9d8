import { fileURLToPath } from 'node:url';
import { LabError } from './errors.js';
import type { Lab } from './lab.js';
import type { LabProcess } from './node-process.js';
import { ADDR, ADDR6, COTURN_PORT } from './types.js';

const STUN_PROBE = fileURLToPath(new URL('../programs/stun-probe.mjs', import.meta.url));

export interface CoturnOptions {
  /** STUN/TURN port (default 3480, next to the self-check reflector's 3478/3479). */
  readonly port?: number;
  /** IPv4 address to listen on (default 203.0.113.200). */
  readonly ip?: string;
  /**
   * "One STUN server only" (RFC 5780): coturn listens on a second IPv4 address too (`altIp`,
   * default 203.0.113.201) and on port + 1, so it answers OTHER-ADDRESS and CHANGE-REQUEST. The
   * lab checks before it returns that the answers really come from the other address and port
   * (LabError LAB_PROFILE_MISMATCH if not). With `ip6`, the same holds for IPv6.
   */
  readonly rfc5780?: boolean;
  readonly altIp?: string;
  /**
   * Listen on IPv6 too: `true` = 2001:db8:0:100::200 (alternate ::201 with `rfc5780`), or an
   * address of rdv. Needs a lab with IPv6.
   */
  readonly ip6?: boolean | string;
  readonly timeoutMs?: number;
}

/** Where each kind of Binding answer came from (programs/stun-probe.mjs, run from inet). */
export interface StunProbeAnswer {
  readonly from: { ip: string; port: number };
  readonly mapped: { ip: string; port: number } | null;
  readonly other: { ip: string; port: number } | null;
  readonly origin: { ip: string; port: number } | null;
}

export interface Rfc5780Check {
  /** The address the client asked (primary). */
  readonly server: { ip: string; port: number };
  /** OTHER-ADDRESS the server advertised: its alternate address and port. */
  readonly otherAddress: { ip: string; port: number } | null;
  readonly plain: StunProbeAnswer | null;
  readonly changePort: StunProbeAnswer | null;
  readonly changeIp: StunProbeAnswer | null;
  readonly changeBoth: StunProbeAnswer | null;
  /** Human-readable differences from RFC 5780 §7.2 behaviour; empty when the fixture is right. */
  readonly problems: readonly string[];
}

/** A running coturn (Debian `turnserver`) in rdv. */
export interface Coturn {
  readonly ip: string;
  /** STUN/TURN port (UDP and TCP); coturn also listens on port + 1 (RFC 5780 alternate). */
  readonly port: number;
  /** The IPv6 address it listens on too (`ip6` option), else null. */
  readonly ip6: string | null;
  /** With `rfc5780`: the second address (OTHER-ADDRESS is altIp:port + 1), else null. */
  readonly altIp: string | null;
  readonly altIp6: string | null;
  /** With `rfc5780`: the checks that passed before start returned (IPv4, then IPv6 if any). */
  readonly rfc5780: readonly Rfc5780Check[];
  /** Long-term credentials for TURN (STUN binding needs none). */
  readonly user: string;
  readonly password: string;
  readonly realm: string;
  readonly process: LabProcess;
  stop(): Promise<void>;
}

const same = (a: { ip: string; port: number } | null | undefined, ip: string, port: number): boolean =>
  a != null && a.ip === ip && a.port === port;
const show = (a: { ip: string; port: number } | null | undefined): string =>
  a ? `${a.ip.includes(':') ? `[${a.ip}]` : a.ip}:${a.port}` : 'nothing';

/**
 * What RFC 5780 §7.2 requires of a server at ip:port whose alternate is altIp:port + 1: the
 * plain answer comes from ip:port and names OTHER-ADDRESS altIp:port+1; "change port" answers
 * from ip:port+1, "change IP" from altIp:port, both from altIp:port+1. Pure (tested alone).
 */
export function rfc5780Problems(
  probe: Pick<Rfc5780Check, 'plain' | 'changePort' | 'changeIp' | 'changeBoth'>,
  ip: string,
  altIp: string,
  port: number,
): string[] {
  const out: string[] = [];
  const alt = port + 1;
  if (!same(probe.plain?.from, ip, port))
    out.push(`binding: expected an answer from ${show({ ip, port })}, got ${show(probe.plain?.from)}`);
  if (!same(probe.plain?.other, altIp, alt))
    out.push(`OTHER-ADDRESS: expected ${show({ ip: altIp, port: alt })}, got ${show(probe.plain?.other)}`);
  if (!same(probe.changePort?.from, ip, alt))
    out.push(
      `change port: expected an answer from ${show({ ip, port: alt })}, got ${show(probe.changePort?.from)}`,
    );
  if (!same(probe.changeIp?.from, altIp, port))
    out.push(
      `change IP: expected an answer from ${show({ ip: altIp, port })}, got ${show(probe.changeIp?.from)}`,
    );
  if (!same(probe.changeBoth?.from, altIp, alt))
    out.push(
      `change IP and port: expected an answer from ${show({ ip: altIp, port: alt })}, got ${show(probe.changeBoth?.from)}`,
    );
  return out;
}

async function probe5780(lab: Lab, ip: string, altIp: string, port: number): Promise<Rfc5780Check> {
  // From inet: no NAT or firewall filters the answers from the other address and port.
  const p = lab.spawnNode('inet', STUN_PROBE, [ip, String(port), '4000']);
  try {
    const r = (await p.next((m) => m.t === 'stun-probe', 15_000)) as unknown as Omit<
      Rfc5780Check,
      'server' | 'otherAddress' | 'problems'
    >;
    return {
      server: { ip, port },
      otherAddress: r.plain?.other ?? null,
      plain: r.plain,
      changePort: r.changePort,
      changeIp: r.changeIp,
      changeBoth: r.changeBoth,
      problems: rfc5780Problems(r, ip, altIp, port),
    };
  } finally {
    await p.kill(500);
  }
}

/**
 * Starts coturn in rdv on `ip:port` (default 203.0.113.200:3480, next to the self-check
 * reflector's 3478/3479) and resolves once it listens (and, with `rfc5780`, once its CHANGE-REQUEST
 * answers were checked). Stopped by `stop()` or `lab.down()`.
 */
export async function startCoturn(lab: Lab, opts: CoturnOptions = {}): Promise<Coturn> {
  const ip = opts.ip ?? ADDR.rdv;
  const port = opts.port ?? COTURN_PORT;
  const altIp = opts.rfc5780 ? (opts.altIp ?? ADDR.rdvAlt) : null;
  if (altIp !== null && altIp === ip) throw new RangeError('"altIp" must differ from "ip"');
  if (opts.ip6 && !lab.hasIpv6) throw new RangeError('"ip6" needs a lab with IPv6');
  const ip6 = opts.ip6 === true ? ADDR6.rdv : typeof opts.ip6 === 'string' ? opts.ip6 : null;
  const altIp6 = ip6 !== null && opts.rfc5780 ? (ip6 === ADDR6.rdvAlt ? ADDR6.rdv : ADDR6.rdvAlt) : null;
  const user = 'natlab';
  const password = 'natlab-secret';
  const realm = 'natlab.test';
  const listen = [ip, altIp, ip6, altIp6].filter((a): a is string => a !== null);
  const proc = lab.spawn('rdv', [
    'turnserver',
    '-n', // no config file: everything is on this command line
    // coturn pairs its listening addresses for RFC 5780 in the order given: primary first.
    ...listen.map((a) => `--listening-ip=${a}`),
    `--relay-ip=${ip}`,
    ...(ip6 !== null ? [`--relay-ip=${ip6}`] : []),
    `--listening-port=${port}`,
    `--alt-listening-port=${port + 1}`,
    '--min-port=49152',
    '--max-port=65535',
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '--fingerprint',
    '--lt-cred-mech',
    `--user=${user}:${password}`,
    `--realm=${realm}`,
    '--log-file=stdout',
    '--simple-log',
    `--pidfile=/tmp/natlab-${lab.prefix}-turnserver.pid`,
  ]);
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  const want = listen.map((a) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`));
  for (;;) {
    const ss = await lab.exec('rdv', ['ss', '-Hnul', `sport = :${port}`], { check: false });
    if (want.every((w) => ss.stdout.includes(w))) break;
    if (proc.exit)
      throw new LabError(
        'LAB_SETUP_FAILED',
        `turnserver exited: ${proc.stdout.slice(-2000)} ${proc.stderr.slice(-2000)}`,
      );
    if (Date.now() > deadline) {
      await proc.kill(500);
      throw new LabError(
        'LAB_TIMEOUT',
        `turnserver did not listen on ${want.join(', ')}: ${proc.stdout.slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const checks: Rfc5780Check[] = [];
  if (altIp !== null) {
    checks.push(await probe5780(lab, ip, altIp, port));
    if (ip6 !== null && altIp6 !== null) checks.push(await probe5780(lab, ip6, altIp6, port));
    const bad = checks.filter((c) => c.problems.length > 0);
    if (bad.length > 0) {
      await proc.kill(500);
      throw new LabError(
        'LAB_PROFILE_MISMATCH',
        `coturn is not an RFC 5780 server: ${bad.map((c) => `${show(c.server)}: ${c.problems.join('; ')}`).join(' | ')}`,
        { cause: checks },
      );
    }
  }
  return {
    ip,
    port,
    ip6,
    altIp,
    altIp6,
    rfc5780: checks,
    user,
    password,
    realm,
    process: proc,
    async stop() {
      await proc.kill(1000);
    },
  };
}
