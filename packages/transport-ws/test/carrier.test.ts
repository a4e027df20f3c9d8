import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  Backoff,
  connectWs,
  isWsTransportError,
  nodeWebSocket,
  WS_CLOSE,
  WsTransport,
  type WsTransportError,
  wsAddress,
} from '../src/index.js';
import { WsAcceptor, type WsAcceptorOptions } from '../src/server.js';

interface Running {
  server: Server;
  acceptor: WsAcceptor;
  url: string;
  port: number;
}
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(options: WsAcceptorOptions = {}, port = 0): Promise<Running> {
  const acceptor = new WsAcceptor(options);
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!acceptor.handleUpgrade(req, socket, head)) socket.destroy();
  });
  // echo server: every datagram back to where it came from
  acceptor.onDatagram((data, from) => acceptor.send(data, from.host, from.port));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const p = (server.address() as AddressInfo).port;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await acceptor.closeAll(2_000);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(stop);
  return { server, acceptor, url: `ws://127.0.0.1:${p}/relay`, port: p };
}

function waitFor<T>(make: (resolve: (v: T) => void) => void, ms = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
    make((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** Polls `check` every 5 ms, for at most `ms`. */
function until(check: () => boolean, ms = 10_000): Promise<void> {
  return waitFor<void>((r) => {
    const i = setInterval(() => {
      if (check()) {
        clearInterval(i);
        r();
      }
    }, 5);
    setTimeout(() => clearInterval(i), ms);
  }, ms);
}

describe('WsTransport ⇄ WsAcceptor', () => {
  it('one binary message is one datagram, both ways, with synthetic addresses on both sides', async () => {
    const { url, acceptor } = await serve();
    const opened = waitFor<{ host: string; port: number }>((r) => acceptor.onOpen((a) => r(a)));
    const t = await connectWs({ url });
    cleanups.push(() => t.close());
    const serverSide = await opened;
    expect(serverSide.host).toBe('ws~127.0.0.1');
    expect(serverSide.port).toBeGreaterThan(0);
    expect(t.remote).toEqual(wsAddress(url));
    const got: Uint8Array[] = [];
    const all = waitFor<void>((r) =>
      t.onDatagram((d, from) => {
        expect(from).toEqual(t.remote);
        got.push(d);
        if (got.length === 3) r();
      }),
    );
    const sizes = [1, 1200, 65_536];
    for (const n of sizes)
      expect(t.send(new Uint8Array(n).fill(n & 0xff), t.remote.host, t.remote.port)).toBe(true);
    await all;
    expect(got.map((d) => d.length)).toEqual(sizes);
    expect(got[1]?.every((b) => b === (1200 & 0xff))).toBe(true);
    expect(t.stats()).toMatchObject({ sent: 3, received: 3, opens: 1, state: 'open' });
    expect(() => t.send(new Uint8Array(1), '127.0.0.1', 1)).toThrow(TypeError);
  });

  it('drops (counted, typed error) what is too big, and sends nothing before open', async () => {
    const { url } = await serve();
    const t = new WsTransport({ url, webSocket: nodeWebSocket(), maxMessageSize: 1000 });
    expect(t.send(new Uint8Array(10))).toBe(false);
    expect(t.stats().dropped.not_open).toBe(1);
    const opened = waitFor<void>((r) => t.onState((c) => c.state === 'open' && r()));
    t.start();
    await opened;
    cleanups.push(() => t.close());
    const errors: WsTransportError[] = [];
    t.onError((e) => errors.push(e));
    expect(t.send(new Uint8Array(1001))).toBe(false);
    expect(errors.map((e) => e.code)).toEqual(['WS_MESSAGE_TOO_BIG']);
    expect(t.stats().dropped.too_big).toBe(1);
  });

  it('a message above the server maxPayload closes with 1009 (typed), and the client reconnects', async () => {
    const { url } = await serve({ maxPayload: 2_000 });
    const t = new WsTransport({
      url,
      webSocket: nodeWebSocket(),
      maxMessageSize: 10_000,
      reconnect: { initialDelayMs: 20, jitter: 0 },
    });
    const states: string[] = [];
    let closeErr: WsTransportError | undefined;
    const reopened = waitFor<void>((r) =>
      t.onState((c) => {
        states.push(c.state);
        if (c.state === 'reconnecting') closeErr = c.error;
        if (c.state === 'open' && states.length > 1) r();
      }),
    );
    t.start();
    cleanups.push(() => t.close());
    await until(() => t.state === 'open');
    expect(t.send(new Uint8Array(2_001))).toBe(true); // leaves the client; the server refuses it
    await reopened;
    expect(closeErr?.code).toBe('WS_CLOSED');
    expect(closeErr?.closeCode).toBe(WS_CLOSE.message_too_big);
    expect(closeErr?.closeReason).toBe('message_too_big');
    expect(states).toEqual(['open', 'reconnecting', 'open']);
  });

  it('refuses a wrong token with 4001: WS_UNAUTHORIZED, not retried; header and ?token= both work', async () => {
    const { url } = await serve({ admit: (r) => r.token === 'sesame' });
    // a refusal completes the upgrade and closes with the code (browsers see only that): the
    // transport reports it as a typed error and does not retry
    const refused = new WsTransport({ url, token: 'nope', webSocket: nodeWebSocket() });
    const closed = waitFor<WsTransportError | undefined>((r) =>
      refused.onState((c) => c.state === 'closed' && r(c.error)),
    );
    refused.start();
    const err = await closed;
    expect(isWsTransportError(err) && err.code).toBe('WS_UNAUTHORIZED');
    expect(err?.closeReason).toBe('unauthorized');
    const viaHeader = await connectWs({ url, token: 'sesame' });
    cleanups.push(() => viaHeader.close());
    // a browser-like factory without headers: the token travels in the query
    const noHeaders = { ...nodeWebSocket(), headers: false };
    const viaQuery = await connectWs({ url, token: 'sesame', webSocket: noHeaders });
    cleanups.push(() => viaQuery.close());
    expect([viaHeader.state, viaQuery.state]).toEqual(['open', 'open']);
  });

  it('limits new connections per IP (4002) and refuses clients without the subprotocol (4005)', async () => {
    const { url, acceptor } = await serve({ newConnectionsBurst: 3, newConnectionsPerIpPerSec: 0.001 });
    const ok: WsTransport[] = [];
    for (let i = 0; i < 3; i++) ok.push(await connectWs({ url }));
    cleanups.push(async () => {
      await Promise.all(ok.map((t) => t.close()));
    });
    const fourth = new WsTransport({
      url,
      webSocket: nodeWebSocket(),
      reconnect: { initialDelayMs: 60_000 },
    });
    const retry = waitFor<WsTransportError | undefined>((r) =>
      fourth.onState((c) => c.state === 'reconnecting' && r(c.error)),
    );
    fourth.start();
    cleanups.push(() => fourth.close());
    expect((await retry)?.closeReason).toBe('too_many_connections'); // retried later, with backoff
    expect(acceptor.stats().refused.too_many_connections).toBe(1);
  });

  it('refuses a client that offers no srmudp.relay.v1 subprotocol with 4005', async () => {
    const { url, acceptor } = await serve();
    const bare = new WebSocket(url); // offers no subprotocol (one that offers others fails at once)
    bare.on('error', () => {});
    const code = await waitFor<number>((r) => bare.on('close', (c) => r(c)));
    expect(code).toBe(WS_CLOSE.subprotocol);
    expect(acceptor.stats().refused.subprotocol).toBe(1);
  });

  it('reconnects with backoff after the server goes away and comes back on the same port', async () => {
    const first = await serve();
    const t = new WsTransport({
      url: first.url,
      webSocket: nodeWebSocket(),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    const states: { state: string; error?: string }[] = [];
    t.onState((c) =>
      states.push({ state: c.state, ...(c.error ? { error: c.error.closeReason ?? c.error.code } : {}) }),
    );
    t.start();
    cleanups.push(() => t.close());
    await until(() => t.state === 'open');
    await cleanups.shift()?.(); // first server stops: clients get going_away (1001)
    const second = await serve({}, first.port);
    await until(() => t.state === 'open' && t.stats().opens === 2, 15_000);
    expect(states[0]).toEqual({ state: 'open' });
    expect(states[1]).toMatchObject({ state: 'reconnecting', error: 'going_away' });
    expect(states.at(-1)).toEqual({ state: 'open' });
    const echoed = waitFor<number>((r) => t.onDatagram((d) => r(d.length)));
    t.send(new Uint8Array(77));
    expect(await echoed).toBe(77);
    expect(second.acceptor.stats().connections).toBe(1);
  });

  it('first connect to nothing rejects with WS_CONNECT_FAILED; backoff grows and is bounded', async () => {
    const err = await connectWs({ url: 'ws://127.0.0.1:1/relay' }).then(
      () => null,
      (e: unknown) => e as WsTransportError,
    );
    expect(err?.code).toBe('WS_CONNECT_FAILED');
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000, jitter: 0, maxAttempts: 6 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      100,
      200,
      400,
      800,
      1_000,
      1_000,
      null,
    ]);
    expect(() => new WsTransport({ url: 'http://x/', webSocket: nodeWebSocket() })).toThrow(TypeError);
  });
});
