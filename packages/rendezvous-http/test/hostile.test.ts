/**
 * The HTTP rendezvous server and client under the attacks of issue 22 (items 2-5 and 8), each
 * against a live server on loopback. Other loopback addresses (127.0.0.2, 127.0.0.3, ...) stand
 * for other hosts; X-Forwarded-For from the test client (127.0.0.1, a trusted proxy address)
 * stands for clients behind a reverse proxy.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { peerIdToString, Rendezvous } from '@srmudp/rendezvous';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { httpBackend } from '../src/index.js';
import { cleanup, identity, raw, record, server } from './helpers.js';

const OPEN = { rateLimitPerMinute: 600_000, rateLimitBurst: 100_000 } as const;
const put = (url: string, id: ReturnType<typeof identity>, bytes: Uint8Array, xff?: string) =>
  raw(`${url}/v1/records/${peerIdToString(id.peerId)}`, 'PUT', bytes, xff ? { 'x-forwarded-for': xff } : {});
const get = (url: string, id: ReturnType<typeof identity>) =>
  raw(`${url}/v1/records/${peerIdToString(id.peerId)}`, 'GET');

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return ok();
}

/** Opens a WebSocket watch; resolves with the upgrade status (101 when open). */
function watch(
  url: string,
  peerId: Uint8Array,
  headers: Record<string, string> = {},
  options: { autoPong?: boolean } = {},
): Promise<{ status: number; ws: WebSocket; messages: Uint8Array[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/watch/${peerIdToString(peerId)}`, {
      headers,
      ...options,
    });
    const messages: Uint8Array[] = [];
    ws.on('message', (data: Buffer) => messages.push(new Uint8Array(data)));
    cleanup.push(async () => ws.terminate());
    ws.on('open', () => resolve({ status: 101, ws, messages }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, ws, messages }));
    ws.on('error', () => resolve({ status: 0, ws, messages }));
  });
}

/** A fresh peer PUTs a record with this lifetime (optionally via a proxy saying it came from `xff`). */
async function putFresh(url: string, issuedAt: number, ttl: number, xff?: string) {
  const id = identity();
  return { id, res: await put(url, id, record(id, 1, issuedAt, ttl), xff) };
}

describe('item 2: the store cannot be filled for good', () => {
  it('evicts expired records: once the attacker records expired, a new peer stores again (was 507 until a restart)', async () => {
    let now = Date.now();
    const s = await server({
      ...OPEN,
      now: () => now,
      maxRecords: 40,
      maxRecordsPerClient: 1000,
      maxRecordsPerPrefix: 1000,
    });
    for (let i = 0; i < 40; i++) expect((await putFresh(s.url, now, 1000)).res.status).toBe(204);
    expect((await putFresh(s.url, now, 60_000)).res.status).toBe(507);
    now += 1000 + 121_000; // every attacker record has expired (beyond the clock-skew allowance)
    const late = await putFresh(s.url, now, 60_000);
    expect(late.res.status).toBe(204);
    expect((await get(s.url, late.id)).status).toBe(200);
    expect(s.stats().stored).toBe(1);
    expect(s.stats().evicted).toBe(40);
  });

  it('caps lifetimes: a record claiming to live until 2^53 - 1 is served at most maxRecordLifetimeMs after its PUT', async () => {
    let now = Date.now();
    const s = await server({ ...OPEN, now: () => now });
    const id = identity();
    const forever = record(id, 1, now, Number.MAX_SAFE_INTEGER - now);
    expect((await put(s.url, id, forever)).status).toBe(204);
    now += 2 * 3_600_000 - 1000;
    expect((await get(s.url, id)).status).toBe(200);
    now += 2000; // past the 2 h cap
    expect((await get(s.url, id)).status).toBe(404);
    expect(s.stats().stored).toBe(0);
    // a republish of the same bytes keeps a live peer's record (retention refreshed)
    const id2 = identity();
    const r2 = record(id2, 1, now, Number.MAX_SAFE_INTEGER - now);
    expect((await put(s.url, id2, r2)).status).toBe(204);
    now += 3_600_000;
    expect((await put(s.url, id2, r2)).status).toBe(204);
    now += 3_600_000;
    expect((await get(s.url, id2)).status).toBe(200);
  });

  it('quotas: one address, one /24, one IPv6 /64 hold a bounded number of records', async () => {
    const s = await server({ ...OPEN, trustProxy: true, maxRecordsPerClient: 5, maxRecordsPerPrefix: 12 });
    const now = Date.now();
    const statuses = async (n: number, xff: (i: number) => string) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await putFresh(s.url, now, 60_000, xff(i))).res.status);
      return out;
    };
    // one address: 5 records, then 429 QUOTA_EXCEEDED
    expect(await statuses(6, () => '198.51.100.7')).toEqual([204, 204, 204, 204, 204, 429]);
    const refused = await putFresh(s.url, now, 60_000, '198.51.100.7');
    expect(JSON.parse(refused.res.body).code).toBe('QUOTA_EXCEEDED');
    // the same /24 from other addresses: 12 in all
    expect(await statuses(8, (i) => `198.51.100.${20 + i}`)).toEqual([
      204, 204, 204, 204, 204, 204, 204, 429,
    ]);
    // another network is not affected
    expect((await putFresh(s.url, now, 60_000, '203.0.113.9')).res.status).toBe(204);
    // IPv6: every address of a /64 is one client
    expect(await statuses(6, (i) => `2001:db8:1:2::${i + 1}`)).toEqual([204, 204, 204, 204, 204, 429]);
    expect(s.stats().refused.QUOTA_EXCEEDED).toBe(4);
  });
});

describe('item 3: X-Forwarded-For and watches', () => {
  it('uses the entry the trusted proxy appended: a client cannot pick its address (was the first entry)', async () => {
    const s = await server({ trustProxy: true, rateLimitPerMinute: 60, rateLimitBurst: 3 });
    const health = (xff: string) => raw(`${s.url}/v1/health`, 'GET', undefined, { 'x-forwarded-for': xff });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await health(`203.0.113.${i + 1}, 198.51.100.1`)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
    // spoofing the victim's address in the first entry drains the attacker's own bucket only
    for (let i = 0; i < 5; i++) await health('198.51.100.99, 198.51.100.66');
    expect((await health('198.51.100.99')).status).toBe(200);
  });

  it('counts hops from the right, and ignores X-Forwarded-For from peers that are not the proxy', async () => {
    const two = await server({ trustProxy: 2, rateLimitPerMinute: 60, rateLimitBurst: 1 });
    const h = (url: string, xff: string) =>
      raw(`${url}/v1/health`, 'GET', undefined, { 'x-forwarded-for': xff });
    expect((await h(two.url, 'forged, 198.51.100.5, 10.0.0.9')).status).toBe(200);
    expect((await h(two.url, 'other, 198.51.100.5, 10.0.0.8')).status).toBe(429); // same client
    expect((await h(two.url, 'x, 198.51.100.6, 10.0.0.9')).status).toBe(200);
    const remote = await server({
      trustProxy: { from: ['10.0.0.0/8'] },
      rateLimitPerMinute: 60,
      rateLimitBurst: 1,
    });
    expect((await h(remote.url, '198.51.100.1')).status).toBe(200);
    expect((await h(remote.url, '198.51.100.2')).status).toBe(429); // 127.0.0.1 is not a trusted proxy here
  });

  it('one address cannot take every watch: per-client caps keyed on the real client (10,000 watches from one address filled the global cap)', async () => {
    const s = await server({ ...OPEN, trustProxy: true, maxWatchesPerClient: 4, maxWatches: 6 });
    const peer = identity().peerId;
    const opened: number[] = [];
    for (let i = 0; i < 8; i++)
      opened.push((await watch(s.url, peer, { 'x-forwarded-for': `203.0.113.${i}, 198.51.100.1` })).status);
    expect(opened).toEqual([101, 101, 101, 101, 429, 429, 429, 429]);
    expect((await watch(s.url, peer, { 'x-forwarded-for': '198.51.100.2' })).status).toBe(101);
    expect(s.stats().watches).toBe(5);
  });

  it('pings watches: one that does not answer is closed; an idle one is closed with 1001 and the client reconnects', {
    timeout: 15_000,
  }, async () => {
    const s = await server({ ...OPEN, watchPingIntervalMs: 150, watchIdleTimeoutMs: 600 });
    const id = identity();
    const mute = await watch(s.url, id.peerId, {}, { autoPong: false });
    expect(mute.status).toBe(101);
    const closed = new Promise<number>((r) => mute.ws.on('close', (c) => r(c)));
    expect(await until(() => s.stats().watchesExpired >= 1, 3000)).toBe(true);
    expect(await closed).toBe(1006); // terminated
    // an answering but idle watch is closed with 1001; HttpBackend.watch opens a new one and
    // still delivers the next record
    const backend = httpBackend({ url: s.url, timeoutMs: 2000 });
    cleanup.push(() => backend.close());
    expect((await put(s.url, id, record(id, 1))).status).toBe(204);
    const c = new AbortController();
    const seen: number[] = [];
    const t0 = Date.now();
    const follow = (async () => {
      for await (const v of backend.watch({ peerId: id.peerId }, { signal: c.signal })) {
        seen.push(v.length);
        if (seen.length === 2) c.abort();
      }
    })();
    expect(await until(() => s.stats().watchesExpired >= 2, 5000)).toBe(true); // the idle close
    expect(await until(() => s.stats().watches === 1, 5000)).toBe(true); // reconnected
    expect((await put(s.url, id, record(id, 2))).status).toBe(204);
    await follow;
    expect(seen.length).toBe(2);
    expect(Date.now() - t0).toBeLessThan(12_000);
  });
});

describe('item 4: verify once at PUT, serve stored bytes', () => {
  it('GETs and watches do not re-verify the signature (each GET cost ~2.4 ms of noble Ed25519)', async () => {
    const s = await server(OPEN);
    const id = identity();
    expect((await put(s.url, id, record(id, 1))).status).toBe(204);
    for (let i = 0; i < 30; i++) expect((await get(s.url, id)).status).toBe(200);
    const w = await watch(s.url, id.peerId);
    expect(await until(() => w.messages.length === 1, 3000)).toBe(true);
    expect(s.stats().signatureChecks).toBe(1);
    // a forged PUT is still checked and refused
    const forged = record(id, 2);
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    expect((await put(s.url, id, forged)).status).toBe(400);
    expect(s.stats().signatureChecks).toBe(2);
  });
});

describe('item 5: connections', () => {
  it('slowloris: connections that never finish their headers are closed about headersTimeoutMs later (fired on a 30 s sweep)', {
    timeout: 15_000,
  }, async () => {
    const s = await server({ ...OPEN, headersTimeoutMs: 1000, maxConnectionsPerClient: 100 });
    const port = Number(new URL(s.url).port);
    const socks: Socket[] = [];
    const closedAt: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) {
      const sock = connect(port, '127.0.0.1');
      sock.on('error', () => {});
      sock.on('close', () => closedAt.push(Date.now() - t0));
      if (i % 3 !== 0) sock.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n'); // and then a byte now and then
      socks.push(sock);
    }
    cleanup.push(async () => {
      for (const sock of socks) sock.destroy();
    });
    const drip = setInterval(() => {
      for (const sock of socks) if (!sock.destroyed) sock.write('X');
    }, 200);
    const allClosed = await until(() => closedAt.length === socks.length, 4000);
    clearInterval(drip);
    expect(allClosed, `${closedAt.length} of ${socks.length} closed within 4 s`).toBe(true);
    expect(Math.max(...closedAt)).toBeLessThan(4000);
  });

  it('caps connections per address: one host cannot take every descriptor; others still get in', async () => {
    const s = await server({ ...OPEN, maxConnectionsPerClient: 10 });
    const port = Number(new URL(s.url).port);
    const socks: Socket[] = [];
    cleanup.push(async () => {
      for (const sock of socks) sock.destroy();
    });
    for (let i = 0; i < 40; i++) {
      const sock = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      sock.on('error', () => {});
      socks.push(sock);
    }
    await until(() => socks.filter((x) => !x.destroyed).length <= 10 && s.stats().connections === 10, 3000);
    expect(s.stats().connections).toBe(10);
    expect(s.stats().refused.TOO_MANY_CONNECTIONS).toBe(30);
    expect((await raw(`${s.url}/v1/health`, 'GET', undefined, {}, '127.0.0.3')).status).toBe(200);
  });

  it('caps connections in all (maxConnections)', async () => {
    const s = await server({ ...OPEN, maxConnections: 12 });
    const port = Number(new URL(s.url).port);
    const socks: Socket[] = [];
    cleanup.push(async () => {
      for (const sock of socks) sock.destroy();
    });
    for (let i = 0; i < 20; i++) {
      const sock = connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${10 + (i % 5)}` });
      sock.on('error', () => {});
      socks.push(sock);
    }
    await until(() => socks.filter((x) => x.destroyed).length >= 8, 3000);
    expect(s.stats().connections).toBeLessThanOrEqual(12);
  });
});

