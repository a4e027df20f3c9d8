import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIP, formatIP, parseIPv4, parseIPv6 } from '../src/index.js';

describe('ip literals', () => {
  it('formats IPv6 per RFC 5952', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
      ['FE80::ABCD', 'fe80::abcd'],
    ];
    for (const [input, out] of cases) expect(canonicalIP(input, 6)).toBe(out);
  });

  it('rejects malformed literals', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.a', ' 1.2.3.4']) {
      expect(parseIPv4(bad)).toBeNull();
    }
    for (const bad of [
      '',
      ':',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '12345::',
      'g::',
      'fe80::1%eth0',
    ]) {
      expect(parseIPv6(bad)).toBeNull();
    }
  });

  it('round trips (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(formatIP(parseIPv4(ip) as Uint8Array)).toBe(ip);
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const bytes = parseIPv6(ip);
        expect(bytes).not.toBeNull();
        expect(parseIPv6(formatIP(bytes as Uint8Array))).toEqual(bytes);
      }),
    );
  });
});
