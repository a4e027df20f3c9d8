// Two pages in Debian's chromium and one Node peer in one group through srmudp-relay on loopback:
// messages to all and to one, an 8 MiB file Node → page checked with SHA-256 in the page, a page
// reload that rejoins with the same identity (IndexedDB). Also measures (logged, not asserted):
// Node → page goodput vs Node → Node through the same relay, and page load → first message.
import { createHash } from 'node:crypto';
import type { EndpointEvent } from '@srmudp/core';
import { parsePeerId } from '@srmudp/crypto';
import { randomBytes } from '@srmudp/crypto-node';
import type { RelayServer } from '@srmudp/relay-server';
import { RelayPeer } from '@srmudp/relay-server/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundleCode,
  hex,
  identityAbove,
  launchBrowser,
  PAGE_HTML,
  serveStatic,
  startRelay,
} from './support/harness.js';

const FILE = 8 * 1024 * 1024;

/** What the test page holds (set by PAGE_HTML and openNode). */
interface W {
  srmudp: typeof import('../src/index.js');
  node: import('../src/index.js').BrowserNode;
  msgs: Array<{ peer: string; text: string }>;
  firstMessageAt: number | null;
}

let browser: Browser;
let relay: RelayServer;
let stopRelay: () => Promise<void>;
let site: { url: string; close: () => Promise<void> };
const contexts: BrowserContext[] = [];
const nodes: RelayPeer[] = [];

/** Opens the test page and starts a node in it (identity from the context's IndexedDB). */
async function openNode(ctx: BrowserContext, page?: Page): Promise<{ page: Page; peerId: string }> {
  const p = page ?? (await ctx.newPage());
  if (!page) await p.goto(`${site.url}/`);
  await p.waitForFunction(() => (window as unknown as { srmudp?: unknown }).srmudp !== undefined, null, {
    timeout: 30_000,
  });
  const peerId = await p.evaluate(async (relayAddress) => {
    const w = window as unknown as W;
    const node = await w.srmudp.createNode({ relays: [relayAddress] });
    w.node = node;
    w.msgs = [];
    w.firstMessageAt = null;
    node.onMessage((m: { peer: string; data: Uint8Array }) => {
      w.firstMessageAt ??= performance.now();
      w.msgs.push({ peer: m.peer, text: new TextDecoder().decode(m.data) });
    });
    await node.relayReady({ timeout: 30_000 });
    return node.peerId as string;
  }, relay.relayAddress);
  return { page: p, peerId };
}

const addPeers = (page: Page, peers: Record<string, string>) =>
  page.evaluate((peers) => (window as unknown as W).node.peers.add(peers), peers);
const ready = (page: Page, name: string) =>
  page.evaluate(
    (name) => (window as unknown as W).node.peers.ready(name, { timeout: 30_000 }).then(() => true),
    name,
  );
const waitMsg = (page: Page, peer: string, text: string) =>
  page.waitForFunction(
    ([peer, text]) =>
      (window as unknown as W).msgs.some(
        (m: { peer: string; text: string }) => m.peer === peer && m.text === text,
      ),
    [peer, text] as const,
    { timeout: 30_000 },
  );
const msgs = (page: Page): Promise<Array<{ peer: string; text: string }>> =>
  page.evaluate(() => (window as unknown as W).msgs);

/** The page reads the next stream from `from` to its end; SHA-256 (WebCrypto) in the page. */
const receiveFile = (page: Page, from: string) =>
  page.evaluate(async (from) => {
    const node = (window as unknown as W).node;
    const conn = await node.peers.ready(from, { timeout: 30_000 });
    const stream = await conn.acceptStream(AbortSignal.timeout(60_000));
    const reader = stream.readable.getReader();
    const parts: Uint8Array[] = [];
    let n = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      parts.push(r.value);
      n += r.value.length;
    }
    const all = new Uint8Array(n);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
    return { bytes: n, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
  }, from);

