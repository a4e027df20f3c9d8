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

describe('RTT samples (RFC 9002 §5.1)', () => {
  /** Everything the connection sends at `now` (its first flight: a PING, a PMTU probe, …). */
  const drain = (c: ReliableConnection, now: number) => {
    const out = [];
    for (let t = c.pollTransmit(now); t !== null && out.length < 10; t = c.pollTransmit(now)) out.push(t);
    return out;
  };
  /** The peer's PING at `now`, and our ACK-only answer to it (polled until it leaves). */
  const ackOnlyAnswer = (c: ReliableConnection, now: number) => {
    expect(c.handlePacket(now, 0, encodeFrames([{ type: 'ping' }]))).toBe('non_probing');
    for (let t = now; t <= now + 100; t++) {
      const p = c.pollTransmit(t);
      if (p === null) continue;
      expect(decodeFrames(p.payload).map((f) => f.type)).toEqual(['ack']);
      return p;
    }
    throw new Error('no ACK sent');
  };

  it('an ACK whose largest packet is ACK-only still samples the RTT when it newly acks a PING', () => {
    // An idle connection right after establishment: our PING (ack-eliciting) is followed by an
    // ACK-only packet; the peer acks both, so the largest acknowledged is the ACK-only one. The
    // sample is taken all the same (at least one newly acked packet was ack-eliciting), or a
    // fresh path has no RTT until its next keepalive.
    const c = new ReliableConnection({ role: 'initiator', now: 0, overhead: 29 });
    c.ping();
    const first = drain(c, 0);
    expect(first.length).toBeGreaterThan(0);
    const ackOnly = ackOnlyAnswer(c, 5);
    expect(c.stats().rttSampled).toBe(false);
    const ranges = [{ start: first[0]!.packetNumber, end: ackOnly.packetNumber }];
    c.handlePacket(60, 1, encodeFrames([{ type: 'ack', delay: 0, ranges }]));
    expect(c.stats().rttSampled).toBe(true);
    // the sample is measured to the largest acknowledged packet (RFC 9002 §5.1): sent at ≥ 5
    expect(c.stats().minRttMs).toBeGreaterThan(0);
    expect(c.stats().minRttMs).toBeLessThanOrEqual(55);
  });

  it('an ACK of ACK-only packets alone is no RTT sample, nor a later one whose largest it acked', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0, overhead: 29 });
    const first = drain(c, 0);
    const ackOnly = ackOnlyAnswer(c, 5);
    const ranges = [{ start: ackOnly.packetNumber, end: ackOnly.packetNumber }];
    c.handlePacket(60, 1, encodeFrames([{ type: 'ack', delay: 0, ranges }]));
    expect(c.stats().rttSampled).toBe(false);
    // nor one that acks the earlier ack-eliciting packets with it: the largest acknowledged (the
    // ACK-only packet) is not newly acknowledged, and a sample to it would include the 10 ms the
    // first ACK had already accounted for (RFC 9002 §5.1)
    expect(first.length).toBeGreaterThan(0);
    const all = [{ start: first[0]?.packetNumber ?? 0, end: ackOnly.packetNumber }];
    c.handlePacket(70, 2, encodeFrames([{ type: 'ack', delay: 0, ranges: all }]));
    expect(c.stats().rttSampled).toBe(false);
  });
});
