import { LabError } from './errors.js';
import type { Lab } from './lab.js';
import type { LabProcess } from './node-process.js';
import { ADDR, COTURN_PORT } from './types.js';

/** A running coturn (Debian `turnserver`) in rdv. */
export interface Coturn {
  readonly ip: string;
  /** STUN/TURN port (UDP and TCP); coturn also listens on port + 1 (RFC 5780 alternate). */
  readonly port: number;
  /** Long-term credentials for TURN (STUN binding needs none). */
  readonly user: string;
  readonly password: string;
  readonly realm: string;
  readonly process: LabProcess;
  stop(): Promise<void>;
}

/**
 * Starts coturn in rdv on `ip:port` (default 203.0.113.200:3480, next to the self-check
 * reflector's 3478/3479) and resolves once it listens. Stopped by `stop()` or `lab.down()`.
 */
export async function startCoturn(
  lab: Lab,
  opts: { port?: number; ip?: string; timeoutMs?: number } = {},
): Promise<Coturn> {
  const ip = opts.ip ?? ADDR.rdv;
  const port = opts.port ?? COTURN_PORT;
  const user = 'natlab';
  const password = 'natlab-secret';
  const realm = 'natlab.test';
  const proc = lab.spawn('rdv', [
    'turnserver',
    '-n', // no config file: everything is on this command line
    `--listening-ip=${ip}`,
    `--relay-ip=${ip}`,
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
  for (;;) {
    const ss = await lab.exec('rdv', ['ss', '-Hnul', `sport = :${port}`], { check: false });
    if (ss.stdout.includes(`${ip}:${port}`)) break;
    if (proc.exit)
      throw new LabError(
        'LAB_SETUP_FAILED',
        `turnserver exited: ${proc.stdout.slice(-2000)} ${proc.stderr.slice(-2000)}`,
      );
    if (Date.now() > deadline) {
      await proc.kill(500);
      throw new LabError(
        'LAB_TIMEOUT',
        `turnserver did not listen on ${ip}:${port}: ${proc.stdout.slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    ip,
    port,
    user,
    password,
    realm,
    process: proc,
    async stop() {
      await proc.kill(1000);
    },
  };
}
