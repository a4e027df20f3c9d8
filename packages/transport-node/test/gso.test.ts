import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { gsoBinding } from '../src/gso.js';
import { type GsoBinding, gsoStatus, UdpTransport } from '../src/index.js';
import { collect, sleep } from './helpers.js';

const open: UdpTransport[] = [];
async function bind(options: Parameters<typeof UdpTransport.bind>[0]): Promise<UdpTransport> {
  const t = await UdpTransport.bind(options);
  open.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** A datagram of `len` bytes that says which it is: destination tag, index (2 bytes), then filler. */
function datagram(tag: number, i: number, len: number): Uint8Array {
  const d = new Uint8Array(len);
  for (let k = 0; k < len; k++) d[k] = (i * 7 + k) & 0xff;
  d[0] = tag;
  d[1] = i & 0xff;
  d[2] = i >>> 8;
  return d;
}

/** Whether this machine can compile the native module (a C compiler with the C library's headers):
 * what the build script needs, checked the same way without writing anything. */
function canCompile(): boolean {
  const include = join(
    dirname(createRequire(import.meta.url).resolve('node-api-headers/package.json')),
    'include',
  );
  const source = fileURLToPath(new URL('../native/udp-gso.c', import.meta.url));
  const r = spawnSync(
    process.env.CC || 'cc',
    ['-fsyntax-only', '-std=c11', '-DNAPI_VERSION=8', '-I', include, source],
    {
      encoding: 'utf8',
    },
  );
  return r.status === 0;
}

const EINVAL = -22;

describe('segmentation offload: the native module', () => {
  it('is built and loaded on Linux wherever it compiles, and says why not otherwise', () => {
    const s = gsoStatus();
    if (process.platform === 'linux' && process.env.SRMUDP_GSO !== '0' && canCompile()) {
      // the package's build (scripts/build-native.mjs) compiles it; CI installs a compiler
      expect(s).toEqual({ loaded: true, reason: null });
    } else {
      expect(s.loaded).toBe(false);
      expect(s.reason).toMatch(/Linux-only|SRMUDP_GSO=0|not built|did not load/);
    }
  });

  // The native checks are the only thing between a bad argument and sendmsg(2): each is -EINVAL.
  it('refuses every malformed call with -EINVAL and never throws', async () => {
    const binding = gsoBinding;
    if (binding === null) {
      expect(gsoStatus().loaded).toBe(false); // (nothing to call here: the test above says why)
      return;
    }
    const t = await bind({ host: '127.0.0.1' });
    const port = t.address().port;
    const b = [new Uint8Array(100), new Uint8Array(100), new Uint8Array(50)];
    const call = (...a: unknown[]) => (binding.send as (...x: unknown[]) => number)(...a);
    const fd = 0; // never reached: each call below fails its checks first
    expect(call()).toBe(EINVAL);
    expect(call(-1, '127.0.0.1', port, 100, b, 0, 3)).toBe(EINVAL); // fd
    expect(call('3', '127.0.0.1', port, 100, b, 0, 3)).toBe(EINVAL);
    expect(call(fd, 7, port, 100, b, 0, 3)).toBe(EINVAL); // host not a string
    expect(call(fd, 'example.com', port, 100, b, 0, 3)).toBe(EINVAL); // not a literal
    expect(call(fd, '', port, 100, b, 0, 3)).toBe(EINVAL);
    expect(call(fd, '1'.repeat(200), port, 100, b, 0, 3)).toBe(EINVAL); // too long
    expect(call(fd, '127.0.0.1', 0, 100, b, 0, 3)).toBe(EINVAL); // port
    expect(call(fd, '127.0.0.1', 65536, 100, b, 0, 3)).toBe(EINVAL);
    expect(call(fd, '127.0.0.1', port, 0, b, 0, 3)).toBe(EINVAL); // segment
    expect(call(fd, '127.0.0.1', port, 70_000, b, 0, 3)).toBe(EINVAL);
    expect(call(fd, '127.0.0.1', port, 100, 'not an array', 0, 3)).toBe(EINVAL);
    expect(call(fd, '127.0.0.1', port, 100, b, 1, 3)).toBe(EINVAL); // past the end
    expect(call(fd, '127.0.0.1', port, 100, b, -1, 1)).toBe(EINVAL);
    expect(call(fd, '127.0.0.1', port, 100, b, 0, 0)).toBe(EINVAL); // count
    expect(call(fd, '127.0.0.1', port, 100, b, 0, 65)).toBe(EINVAL);
    expect(call(fd, '127.0.0.1', port, 50, b, 0, 3)).toBe(EINVAL); // a middle datagram ≠ segment
    expect(call(fd, '127.0.0.1', port, 100, [b[0], 'x', b[2]], 0, 3)).toBe(EINVAL); // not bytes
    expect(call(fd, '127.0.0.1', port, 100, [b[0], new Uint16Array(50), b[2]], 0, 3)).toBe(EINVAL);
    expect(call(fd, '127.0.0.1', port, 100, [new Uint8Array(0)], 0, 1)).toBe(EINVAL); // empty
    expect(call(fd, '127.0.0.1', port, 100, [new Uint8Array(101)], 0, 1)).toBe(EINVAL); // last > segment
    expect(call(fd, '127.0.0.1', port, 1500, Array(64).fill(new Uint8Array(1500)), 0, 64)).toBe(-90); // EMSGSIZE: 96,000 bytes
    // random arguments of any type: a number, never an exception
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer(), fc.string(), fc.constant(b), fc.uint8Array(), fc.constant(null)), {
          maxLength: 8,
        }),
        (args) => {
          // fd -1 or a non-number: nothing can reach a real descriptor
          const a = [-1, ...args.slice(1)];
          expect(typeof call(...a)).toBe('number');
          expect(typeof binding.supported(args[0] as number)).toBe('number');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('segmentation offload: the transport', () => {
  it('runs for one destination go out segmented; every datagram arrives, in order, byte for byte', async () => {
    if (gsoBinding === null) {
      expect(gsoStatus().loaded).toBe(false);
      return;
    }
    const a = await bind({ host: '127.0.0.1' });
    const b = await bind({ host: '127.0.0.1' });
    const c = await bind({ host: '127.0.0.1' });
    expect(a.stats().gso).toBe(true);
    // per destination: 200 of 1,200 bytes then a short one; to c in between, another size
    const sizesB = [...Array(200).fill(1200), 333];
    const sizesC = [...Array(50).fill(900), 900, 10];
    const gotB = collect(b, sizesB.length, 5000);
    const gotC = collect(c, sizesC.length, 5000);
    const wantB = sizesB.map((len, i) => datagram(0xb, i, len));
    const wantC = sizesC.map((len, i) => datagram(0xc, i, len));
    for (let i = 0; i < wantB.length; i++) {
      a.send(wantB[i]!, '127.0.0.1', b.address().port);
      if (i % 40 === 39 && wantC.length > 0)
        for (const d of wantC.splice(0, 13)) a.send(d, '127.0.0.1', c.address().port);
    }
    const restC = wantC.splice(0);
    for (const d of restC) a.send(d, '127.0.0.1', c.address().port);
    const [rb, rc] = await Promise.all([gotB, gotC]);
    expect(rb.map((m) => Buffer.from(m.data).toString('hex'))).toEqual(
      sizesB.map((len, i) => Buffer.from(datagram(0xb, i, len)).toString('hex')),
    );
    expect(rc.map((m) => Buffer.from(m.data).toString('hex'))).toEqual(
      sizesC.map((len, i) => Buffer.from(datagram(0xc, i, len)).toString('hex')),
    );
    const st = a.stats();
    expect(st).toMatchObject({ sent: sizesB.length + sizesC.length, sendErrorCount: 0, dropped: 0 });
    expect(st.bytesSent).toBe([...sizesB, ...sizesC].reduce((x, y) => x + y, 0));
    // 32 datagrams per event-loop turn, so runs of up to 32: most of them went segmented
    expect(st.gsoSends).toBeGreaterThanOrEqual(6);
    expect(st.gsoDatagrams).toBeGreaterThan((sizesB.length + sizesC.length) * 0.8);
    expect(st.gsoErrors).toEqual({});
  });

  it('IPv6 and dual-stack (an IPv4 peer as ::ffff:a.b.c.d) go out segmented too', async () => {
    if (gsoBinding === null) {
      expect(gsoStatus().loaded).toBe(false);
      return;
    }
    const a = await bind({ host: '::', ipv6Only: false });
    const v6 = await bind({ host: '::1' });
    const v4 = await bind({ host: '127.0.0.1' });
    const got6 = collect(v6, 40, 5000);
    const got4 = collect(v4, 40, 5000);
    for (let i = 0; i < 40; i++) a.send(datagram(6, i, 1000), '::1', v6.address().port);
    for (let i = 0; i < 40; i++) a.send(datagram(4, i, 1000), '127.0.0.1', v4.address().port);
    const [r6, r4] = await Promise.all([got6, got4]);
    expect(r6.map((m) => m.data[1])).toEqual([...Array(40).keys()]);
    expect(r4.map((m) => m.data[1])).toEqual([...Array(40).keys()]);
    expect(r4[0]!.from).toMatchObject({ host: '127.0.0.1', port: a.address().port, family: 'IPv4' }); // an IPv4 datagram on the wire
    expect(a.stats().gsoDatagrams).toBeGreaterThanOrEqual(60);
  });

  it('after close() nothing is sent through the old descriptor', async () => {
    if (gsoBinding === null) {
      expect(gsoStatus().loaded).toBe(false);
      return;
    }
    const a = await UdpTransport.bind({ host: '127.0.0.1' });
    expect(a.stats().gso).toBe(true);
    await a.close();
    expect(a.stats().gso).toBe(false);
    expect(a.send(new Uint8Array(10), '127.0.0.1', 9)).toBe(false);
  });
});

/** A binding that records each call and answers from `answer` (the datagrams are not sent). */
function scripted(answer: (segment: number, count: number, call: number) => number) {
  const calls: { segment: number; count: number; first: number }[] = [];
  const binding: GsoBinding = {
    supported: () => 0,
    send: (_fd, _host, _port, segment, buffers, start, count) => {
      calls.push({ segment, count, first: buffers[start]![1]! | (buffers[start]![2]! << 8) });
      return answer(segment, count, calls.length);
    },
  };
  return { binding, calls };
}

describe('segmentation offload: refusals fall back to node:dgram', () => {
  it('EAGAIN (socket buffer full): the run goes through dgram, in order, and direct sends wait for dgram to finish', async () => {
    const { binding, calls } = scripted((_s, _c, n) => (n === 1 ? -11 : 0));
    const a = await bind({ host: '127.0.0.1', gsoBinding: binding });
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 10, 3000);
    for (let i = 0; i < 10; i++) a.send(datagram(1, i, 500), '127.0.0.1', b.address().port);
    a.flush();
    // the refused run of 10 went through dgram, which now holds them: no direct send may overtake
    expect(calls).toEqual([{ segment: 500, count: 10, first: 0 }]);
    expect((await got).map((m) => m.data[1])).toEqual([...Array(10).keys()]);
    await sleep(10);
    expect(a.stats()).toMatchObject({
      sent: 10,
      inFlight: 0,
      gso: true,
      gsoSends: 0,
      gsoErrors: { EAGAIN: 1 },
    });
    // dgram done: the next run is direct again (the scripted binding takes it without sending)
    for (let i = 0; i < 4; i++) a.send(datagram(1, i, 500), '127.0.0.1', b.address().port);
    a.flush();
    expect(calls.at(-1)).toEqual({ segment: 500, count: 4, first: 0 });
    expect(a.stats()).toMatchObject({ sent: 14, gsoSends: 1, gsoDatagrams: 4 });
  });

  it('EIO (the device cannot segment): segmentation is off for the socket, nothing is lost', async () => {
    const { binding, calls } = scripted((_s, count) => (count > 1 ? -5 : 0));
    const a = await bind({ host: '127.0.0.1', gsoBinding: binding });
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 20, 3000);
    for (let i = 0; i < 20; i++) a.send(datagram(1, i, 700), '127.0.0.1', b.address().port);
    a.flush();
    expect((await got).map((m) => m.data[1])).toEqual([...Array(20).keys()]);
    expect(calls).toHaveLength(1);
    expect(a.stats()).toMatchObject({ sent: 20, gso: false, gsoErrors: { EIO: 1 }, sendErrorCount: 0 });
  });

  it('EINVAL for a run (segment above the route MTU): that size goes one by one, smaller ones still segmented', async () => {
    const { binding, calls } = scripted((segment, count) => (count > 1 && segment >= 1400 ? -22 : 0));
    const a = await bind({ host: '127.0.0.1', gsoBinding: binding });
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 5, 3000);
    for (let i = 0; i < 5; i++) a.send(datagram(1, i, 1400), '127.0.0.1', b.address().port);
    a.flush();
    expect((await got).length).toBe(5); // the refused run: through dgram
    await sleep(10);
    calls.length = 0;
    for (let i = 0; i < 3; i++) a.send(datagram(1, i, 1400), '127.0.0.1', b.address().port);
    for (let i = 3; i < 6; i++) a.send(datagram(1, i, 1000), '127.0.0.1', b.address().port);
    a.flush();
    expect(calls).toEqual([
      { segment: 1400, count: 1, first: 0 },
      { segment: 1400, count: 1, first: 1 },
      { segment: 1400, count: 1, first: 2 },
      { segment: 1000, count: 3, first: 3 },
    ]);
    expect(a.stats()).toMatchObject({ gso: true, gsoErrors: { EINVAL: 1 } });
  });

  it('any other refusal (EPERM from a firewall…): dgram sends and reports it per datagram, as without offload', async () => {
    const { binding } = scripted(() => -1);
    const a = await bind({ host: '127.0.0.1', gsoBinding: binding });
    const b = await bind({ host: '127.0.0.1' });
    const got = collect(b, 8, 3000);
    for (let i = 0; i < 8; i++) a.send(datagram(1, i, 300), '127.0.0.1', b.address().port);
    a.flush();
    expect((await got).length).toBe(8);
    await sleep(10);
    expect(a.stats()).toMatchObject({ sent: 8, gso: true, gsoErrors: { EPERM: 1 } });
  });

  it('a run never mixes destinations or sizes, stops at the first shorter datagram, at 64 and at 65,507 bytes', async () => {
    const { binding, calls } = scripted(() => 0);
    const a = await bind({ host: '127.0.0.1', gsoBinding: binding, maxBatch: 1000 });
    const p = [40001, 40002];
    let k = 0;
    const send = (len: number, port: number) => a.send(datagram(1, k++, len), '127.0.0.1', port);
    send(100, p[0]!);
    send(100, p[0]!);
    send(100, p[1]!); // destination change
    send(100, p[0]!);
    send(50, p[0]!);
    send(50, p[0]!); // shorter ends a run
    send(100, p[0]!);
    send(200, p[0]!); // longer starts a new one
    for (let n = 0; n < 70; n++) send(100, p[1]!); // 64 then 6
    for (let n = 0; n < 50; n++) send(1452, p[0]!); // 45 × 1,452 = 65,340; the 46th would pass 65,507
    a.flush();
    expect(calls.map((c) => [c.segment, c.count, c.first])).toEqual([
      [100, 2, 0],
      [100, 1, 2],
      [100, 2, 3],
      [50, 1, 5],
      [100, 1, 6],
      [200, 1, 7],
      [100, 64, 8],
      [100, 6, 72],
      [1452, 45, 78],
      [1452, 5, 123],
    ]);
    expect(a.stats()).toMatchObject({ sent: 128, gsoSends: 6, gsoDatagrams: 124 });
  });
});
