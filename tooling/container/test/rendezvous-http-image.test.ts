// The rendezvous HTTP server's image, built and run for real: the local base (debootstrap, cached),
// the image from packages/rendezvous-http/Dockerfile on it, a container under runc with explicit
// limits, hardened as compose.yaml runs it (read-only root, no capabilities), its port on
// loopback, and the real client of @srmudp/rendezvous-http talking to it from the host.
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Candidate } from '@srmudp/rendezvous';
import { decodeRecord, isRendezvousError, parseCard, Rendezvous, signRecord } from '@srmudp/rendezvous';
import { httpBackend } from '@srmudp/rendezvous-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  canRunContainers,
  ensureBaseImage,
  mustPodman,
  NETWORK,
  podman,
  poll,
  ULIMITS,
  uniqueName,
} from './podman.js';

const CAN = canRunContainers();
const IMAGE = `localhost/${uniqueName('srmudp-test-rendezvous-http')}:test`;
const CONTAINER = uniqueName('srmudp-test-rendezvous-http');

if (!CAN.ok) {
  // Visible in the output instead of a silent skip; the suite stays green where podman is absent.
  it('reports why the container image tests do not run here', () => {
    console.warn(`container: image tests not run on this machine: ${CAN.reason}`);
    expect(CAN.reason).toMatch(/.+/);
  });
}

async function removeAll(): Promise<void> {
  await podman(['rm', '--force', '--time', '5', CONTAINER], 120_000);
  await podman(['rmi', '--force', IMAGE], 120_000);
}

async function inspect<T>(format: string): Promise<T> {
  const r = await mustPodman(['container', 'inspect', '--format', `{{json ${format}}}`, CONTAINER]);
  return JSON.parse(r.stdout) as T;
}

describe.runIf(CAN.ok)('rendezvous-http container image (podman, runc)', () => {
  let url = '';

  beforeAll(async () => {
    const base = await ensureBaseImage(20 * 60_000);
    console.info(
      `container: base ${base.image} ${base.cached ? 'cached' : 'built'} (${Math.round(base.ms / 1000)} s)`,
    );
    const build = await buildImage({
      dockerfile: 'packages/rendezvous-http/Dockerfile',
      tag: IMAGE,
      base: base.image,
      timeoutMs: 15 * 60_000,
    });
    console.info(`container: ${IMAGE} built in ${Math.round(build.ms / 1000)} s`);
  });
  afterAll(removeAll, 5 * 60_000);

  it('starts as the unprivileged user with a read-only root and reports healthy', async () => {
    await mustPodman([
      'run',
      '--detach',
      '--name',
      CONTAINER,
      ...NETWORK,
      '--publish',
      '127.0.0.1::8080',
      ...ULIMITS,
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      IMAGE,
    ]);
    const port = (await mustPodman(['port', CONTAINER, '8080/tcp'])).stdout.trim().split('\n')[0] ?? '';
    expect(port).toMatch(/^127\.0\.0\.1:\d+$/);
    url = `http://${port}`;
    expect(await inspect<string>('.Config.User')).toBe('srmudp:srmudp');
    expect(String(await inspect<string | number>('.Config.StopSignal'))).toMatch(/^(SIGTERM|15)$/);
    expect(JSON.stringify(await inspect<unknown>('.Config.Healthcheck'))).toContain('/v1/health');

    // The image's own HEALTHCHECK, run by podman inside the container (no systemd timers here).
    const healthy = await poll(
      async () => (await podman(['healthcheck', 'run', CONTAINER], 15_000)).code === 0,
      { tries: 90, intervalMs: 1_000, withinMs: 120_000 },
    );
    if (!healthy) {
      const logs = await podman(['logs', CONTAINER]);
      throw new Error(`not healthy within 90 tries or 120 s; logs:\n${logs.stdout}${logs.stderr}`);
    }
    expect(await inspect<string>('.State.Health.Status')).toBe('healthy');
    // and the published port answers from the host
    const health = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(10_000) });
    expect(await health.json()).toMatchObject({ ok: true });
  });

  it('stores a signed record, serves it to a resolver and pushes an update, through the real client', async () => {
    expect(url).not.toBe('');
    const secretKey = ed25519.utils.randomSecretKey();
    const peerId = ed25519.getPublicKey(secretKey);
    const first: Candidate[] = [{ kind: 'srflx', family: 4, host: '198.51.100.7', port: 7000 }];
    const second: Candidate[] = [{ kind: 'host', family: 4, host: '192.0.2.9', port: 7001 }];
    const alice = new Rendezvous({ backends: [httpBackend({ url, minPublishIntervalMs: 0 })], secretKey });
    const bob = new Rendezvous({ backends: [httpBackend({ url })] });
    const raw = httpBackend({ url });
    const stop = new AbortController();
    try {
      const published = await alice.publish({ candidates: first });
      expect(published.backends.map((b) => b.status)).toEqual(['published']); // PUT: 204
      const card = alice.card();
      expect(parseCard(card).locators).toEqual([{ backend: 'http', url }]);

      const resolved = await bob.resolve(card, { timeoutMs: 30_000 }); // GET: 200, verified by bob
      expect(resolved?.source).toBe('http');
      expect(resolved?.record.candidates).toEqual(first);
      expect(resolved?.bytes).toEqual(published.bytes);

      // The server in the container verifies before storing: a replayed older sequence is refused.
      const stale = signRecord({ ...published.record, seq: published.record.seq - 1 }, secretKey);
      const refused = await raw.publish({ peerId }, stale, { seq: published.record.seq - 1 }).then(
        () => 'stored',
        (e: unknown) => (isRendezvousError(e) ? e.code : String(e)),
      );
      expect(refused).toBe('STALE_SEQUENCE');

      // WebSocket watch through the published port: the current record, then the update.
      const updates = raw.watch({ peerId }, { signal: stop.signal })[Symbol.asyncIterator]();
      const next = async () => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          return await Promise.race([
            updates.next(),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error('no watch message within 30 s')), 30_000);
            }),
          ]);
        } finally {
          clearTimeout(timer);
        }
      };
      const current = await next();
      expect(current.done).toBe(false);
      expect(decodeRecord(current.value as Uint8Array).record.candidates).toEqual(first);
      const update = await alice.publish({ candidates: second });
      expect(update.backends.map((b) => b.status)).toEqual(['published']);
      const pushed = await next();
      expect(decodeRecord(pushed.value as Uint8Array).record.candidates).toEqual(second);
      expect(decodeRecord(pushed.value as Uint8Array).record.seq).toBe(update.record.seq);
    } finally {
      stop.abort();
      await Promise.all([alice.close(), bob.close(), raw.close()]);
    }
  });

  it('stops on SIGTERM by itself (exit 0, not killed) and the test leaves nothing behind', async () => {
    expect(url).not.toBe('');
    // 30 s before podman falls back to SIGKILL, which would show as exit code 137.
    await mustPodman(['stop', '--time', '30', CONTAINER], 120_000);
    expect(await inspect<number>('.State.ExitCode')).toBe(0);
    expect(await inspect<boolean>('.State.OOMKilled')).toBe(false);
    const logs = await mustPodman(['logs', CONTAINER]);
    expect(logs.stdout).toContain('srmudp rendezvous server listening on http://0.0.0.0:8080');

    await removeAll();
    expect((await podman(['container', 'exists', CONTAINER])).code).toBe(1);
    expect((await podman(['image', 'exists', IMAGE])).code).toBe(1);
  });
});
