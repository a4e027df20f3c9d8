import { decodeFrames, encodeFrames } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { ReliableConnection } from '../src/index.js';

const challenge = { type: 'path_challenge' as const, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) };

describe('paths as core drives them', () => {
  it('packets say the path they were built for; a switch keeps packet numbers and streams', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0, overhead: 29 });
    const first = c.activePath;
    const id = c.openStream();
    c.write(id, new Uint8Array(100));
    const t1 = c.pollTransmit(0);
    expect(t1?.path).toBe(first);
    const next = c.createPath(10, { maxUdpPayload: 1452 });
    expect(next).not.toBe(first);
    expect(next.rtt.hasSample).toBe(false);
    c.setActivePath(next, 10);
    c.write(id, new Uint8Array(100));
    const t2 = c.pollTransmit(10);
    expect(t2?.path).toBe(next);
    expect(t2?.packetNumber).toBeGreaterThan(t1?.packetNumber ?? 0);
    expect(c.streamIds()).toEqual([id]);
    expect(() => c.createPath(10, { maxUdpPayload: 100 })).toThrow(RangeError);
  });

  it('a probe packet carries only probing frames, takes a packet number, and is not in flight', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0, overhead: 29 });
    const candidate = c.createPath(0);
    const before = c.stats().bytesInFlight;
    const t = c.buildProbe(0, candidate, [challenge], 1200);
    expect(t?.path).toBe(candidate);
    expect(decodeFrames(t?.payload ?? new Uint8Array())).toEqual([challenge]);
    expect(c.stats().bytesInFlight).toBe(before);
    expect(c.armedTimers().map((x) => x.timer)).not.toContain('LossDetection'); // nothing to repair
    expect(c.buildProbe(0, candidate, [challenge], 20)).toBeNull(); // over the size cap
    expect(() => c.buildProbe(0, candidate, [{ type: 'ping' }], 1200)).toThrow(TypeError);
  });

  it('handlePacket says whether a packet was probing (RFC 9000 §9.1), non-probing or dropped', () => {
    const c = new ReliableConnection({ role: 'responder', now: 0, overhead: 29 });
    expect(c.handlePacket(1, 0, encodeFrames([challenge, { type: 'padding', length: 10 }]))).toBe('probing');
    expect(c.handlePacket(2, 1, encodeFrames([{ type: 'ping' }]))).toBe('non_probing');
    expect(c.handlePacket(3, 1, encodeFrames([{ type: 'ping' }]))).toBe('dropped'); // duplicate
    expect(c.pto()).toBeGreaterThan(0);
    expect(c.ptoCount).toBe(0);
  });
});
