// The web chat in Debian's chromium, served by the relay itself (`srmudp-relay --web`): three
// people open it, two join the first by pasting its card, introductions connect the other two;
// a message and a file (SHA-256 checked in the receiving pages) reach both; a screenshot of the
// chat with its three peers is kept (dist/screenshots/web-chat.png, a CI artifact).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRelayServer, jsonLogger, type RelayServer } from '@srmudp/relay-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, no types
import { buildSite } from '../scripts/build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const SCREENSHOT = join(here, '../dist/screenshots/web-chat.png');

let browser: Browser;
let relay: RelayServer;
let dir: string;

function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const found = (process.env.PATH ?? '')
    .split(':')
    .map((d) => join(d, 'chromium'))
    .find((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
  if (!found)
    throw new Error('no chromium on PATH: apt-get install chromium (.ci/run does) or set CHROMIUM_PATH');
  return found;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'srmudp-web-chat-'));
  const web = await buildSite(join(dir, 'web'));
  relay = await createRelayServer(
    { host: '127.0.0.1', port: 0, udpPort: null, keyFile: join(dir, 'relay.key'), drainMs: 200, web },
    { log: jsonLogger('warn', () => {}) },
  );
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    timeout: 60_000,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-dev-shm-usage'],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await relay?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const established = (p: Page) =>
  p.evaluate(() => document.querySelectorAll('#peers li[data-state="established"]').length);

describe('web chat (chromium, served by srmudp-relay --web)', () => {
  it('three people: join by card, peers with their path, a message and a file with SHA-256, screenshot', async () => {
    const pages: Page[] = [];
    for (const nick of ['alice', 'bob', 'carol']) {
      const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      const page = await ctx.newPage();
      await page.goto(`http://127.0.0.1:${relay.http.port}/`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await page.fill('#nick', nick);
      await page.dispatchEvent('#nick', 'change');
      pages.push(page);
    }
    const [alice, bob, carol] = pages as [Page, Page, Page];
    const card = await alice.inputValue('#card');
    expect(card.length).toBeGreaterThan(20);
    for (const p of [bob, carol]) {
      await p.fill('#join-card', card);
      await p.click('#join');
      expect(await p.textContent('#join-error')).toBe('');
    }
    // bob and carol meet through alice's introductions (hello lists its peers)
    for (const p of pages)
      await expect.poll(() => established(p), { timeout: 45_000, interval: 250 }).toBe(2);
    await expect
      .poll(() => alice.evaluate(() => document.querySelector('#peers')?.textContent ?? ''), {
        timeout: 10_000,
      })
      .toMatch(/bob[\s\S]*relayed via|carol[\s\S]*relayed via/);

    await alice.fill('#text', 'hello from alice');
    await alice.press('#text', 'Enter');
    for (const p of [bob, carol])
      await p.waitForFunction(
        () => document.querySelector('#log')?.textContent?.includes('alice: hello from alice'),
        null,
        {
          timeout: 30_000,
        },
      );

    const file = randomBytes(512 * 1024);
    await alice.setInputFiles('#file', {
      name: 'photo.bin',
      mimeType: 'application/octet-stream',
      buffer: file,
    });
    for (const p of [bob, carol])
      await p.waitForSelector('#transfers [data-file="photo.bin"][data-verified="ok"]', { timeout: 60_000 });
    await carol.fill('#text', 'got it');
    await carol.press('#text', 'Enter');
    await alice.waitForFunction(
      () => document.querySelector('#log')?.textContent?.includes('carol: got it'),
      null,
      {
        timeout: 30_000,
      },
    );

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await alice.screenshot({ path: SCREENSHOT });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    const names = await alice.$$eval('#peers li b', (els) => els.map((e) => e.textContent));
    expect(names.sort()).toEqual(['bob', 'carol']);
  });

  it('--web serves only plain files of its folder', async () => {
    const base = `http://127.0.0.1:${relay.http.port}`;
    expect((await fetch(`${base}/`)).headers.get('content-type')).toMatch(/text\/html/);
    expect((await fetch(`${base}/app.js`)).status).toBe(200);
    for (const bad of ['/../relay.key', '/%2e%2e/relay.key', '/.hidden', '/relay.key', '/nope.js'])
      expect((await fetch(`${base}${bad}`)).status, bad).toBe(404);
    expect((await fetch(`${base}/card`)).status).toBe(200);
  });
});
