// The rendezvous HTTP server's image, built and run for real: the local base (debootstrap,
// cached), the image of tooling/container/Dockerfile's rendezvous-http stage on it, a container
// under runc with explicit limits, hardened as compose.yaml runs it (read-only root, no
// capabilities), its port on loopback, and the real client of @srmudp/rendezvous-http talking to
// it from the host.
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Candidate } from '@srmudp/rendezvous';
import { decodeRecord, isRendezvousError, parseCard, Rendezvous, signRecord } from '@srmudp/rendezvous';
import { httpBackend } from '@srmudp/rendezvous-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunContainers, mustPodman, NETWORK } from './podman.js';
import { reportNotRun, ServerContainer } from './server-container.js';

const CAN = canRunContainers();
const server = new ServerContainer('srmudp-test-rendezvous-http', 'rendezvous-http');

reportNotRun('rendezvous-http', CAN);

describe.runIf(CAN.ok)('rendezvous-http container image (podman, runc)', () => {
  let url = '';

  beforeAll(() => server.build());
  afterAll(() => server.remove(), 5 * 60_000);

  it('starts as the unprivileged user with a read-only root and reports healthy', async () => {
    await server.run([...NETWORK, '--publish', '127.0.0.1::8080']);
    const port = await server.published('8080/tcp');
    expect(port).toMatch(/^127\.0\.0\.1:\d+$/);
    url = `http://${port}`;
    expect(await server.inspect<string>('.Config.User')).toBe('srmudp:srmudp');
    expect(String(await server.inspect<string | number>('.Config.StopSignal'))).toMatch(/^(SIGTERM|15)$/);
    expect(JSON.stringify(await server.inspect<unknown>('.Config.Healthcheck'))).toContain('/v1/health');
    await server.waitHealthy();
    expect(await server.inspect<string>('.State.Health.Status')).toBe('healthy');
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
    await server.stop();
    expect(await server.inspect<number>('.State.ExitCode')).toBe(0);
    expect(await server.inspect<boolean>('.State.OOMKilled')).toBe(false);
    const logs = await mustPodman(['logs', server.name]);
    expect(logs.stdout).toContain('srmudp rendezvous server listening on http://0.0.0.0:8080');

    await server.remove();
    expect(await server.gone()).toEqual({ container: true, image: true });
  });
});
