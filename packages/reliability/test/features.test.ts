import { PAIR_A, PAIR_B, pair } from '@srmudp/sim';
import { decodeFrames } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { BASE_PLPMTU, ErrorCode, ReliableConnection } from '../src/index.js';
import { Pair } from './helpers/pair.js';
import { ConnNode, pattern } from './helpers/sim-conn.js';

describe('streams', () => {
  it('openStream honours the peer MAX_STREAMS and the limit grows as streams close', () => {
    const p = new Pair(5, {}, { limits: { maxStreams: 16 } });
    const ids: number[] = [];
    while (p.a.canOpenStream()) ids.push(p.a.openStream());
    expect(ids.length).toBe(16); // protocol initial value before the peer's MAX_STREAMS arrives
    expect(() => p.a.openStream()).toThrow(expect.objectContaining({ code: 'STREAM_LIMIT' }));
    // both sides finish the streams: the peer returns credit with MAX_STREAMS
    for (const id of ids) p.a.finish(id);
    p.run(() => p.eventsB.filter((e) => e.type === 'stream_finished').length === 16);
    for (const id of ids) {
      p.b.read(p.now, id);
      p.b.finish(id);
    }
    p.run(() => p.a.canOpenStream(), 5000);
    expect(p.a.canOpenStream()).toBe(true);
    expect(p.b.stats().openStreams).toBe(0);
  });

  it('write applies backpressure and emits writable once acknowledged data frees room', () => {
    const p = new Pair(10, { limits: { streamSendBuffer: 64 * 1024, sendBuffer: 1 << 20 } });
    const id = p.a.openStream();
    const big = new Uint8Array(200_000);
    expect(p.a.write(id, big)).toBe(64 * 1024);
    expect(p.a.writable(id)).toBe(0);
    p.run(() => p.eventsA.some((e) => e.type === 'writable' && e.streamId === id));
    expect(p.a.writable(id)).toBeGreaterThan(0);
  });

  it('reset: the peer sees stream_reset with the code; stopSending: we see stream_stopped', () => {
    const p = new Pair(5);
    const id = p.a.openStream();
    p.a.write(id, pattern(5000, 1));
    p.run(() => p.eventsB.some((e) => e.type === 'readable'));
    p.a.reset(id, 0x177);
    p.run(() => p.eventsB.some((e) => e.type === 'stream_reset'));
    expect(p.eventsB.find((e) => e.type === 'stream_reset')).toMatchObject({ streamId: id, code: 0x177 });
    expect(p.b.read(p.now, id)).toBeNull();

    const id2 = p.a.openStream();
    p.a.write(id2, pattern(3000, 2));
    p.run(() => p.eventsB.some((e) => e.type === 'stream_opened' && e.streamId === id2));
    p.b.stopSending(p.now, id2, 0x199);
    p.run(() => p.eventsA.some((e) => e.type === 'stream_stopped'));
    expect(p.eventsA.find((e) => e.type === 'stream_stopped')).toMatchObject({ streamId: id2, code: 0x199 });
    expect(p.a.write(id2, new Uint8Array(10))).toBe(0);
    expect(p.a.state).toBe('open');
    expect(p.b.state).toBe('open');
  });

  it('sendBacklog counts what is unsent or unacknowledged and reaches 0 once delivered', () => {
    const p = new Pair(5);
    const id = p.a.openStream();
    p.a.write(id, pattern(10_000, 5));
    p.a.finish(id);
    p.a.sendMessage(pattern(100, 6));
    expect(p.a.sendBacklog()).toBeGreaterThanOrEqual(10_100);
    p.run(() => p.a.sendBacklog() === 0 && p.a.stats().bytesInFlight === 0, 5000);
    expect(p.a.sendBacklog()).toBe(0);
  });

  it('half-close: each direction finishes independently', () => {
    const p = new Pair(5);
    const id = p.a.openStream();
    p.a.write(id, pattern(100, 3));
    p.a.finish(id);
    p.run(() => p.eventsB.some((e) => e.type === 'readable'));
    expect(p.b.read(p.now, id)?.length).toBe(100);
    p.run(() => p.eventsB.some((e) => e.type === 'stream_finished'));
    // B can still answer on the same stream
    expect(p.b.write(id, pattern(50, 4))).toBe(50);
    p.b.finish(id);
    p.run(() => p.eventsA.some((e) => e.type === 'readable'));
    expect(p.a.read(p.now, id)?.length).toBe(50);
    p.run(() => p.eventsA.some((e) => e.type === 'stream_finished'));
  });

  it('logs connection errors through the optional component logger', () => {
    const lines: string[] = [];
    const c = new ReliableConnection({ role: 'responder', now: 0, log: (m) => lines.push(m) });
    c.handlePacket(1, 0, new Uint8Array([0x3f]));
    expect(lines.some((l) => l.includes('undecodable'))).toBe(true);
    expect(lines.some((l) => l.includes('FRAME_ENCODING_ERROR'))).toBe(true);
  });

  it('API misuse throws exact errors', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0 });
    expect(() => c.write(99, new Uint8Array(1))).toThrow(RangeError);
    expect(() => c.sendMessage(new Uint8Array((16 << 20) + 1))).toThrow(RangeError);
    expect(() => new ReliableConnection({ role: 'x' as 'initiator', now: 0 })).toThrow(TypeError);
    expect(() => new ReliableConnection({ role: 'initiator', now: 0, maxUdpPayload: 1000 })).toThrow(
      RangeError,
    );
    const id = c.openStream();
    c.finish(id);
    expect(() => c.write(id, new Uint8Array(1))).toThrow(/finished/);
  });
});

