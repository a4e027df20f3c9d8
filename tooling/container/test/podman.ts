// podman helpers for the image tests. Every call is bounded in time; every name is unique per run
// so parallel runs on one machine never touch each other's containers or images.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BUILD_BASE = fileURLToPath(new URL('../build-base.sh', import.meta.url));

/** Before every podman subcommand: runc, since Debian's crun fails on this machine's cgroups. */
const GLOBAL = ['--runtime', 'runc'];

/**
 * Limits for builds and containers. Without them podman asks runc for nofile 1,048,576, above
 * this machine's hard limit (20,000), and runc refuses to start ("error setting rlimits").
 * nproc counts every process of the container's uid on the host (root's during builds).
 */
export const ULIMITS = ['--ulimit', 'nofile=8192:8192', '--ulimit', 'nproc=16384:16384'];

/**
 * User-mode networking (slirp4netns) for test containers: no bridge, no veth, no firewall rule
 * on the host, so the NAT lab suite running alongside (which compares the host's links, routes
 * and rules before and after) sees nothing change. `-p 127.0.0.1::PORT` forwards a free loopback
 * port (TCP). A published UDP port needs `allow_host_loopback=true` as well (see the README).
 */
export const NETWORK = ['--network', 'slirp4netns:port_handler=slirp4netns'];

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a program; never rejects. `code` is null when it was killed at `timeoutMs`. */
export function run(command: string, args: readonly string[], timeoutMs: number): Promise<Result> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      stderr += String(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

export function podman(args: readonly string[], timeoutMs = 120_000): Promise<Result> {
  return run('podman', [...GLOBAL, ...args], timeoutMs);
}

/** podman, throwing with the command and the end of its output when it fails. */
export async function mustPodman(args: readonly string[], timeoutMs = 120_000): Promise<Result> {
  const r = await podman(args, timeoutMs);
  if (r.code !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${tail}`);
  }
  return r;
}

let probed: { ok: boolean; reason?: string } | undefined;

/**
 * Whether this machine can build and run the images: Linux, root, podman, runc and debootstrap
 * installed, and podman working with runc. Synchronous (usable in `describe.runIf`), cached.
 */
export function canRunContainers(): { ok: boolean; reason?: string } {
  probed ??= probe();
  return probed;
}

function probe(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux')
    return { ok: false, reason: `needs Linux (platform ${process.platform})` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return { ok: false, reason: `needs root (uid ${process.getuid()}); CI runs the image tests as root` };
  for (const tool of ['podman', 'runc', 'debootstrap', 'slirp4netns']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0)
      return {
        ok: false,
        reason: `${tool} not installed (apt-get install -y --no-install-recommends podman runc debootstrap slirp4netns)`,
      };
  }
  const info = spawnSync('podman', [...GLOBAL, 'info', '--format', '{{.Host.OCIRuntime.Name}}'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (info.status !== 0)
    return { ok: false, reason: `podman info failed: ${(info.stderr ?? String(info.error)).trim()}` };
  return { ok: true };
}

/** A name no other run on this machine uses: `<prefix>-<pid>-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * The local base image (tooling/container/build-base.sh): built once, then cached in podman's
 * storage while its inputs are unchanged. Kept after the tests, on purpose (see the README).
 */
export async function ensureBaseImage(
  timeoutMs: number,
): Promise<{ image: string; cached: boolean; ms: number }> {
  const r = await run(BUILD_BASE, [], timeoutMs);
  const lines = r.stdout.trim().split('\n');
  const image = lines[lines.length - 1] ?? '';
  if (r.code !== 0 || image === '')
    throw new Error(`build-base.sh exited ${r.code}:\n${r.stderr.trim().split('\n').slice(-25).join('\n')}`);
  return { image, cached: r.stderr.includes('build-base: cached:'), ms: r.ms };
}

/**
 * Builds a server image from the repository root on the given base. `--layers=false`: no
 * intermediate images are kept, so removing `tag` removes everything the build made (pnpm's
 * store stays in buildah's cache-mount folder, /var/tmp/buildah-cache). `--format docker`: the
 * OCI format has no HEALTHCHECK. `--network host` for the RUN steps (npm registry), which needs
 * no bridge or firewall rule.
 */
export async function buildImage(options: {
  dockerfile: string;
  /** the stage of tooling/container/Dockerfile to build (its --build-arg SERVER) */
  server: string;
  tag: string;
  base: string;
  timeoutMs: number;
}): Promise<Result> {
  return mustPodman(
    [
      'build',
      '--layers=false',
      '--format',
      'docker',
      '--network',
      'host',
      ...ULIMITS,
      '--build-arg',
      `BASE=${options.base}`,
      '--build-arg',
      `SERVER=${options.server}`,
      '--file',
      options.dockerfile,
      '--tag',
      options.tag,
      REPO_ROOT,
    ],
    options.timeoutMs,
  );
}

/** Calls `check` every `intervalMs` until it says true, at most `tries` times and for `withinMs`. */
export async function poll(
  check: () => Promise<boolean>,
  { tries, intervalMs, withinMs }: { tries: number; intervalMs: number; withinMs: number },
): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (let i = 0; i < tries && Date.now() < deadline; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}