function nodeMessages(peer: RelayPeer): Array<{ from: string; text: string }> {
  const out: Array<{ from: string; text: string }> = [];
  peer.on((e: EndpointEvent) => {
    if (e.type !== 'message') return;
    const c = peer.endpoint.connection(e.id);
    out.push({ from: c?.remoteKey ? hex(c.remoteKey) : '?', text: new TextDecoder().decode(e.data) });
  });
  return out;
}

beforeAll(async () => {
  ({ relay, cleanup: stopRelay } = await startRelay());
  site = await serveStatic({
    '/': ['text/html; charset=utf-8', PAGE_HTML],
    '/bundle.js': ['text/javascript', await bundleCode()],
  });
  browser = await launchBrowser();
}, 90_000);

afterAll(async () => {
  for (const n of nodes) await n.close().catch(() => {});
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await site?.close();
  await stopRelay?.();
}, 60_000);

describe('browser node through the WebSocket relay (chromium)', () => {
  it('two pages and a Node peer: messages to all and to one, 8 MiB file with SHA-256, reload rejoins', async () => {
    // two contexts: two IndexedDBs, two identities
    const ctxA = await browser.newContext();
    const ctxB = await browser.newContext();
    contexts.push(ctxA, ctxB);
    const a = await openNode(ctxA);
    const b = await openNode(ctxB);
    expect(a.peerId).not.toBe(b.peerId);
    const keyA = parsePeerId(a.peerId);
    const keyB = parsePeerId(b.peerId);
    // the Node peer sorts above both pages, so they dial it (the lower key asks for the circuit)
    const n = await RelayPeer.start({
      relayKey: relay.publicKey,
      carrier: { kind: 'udp', host: relay.udp?.host as string, port: relay.udp?.port as number },
      identity: identityAbove([keyA, keyB]),
    });
    nodes.push(n);
    await n.ready();
    const nId = (await import('@srmudp/crypto')).peerIdToString(n.publicKey);
    const fromNode = nodeMessages(n);

    const nFromA = n.acceptedFrom(keyA, 30_000);
    const nFromB = n.acceptedFrom(keyB, 30_000);
    await addPeers(a.page, { b: b.peerId, n: nId });
    await addPeers(b.page, { a: a.peerId, n: nId });
    expect(await ready(a.page, 'b')).toBe(true);
    expect(await ready(a.page, 'n')).toBe(true);
    expect(await ready(b.page, 'a')).toBe(true);
    expect(await ready(b.page, 'n')).toBe(true);
    const [connA, connB] = await Promise.all([nFromA, nFromB]);

    // status: every peer established, on a relayed path through this relay
    const st = await a.page.evaluate(() => (window as unknown as W).node.status());
    expect(st.relay.state).toBe('ready');
    expect(st.peers.b?.state).toBe('established');
    expect(st.peers.n?.path).toEqual({ kind: 'relayed', relay: relay.peerId, url: relay.url });

    // to all, from a page
    const sentTo = await a.page.evaluate(() => (window as unknown as W).node.send('hello all from a'));
    expect([...sentTo].sort()).toEqual(['b', 'n']);
    await waitMsg(b.page, 'a', 'hello all from a');
    await expect
      .poll(() => fromNode.some((m) => m.from === hex(keyA) && m.text === 'hello all from a'), {
        timeout: 30_000,
      })
      .toBe(true);
    // from Node to both pages
    connA.sendMessage(new TextEncoder().encode('hi a from n'));
    connB.sendMessage(new TextEncoder().encode('hi b from n'));
    n.schedule();
    await waitMsg(a.page, 'n', 'hi a from n');
    await waitMsg(b.page, 'n', 'hi b from n');

    // to one: b gets it, n does not (a marker sent to all afterwards shows n is past it)
    expect(await a.page.evaluate(() => (window as unknown as W).node.send('only b', { to: ['b'] }))).toEqual([
      'b',
    ]);
    await a.page.evaluate(() => (window as unknown as W).node.send('marker'));
    await waitMsg(b.page, 'a', 'only b');
    await expect.poll(() => fromNode.some((m) => m.text === 'marker'), { timeout: 30_000 }).toBe(true);
    expect(fromNode.some((m) => m.text === 'only b')).toBe(false);
    expect((await msgs(b.page)).filter((m) => m.text === 'only b')).toHaveLength(1);

    // 8 MiB Node → page, SHA-256 checked in the page; the same through the same relay to a Node
    // peer on a WebSocket (as the page) for the goodput ratio
    const file = new Uint8Array(randomBytes(FILE));
    const sha = createHash('sha256').update(file).digest('hex');
    let t0 = performance.now();
    const got = receiveFile(a.page, 'n');
    await n.sendStream(connA, file, 90_000);
    const res = await got;
    const pageMs = performance.now() - t0;
    expect(res).toEqual({ bytes: FILE, sha256: sha });

    const m = await RelayPeer.start({ relayKey: relay.publicKey, carrier: { kind: 'ws', url: relay.url } });
    nodes.push(m);
    await m.ready();
    const connM = await n.connectTo(m.publicKey, 30_000);
    const mIn = await m.acceptedFrom(n.publicKey, 30_000);
    t0 = performance.now();
    const gotM = m.receiveStream(mIn, 90_000);
    await n.sendStream(connM, file, 90_000);
    const bytesM = await gotM;
    const nodeMs = performance.now() - t0;
    expect(createHash('sha256').update(bytesM).digest('hex')).toBe(sha);
    const mbps = (ms: number) => ((FILE * 8) / (ms / 1000) / 1e6).toFixed(0);
    const loss = (c: typeof connA) => {
      const s = c.stats();
      return `${s.packetsLost}/${s.packetsSent} lost, rtt ${s.rttMs.toFixed(1)} ms`;
    };
    console.log(`[figures] sender view: to page ${loss(connA)}; to node ${loss(connM)}`);
    console.log(
      `[figures] 8 MiB Node→page ${pageMs.toFixed(0)} ms (${mbps(pageMs)} Mbit/s), Node→Node(ws) ${nodeMs.toFixed(0)} ms (${mbps(nodeMs)} Mbit/s), ratio page/node goodput ${(nodeMs / pageMs).toFixed(2)}`,
    );

    // reload b (the higher key of the two pages: a must notice b left and dial again; b dials n)
    const bHigher = Buffer.compare(Buffer.from(keyB), Buffer.from(keyA)) > 0;
    const re = bHigher ? b : a;
    const other = bHigher ? a : b;
    const reName = bHigher ? 'b' : 'a';
    const otherName = bHigher ? 'a' : 'b';
    const reKey = bHigher ? keyB : keyA;
    const nBack = n.waitEndpoint(
      (e) => e.type === 'connected' && hex((e as { remoteKey: Uint8Array }).remoteKey) === hex(reKey),
      60_000,
    );
    await re.page.reload();
    const again = await openNode(re.page.context(), re.page);
    expect(again.peerId).toBe(re.peerId); // same identity, from IndexedDB
    await addPeers(re.page, { [otherName]: other.peerId, n: nId });
    expect(await ready(re.page, otherName)).toBe(true);
    expect(await ready(re.page, 'n')).toBe(true);
    const back = (await nBack) as { id: number };
    // Node greets the reloaded page as soon as it is back: page load → first message
    n.endpoint.connection(back.id)?.sendMessage(new TextEncoder().encode('welcome back'));
    n.schedule();
    await waitMsg(re.page, 'n', 'welcome back');
    const firstMs = await re.page.evaluate(() => (window as unknown as W).firstMessageAt as number);
    console.log(
      `[figures] page load → first message (reload, relay join, circuits, IK): ${firstMs.toFixed(0)} ms`,
    );
    // the other page reaches the reloaded one again, both ways
    await expect
      .poll(
        () =>
          other.page.evaluate((name) => (window as unknown as W).node.send('again', { to: [name] }), reName),
        {
          timeout: 30_000,
        },
      )
      .toEqual([reName]);
    await waitMsg(re.page, otherName, 'again');
    await re.page.evaluate((name) => (window as unknown as W).node.send('me too', { to: [name] }), otherName);
    await waitMsg(other.page, reName, 'me too');
  });
});
