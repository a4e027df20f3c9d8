import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ed25519 } from '@noble/curves/ed25519.js';
import { peerIdToString, Rendezvous } from '@srmudp/rendezvous';
import { describe, expect, it } from 'vitest';
import { httpBackend, RateLimiter } from '../src/index.js';
import { cleanup, code, identity, raw, record, server } from './helpers.js';

describe('HTTP rendezvous server', () => {
  it('checks signature, peer id, expiry and sequence before storing', async () => {
    const s = await server();
    const a = identity();
    const b = identity();
    const url = `${s.url}/v1/records/${peerIdToString(a.peerId)}`;
    expect((await raw(url, 'PUT', record(a, 5))).status).toBe(204);
    // signed by b, put under a's id
    const r1 = await raw(url, 'PUT', record(b, 9));
    expect(r1.status).toBe(400);
    expect(JSON.parse(r1.body).code).toBe('RECORD_FORGED');
    // a's record with a flipped signature bit
    const tampered = record(a, 9);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    expect(JSON.parse((await raw(url, 'PUT', tampered)).body).code).toBe('RECORD_FORGED');
    // expired
    expect(JSON.parse((await raw(url, 'PUT', record(a, 9, Date.now() - 7_200_000, 1000))).body).code).toBe(
      'RECORD_EXPIRED',
    );
    // truncated
    expect(JSON.parse((await raw(url, 'PUT', record(a, 9).slice(0, 50))).body).code).toBe('RECORD_MALFORMED');
    // replay of an older seq
    const stale = await raw(url, 'PUT', record(a, 4));
    expect(stale.status).toBe(409);
    expect(JSON.parse(stale.body).code).toBe('STALE_SEQUENCE');
    expect(s.store.seq(a.peerId)).toBe(5);
    expect(s.stats().refused).toMatchObject({
      RECORD_FORGED: 2,
      RECORD_EXPIRED: 1,
      RECORD_MALFORMED: 1,
      STALE_SEQUENCE: 1,
    });
  });

  it('limits body size, routes and methods', async () => {
    const s = await server();
    const a = identity();
    const url = `${s.url}/v1/records/${peerIdToString(a.peerId)}`;
    expect((await raw(url, 'PUT', new Uint8Array(5000))).status).toBe(413);
    // chunked body without content-length, too large
    const chunked = await raw(url, 'PUT', new Uint8Array(5000), { 'transfer-encoding': 'chunked' }).catch(
      () => ({ status: 413, body: '' }),
    );
    expect(chunked.status).toBe(413);
    expect((await raw(`${s.url}/v1/records/nonsense`, 'GET')).status).toBe(404);
    expect((await raw(`${s.url}/elsewhere`, 'GET')).status).toBe(404);
    expect((await raw(url, 'DELETE')).status).toBe(405);
    expect((await raw(url, 'GET')).status).toBe(404);
    expect(JSON.parse((await raw(`${s.url}/v1/health`, 'GET')).body)).toEqual({
      ok: true,
      maxRecordLifetimeMs: 7_200_000,
    });
  });

  it('does not serve expired records', async () => {
    let now = Date.now();
    const s = await server({ now: () => now });
    const a = identity();
    const url = `${s.url}/v1/records/${peerIdToString(a.peerId)}`;
    expect((await raw(url, 'PUT', record(a, 5, now, 1000))).status).toBe(204);
    expect((await raw(url, 'GET')).status).toBe(200);
    now += 1000 + 121_000;
    expect((await raw(url, 'GET')).status).toBe(404);
  });

  it('rate limits per client address with 429 and Retry-After', async () => {
    const s = await server({ rateLimitPerMinute: 60, rateLimitBurst: 3 });
    const url = `${s.url}/v1/health`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await raw(url, 'GET')).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limiter = new RateLimiter({ perMinute: 60, burst: 1, maxClients: 4 });
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBe(1000);
    expect(limiter.take('a', 1000)).toBe(0);
    for (let i = 0; i < 20; i++) limiter.take(`c${i}`, 2000);
    expect(limiter.size).toBeLessThanOrEqual(4);
  });

  it('limits watch sockets per client', async () => {
    const s = await server({ maxWatchesPerClient: 1 });
    const a = identity();
    const backend = httpBackend({ url: s.url, timeoutMs: 2000 });
    cleanup.push(() => backend.close());
    await backend.publish({ peerId: a.peerId }, record(a, 1), { seq: 1 });
    const c = new AbortController();
    const first = backend.watch({ peerId: a.peerId }, { signal: c.signal })[Symbol.asyncIterator]();
    expect((await first.next()).done).toBe(false);
    const second = backend.watch({ peerId: a.peerId }, { signal: c.signal })[Symbol.asyncIterator]();
    expect(await code(second.next())).toBe('UNAVAILABLE');
    c.abort();
  });
});

