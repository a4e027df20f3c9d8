import { Socket as DgramSocket } from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mappedIPv4Source, sourceAddress } from '../src/address.js';
import {
  localInterfaces,
  mapIPv4,
  type TransportError,
  UdpTransport,
  type UdpTransportOptions,
  unmapIPv4,
} from '../src/index.js';
import { collect, sleep } from './helpers.js';

const open: UdpTransport[] = [];
/** the options of the variant being run (below: with segmentation offload where built, and without) */
let variant: UdpTransportOptions = {};
async function bind(options: UdpTransportOptions = {}): Promise<UdpTransport> {
  const t = await UdpTransport.bind({ ...variant, ...options });
  open.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

// Every case runs three times: with the defaults (segmentation offload, direct sends, and the
// native module reading alone with UDP_GRO where it was built, see gso.test.ts and
// batch-receive.test.ts), with batches read behind node:dgram's reads (gro: false), and with
// node:dgram alone.
describe.each([
  ['defaults (direct sends, coalesced native reads where built)', {}],
  ['batched receive behind node:dgram (gro: false)', { gro: false }],
  ['node:dgram alone (gso: false, batchReceive: false)', { gso: false, batchReceive: false }],
] as const)('UdpTransport, %s', (_name, options) => {
  beforeEach(() => {
    variant = options;
  });
  it('sends and receives over IPv4 loopback', async () => {
    const a = await bind({ host: '127.0.0.1' });
    const b = await bind({ host: '127.0.0.1' });
    expect(a.type).toBe('udp4');
    expect(a.address()).toEqual({ host: '127.0.0.1', port: expect.any(Number), family: 'IPv4' });
    expect(a.addresses()).toEqual([a.address()]);
    const got = collect(b, 2);
    expect(a.send(text('hello'), '127.0.0.1', b.address().port)).toBe(true);
    expect(a.send(text('world'), '127.0.0.1', b.address().port)).toBe(true);
    const msgs = await got;
    expect(msgs.map((m) => str(m.data))).toEqual(['hello', 'world']);
    expect(msgs[0]!.from).toEqual({ host: '127.0.0.1', port: a.address().port, family: 'IPv4' });
    expect(a.stats()).toMatchObject({ sent: 2, bytesSent: 10, dropped: 0, sendErrorCount: 0, inFlight: 0 });
    expect(b.stats()).toMatchObject({ received: 2, bytesReceived: 10 });
  });

  it('sends and receives over IPv6 loopback', async () => {
    const a = await bind({ host: '::1' });
    const b = await bind({ host: '::1', ipv6Only: true });
    expect(a.type).toBe('udp6');
    const got = collect(b, 1);
    a.send(text('v6'), '::1', b.address().port);
    const [m] = await got;
    expect(str(m!.data)).toBe('v6');
    expect(m!.from).toEqual({ host: '::1', port: a.address().port, family: 'IPv6' });
  });

  it('dual-stack: receives from an IPv4 client with the address normalised, and replies', async () => {
    const server = await bind({ host: '::', ipv6Only: false });
    expect(server.dualStack).toBe(true);
    const client = await bind({ host: '127.0.0.1' });
    const got = collect(server, 1);
    client.send(text('from v4'), '127.0.0.1', server.address().port);
    const [m] = await got;
    expect(m!.from).toEqual({ host: '127.0.0.1', port: client.address().port, family: 'IPv4' });
    // Reply to the normalised address: mapped to ::ffff:127.0.0.1 on the way out.
    const back = collect(client, 1);
    expect(server.send(text('reply'), m!.from.host, m!.from.port)).toBe(true);
    const [r] = await back;
    expect(str(r!.data)).toBe('reply');
    expect(r!.from.port).toBe(server.address().port);
    // And IPv6 peers still work on the same socket.
    const v6 = await bind({ host: '::1' });
    const got6 = collect(server, 1);
    v6.send(text('from v6'), '::1', server.address().port);
    const [m6] = await got6;
    expect(m6!.from).toEqual({ host: '::1', port: v6.address().port, family: 'IPv6' });
  });

  it('refuses the wrong family without throwing and counts it', async () => {
    const v6only = await bind({ host: '::1', ipv6Only: true });
    const v4 = await bind({ host: '127.0.0.1' });
    const errors: TransportError[] = [];
    v6only.onError((e) => errors.push(e));
    v4.onError((e) => errors.push(e));
    expect(v6only.send(text('x'), '127.0.0.1', 9)).toBe(false);
    expect(v4.send(text('x'), '::1', 9)).toBe(false);
    expect(errors.map((e) => e.code)).toEqual(['EAFNOSUPPORT', 'EAFNOSUPPORT']);
    expect(errors[0]).toMatchObject({ host: '127.0.0.1', port: 9 });
    expect(v6only.stats().sendErrors).toEqual({ EAFNOSUPPORT: 1 });
    // A udp4 socket accepts an IPv4-mapped destination by unmapping it.
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 1);
    expect(v4.send(text('mapped'), '::ffff:127.0.0.1', b.address().port)).toBe(true);
    expect(str((await got)[0]!.data)).toBe('mapped');
    // a refusal right after an accepted destination, and the other way round (the last accepted
    // host is remembered, never a refused one)
    expect(v4.send(text('x'), '::1', 9)).toBe(false);
    expect(v4.send(text('x'), '::1', 9)).toBe(false);
    expect(v6only.send(text('x'), '::1', 9)).toBe(true);
    expect(v6only.send(text('x'), '127.0.0.1', 9)).toBe(false);
    expect(() => v4.send(text('x'), 'localhost', 9)).toThrow(TypeError);
    // the empty string is no remembered host: a fresh transport still refuses it by throwing
    const fresh = await bind({ host: '127.0.0.1' });
    expect(() => fresh.send(text('x'), '', 9)).toThrow(TypeError);
    expect(v4.stats().sendErrors).toEqual({ EAFNOSUPPORT: 3 });
    expect(v6only.stats().sendErrors).toEqual({ EAFNOSUPPORT: 2 });
  });

  it('a 10,000-datagram burst between two sockets arrives (>= 99.9%)', async () => {
    const a = await bind({ host: '127.0.0.1' });
    const b = await bind({ host: '127.0.0.1' });
    expect(b.bufferSizes().recvRequested).toBe(4 * 1024 * 1024);
    const n = 10_000;
    const got = collect(b, n, 10_000);
    const payload = new Uint8Array(1200);
    const port = b.address().port;
    for (let i = 0; i < n; i++) {
      const p = payload.slice();
      p[0] = i & 0xff;
      p[1] = i >>> 8;
      a.send(p, '127.0.0.1', port);
    }
    const msgs = await got;
    const seen = new Set(msgs.map((m) => m.data[0]! | (m.data[1]! << 8)));
    console.log(`burst: ${msgs.length}/${n} arrived, ${seen.size} distinct, buffers`, b.bufferSizes());
    expect(seen.size).toBeGreaterThanOrEqual(Math.ceil(n * 0.999));
    expect(a.stats()).toMatchObject({ sent: n, bytesSent: n * 1200, dropped: 0, sendErrorCount: 0 });
  });

  it('send to a closed port does not throw and the socket keeps working', async () => {
    const a = await bind({ host: '127.0.0.1' });
    const closed = await UdpTransport.bind({ ...variant, host: '127.0.0.1' });
    const deadPort = closed.address().port;
    await closed.close();
    const errors: TransportError[] = [];
    a.onError((e) => errors.push(e));
    for (let i = 0; i < 5; i++) a.send(text('nobody'), '127.0.0.1', deadPort);
    await sleep(50);
    // Linux reports ICMP port unreachable only to connected sockets (or with IP_RECVERR, which
    // node does not set): an unconnected socket sees nothing. Whatever node surfaces must be an
    // ECONNREFUSED report through onError, never an exception.
    for (const e of errors) expect(e.code).toBe('ECONNREFUSED');
    const st = a.stats();
    expect(st.sent + st.sendErrorCount).toBe(5);
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 1);
    a.send(text('still alive'), '127.0.0.1', b.address().port);
    expect(str((await got)[0]!.data)).toBe('still alive');
  });

  it('EMSGSIZE for a 70,000-byte datagram is surfaced, not thrown', async () => {
    const a = await bind({ host: '127.0.0.1' });
    const b = await bind({ host: '127.0.0.1' });
    const errors: TransportError[] = [];
    a.onError((e) => errors.push(e));
    expect(a.send(new Uint8Array(70_000), '127.0.0.1', b.address().port)).toBe(true);
    const got = collect(b, 1);
    a.send(text('after'), '127.0.0.1', b.address().port);
    expect(str((await got)[0]!.data)).toBe('after');
    await sleep(10);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EMSGSIZE', host: '127.0.0.1', port: b.address().port });
    expect(a.stats()).toMatchObject({ sendErrors: { EMSGSIZE: 1 }, sendErrorCount: 1, sent: 1 });
  });

  it('bounds the send queue: drop-newest, counted', async () => {
    const a = await bind({ host: '127.0.0.1', maxQueue: 10 });
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 10, 2000);
    let accepted = 0;
    for (let i = 0; i < 25; i++) if (a.send(Uint8Array.of(i), '127.0.0.1', b.address().port)) accepted++;
    expect(accepted).toBe(10);
    expect(a.stats()).toMatchObject({ dropped: 15, queued: 10 });
    const msgs = await got;
    expect(msgs.map((m) => m.data[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.stats()).toMatchObject({ queued: 0, inFlight: 0, sent: 10 });
  });

  it('flushFullBatch() hands the queue to the OS only once it holds maxBatch datagrams', async () => {
    const a = await bind({ host: '127.0.0.1', maxBatch: 4 });
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 6, 2000);
    for (let i = 0; i < 6; i++) {
      a.send(Uint8Array.of(i), '127.0.0.1', b.address().port);
      a.flushFullBatch();
      // 1-3 queued wait for the turn; the 4th makes a batch, which leaves at once
      expect(a.stats().queued).toBe(i < 3 ? i + 1 : i - 3);
    }
    const msgs = await got;
    expect(msgs.map((m) => m.data[0])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(a.stats()).toMatchObject({ queued: 0, sent: 6 });
  });

  it('sendUrgent() is queued ahead and kept when the queue is full (a CLOSE behind a flood)', async () => {
    const a = await bind({ host: '127.0.0.1', maxQueue: 10, urgentReserve: 2 });
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 12, 2000);
    for (let i = 0; i < 10; i++) expect(a.send(Uint8Array.of(i), '127.0.0.1', b.address().port)).toBe(true);
    expect(a.send(Uint8Array.of(99), '127.0.0.1', b.address().port)).toBe(false); // full: drop-newest
    expect(a.sendUrgent(Uint8Array.of(100), '127.0.0.1', b.address().port)).toBe(true);
    expect(a.sendUrgent(Uint8Array.of(101), '127.0.0.1', b.address().port)).toBe(true);
    expect(a.sendUrgent(Uint8Array.of(102), '127.0.0.1', b.address().port)).toBe(false); // reserve used up
    expect(a.stats()).toMatchObject({ dropped: 2, queued: 12 });
    const msgs = (await got).map((m) => m.data[0]);
    // urgent ones go ahead of everything not yet handed to the OS (the last one first)
    expect(msgs).toEqual([101, 100, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('close() waits for datagrams the OS has not taken yet (they used to be cancelled: 0 of 20 arrived)', async () => {
    // libuv keeps a datagram the kernel cannot take at once (full socket buffer) and cancels it
    // when the handle closes; simulated here by completing every dgram send 30 ms later
    const real = DgramSocket.prototype.send;
    const spy = vi.spyOn(DgramSocket.prototype, 'send').mockImplementation(function (
      this: DgramSocket,
      ...args: unknown[]
    ) {
      const cb = args[args.length - 1] as (err: Error | null, bytes?: number) => void;
      setTimeout(() => {
        try {
          (real as (...a: unknown[]) => void).apply(this, args);
        } catch (e) {
          cb(e as Error); // the socket was closed meanwhile: the datagram is lost
        }
      }, 30);
    } as typeof real);
    try {
      // (dgram's path: what libuv holds until the kernel takes it; direct sends are synchronous)
      const a = await UdpTransport.bind({ host: '127.0.0.1', gso: false });
      const b = await bind({ host: '127.0.0.1' });
      const got = collect(b, 20, 2000);
      for (let i = 0; i < 20; i++) a.send(Uint8Array.of(i), '127.0.0.1', b.address().port);
      await a.close();
      expect((await got).length).toBe(20);
      expect(a.stats()).toMatchObject({ sent: 20, sendErrorCount: 0, inFlight: 0 });
    } finally {
      spy.mockRestore();
    }
  });

  it('close() gives up waiting after closeTimeoutMs', async () => {
    const spy = vi.spyOn(DgramSocket.prototype, 'send').mockImplementation((() => {
      /* never completes */
    }) as typeof DgramSocket.prototype.send);
    try {
      const a = await UdpTransport.bind({ host: '127.0.0.1', closeTimeoutMs: 100, gso: false });
      a.send(Uint8Array.of(1), '127.0.0.1', 9);
      const t0 = performance.now();
      await a.close();
      expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
      expect(a.closed).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('flush() hands the queue to the OS synchronously', async () => {
    const a = await bind({ host: '127.0.0.1' });
    const b = await bind({ host: '127.0.0.1' });
    a.send(text('now'), '127.0.0.1', b.address().port);
    expect(a.stats().queued).toBe(1);
    a.flush();
    expect(a.stats()).toMatchObject({ queued: 0 });
    expect(str((await collect(b, 1))[0]!.data)).toBe('now');
  });

  it('rebind() moves to a new port and keeps the handler', async () => {
    const a = await bind({ host: '127.0.0.1' });
    const b = await bind({ host: '127.0.0.1' });
    const before = a.address().port;
    const after = await a.rebind();
    expect(after.port).not.toBe(before);
    expect(a.address()).toEqual(after);
    const got = collect(b, 1);
    a.send(text('moved'), '127.0.0.1', b.address().port);
    expect((await got)[0]!.from.port).toBe(after.port);
    const back = collect(a, 1);
    b.send(text('back'), '127.0.0.1', after.port);
    expect(str((await back)[0]!.data)).toBe('back');
  });

  it('close() is idempotent, later sends return false, and no handle stays open', async () => {
    const handles = () =>
      (process as unknown as { getActiveResourcesInfo(): string[] })
        .getActiveResourcesInfo()
        .filter((r) => r === 'UDPWrap').length;
    const base = handles();
    const a = await UdpTransport.bind({ ...variant, host: '127.0.0.1' });
    const b = await UdpTransport.bind({ host: '::1' });
    expect(handles()).toBe(base + 2);
    a.send(text('x'), '127.0.0.1', b.address().port === 0 ? 1 : 9);
    const p1 = a.close();
    const p2 = a.close();
    expect(p1).toBe(p2);
    await Promise.all([p1, b.close(), b.close()]);
    expect(a.closed).toBe(true);
    expect(a.send(text('y'), '127.0.0.1', 9)).toBe(false);
    await expect(a.rebind()).rejects.toThrow(TypeError);
    expect(handles()).toBe(base);
  });

  it('reports buffer sizes without failing when the kernel clamps', async () => {
    const a = await bind({ host: '127.0.0.1', recvBufferSize: 1 << 30, sendBufferSize: 1 << 30 });
    const s = a.bufferSizes();
    expect(s.recvRequested).toBe(1 << 30);
    expect(s.recv).toBeGreaterThan(0);
    expect(s.recv).toBeLessThan(1 << 30);
    expect(s.send).toBeGreaterThan(0);
  });

  it('rejects bad arguments with exact messages', async () => {
    await expect(UdpTransport.bind({ host: 'localhost' })).rejects.toThrow(
      new TypeError('"host" expected an IP literal, got localhost'),
    );
    await expect(UdpTransport.bind({ port: 70000 })).rejects.toThrow(
      new RangeError('"port" expected an integer in 0..65535, got 70000'),
    );
    await expect(UdpTransport.bind({ host: '::1', type: 'udp4' })).rejects.toThrow(
      new TypeError('"host" ::1 does not match "type" udp4'),
    );
    await expect(UdpTransport.bind({ maxQueue: 0 })).rejects.toThrow(
      new RangeError('"maxQueue" expected a positive integer, got 0'),
    );
    const a = await bind({ host: '127.0.0.1' });
    expect(() => a.send('x' as unknown as Uint8Array, '127.0.0.1', 1)).toThrow(
      new TypeError('"data" expected Uint8Array, got string'),
    );
    expect(() => a.send(text('x'), '127.0.0.1', 0)).toThrow(
      new RangeError('"port" expected an integer in 1..65535, got 0'),
    );
    expect(() => a.send(text('x'), 'example.com', 1)).toThrow(
      new TypeError('"host" expected an IP literal, got example.com'),
    );
  });

  it('bind failure on a taken port rejects with EADDRINUSE', async () => {
    const a = await bind({ host: '127.0.0.1' });
    await expect(UdpTransport.bind({ host: '127.0.0.1', port: a.address().port })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});

describe('addresses', () => {
  it('unmapIPv4 / mapIPv4', () => {
    expect(unmapIPv4('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(unmapIPv4('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(unmapIPv4('::ffff:abcd')).toBe('::ffff:abcd');
    expect(unmapIPv4('::1')).toBe('::1');
    expect(unmapIPv4('1.2.3.4')).toBe('1.2.3.4');
    expect(mapIPv4('1.2.3.4')).toBe('::ffff:1.2.3.4');
  });

  it("a received datagram's source: mapped IPv4 unmapped on a dual-stack socket only (both ways of reading use this)", () => {
    expect(sourceAddress('::ffff:1.2.3.4', 5, 'IPv6', true)).toEqual({
      host: '1.2.3.4',
      port: 5,
      family: 'IPv4',
    });
    // an IPv6-only socket's mapped source is an IPv6 address (the kernel never gives one, but the
    // transport must not invent an IPv4 peer for it)
    expect(sourceAddress('::ffff:1.2.3.4', 5, 'IPv6', false)).toEqual({
      host: '::ffff:1.2.3.4',
      port: 5,
      family: 'IPv6',
    });
    expect(sourceAddress('::1', 6, 'IPv6', true)).toEqual({ host: '::1', port: 6, family: 'IPv6' });
    expect(sourceAddress('::ffff:abcd', 6, 'IPv6', true)).toEqual({
      host: '::ffff:abcd',
      port: 6,
      family: 'IPv6',
    });
    expect(sourceAddress('1.2.3.4', 7, 'IPv4', true)).toEqual({ host: '1.2.3.4', port: 7, family: 'IPv4' });
    // the batched path takes the host alone: the IPv4 peer, or null for "as it came"
    expect(mappedIPv4Source('::FFFF:10.0.0.1', 'IPv6', true)).toBe('10.0.0.1');
    expect(mappedIPv4Source('::ffff:1.2.3.4', 'IPv6', false)).toBeNull();
    expect(mappedIPv4Source('::ffff:abcd', 'IPv6', true)).toBeNull();
    expect(mappedIPv4Source('::1', 'IPv6', true)).toBeNull();
    expect(mappedIPv4Source('1.2.3.4', 'IPv4', true)).toBeNull();
  });

  it('localInterfaces lists loopback only when asked and never link-local v6 by default', () => {
    const all = localInterfaces({ internal: true });
    expect(all.some((a) => a.host === '127.0.0.1' && a.internal && a.family === 'IPv4')).toBe(true);
    const external = localInterfaces();
    expect(external.every((a) => !a.internal)).toBe(true);
    expect(external.every((a) => !a.host.toLowerCase().startsWith('fe80'))).toBe(true);
    const v6 = localInterfaces({ internal: true, family: 'IPv6', linkLocal: true });
    expect(v6.every((a) => a.family === 'IPv6')).toBe(true);
    for (const a of v6) if (a.host.toLowerCase().startsWith('fe80')) expect(a.host).toContain('%');
    // IPv4 first, then IPv6.
    const fams = all.map((a) => a.family);
    expect(fams.lastIndexOf('IPv4')).toBeLessThan(
      fams.indexOf('IPv6') === -1 ? Infinity : fams.indexOf('IPv6'),
    );
  });
});