describe('item 8: HTTP locators', () => {
  async function recorder(): Promise<{ url: string; paths: string[] }> {
    const paths: string[] = [];
    const srv: Server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, paths };
  }

  it('a card can only make the resolver GET <origin>/v1/records/<peer id>, never a path or query it chose', async () => {
    const target = await recorder();
    const rv = new Rendezvous({ backends: [httpBackend({ url: target.url, timeoutMs: 2000 })] });
    cleanup.push(() => rv.close());
    const id = identity();
    const r = await rv.resolve({
      peerId: id.peerId,
      locators: [{ backend: 'http', url: `${target.url}/some/internal/path?x=1` }],
    });
    expect(r).toBeNull();
    expect(target.paths).toEqual([`/v1/records/${peerIdToString(id.peerId)}`]);
    expect(() => httpBackend({ url: `${target.url}/prefix` })).toThrow(/must be an origin/);
  });

  it('many locators and many concurrent resolves: at most 8 sources each, no MaxListenersExceededWarning', async () => {
    const targets = await Promise.all(Array.from({ length: 3 }, () => recorder()));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    cleanup.push(async () => {
      process.off('warning', onWarning);
    });
    const rv = new Rendezvous({
      backends: [httpBackend({ url: targets[0]?.url as string, timeoutMs: 3000 })],
    });
    cleanup.push(() => rv.close());
    const locators = Array.from({ length: 16 }, (_, i) => ({
      backend: 'http',
      url: `${targets[i % 3]?.url}/?n=${i}`, // same three origins once reduced
    }));
    const ids = Array.from({ length: 24 }, () => identity());
    await Promise.all(ids.map((id) => rv.resolve({ peerId: id.peerId, locators })));
    await new Promise((r) => setImmediate(r));
    const asked = targets.reduce((n, t) => n + t.paths.length, 0);
    expect(asked).toBe(24 * 3); // 16 locators, 3 distinct origins: 3 requests per resolve
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
