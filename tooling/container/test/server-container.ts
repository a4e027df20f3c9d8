// What every server image test does around its own checks: build the image on the local base, run
// it hardened as compose.yaml does, read its published ports and inspect fields, wait for its own
// health check, and remove it. The tests keep only what their server does differently.
import { expect, it } from 'vitest';
import {
  buildImage,
  type canRunContainers,
  ensureBaseImage,
  mustPodman,
  podman,
  poll,
  ULIMITS,
  uniqueName,
} from './podman.js';

/** Where podman cannot run here: one visible test says why (the suite stays green), instead of a silent skip. */
export function reportNotRun(what: string, can: ReturnType<typeof canRunContainers>): void {
  if (can.ok) return;
  it(`reports why the ${what} image tests do not run here`, () => {
    console.warn(`container: ${what} image tests not run on this machine: ${can.reason}`);
    expect(can.reason).toMatch(/.+/);
  });
}

export class ServerContainer {
  readonly image: string;
  readonly name: string;

  /** `prefix` names the image and container uniquely per run; `server` is the Dockerfile's stage (packages/<server>). */
  constructor(
    prefix: string,
    readonly server: string,
  ) {
    this.image = `localhost/${uniqueName(prefix)}:test`;
    this.name = uniqueName(prefix);
  }

  /** The local base (cached) and this image on it, timings logged. */
  async build(): Promise<void> {
    const base = await ensureBaseImage(20 * 60_000);
    console.info(
      `container: base ${base.image} ${base.cached ? 'cached' : 'built'} (${Math.round(base.ms / 1000)} s)`,
    );
    const build = await buildImage({
      dockerfile: 'tooling/container/Dockerfile',
      server: this.server,
      tag: this.image,
      base: base.image,
      timeoutMs: 15 * 60_000,
    });
    console.info(`container: ${this.image} built in ${Math.round(build.ms / 1000)} s`);
  }

  /** Starts the container detached, with `args` (network, ports, volumes) and compose.yaml's hardening. */
  async run(args: readonly string[]): Promise<void> {
    await mustPodman([
      'run',
      '--detach',
      '--name',
      this.name,
      ...args,
      ...ULIMITS,
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      this.image,
    ]);
  }

  /** The host address a container port ('8080/tcp') is published on. */
  async published(port: string): Promise<string> {
    return (await mustPodman(['port', this.name, port])).stdout.trim().split('\n')[0] ?? '';
  }

  async inspect<T>(format: string): Promise<T> {
    const r = await mustPodman(['container', 'inspect', '--format', `{{json ${format}}}`, this.name]);
    return JSON.parse(r.stdout) as T;
  }

  /** Runs the image's own HEALTHCHECK (podman has no systemd timers here) until it passes; throws with the logs if not. */
  async waitHealthy(): Promise<void> {
    const healthy = await poll(
      async () => (await podman(['healthcheck', 'run', this.name], 15_000)).code === 0,
      { tries: 90, intervalMs: 1_000, withinMs: 120_000 },
    );
    if (!healthy) {
      const logs = await podman(['logs', this.name]);
      throw new Error(`not healthy within 90 tries or 120 s; logs:\n${logs.stdout}${logs.stderr}`);
    }
  }

  /** SIGTERM, 30 s before podman falls back to SIGKILL (which would show as exit code 137). */
  async stop(): Promise<void> {
    await mustPodman(['stop', '--time', '30', this.name], 120_000);
  }

  async remove(): Promise<void> {
    await podman(['rm', '--force', '--time', '5', this.name], 120_000);
    await podman(['rmi', '--force', this.image], 120_000);
  }

  /** Whether the container and the image are gone (after remove()). */
  async gone(): Promise<{ container: boolean; image: boolean }> {
    return {
      container: (await podman(['container', 'exists', this.name])).code === 1,
      image: (await podman(['image', 'exists', this.image])).code === 1,
    };
  }
}
