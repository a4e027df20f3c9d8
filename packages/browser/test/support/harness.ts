// A real browser for the tests: Debian's chromium driven by playwright-core (no browser download),
// pages served from http://127.0.0.1 (a secure context: crypto.subtle exists), the bundle built
// with esbuild from the sources, and a relay (srmudp-relay) on loopback.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, type Identity } from '@srmudp/crypto';
import { randomBytes } from '@srmudp/crypto-node';
import { createRelayServer, jsonLogger, type RelayServer } from '@srmudp/relay-server';
import { type Browser, chromium } from 'playwright-core';
// @ts-expect-error: a plain .mjs build script, no types
import { bundleBrowser } from '../../scripts/bundle.mjs';

export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'no chromium on PATH: install Debian\'s "chromium" (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH',
    );
  }
}

export async function launchBrowser(): Promise<Browser> {
  const root = process.getuid?.() === 0;
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    timeout: 60_000,
    args: [...(root ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

export const PAGE_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>srmudp test page</title></head>
<body><script type="module">
import * as srmudp from '/bundle.js';
window.srmudp = srmudp;
</script></body></html>`;

/** Serves `routes` (path → [content type, body]) on 127.0.0.1. */
export async function serveStatic(
  routes: Record<string, [string, string | Uint8Array]>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const r = routes[path];
    if (!r) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': r[0], 'cache-control': 'no-store' }).end(r[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function bundleCode(): Promise<Uint8Array> {
  return (await bundleBrowser()).code;
}

/** A relay on loopback (UDP and WebSocket), rate limit raised so files go at loopback speed. */
export async function startRelay(): Promise<{ relay: RelayServer; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-browser-test-'));
  const relay = await createRelayServer(
    {
      host: '127.0.0.1',
      port: 0,
      udpHost: '127.0.0.1',
      udpPort: 0,
      keyFile: join(dir, 'relay.key'),
      drainMs: 200,
      limits: { rateBytesPerSec: 512 * 1024 * 1024, burstBytes: 16 * 1024 * 1024 },
    },
    { log: jsonLogger('warn', () => {}) },
  );
  return {
    relay,
    cleanup: async () => {
      await relay.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const cmp = (a: Uint8Array, b: Uint8Array) => {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
};

/** An identity whose key sorts above every one of `keys` (so those peers dial it). */
export function identityAbove(keys: Uint8Array[]): Identity {
  for (let i = 0; i < 10_000; i++) {
    const id = generateIdentity(randomBytes);
    if (keys.every((k) => cmp(id.publicKey, k) > 0)) return id;
  }
  throw new Error('no identity above the given keys in 10,000 tries');
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