describe('messages and datagrams', () => {
  it('a 2 MiB message arrives whole (window grows for it) and unordered ones do not wait', () => {
    const p = new Pair(10);
    const big = pattern(2 << 20, 7);
    expect(p.a.sendMessage(big)).toBe(true);
    expect(p.a.sendMessage(pattern(10, 8), { unordered: true })).toBe(true);
    p.run(() => p.eventsB.filter((e) => e.type === 'message').length === 2, 60_000);
    const msgs = p.eventsB.filter((e) => e.type === 'message');
    expect(msgs.length).toBe(2);
    const whole = msgs.find((e) => e.type === 'message' && !e.unordered);
    expect(whole?.type === 'message' && whole.data.length).toBe(2 << 20);
  });

  it('datagrams too big for a packet are refused and counted', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0, overhead: 8 });
    expect(c.sendDatagram(new Uint8Array(c.maxDatagramSize()))).toBe(true);
    expect(c.sendDatagram(new Uint8Array(c.maxDatagramSize() + 1))).toBe(false);
    expect(c.stats().drops.datagramTooBig).toBe(1);
    let refused = 0;
    for (let i = 0; i < 1000; i++) if (!c.sendDatagram(new Uint8Array(1000))) refused++;
    expect(refused).toBeGreaterThan(0);
    expect(c.stats().drops.datagramNoRoom).toBe(refused);
  });

  it('core frames go out once and arrive as frame events', () => {
    const p = new Pair(5);
    expect(p.a.queueFrame({ type: 'path_challenge', data: new Uint8Array(8).fill(7) })).toBe(true);
    p.run(() => p.eventsB.some((e) => e.type === 'frame'));
    expect(p.eventsB.find((e) => e.type === 'frame')).toMatchObject({ frame: { type: 'path_challenge' } });
    expect(() => p.a.queueFrame({ type: 'max_data', max: 1 })).toThrow(TypeError);
  });
});

describe('acknowledgements', () => {
  it('ACK every second packet one way, and piggyback on data when both directions send', () => {
    const p = new Pair(10);
    const id = p.a.openStream();
    const data = new Uint8Array(400_000);
    let sentA = 0;
    let sentB = 0;
    p.run(() => {
      if (sentA < data.length) sentA += p.a.write(id, data.subarray(sentA));
      if (p.b.streamIds().includes(id)) {
        while (p.b.read(p.now, id) !== null) {}
        if (sentB < data.length) sentB += p.b.write(id, data.subarray(sentB));
      }
      while (p.a.read(p.now, id) !== null) {}
      return p.now > 3000;
    });
    const a = p.a.stats();
    const b = p.b.stats();
    // both directions carry ~the same data: most ACKs ride on data packets
    expect(a.ackOnlyPacketsSent).toBeLessThan(0.25 * a.packetsSent);
    expect(b.ackOnlyPacketsSent).toBeLessThan(0.25 * b.packetsSent);

    const q = new Pair(10);
    const id2 = q.a.openStream();
    let sent = 0;
    q.run(() => {
      if (sent < data.length) sent += q.a.write(id2, data.subarray(sent));
      if (q.b.streamIds().includes(id2)) while (q.b.read(q.now, id2) !== null) {}
      return q.now > 3000;
    });
    // one-way: about one ACK per two data packets, never one per packet
    expect(q.b.stats().packetsSent).toBeLessThan(0.6 * q.a.stats().packetsSent);
  });
});

