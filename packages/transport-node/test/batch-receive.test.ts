import { createSocket, type Socket } from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { RECV_BUDGET_PER_TURN, RECV_SLOTS } from '../src/batch-receive.js';
import { gsoBinding, socketFd } from '../src/gso.js';
import { gsoStatus, UdpTransport } from '../src/index.js';
import { collect, type Received, sleep } from './helpers.js';

const open: UdpTransport[] = [];
const raw: Socket[] = [];
async function bind(options: Parameters<typeof UdpTransport.bind>[0]): Promise<UdpTransport> {
  const t = await UdpTransport.bind(options);
  open.push(t);
  return t;
}
/** A plain node:dgram socket: its sends in one turn all reach the receiver's queue before it reads. */
async function sender(type: 'udp4' | 'udp6', host: string): Promise<Socket> {
  const s = createSocket(type);
  raw.push(s);
  await new Promise<void>((r) => s.bind(0, host, r));
  return s;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  for (const s of raw.splice(0)) s.close();
});

/** `len` bytes that say which datagram they are: tag, index (2 bytes), then a pattern. */
function datagram(tag: number, i: number, len: number): Uint8Array {
  const d = new Uint8Array(len);
  for (let k = 0; k < len; k++) d[k] = (i * 13 + k * 7) & 0xff;
  if (len >= 3) {
    d[0] = tag;
    d[1] = i & 0xff;
    d[2] = i >>> 8;
  }
  return d;
}
const hex = (r: Received[]) => r.map((m) => Buffer.from(m.data).toString('hex'));
const EINVAL = -22;

/** Whether batched receive is available here; when not, the module's status says why (gso.test.ts). */
function available(): boolean {
  if (gsoBinding !== null && typeof gsoBinding.recv === 'function') return true;
  expect(gsoStatus().loaded).toBe(false);
  return false;
}

