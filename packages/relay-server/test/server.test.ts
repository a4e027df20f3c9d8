import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, peerIdToString } from '@srmudp/crypto';
import { parseCard } from '@srmudp/rendezvous';
import { connectWs, nodeWebSocket, type WsStateChange, WsTransport } from '@srmudp/transport-ws';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRelayConfig, parseRelayConfig, RelayServerError } from '../src/index.js';
import { bounded, RelayPeer } from '../src/testing/index.js';
import { startRelay } from './support/relay.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

describe('configuration', () => {
  it('defaults, then file < environment < flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-relay-config-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'relay.json');
    writeFileSync(
      file,
      JSON.stringify({ port: 9000, udpPort: 9001, limits: { rateBytesPerSec: 1000 }, logLevel: 'warn' }),
    );
    const r = await loadRelayConfig(['--config', file, '--port', '9100'], {
      SRMUDP_RELAY_UDP_PORT: 'off',
      SRMUDP_RELAY_RATE: '2000',
      SRMUDP_RELAY_LOG_LEVEL: 'debug',
    });
    expect(r.help).toBe(false);
    if (r.help) return;
    expect(r.config).toMatchObject({
      port: 9100,
      udpPort: null,
      logLevel: 'debug',
      host: '0.0.0.0',
      path: '/relay',
    });
    expect(r.config.limits).toMatchObject({
      rateBytesPerSec: 2000,
      burstBytes: 256 * 1024,
      maxCircuitsPerClient: 8,
      maxMessageSize: 65_536,
    });
    expect(await loadRelayConfig(['--help'], {})).toEqual({ help: true });
  });

  it('reports every problem at once, readably, as CONFIG_INVALID', async () => {
    let err: unknown;
    try {
      parseRelayConfig({
        port: 70_000,
        admission: 'allow-list',
        tlsCert: 'a.pem',
        limits: { maxMessageSize: 10 },
        nonsense: 1,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RelayServerError);
    expect((err as RelayServerError).code).toBe('CONFIG_INVALID');
    const text = (err as Error).message;
    for (const part of [
      'port:',
      'limits.maxMessageSize:',
      'nonsense',
      'tlsCert: tlsCert and tlsKey go together',
      "allow: admission 'allow-list' needs",
    ])
      expect(text).toContain(part);
    await expect(loadRelayConfig(['--port', 'eighty'], {})).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(loadRelayConfig(['--bogus'], {})).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(loadRelayConfig(['--config', '/nonexistent/relay.json'], {})).rejects.toMatchObject({
      code: 'CONFIG_FILE',
    });
    expect(() => parseRelayConfig({ admission: 'group', allow: ['not-a-peer-id'] })).toThrow(
      /allow\.0: not a peer id/,
    );
  });
});

describe('HTTP endpoints, identity and admission', () => {
  it('/healthz, /metrics, /card (a verified card with the UDP address), persistent key, 404 and 426', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-relay-key-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = await startRelay({ announce: ['127.0.0.1:7000'] }, { dir: join(dir, 'new-folder') });
    cleanups.push(r.cleanup);
    const base = `http://127.0.0.1:${r.relay.http.port}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, peerId: r.relay.peerId });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await metrics.text();
    for (const name of [
      'srmudp_relay_clients',
      'srmudp_relay_circuits',
      'srmudp_relay_forwarded_bytes_total',
      'srmudp_relay_dropped_total',
      'srmudp_relay_handshake_rate',
    ])
      expect(text).toContain(`# TYPE ${name} `);
    const card = (await (await fetch(`${base}/card`)).json()) as {
      card: string;
      relay: string;
      peerId: string;
    };
    const parsed = parseCard(card.card);
    expect(parsed.peerIdText).toBe(r.relay.peerId);
    expect(parsed.embedded?.candidates).toEqual([{ kind: 'host', family: 4, host: '127.0.0.1', port: 7000 }]);
    expect(card.relay).toBe(`${r.relay.url}#${r.relay.peerId}`);
    expect(r.logs.some((l) => l.includes('"msg":"srmudp relay listening"') && l.includes(card.card))).toBe(
      true,
    );
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/relay`)).status).toBe(426);
    // the key file is reused
    const key = readFileSync(join(r.dir, 'relay.key'));
    await r.cleanup();
    cleanups.pop();
    const again = await startRelay({}, { dir: r.dir });
    cleanups.push(again.cleanup);
    expect(again.relay.peerId).toBe(r.relay.peerId);
    expect(readFileSync(join(r.dir, 'relay.key'))).toEqual(key);
  });

  it('token admission: without the token a WebSocket is refused (4001, not retried); with it (header or ?token=) a circuit works', async () => {
    const token = 'correct-horse-battery-staple';
    const r = await startRelay({ admission: 'token', tokens: [token] });
    cleanups.push(r.cleanup);
    const refused = new WsTransport({
      url: r.relay.url,
      webSocket: nodeWebSocket(),
      token: 'wrong-token-wrong-token',
    });
    const closed = bounded<WsStateChange>(10_000, 'refusal', (resolve) => {
      refused.onState((c) => c.state === 'closed' && resolve(c));
      return () => undefined;
    });
    refused.start();
    expect((await closed).error?.code).toBe('WS_UNAUTHORIZED');
    const a = await RelayPeer.start({
      relayKey: r.relay.publicKey,
      carrier: { kind: 'ws', url: r.relay.url, token },
    });
    const b = await RelayPeer.start({
      relayKey: r.relay.publicKey,
      carrier: { kind: 'ws', url: `${r.relay.url}?token=${token}` },
    });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await Promise.all([a.ready(), b.ready()]);
    await expect(a.circuit(b.publicKey)).resolves.toBeGreaterThan(0);
    // over UDP, token mode admits only keys on the allow list: a stranger's handshake is refused
    const stranger = await RelayPeer.start({
      relayKey: r.relay.publicKey,
      carrier: { kind: 'udp', host: '127.0.0.1', port: r.relay.udp?.port as number },
    });
    cleanups.push(() => stranger.close());
    await expect(stranger.ready(3_000)).rejects.toThrow(/not within/);
    expect(r.relay.ws.stats().refused.unauthorized).toBe(1);
  });

  it('allow-list admission: listed keys get circuits, a stranger never completes a hop session', async () => {
    const alice = generateIdentity(random);
    const bob = generateIdentity(random);
    const r = await startRelay({
      admission: 'allow-list',
      allow: [peerIdToString(alice.publicKey), peerIdToString(bob.publicKey)],
    });
    cleanups.push(r.cleanup);
    const ws = { kind: 'ws', url: r.relay.url } as const;
    const a = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier: ws, identity: alice });
    const b = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier: ws, identity: bob });
    const c = await RelayPeer.start({ relayKey: r.relay.publicKey, carrier: ws });
    cleanups.push(
      () => a.close(),
      () => b.close(),
      () => c.close(),
    );
    await Promise.all([a.ready(), b.ready()]);
    await expect(a.circuit(b.publicKey)).resolves.toBeGreaterThan(0);
    await expect(c.ready(3_000)).rejects.toThrow(/not within/);
    expect(r.relay.engine.stats().hops).toBe(2);
  });

  it.runIf(hasOpenssl())(
    'serves WSS with a certificate and key; a client trusting that CA connects',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'srmudp-relay-tls-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          key,
          '-out',
          cert,
        ],
        { stdio: 'ignore' },
      );
      const r = await startRelay({ tlsCert: cert, tlsKey: key });
      cleanups.push(r.cleanup);
      expect(r.relay.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/relay$/);
      const t = await connectWs({
        url: r.relay.url,
        webSocket: nodeWebSocket({ ca: readFileSync(cert, 'utf8') }),
      });
      cleanups.push(() => t.close());
      expect(t.state).toBe('open');
      await expect(createBadTls(r.relay.url)).rejects.toMatchObject({ code: 'WS_CONNECT_FAILED' });
      await expect(startRelay({ tlsCert: join(dir, 'missing.pem'), tlsKey: key })).rejects.toMatchObject({
        code: 'TLS_FILE',
      });
    },
  );
});

function createBadTls(url: string) {
  return connectWs({ url, reconnect: false }); // no CA: the self-signed certificate is refused
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