describe('path change', () => {
  it('resetPath restarts RTT, congestion state and PMTU; streams keep flowing', () => {
    const p = new Pair(10, { maxUdpPayload: 1472 }, { maxUdpPayload: 1472 });
    const id = p.a.openStream();
    let got = 0;
    const pump = () => {
      // app-limited (the Pair has no bandwidth limit): at most 64 KiB unacknowledged
      if (p.a.writable(id) >= p.a.limits.streamSendBuffer - 64 * 1024) p.a.write(id, new Uint8Array(8192));
      for (
        let r = p.b.streamIds().includes(id) ? p.b.read(p.now, id) : null;
        r !== null;
        r = p.b.read(p.now, id)
      )
        got += r.length;
    };
    p.run(() => {
      pump();
      return p.now > 2000;
    });
    expect(p.a.pmtu).toBe(1472);
    p.a.resetPath(p.now);
    expect(p.a.pmtu).toBe(BASE_PLPMTU);
    expect(p.a.stats().srttMs).toBe(333);
    const before = got;
    p.run(() => {
      pump();
      return p.now > 4000;
    });
    expect(got - before).toBeGreaterThan(100_000);
    expect(p.a.stats().srttMs).toBeGreaterThan(19);
    expect(p.a.stats().srttMs).toBeLessThan(40);
  });
});

describe('timers', () => {
  it('keepalive PINGs keep an idle connection open past the idle timeout', () => {
    const p = new Pair(20);
    p.a.sendMessage(new Uint8Array(1));
    p.run(() => p.now > 100_000, 100_001);
    expect(p.a.state).toBe('open');
    expect(p.b.state).toBe('open');
    // one PING each way per ~15 s at most (plus ACKs)
    expect(p.a.stats().packetsSent).toBeLessThan(30);
  });

  it('without keepalive the idle timeout closes both sides (default 30 s)', () => {
    const p = new Pair(20, { keepaliveMs: 0 }, { keepaliveMs: 0 });
    p.a.sendMessage(new Uint8Array(1));
    p.run(() => p.a.state === 'closed' && p.b.state === 'closed', 100_000);
    expect(p.eventsA.find((e) => e.type === 'closed')).toMatchObject({
      code: ErrorCode.IDLE_TIMEOUT,
      remote: false,
    });
    expect(p.now).toBeGreaterThanOrEqual(30_000);
    expect(p.now).toBeLessThan(31_000);
  });
});