describe('batched receive: the transport', () => {
  it('datagrams queued behind the first are read in batches: all of them, in order, byte for byte, with the same sources as node:dgram alone', async () => {
    if (!available()) return;
    const batched = await bind({ host: '127.0.0.1' });
    const plain = await bind({ host: '127.0.0.1', batchReceive: false });
    expect(batched.stats().batchReceive).toBe(true);
    expect(plain.stats().batchReceive).toBe(false);
    // sizes from empty to the largest IPv4 UDP payload: a slot is as large as any datagram
    const sizes = Array.from({ length: 300 }, (_, i) =>
      i === 0 ? 0 : i === 7 ? 65_507 : i === 150 ? 9000 : 1 + ((i * 397) % 1452),
    );
    const s = await sender('udp4', '127.0.0.1');
    const gotB = collect(batched, sizes.length, 5000);
    const gotP = collect(plain, sizes.length, 5000);
    for (let i = 0; i < sizes.length; i++) {
      const d = datagram(1, i, sizes[i]!);
      s.send(d, batched.address().port, '127.0.0.1');
      s.send(d, plain.address().port, '127.0.0.1');
    }
    const [rb, rp] = await Promise.all([gotB, gotP]);
    // every view is still intact after all later batches (each batch has its own buffer)
    expect(hex(rb)).toEqual(sizes.map((len, i) => Buffer.from(datagram(1, i, len)).toString('hex')));
    expect(hex(rp)).toEqual(hex(rb));
    expect(rb.map((m) => m.from)).toEqual(rp.map((m) => m.from));
    expect(rb[0]!.from).toEqual({ host: '127.0.0.1', port: s.address().port, family: 'IPv4' });
    // each datagram has its own buffer: a view kept holds that datagram only, as with dgram
    for (const m of rb) {
      expect(m.data).toBeInstanceOf(Uint8Array);
      expect(m.data.buffer.byteLength).toBe(m.data.byteLength);
    }
    const st = batched.stats();
    expect(st.received).toBe(sizes.length);
    expect(st.bytesReceived).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(st.recvBatchErrors).toEqual({});
    // most came in batches; none of them through plain
    expect(st.recvBatchDatagrams).toBeGreaterThan(sizes.length / 2);
    expect(st.recvBatches).toBeGreaterThanOrEqual(Math.ceil(st.recvBatchDatagrams / RECV_SLOTS));
    expect(plain.stats()).toMatchObject({ received: sizes.length, recvBatches: 0, recvBatchDatagrams: 0 });
  });

  it('dual-stack: IPv4 and IPv6 sources interleaved are delivered as node:dgram alone delivers them (IPv4 unmapped)', async () => {
    if (!available()) return;
    const batched = await bind({ host: '::', ipv6Only: false });
    const plain = await bind({ host: '::', ipv6Only: false, batchReceive: false });
    const s4 = await sender('udp4', '127.0.0.1');
    const s6 = await sender('udp6', '::1');
    const n = 120;
    const gotB = collect(batched, n, 5000);
    const gotP = collect(plain, n, 5000);
    for (let i = 0; i < n; i++) {
      // runs of 1, 2 and 3 from one source, so the cached address string changes often
      const [s, host] = i % 6 < 3 ? [s4, '127.0.0.1'] : [s6, '::1'];
      const d = datagram(i % 6 < 3 ? 4 : 6, i, 200 + i);
      s.send(d, batched.address().port, host);
      s.send(d, plain.address().port, host);
    }
    const [rb, rp] = await Promise.all([gotB, gotP]);
    expect(hex(rb)).toEqual(hex(rp));
    expect(rb.map((m) => m.from)).toEqual(rp.map((m) => m.from));
    expect(rb.find((m) => m.data[0] === 4)!.from).toEqual({
      host: '127.0.0.1',
      port: s4.address().port,
      family: 'IPv4',
    });
    expect(rb.find((m) => m.data[0] === 6)!.from).toEqual({
      host: '::1',
      port: s6.address().port,
      family: 'IPv6',
    });
    expect(batched.stats().recvBatchDatagrams).toBeGreaterThan(n / 2);
  });

  it('one event-loop turn reads at most the budget in batches, then node:dgram reads on: a burst of 1,000 arrives whole and in order', async () => {
    if (!available()) return;
    const t = await bind({ host: '127.0.0.1' });
    const s = await sender('udp4', '127.0.0.1');
    const n = 1000;
    const perTurn: number[] = [];
    let inTurn = 0;
    let turns = 0;
    const tick = (): void => {
      perTurn.push(inTurn);
      inTurn = 0;
      if (++turns < 2000) setImmediate(tick);
    };
    setImmediate(tick);
    const order: number[] = [];
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      t.onDatagram((d) => {
        inTurn++;
        order.push(d[1]! | (d[2]! << 8));
        if (order.length === n) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (let i = 0; i < n; i++) s.send(datagram(9, i, 100), t.address().port, '127.0.0.1');
    await done;
    turns = 2000; // stop the tick chain
    expect(order).toEqual([...Array(n).keys()]);
    // per poll: up to 32 reads by libuv, and the budget in batches after them
    expect(Math.max(...perTurn, inTurn)).toBeLessThanOrEqual(RECV_BUDGET_PER_TURN + 32);
    const st = t.stats();
    expect(st.recvBatchDatagrams).toBeGreaterThan(0);
    expect(st.recvBatchDatagrams).toBeLessThan(n);
  });

  it('closing the transport from its handler stops delivery in the middle of a batch', async () => {
    if (!available()) return;
    const t = await bind({ host: '127.0.0.1' });
    const s = await sender('udp4', '127.0.0.1');
    const seen: number[] = [];
    let closing: Promise<void> | undefined;
    t.onDatagram((d) => {
      seen.push(d[1]!);
      if (seen.length === 5) closing = t.close();
    });
    for (let i = 0; i < 40; i++) s.send(datagram(2, i, 300), t.address().port, '127.0.0.1');
    await sleep(200);
    await closing;
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(t.stats().batchReceive).toBe(false);
  });

  it('batchReceive: false reads through node:dgram alone', async () => {
    const t = await bind({ host: '127.0.0.1', batchReceive: false });
    const s = await sender('udp4', '127.0.0.1');
    const got = collect(t, 64, 5000);
    for (let i = 0; i < 64; i++) s.send(datagram(3, i, 500), t.address().port, '127.0.0.1');
    expect((await got).map((m) => m.data[1])).toEqual([...Array(64).keys()]);
    expect(t.stats()).toMatchObject({
      received: 64,
      batchReceive: false,
      recvBatches: 0,
      recvBatchDatagrams: 0,
    });
  });
});

describe('batched receive: the native calls', () => {
  it('refuse every malformed call with -EINVAL and never throw', async () => {
    if (!available()) return;
    const b = gsoBinding!;
    const recv = (...a: unknown[]) => (b.recv as (...x: unknown[]) => unknown)(...a);
    const host = (...a: unknown[]) => (b.host as (...x: unknown[]) => unknown)(...a);
    const meta = new Int32Array(1 + RECV_SLOTS * 9);
    expect(recv()).toBe(EINVAL);
    const out: ArrayBuffer[] = [];
    expect(recv(-1, meta, out)).toBe(EINVAL);
    expect(recv('3', meta, out)).toBe(EINVAL);
    expect(recv(0, new Int32Array(RECV_SLOTS * 9), out)).toBe(EINVAL); // one too short
    expect(recv(0, new Uint32Array(1 + RECV_SLOTS * 9), out)).toBe(EINVAL); // not Int32Array
    expect(recv(0, [0, 0, 0], out)).toBe(EINVAL);
    expect(recv(0, meta)).toBe(EINVAL); // no array for the datagrams
    expect(recv(0, meta, new Uint8Array(4))).toBe(EINVAL);
    meta[0] = 0;
    expect(host(meta, 0)).toBe(EINVAL); // no datagram 0
    meta[0] = 1;
    meta[4] = 5; // family neither 4 nor 6
    expect(host(meta, 0)).toBe(EINVAL);
    expect(host(meta, -1)).toBe(EINVAL);
    meta[0] = 1_000_000; // a count beyond the slots
    expect(host(meta, RECV_SLOTS)).toBe(EINVAL);
    // a socket with nothing queued: 0, and the count is 0
    const quiet = await sender('udp4', '127.0.0.1');
    meta[0] = 7;
    expect(recv(socketFd(quiet), meta, out)).toBe(0);
    expect(meta[0]).toBe(0);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer(),
            fc.string(),
            fc.constant(meta),
            fc.constant(out),
            fc.int32Array(),
            fc.constant(null),
          ),
          { maxLength: 4 },
        ),
        (args) => {
          // fd -1 or a non-number: nothing can reach a real descriptor
          const r = recv(-1, ...args.slice(1));
          expect(typeof r).toBe('number');
          const h = host(...args);
          expect(['number', 'string']).toContain(typeof h);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('write addresses as node:dgram does, a link-local IPv6 one with its interface', () => {
    if (!available()) return;
    const b = gsoBinding!;
    const meta = new Int32Array(1 + RECV_SLOTS * 9);
    const put = (i: number, family: number, bytes: number[], scope = 0) => {
      const m = 1 + i * 9;
      meta[m + 3] = family;
      const a = new Uint8Array(16);
      a.set(bytes);
      meta.set(new Int32Array(a.buffer), m + 4);
      meta[m + 8] = scope;
    };
    meta[0] = 4;
    put(0, 4, [192, 0, 2, 7]);
    put(1, 6, [...Array(15).fill(0), 1]);
    put(2, 6, [0xfe, 0x80, ...Array(13).fill(0), 1], 1); // interface 1 is the loopback
    put(3, 6, [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 5], 1); // a global one: no scope
    expect(b.host!(meta, 0)).toBe('192.0.2.7');
    expect(b.host!(meta, 1)).toBe('::1');
    expect(b.host!(meta, 2)).toBe('fe80::1%lo');
    expect(b.host!(meta, 3)).toBe('2001:db8::5');
  });
});
