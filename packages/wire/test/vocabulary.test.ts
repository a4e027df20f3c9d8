import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addressFamily,
  addressKey,
  canonicalAddress,
  canonicalHost,
  checkAddress,
  compareBytes,
  concatBytes,
  copyAddress,
  equalBytes,
  formatIp,
  fromHex,
  PollQueue,
  parseIp,
  readU32,
  sameAddress,
  TimerHeap,
  toHex,
  writeU32,
  writeU64,
} from '../src/index.js';

describe('address', () => {
  it('keys, compares, copies and checks', () => {
    expect(addressKey({ host: '1.2.3.4', port: 5 })).toBe('1.2.3.4:5');
    expect(addressKey({ host: '::1', port: 5 })).toBe('[::1]:5');
    expect(sameAddress({ host: '::1', port: 5 }, { host: '::1', port: 5 })).toBe(true);
    expect(sameAddress({ host: '::1', port: 5 }, { host: '::1', port: 6 })).toBe(false);
    const a = { host: '10.0.0.1', port: 9, extra: 1 };
    expect(copyAddress(a)).toEqual({ host: '10.0.0.1', port: 9 });
    expect(addressFamily({ host: 'fe80::1%eth0', port: 1 })).toBe(6);
    expect(addressFamily({ host: '10.0.0.1', port: 1 })).toBe(4);
    expect(canonicalHost('2001:0DB8::0001')).toBe('2001:db8::1');
    expect(canonicalHost('FE80::1%eth0')).toBe('fe80::1%eth0');
    expect(canonicalAddress({ host: '::FFFF:192.0.2.1', port: 3 })).toEqual({
      host: '::ffff:192.0.2.1',
      port: 3,
    });
    expect(() => checkAddress({ host: '', port: 1 }, 'to')).toThrow(TypeError);
    expect(() => checkAddress(null, 'to')).toThrow(
      new TypeError('"to" expected { host: string, port: number }, got undefined'),
    );
    expect(() => checkAddress({ host: 'a', port: 65536 }, 'to')).toThrow(
      new RangeError('"to.port" expected an integer in 0..65535, got 65536'),
    );
  });

  it('prints IPv4-mapped addresses in hex groups when asked (rendezvous records)', () => {
    const b = parseIp('::ffff:192.0.2.1') as Uint8Array;
    expect(formatIp(b)).toBe('::ffff:192.0.2.1');
    expect(formatIp(b, { mixedIpv4: false })).toBe('::ffff:c000:201');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (x) => {
        expect(parseIp(formatIp(x, { mixedIpv4: false }))).toEqual(x);
      }),
    );
  });
});

describe('bytes', () => {
  it('hex round trip, equality and order agree with the obvious definitions', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        expect(fromHex(toHex(a))).toEqual(a);
        expect(toHex(a)).toBe(Array.from(a, (x) => x.toString(16).padStart(2, '0')).join(''));
        const same = a.length === b.length && a.every((x, i) => x === b[i]);
        expect(equalBytes(a, b)).toBe(same);
        const c = compareBytes(a, b);
        expect(Math.sign(c)).toBe(Math.sign(toHex(a) < toHex(b) ? -1 : toHex(a) > toHex(b) ? 1 : 0));
        expect(concatBytes(a, b)).toEqual(Uint8Array.from([...a, ...b]));
      }),
    );
    expect(fromHex('abc')).toBeNull();
    expect(fromHex('zz')).toBeNull();
    expect(fromHex('AbCd')).toEqual(Uint8Array.of(0xab, 0xcd));
  });

  it('big-endian integers', () => {
    const b = new Uint8Array(8);
    writeU32(b, 0, 0xdeadbeef);
    expect(readU32(b, 0)).toBe(0xdeadbeef);
    writeU64(b, 0, 2 ** 53 - 1);
    expect(toHex(b)).toBe('001fffffffffffff');
  });
});

describe('PollQueue', () => {
  it('is FIFO across interleaved pushes and takes, and resets when drained', () => {
    const q = new PollQueue<number>();
    expect(q.take()).toBeNull();
    const out: number[] = [];
    let n = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round % 7; i++) q.push(n++);
      for (let i = 0; i < round % 5; i++) {
        const x = q.take();
        if (x !== null) out.push(x);
      }
    }
    for (let x = q.take(); x !== null; x = q.take()) out.push(x);
    expect(out).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(q.length).toBe(0);
  });
});

describe('TimerHeap', () => {
  it('pops by time, equal times in insertion order (property, against a sort)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const h = new TimerHeap<number>();
        for (let i = 0; i < times.length; i++) h.push(times[i]!, i);
        const got: number[] = [];
        for (let e = h.pop(); e !== undefined; e = h.pop()) got.push(e.item);
        const want = times.map((t, i) => ({ t, i })).sort((x, y) => x.t - y.t || x.i - y.i);
        expect(got).toEqual(want.map((x) => x.i));
        expect(h.size).toBe(0);
      }),
    );
  });
});