describe('DPLPMTUD (RFC 8899)', () => {
  function pmtuRun(mtu: number, maxUdpPayload: number) {
    const { net, a, b } = pair({
      seed: mtu,
      a: () => new ConnNode(PAIR_B, { role: 'initiator', now: 0, maxUdpPayload }),
      b: () => new ConnNode(PAIR_A, { role: 'responder', now: 0, maxUdpPayload }),
      link: { latencyMs: 10, mtu, bandwidthBps: 10e6 },
    });
    let id = -1;
    a.app = (node) => {
      if (id < 0) id = node.conn.openStream();
      node.conn.write(id, new Uint8Array(4096));
    };
    b.app = (node, now) => {
      for (const ev of node.events.splice(0)) {
        if (ev.type === 'readable') while (node.conn.read(now, ev.streamId) !== null) {}
      }
    };
    net.drive({ untilTime: 5000, maxSteps: 2_000_000 });
    return a.conn;
  }

  it('starts at 1200 and finds the ceiling when the path carries it', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0 });
    expect(c.pmtu).toBe(BASE_PLPMTU);
    expect(pmtuRun(1500, 1472).pmtu).toBe(1472);
  });

  it('binary-searches a smaller path MTU and never exceeds it', () => {
    const c = pmtuRun(1350, 1472);
    expect(c.pmtu).toBeLessThanOrEqual(1350);
    expect(c.pmtu).toBeGreaterThan(1350 - 20);
  });

  it('a connection starts with one datagram each way: the first probe carries ACK, MAX_DATA, MAX_STREAMS and the PING', () => {
    const opts = { now: 0, overhead: 8, maxUdpPayload: 1472 } as const;
    const a = new ReliableConnection({ ...opts, role: 'initiator' });
    const b = new ReliableConnection({ ...opts, role: 'responder' });
    const types = (t: { payload: Uint8Array }) => decodeFrames(t.payload).map((f) => f.type);
    a.ping(); // as core does at establishment: the key confirmation
    const a0 = a.pollTransmit(0);
    expect(a0?.datagramSize).toBe(1472);
    expect(types(a0!)).toEqual(['max_data', 'max_streams', 'ping', 'padding']);
    expect(a.pollTransmit(0)).toBeNull();
    b.ping();
    b.handlePacket(1, a0!.packetNumber, a0!.payload);
    const b0 = b.pollTransmit(1);
    expect(b0?.datagramSize).toBe(1472);
    expect(types(b0!)).toEqual(['ack', 'max_data', 'max_streams', 'ping', 'padding']);
    expect(b.pollTransmit(1)).toBeNull(); // nothing else owed: one datagram
    a.handlePacket(2, b0!.packetNumber, b0!.payload);
    const a1 = a.pollTransmit(2); // the PING is acknowledged at once (RTT sample)
    expect(types(a1!)).toEqual(['ack']);
    expect(a.pollTransmit(2)).toBeNull();
    expect(a.pmtu).toBe(1472); // b's ACK confirmed a's probe
    b.handlePacket(3, a1!.packetNumber, a1!.payload);
    expect(b.pollTransmit(3)).toBeNull();
    expect(b.pmtu).toBe(1472);
    // later probes (a search after a loss, the 600 s raise) stay PING + PADDING alone: the
    // search below checks the path still converges
  });

  it('a lost first probe: its MAX_STREAMS still arrives (a path that drops the ceiling)', () => {
    const p = new Pair(10, { maxUdpPayload: 1472, limits: { maxStreams: 64 } }, { maxUdpPayload: 1472 });
    p.maxSize = 1400; // every 1472-byte probe is lost
    p.a.ping();
    p.b.ping();
    p.run(() => false, 3000);
    let n = 0;
    while (p.b.canOpenStream() && n < 100) {
      p.b.openStream();
      n++;
    }
    expect(n).toBe(64); // not the protocol's initial 16: a's MAX_STREAMS arrived after all
    expect(p.a.pmtu).toBeLessThanOrEqual(1400);
  });

  it('pollTransmit honours a per-call datagram size cap (anti-amplification budget)', () => {
    const c = new ReliableConnection({ role: 'initiator', now: 0, overhead: 8 });
    c.sendMessage(new Uint8Array(5000));
    expect(c.pollTransmit(0, 1000)).toBeNull();
    const t = c.pollTransmit(0, 1200);
    expect(t).not.toBeNull();
    expect(t!.datagramSize).toBeLessThanOrEqual(1200);
  });

  it('falls back to 1200 when the path MTU shrinks (black hole)', () => {
    const { net, a, b } = pair({
      seed: 9,
      a: () => new ConnNode(PAIR_B, { role: 'initiator', now: 0, maxUdpPayload: 1472 }),
      b: () => new ConnNode(PAIR_A, { role: 'responder', now: 0, maxUdpPayload: 1472 }),
      link: { latencyMs: 10, bandwidthBps: 10e6 },
    });
    let id = -1;
    let got = 0;
    a.app = (node) => {
      if (id < 0) id = node.conn.openStream();
      node.conn.write(id, new Uint8Array(4096));
    };
    b.app = (node, now) => {
      for (const ev of node.events.splice(0)) {
        if (ev.type === 'readable')
          for (let r = node.conn.read(now, ev.streamId); r !== null; r = node.conn.read(now, ev.streamId))
            got += r.length;
      }
    };
    net.drive({ untilTime: 3000, maxSteps: 2_000_000 });
    expect(a.conn.pmtu).toBe(1472);
    net.setLink('a', 'b', { latencyMs: 10, mtu: 1250, bandwidthBps: 10e6 });
    const before = got;
    net.drive({ untilTime: 8000, maxSteps: 2_000_000 });
    expect(a.conn.pmtu).toBe(BASE_PLPMTU);
    expect(a.conn.stats().blackHoles).toBeGreaterThanOrEqual(1);
    expect(got - before).toBeGreaterThan(100_000); // data flows again
    expect(a.conn.state).toBe('open');
  });
});

describe('headroom (sealing in place)', () => {
  it('a Transmit carries its payload inside a datagram-sized buffer, bytes as without headroom', () => {
    const opts = { now: 0, overhead: 29, maxUdpPayload: 1472 } as const;
    const plain = new ReliableConnection({ ...opts, role: 'initiator' });
    const roomy = new ReliableConnection({ ...opts, role: 'initiator', headroom: 13 });
    for (const c of [plain, roomy]) {
      c.ping();
      c.write(c.openStream(), pattern(5000, 3));
    }
    let n = 0;
    for (let a = plain.pollTransmit(0), b = roomy.pollTransmit(0); a !== null || b !== null; n++) {
      expect(a).not.toBeNull();
      expect(b).not.toBeNull();
      expect(a!.datagram).toBeNull();
      const d = b!.datagram!;
      expect(d.length).toBe(b!.datagramSize);
      expect(b!.datagramSize).toBe(a!.datagramSize);
      // the payload is the same memory as the datagram's bytes after the header room
      expect(b!.payload.buffer).toBe(d.buffer);
      expect(b!.payload.byteOffset).toBe(d.byteOffset + 13);
      expect(b!.payload).toEqual(a!.payload);
      a = plain.pollTransmit(0);
      b = roomy.pollTransmit(0);
    }
    expect(n).toBeGreaterThan(1);
  });

  it('headroom beyond the overhead is refused', () => {
    expect(() => new ReliableConnection({ role: 'initiator', now: 0, overhead: 8, headroom: 9 })).toThrow(
      new RangeError('"headroom" expected an integer in [0, 8]'),
    );
  });
});
