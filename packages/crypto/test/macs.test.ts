import { describe, expect, it } from 'vitest';
import { CookieChecker, mac, mac1Key, verifyMac1, writeMac1, writeMac2 } from '../src/macs.js';
import { collect, confirm, run, seededRandom, side } from './helpers.js';

const addr = new TextEncoder().encode('10.0.0.1|4000');

function packetWithCookie(cookie: Uint8Array): Uint8Array {
  const p = new Uint8Array(100).fill(3);
  writeMac1(p, mac1Key(null));
  writeMac2(p, cookie);
  return p;
}

describe('mac1 / mac2 / cookies', () => {
  it('mac1 covers every byte before it and depends on the receiver key', () => {
    const p = new Uint8Array(80).fill(9);
    const k = mac1Key(new Uint8Array(32).fill(1));
    writeMac1(p, k);
    expect(verifyMac1(p, k)).toBe(true);
    expect(verifyMac1(p, mac1Key(new Uint8Array(32).fill(2)))).toBe(false);
    for (let i = 0; i < 64; i++) {
      const q = p.slice();
      q[i] = (q[i] as number) ^ 1;
      expect(verifyMac1(q, k)).toBe(false);
    }
    expect(verifyMac1(new Uint8Array(31), k)).toBe(false);
  });

  it('a cookie stays valid across one secret rotation (120 s) and not two', () => {
    const checker = new CookieChecker(seededRandom(5));
    const cookie = checker.cookieFor(0, addr);
    const p = packetWithCookie(cookie);
    expect(checker.verifyMac2(0, p, addr)).toBe(true);
    expect(checker.verifyMac2(119_999, p, addr)).toBe(true);
    expect(checker.verifyMac2(120_000, p, addr)).toBe(true); // rotated once: previous secret kept
    expect(checker.verifyMac2(240_000, p, addr)).toBe(false); // rotated twice
    expect(checker.verifyMac2(240_000, p, new TextEncoder().encode('10.0.0.2|4000'))).toBe(false);
    expect(mac(cookie, addr)).toHaveLength(16);
  });
});

describe('endpoint options', () => {
  it('acceptXX: false refuses XX dials; IK still works', () => {
    const a = side(1, '10.0.0.1', { timing: { handshakeTimeoutMs: 2000 } });
    const b = side(2, '10.0.0.2', { acceptXX: false });
    const xx = a.ep.connect(0, { address: b.addr });
    run([a, b], 0, { until: 5000 });
    expect(xx.isEstablished).toBe(false);
    expect(b.ep.stats().dropped.refused).toBeGreaterThan(0);
    const ik = a.ep.connect(6000, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b], 6000, { stopWhen: () => ik.isEstablished });
    expect(ik.isEstablished).toBe(true);
  });

  it('application options travel both ways; channel.open only opens its own packets', () => {
    const a = side(1, '10.0.0.1', { options: new Map([[0x10, Uint8Array.of(1, 2, 3)]]) });
    const b = side(2, '10.0.0.2', { options: new Map([[0x42, Uint8Array.of(9)]]) });
    const c = side(3, '10.0.0.3');
    const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const cc = c.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b, c], 0, { stopWhen: () => ca.isEstablished && cc.isEstablished });
    collect(0, [a, b, c]);
    confirm(1, a, b, ca, 0);
    confirm(1, c, b, cc, 0);
    const cb = b.ep.channel(a.ep.identity.publicKey);
    expect(ca.remoteOptions).toEqual(new Map([[0x42, Uint8Array.of(9)]]));
    expect(cb?.remoteOptions).toEqual(new Map([[0x10, Uint8Array.of(1, 2, 3)]]));
    expect(a.events[0]).toMatchObject({
      type: 'established',
      remoteOptions: new Map([[0x42, Uint8Array.of(9)]]),
    });
    const fromA = ca.seal(1, Uint8Array.of(5));
    const fromC = cc.seal(1, Uint8Array.of(6));
    expect(cb?.open(1, fromC)).toBeNull();
    expect(b.ep.stats().dropped.unknown_index).toBe(1);
    // the endpoint's data result, which names the channel that opened it
    expect(cb?.open(1, fromA)).toEqual({
      type: 'data',
      channel: cb,
      packetNumber: 1,
      firstOfSession: false,
      plaintext: Uint8Array.of(5),
    });
    expect(() => a.ep.connect(0, { address: b.addr, remoteKey: a.ep.identity.publicKey })).toThrow(
      RangeError,
    );
    expect(() => a.ep.connect(0, { address: b.addr, remoteKey: new Uint8Array(32).fill(0xff) })).toThrow(
      expect.objectContaining({ code: 'INVALID_PEER_ID' }),
    );
  });
});
