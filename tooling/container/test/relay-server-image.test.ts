// The relay server's image, built and run for real: the local base (cached), the image from
// packages/relay-server/Dockerfile, a container under runc with explicit limits, read-only root,
// no capabilities, its key in a named volume, its WebSocket and UDP ports on loopback; then two
// clients on the host (one over WebSocket, one over UDP) reach each other through it with an
// end-to-end Noise session, and SIGTERM ends it cleanly.
import { createHash, randomBytes } from 'node:crypto';
import { RelayPeer } from '@srmudp/relay-server/testing';
import { parseCard } from '@srmudp/rendezvous';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  canRunContainers,
  ensureBaseImage,
  mustPodman,
  podman,
  poll,
  ULIMITS,
  uniqueName,
} from './podman.js';

const CAN = canRunContainers();
const IMAGE = `localhost/${uniqueName('srmudp-test-relay')}:test`;
const CONTAINER = uniqueName('srmudp-test-relay');
const VOLUME = uniqueName('srmudp-test-relay-data');
// UDP from host loopback to a published port needs allow_host_loopback (tooling/container/README.md)
const NETWORK = ['--network', 'slirp4netns:allow_host_loopback=true,port_handler=slirp4netns'];

if (!CAN.ok) {
  it('reports why the relay image tests do not run here', () => {
    console.warn(`container: relay image tests not run on this machine: ${CAN.reason}`);
    expect(CAN.reason).toMatch(/.+/);
  });
}

async function removeAll(): Promise<void> {
  await podman(['rm', '--force', '--time', '5', CONTAINER], 120_000);
  await podman(['rmi', '--force', IMAGE], 120_000);
  await podman(['volume', 'rm', '--force', VOLUME], 60_000);
}

async function inspect<T>(format: string): Promise<T> {
  const r = await mustPodman(['container', 'inspect', '--format', `{{json ${format}}}`, CONTAINER]);
  return JSON.parse(r.stdout) as T;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.runIf(CAN.ok)('srmudp-relay container image (podman, runc)', () => {
  let http = '';
  let udpPort = 0;

  beforeAll(async () => {
    const base = await ensureBaseImage(20 * 60_000);
    console.info(
      `container: base ${base.image} ${base.cached ? 'cached' : 'built'} (${Math.round(base.ms / 1000)} s)`,
    );
    const build = await buildImage({
      dockerfile: 'packages/relay-server/Dockerfile',
      tag: IMAGE,
      base: base.image,
      timeoutMs: 15 * 60_000,
    });
    console.info(`container: ${IMAGE} built in ${Math.round(build.ms / 1000)} s`);
  });
  afterAll(removeAll, 5 * 60_000);

  it('starts unprivileged with a read-only root, its key in the volume, and reports healthy', async () => {
    await mustPodman(['volume', 'create', VOLUME]);
    await mustPodman([
      'run',
      '--detach',
      '--name',
      CONTAINER,
      ...NETWORK,
      '--publish',
      '127.0.0.1::8080/tcp',
      '--publish',
      '127.0.0.1::7000/udp',
      '--volume',
      `${VOLUME}:/data`,
      ...ULIMITS,
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      IMAGE,
    ]);
    const tcp = (await mustPodman(['port', CONTAINER, '8080/tcp'])).stdout.trim().split('\n')[0] ?? '';
    const udp = (await mustPodman(['port', CONTAINER, '7000/udp'])).stdout.trim().split('\n')[0] ?? '';
    expect(tcp).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(udp).toMatch(/^127\.0\.0\.1:\d+$/);
    http = `http://${tcp}`;
    udpPort = Number(udp.split(':')[1]);
    expect(await inspect<string>('.Config.User')).toBe('srmudp:srmudp');
    expect(JSON.stringify(await inspect<unknown>('.Config.Healthcheck'))).toContain('/healthz');
    const healthy = await poll(
      async () => (await podman(['healthcheck', 'run', CONTAINER], 15_000)).code === 0,
      {
        tries: 90,
        intervalMs: 1_000,
        withinMs: 120_000,
      },
    );
    if (!healthy) {
      const logs = await podman(['logs', CONTAINER]);
      throw new Error(`not healthy within 90 tries or 120 s; logs:\n${logs.stdout}${logs.stderr}`);
    }
    const key = await mustPodman([
      'run',
      '--rm',
      ...ULIMITS,
      '--volume',
      `${VOLUME}:/data:ro`,
      '--entrypoint',
      'node',
      IMAGE,
      '-e',
      "process.stdout.write(String(require('fs').statSync('/data/relay.key').mode & 0o777))",
    ]);
    expect(key.stdout.trim()).toBe(String(0o600));
  });

  it('a WebSocket client and a UDP client on the host talk through it, end to end', async () => {
    expect(http).not.toBe('');
    const card = (await (await fetch(`${http}/card`, { signal: AbortSignal.timeout(10_000) })).json()) as {
      peerId: string;
      card: string;
    };
    const relayKey = parseCard(card.card).peerId;
    const ws = await RelayPeer.start({
      relayKey,
      carrier: { kind: 'ws', url: `${http.replace('http', 'ws')}/relay` },
    });
    const udp = await RelayPeer.start({
      relayKey,
      carrier: { kind: 'udp', host: '127.0.0.1', port: udpPort },
    });
    try {
      await Promise.all([ws.ready(30_000), udp.ready(30_000)]);
      const ab = await ws.connectTo(udp.publicKey, 30_000);
      const ba = await udp.acceptedFrom(ws.publicKey, 30_000);
      const up = new Uint8Array(randomBytes(512 * 1024));
      const down = new Uint8Array(randomBytes(512 * 1024));
      const [gotUp, gotDown] = await Promise.all([
        udp.receiveStream(ba),
        ws.receiveStream(ab),
        ws.sendStream(ab, up),
        udp.sendStream(ba, down),
      ]);
      expect(sha(gotUp)).toBe(sha(up));
      expect(sha(gotDown)).toBe(sha(down));
      const metrics = await (await fetch(`${http}/metrics`)).text();
      expect(metrics).toMatch(/srmudp_relay_clients\{carrier="websocket"\} 1\n/);
      expect(metrics).toMatch(/srmudp_relay_clients\{carrier="udp"\} 1\n/);
      expect(metrics).toMatch(/srmudp_relay_circuits 1\n/);
      // SIGTERM: both clients are told to reconnect before the relay goes
      const told = Promise.all([
        ws.waitRelay((e) => e.type === 'restarting', 60_000),
        udp.waitRelay((e) => e.type === 'restarting', 60_000),
      ]);
      await mustPodman(['stop', '--time', '30', CONTAINER], 120_000);
      await told;
    } finally {
      await Promise.all([ws.close(), udp.close()]);
    }
    expect(await inspect<number>('.State.ExitCode')).toBe(0);
    const logs = await mustPodman(['logs', CONTAINER]);
    expect(logs.stdout).toContain('"msg":"srmudp relay listening"');
    expect(logs.stdout).toContain('"msg":"stopped"');
    expect(logs.stdout).toContain(card.peerId);
  });

  it('leaves nothing behind', async () => {
    await removeAll();
    expect((await podman(['container', 'exists', CONTAINER])).code).toBe(1);
    expect((await podman(['image', 'exists', IMAGE])).code).toBe(1);
    expect((await podman(['volume', 'exists', VOLUME])).code).toBe(1);
  });
});
