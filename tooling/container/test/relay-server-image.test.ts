// The relay server's image, built and run for real: the local base (cached), the image of
// tooling/container/Dockerfile's relay-server stage, a container under runc with explicit limits,
// read-only root, no capabilities, its key in a named volume, its WebSocket and UDP ports on
// loopback; then two clients on the host (one over WebSocket, one over UDP) reach each other
// through it with an end-to-end Noise session, and SIGTERM ends it cleanly.
import { createHash, randomBytes } from 'node:crypto';
import { RelayPeer } from '@srmudp/relay-server/testing';
import { parseCard } from '@srmudp/rendezvous';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunContainers, mustPodman, podman, ULIMITS, uniqueName } from './podman.js';
import { reportNotRun, ServerContainer } from './server-container.js';

const CAN = canRunContainers();
const server = new ServerContainer('srmudp-test-relay', 'relay-server');
const VOLUME = uniqueName('srmudp-test-relay-data');
// UDP from host loopback to a published port needs allow_host_loopback (tooling/container/README.md)
const NETWORK = ['--network', 'slirp4netns:allow_host_loopback=true,port_handler=slirp4netns'];

reportNotRun('relay', CAN);

async function removeAll(): Promise<void> {
  await server.remove();
  await podman(['volume', 'rm', '--force', VOLUME], 60_000);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.runIf(CAN.ok)('srmudp-relay container image (podman, runc)', () => {
  let http = '';
  let udpPort = 0;

  beforeAll(() => server.build());
  afterAll(removeAll, 5 * 60_000);

  it('starts unprivileged with a read-only root, its key in the volume, and reports healthy', async () => {
    await mustPodman(['volume', 'create', VOLUME]);
    await server.run([
      ...NETWORK,
      '--publish',
      '127.0.0.1::8080/tcp',
      '--publish',
      '127.0.0.1::7000/udp',
      '--volume',
      `${VOLUME}:/data`,
    ]);
    const tcp = await server.published('8080/tcp');
    const udp = await server.published('7000/udp');
    expect(tcp).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(udp).toMatch(/^127\.0\.0\.1:\d+$/);
    http = `http://${tcp}`;
    udpPort = Number(udp.split(':')[1]);
    expect(await server.inspect<string>('.Config.User')).toBe('srmudp:srmudp');
    expect(JSON.stringify(await server.inspect<unknown>('.Config.Healthcheck'))).toContain('/healthz');
    await server.waitHealthy();
    const key = await mustPodman([
      'run',
      '--rm',
      ...ULIMITS,
      '--volume',
      `${VOLUME}:/data:ro`,
      '--entrypoint',
      'node',
      server.image,
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
      await server.stop();
      await told;
    } finally {
      await Promise.all([ws.close(), udp.close()]);
    }
    expect(await server.inspect<number>('.State.ExitCode')).toBe(0);
    const logs = await mustPodman(['logs', server.name]);
    expect(logs.stdout).toContain('"msg":"srmudp relay listening"');
    expect(logs.stdout).toContain('"msg":"stopped"');
    expect(logs.stdout).toContain(card.peerId);
  });

  it('leaves nothing behind', async () => {
    await removeAll();
    expect(await server.gone()).toEqual({ container: true, image: true });
    expect((await podman(['volume', 'exists', VOLUME])).code).toBe(1);
  });
});
