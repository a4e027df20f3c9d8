import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { COALESCED_READS, OWNED_BUDGET, RECV_BUDGET_PER_TURN, RECV_SLOTS } from '../src/batch-receive.js';
import { GSO_MAX_SEGMENTS, gsoBinding, socketFd } from '../src/gso.js';
import { gsoStatus, UdpTransport } from '../src/index.js';
import { collect, type Received, sleep } from './helpers.js';

const open: UdpTransport[] = [];
const raw: Socket[] = [];
async function bindOwned(options: Parameters<typeof UdpTransport.bind>[0]): Promise<UdpTransport> {
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

/** UDP_GRO is on by default where batched receive is available, unless SRMUDP_GRO=0. */
const groByDefault = process.env.SRMUDP_GRO !== '0';

/** Whether batched receive is available here; when not, the module's status says why (gso.test.ts). */
function available(): boolean {
  if (gsoBinding !== null && typeof gsoBinding.recv === 'function') return true;
  expect(gsoStatus().loaded).toBe(false);
  return false;
}

// The transport cases run for both ways of reading: behind node:dgram's reads (gro: false), and
// by the native module alone with UDP_GRO on (the default where the native module was built).
describe.each([
  ['behind node:dgram (gro: false)', false],
  ['alone with UDP_GRO (default)', true],
] as const)('batched receive, reading %s: the transport', (_name, gro) => {
  const bind = (options: Parameters<typeof UdpTransport.bind>[0]) =>
    bindOwned({ ...(gro ? {} : { gro: false }), ...options });

  it('datagrams queued behind the first are read in batches: all of them, in order, byte for byte, with the same sources as node:dgram alone', async () => {
    if (!available()) return;
    const batched = await bind({ host: '127.0.0.1' });
    expect(batched.stats().gro).toBe(gro && groByDefault);
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

  it('one event-loop turn reads at most its budget: a burst of 1,000 arrives whole and in order', async () => {
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
    const st = t.stats();
    if (gro && groByDefault) {
      // the native module reads alone: its budget per readable callback (libuv calls once per poll)
      expect(Math.max(...perTurn, inTurn)).toBeLessThanOrEqual(OWNED_BUDGET);
      expect(st.recvBatchDatagrams).toBe(n);
      expect(st.received).toBe(n);
    } else {
      // per poll: up to 32 reads by libuv, and the budget in batches after them, then dgram reads on
      expect(Math.max(...perTurn, inTurn)).toBeLessThanOrEqual(RECV_BUDGET_PER_TURN + 32);
      expect(st.recvBatchDatagrams).toBeGreaterThan(0);
      expect(st.recvBatchDatagrams).toBeLessThan(n);
    }
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

  it('closing or rebinding releases the port at once (the native watcher holds a duplicate of the descriptor)', async () => {
    if (!available()) return;
    const t = await bind({ host: '127.0.0.1' });
    const first = t.address().port;
    const moved = await t.rebind();
    expect(moved.port).not.toBe(first);
    // the old port is free again, and the transport reads on its new one
    const again = await bind({ host: '127.0.0.1', port: first });
    expect(again.address().port).toBe(first);
    const got = collect(t, 1);
    again.send(datagram(5, 1, 50), '127.0.0.1', moved.port);
    again.flush();
    expect((await got)[0]!.data[0]).toBe(5);
    expect(t.stats().gro).toBe(gro && groByDefault);
    await t.close();
    const reuse = await bind({ host: '127.0.0.1', port: moved.port });
    expect(reuse.address().port).toBe(moved.port);
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
      gro: false,
    });
  });
});

describe('coalesced receive (UDP_GRO)', () => {
  it("a sender's segmented batch arrives in one read and is cut into its datagrams: in order, byte for byte, as a receiver without it gets them", async () => {
    if (!available() || !groByDefault) return;
    const coalescing = await bindOwned({ host: '127.0.0.1' });
    const behind = await bindOwned({ host: '127.0.0.1', gro: false });
    const s = await bindOwned({ host: '127.0.0.1' });
    expect(coalescing.stats().gro).toBe(true);
    // runs of 40 datagrams of one size and a shorter last one: one segmented send each (GSO)
    const runs = [1200, 1472, 100, 9000];
    const expected: Uint8Array[] = [];
    for (const [r, size] of runs.entries())
      for (let i = 0; i < 41; i++) expected.push(datagram(10 + r, i, i === 40 ? size >> 1 : size));
    // deliveries per event-loop turn (a tick chain): coalesced reads keep a turn bounded too
    const perTurn: number[] = [];
    let inTurn = 0;
    let ticking = true;
    const tick = (): void => {
      perTurn.push(inTurn);
      inTurn = 0;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const gotC = new Promise<Received[]>((resolve) => {
      const got: Received[] = [];
      const timer = setTimeout(() => resolve(got), 5000);
      coalescing.onDatagram((data, from) => {
        inTurn++;
        got.push({ data, from });
        if (got.length === expected.length) {
          clearTimeout(timer);
          resolve(got);
        }
      });
    });
    const gotB = collect(behind, expected.length, 5000);
    for (const to of [coalescing, behind]) {
      for (let k = 0; k < expected.length; k++) {
        s.send(expected[k]!, '127.0.0.1', to.address().port);
        if (k % 41 === 40) s.flush();
      }
    }
    const [rc, rb] = await Promise.all([gotC, gotB]);
    ticking = false;
    expect(Math.max(...perTurn, inTurn)).toBeLessThanOrEqual(
      OWNED_BUDGET - 1 + COALESCED_READS * GSO_MAX_SEGMENTS,
    );
    expect(s.stats().gsoSends).toBeGreaterThanOrEqual(2 * runs.length);
    expect(hex(rc)).toEqual(expected.map((d) => Buffer.from(d).toString('hex')));
    expect(hex(rb)).toEqual(hex(rc));
    expect(rc.every((m) => m.from.port === s.address().port && m.from.host === '127.0.0.1')).toBe(true);
    // each datagram has its own buffer, as with dgram
    for (const m of rc) expect(m.data.buffer.byteLength).toBe(m.data.byteLength);
    const c = coalescing.stats();
    // most of them came several to a read (the kernel may cut a batch that meets a full queue)
    expect(c.recvCoalesced).toBeGreaterThan(expected.length / 2);
    expect(c.received).toBe(expected.length);
    expect(c.bytesReceived).toBe(expected.reduce((a, d) => a + d.length, 0));
    expect(behind.stats()).toMatchObject({ gro: false, recvCoalesced: 0 });
  });

  it('dual-stack: segmented batches from IPv4 and IPv6 sources keep their sources (IPv4 unmapped)', async () => {
    if (!available() || !groByDefault) return;
    const t = await bindOwned({ host: '::', ipv6Only: false });
    const s4 = await bindOwned({ host: '127.0.0.1' });
    const s6 = await bindOwned({ host: '::1' });
    const got = collect(t, 60, 5000);
    for (let i = 0; i < 30; i++) s4.send(datagram(4, i, 700), '127.0.0.1', t.address().port);
    s4.flush();
    for (let i = 0; i < 30; i++) s6.send(datagram(6, i, 700), '::1', t.address().port);
    s6.flush();
    const r = await got;
    expect(r.filter((m) => m.data[0] === 4).map((m) => m.from)).toEqual(
      Array(30).fill({ host: '127.0.0.1', port: s4.address().port, family: 'IPv4' }),
    );
    expect(r.filter((m) => m.data[0] === 6).map((m) => m.from)).toEqual(
      Array(30).fill({ host: '::1', port: s6.address().port, family: 'IPv6' }),
    );
    expect(r.filter((m) => m.data[0] === 4).map((m) => m.data[1])).toEqual([...Array(30).keys()]);
    expect(t.stats().recvCoalesced).toBeGreaterThan(0);
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
    const gro = (...a: unknown[]) => (b.gro as (...x: unknown[]) => unknown)(...a);
    const watch = (...a: unknown[]) => (b.watch as (...x: unknown[]) => unknown)(...a);
    const unwatch = (...a: unknown[]) => (b.unwatch as (...x: unknown[]) => unknown)(...a);
    for (const args of [[], [-1, true], ['3', true], [0], [0, 'yes']]) expect(gro(...args)).toBe(EINVAL);
    for (const args of [[], [-1, () => {}], ['3', () => {}], [0], [0, 'f']])
      expect(watch(...args)).toBe(EINVAL);
    for (const args of [[], [{}], [null], [3], [meta]]) expect(unwatch(...args)).toBe(EINVAL);
    // a watcher stops once: a second unwatch is refused
    const watched = await sender('udp4', '127.0.0.1');
    const w = watch(socketFd(watched), () => {});
    expect(typeof w).toBe('object');
    expect(unwatch(w)).toBe(0);
    expect(unwatch(w)).toBe(EINVAL);
    // and after libuv's close phase ran (the watcher's memory lives as long as its external)
    await sleep(10);
    expect(unwatch(w)).toBe(EINVAL);
    // a socket with nothing queued: 0, and the count is 0
    const quiet = await sender('udp4', '127.0.0.1');
    meta[0] = 7;
    expect(recv(socketFd(quiet), meta, out)).toBe(0);
    expect(meta[0]).toBe(0);
    // maxReads: 1..RECV_SLOTS when given
    for (const reads of [0, RECV_SLOTS + 1, -1, '2', null, {}])
      expect(recv(socketFd(quiet), meta, out, reads)).toBe(EINVAL);
    expect(recv(socketFd(quiet), meta, out, 1)).toBe(0);
    expect(recv(socketFd(quiet), meta, out, undefined)).toBe(0);
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

  it('a worker thread that exits while a watcher is active tears down cleanly (the close callback runs before the module unloads)', async () => {
    if (!available()) return;
    const module = fileURLToPath(new URL('../native/build/udp_gso.node', import.meta.url));
    // plain CommonJS in the worker: the native calls alone, as the transport makes them
    const code = `
      const dgram = require('node:dgram');
      const b = require(${JSON.stringify(module)});
      const { parentPort } = require('node:worker_threads');
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const sym = Object.getOwnPropertySymbols(s).find((x) => x.description === 'state symbol');
        const fd = s[sym].handle.fd;
        const w = b.watch(fd, () => {});
        parentPort.postMessage({ gro: b.gro(fd, true), watcher: typeof w, port: s.address().port });
        setTimeout(() => process.exit(0), 10);
      });`;
    for (let i = 0; i < 3; i++) {
      const worker = new Worker(code, { eval: true });
      const msg = await new Promise((resolve) => worker.once('message', resolve));
      expect(msg).toMatchObject({ gro: 0, watcher: 'object' });
      // before the fix, the worker's loop called a close callback of an unloaded module: SIGSEGV
      expect(await new Promise((resolve) => worker.once('exit', resolve))).toBe(0);
      // the duplicate descriptor was closed with the handle: the port is free
      await new Promise<void>((resolve, reject) => {
        const probe = createSocket('udp4');
        probe.once('error', reject);
        probe.bind((msg as { port: number }).port, '127.0.0.1', () => probe.close(() => resolve()));
      });
    }
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