describe('HTTP server limits', () => {
  it('answers 507 when the store is full, and keeps serving the records it has', async () => {
    const s = await server({ maxRecords: 1 });
    const a = identity();
    const b = identity();
    expect((await raw(`${s.url}/v1/records/${peerIdToString(a.peerId)}`, 'PUT', record(a, 1))).status).toBe(
      204,
    );
    const full = await raw(`${s.url}/v1/records/${peerIdToString(b.peerId)}`, 'PUT', record(b, 1));
    expect(full.status).toBe(507);
    expect(JSON.parse(full.body).code).toBe('STORE_FULL');
    expect((await raw(`${s.url}/v1/records/${peerIdToString(a.peerId)}`, 'PUT', record(a, 2))).status).toBe(
      204,
    );
  });

  it('rate limits by X-Forwarded-For only when told to trust the proxy', async () => {
    const trusting = await server({ trustProxy: true, rateLimitPerMinute: 60, rateLimitBurst: 1 });
    const url = `${trusting.url}/v1/health`;
    expect((await raw(url, 'GET', undefined, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(200);
    expect((await raw(url, 'GET', undefined, { 'x-forwarded-for': '198.51.100.2' })).status).toBe(200);
    expect((await raw(url, 'GET', undefined, { 'x-forwarded-for': '198.51.100.1' })).status).toBe(429);
    const plain = await server({ rateLimitPerMinute: 60, rateLimitBurst: 1 });
    expect(
      (await raw(`${plain.url}/v1/health`, 'GET', undefined, { 'x-forwarded-for': '198.51.100.1' })).status,
    ).toBe(200);
    expect(
      (await raw(`${plain.url}/v1/health`, 'GET', undefined, { 'x-forwarded-for': '198.51.100.2' })).status,
    ).toBe(429);
  });
});

describe('HTTP client backend against broken servers', () => {
  async function fake(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const srv: Server = createServer(handler);
    const sockets = new Set<import('node:net').Socket>();
    srv.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(
      () =>
        new Promise<void>((r) => {
          for (const sock of sockets) sock.destroy();
          srv.close(() => r());
        }),
    );
    return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  }

  it('500s, garbage, huge answers and hangs give UNAVAILABLE or unverified bytes, never a crash', async () => {
    const a = identity();
    const url500 = await fake((_req, res) => {
      res.writeHead(500);
      res.end('oops');
    });
    const urlGarbage = await fake((_req, res) => {
      res.writeHead(200);
      res.end('<html>not a record</html>');
    });
    const urlHuge = await fake((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(100_000));
    });
    const urlHang = await fake(() => {
      // never answers
    });
    const key = { peerId: a.peerId };
    const b500 = httpBackend({ url: url500, timeoutMs: 500 });
    const bGarbage = httpBackend({ url: urlGarbage, timeoutMs: 500 });
    const bHuge = httpBackend({ url: urlHuge, timeoutMs: 500 });
    const bHang = httpBackend({ url: urlHang, timeoutMs: 300 });
    cleanup.push(async () => {
      await Promise.all([b500.close(), bGarbage.close(), bHuge.close(), bHang.close()]);
    });
    expect(await code(b500.resolve(key))).toBe('UNAVAILABLE');
    expect(await code(b500.publish(key, record(a, 1), { seq: 1 }))).toBe('UNAVAILABLE');
    expect(await code(bHuge.resolve(key))).toBe('UNAVAILABLE');
    const t0 = Date.now();
    expect(await code(bHang.resolve(key))).toBe('UNAVAILABLE');
    expect(Date.now() - t0).toBeLessThan(2000);
    // Garbage bytes come back as bytes; the Rendezvous resolver refuses them.
    const rv = new Rendezvous({ backends: [bGarbage] });
    expect(
      await code(rv.resolve({ peerId: a.peerId, locators: [{ backend: 'http', url: urlGarbage }] })),
    ).toBe('RECORD_MALFORMED');
    const dead = httpBackend({ url: 'http://127.0.0.1:1', timeoutMs: 500 });
    cleanup.push(() => dead.close());
    expect(await code(dead.resolve(key))).toBe('UNAVAILABLE');
  });

  it('two Rendezvous nodes find each other through the server and follow updates over WebSocket', async () => {
    const s = await server();
    const alice = new Rendezvous({
      backends: [httpBackend({ url: s.url })],
      secretKey: ed25519.utils.randomSecretKey(),
    });
    const bob = new Rendezvous({ backends: [httpBackend({ url: s.url })] });
    cleanup.push(async () => {
      await alice.close();
      await bob.close();
    });
    await alice.publish({ candidates: [{ kind: 'srflx', family: 4, host: '198.51.100.1', port: 7000 }] });
    const card = alice.card();
    expect((await bob.resolve(card))?.record.candidates[0]?.port).toBe(7000);
    const ports: number[] = [];
    const t = setTimeout(() => void bob.close(), 5000);
    for await (const r of bob.watch(card, { intervalMs: 60_000 })) {
      ports.push(r.record.candidates[0]?.port ?? 0);
      if (ports.length === 1) {
        await new Promise((res) => setTimeout(res, 1100)); // the backend's minimum publish interval
        await alice.publish({ candidates: [{ kind: 'srflx', family: 4, host: '198.51.100.1', port: 7001 }] });
      } else break;
    }
    clearTimeout(t);
    expect(ports).toEqual([7000, 7001]);
  });
});
