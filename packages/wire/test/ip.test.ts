import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp, formatIp, parseIp } from '../src/index.js';

const runs = Number(process.env.WIRE_PROPERTY_RUNS ?? 1000);
const nodeText = (host: string) => new SocketAddress({ address: host, family: 'ipv6' }).address;

const v6Arb = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc
    .array(fc.constantFrom(0, 0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 })
    .map((a) => Uint8Array.from(a)),
);

describe('IP text', () => {
  it('formats IPv6 exactly as Node prints socket addresses, and parses it back', () => {
    fc.assert(
      fc.property(v6Arb, (b) => {
        const s = formatIp(b);
        expect(s).toBe(nodeText(s));
        expect(parseIp(s)).toEqual(b);
        // Node's own long form parses to the same bytes.
        const long = Array.from({ length: 8 }, (_, i) =>
          ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16),
        ).join(':');
        expect(parseIp(long)).toEqual(b);
        expect(nodeText(long)).toBe(s);
      }),
      { numRuns: runs },
    );
  });

  it('formats the usual cases', () => {
    const cases: [string, string][] = [
      ['::1', '::1'],
      ['::', '::'],
      ['2001:0DB8:1234:5678:0011:2233:4455:6677', '2001:db8:1234:5678:11:2233:4455:6677'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['::ffff:c000:0201', '::ffff:192.0.2.1'],
      ['fe80::1:0:0:1', 'fe80::1:0:0:1'],
      ['1:0:0:2:0:0:1:1', '1::2:0:0:1:1'],
      ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
      ['1:2:3:4:5:6::', '1:2:3:4:5:6::'],
      ['192.0.2.1', '192.0.2.1'],
      ['0.0.0.0', '0.0.0.0'],
    ];
    for (const [input, out] of cases) expect(canonicalIp(input)).toBe(out);
  });

  it('parses dotted IPv4 as an obvious reference does (split, decimal without leading zeros, <= 255)', () => {
    const reference = (s: string): Uint8Array | undefined => {
      const parts = s.split('.');
      if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255))
        return undefined;
      return Uint8Array.from(parts.map(Number));
    };
    const part = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom('', '00', '01', '007', '1a', ' 1', '-1', '1000', '255', '256'),
    );
    const text = fc.oneof(
      fc.array(part, { minLength: 1, maxLength: 6 }).map((p) => p.join('.')),
      fc.stringMatching(/^[0-9.]{0,16}$/),
    );
    fc.assert(
      fc.property(text, (s) => {
        expect(parseIp(s), s).toEqual(reference(s));
      }),
      { numRuns: runs },
    );
  });

  it('rejects what is not an address', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.4.',
      '.1.2.3',
      '1..2.3',
      '1.2.3.00',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3.-4',
      ':::',
      '1::2::3',
      '12345::',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '::1.2.3.4:5',
      'g::',
      'fe80::1%eth0',
      'localhost',
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
      expect(() => canonicalIp(bad)).toThrow(TypeError);
    }
    expect(() => formatIp(new Uint8Array(5))).toThrow(RangeError);
  });
});
