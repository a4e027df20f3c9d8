import { concatBytes, equalBytes } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ReliableConnection } from '../src/index.js';
import { Pair } from './helpers/pair.js';

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('ReliableConnection basics', () => {
  it('sends a stream end to end with FIN', () => {
    const p = new Pair(10);
    const id = p.a.openStream();
    const data = bytes(200_000);
    let written = 0;
    const got: Uint8Array[] = [];
    let finished = false;
    const ok = p.run(() => {
      if (written < data.length) written += p.a.write(id, data.subarray(written));
      if (written === data.length) p.a.finish(id);
      for (;;) {
        const r = p.b.streamIds().includes(id) ? p.b.read(p.now, id) : null;
        if (r === null) break;
        got.push(r);
      }
      finished = p.eventsB.some((e) => e.type === 'stream_finished' && e.streamId === id);
      return finished;
    });
    expect(ok).toBe(true);
    expect(equalBytes(concatBytes(...got), data)).toBe(true);
    expect(p.eventsB.some((e) => e.type === 'stream_opened' && e.streamId === id)).toBe(true);
  });

  it('delivers messages whole and in order, unordered ones too, and datagrams', () => {
    const p = new Pair(5);
    const msgs = [bytes(10, 1), bytes(5000, 2), bytes(0, 3), bytes(70_000, 4)];
    for (const m of msgs) expect(p.a.sendMessage(m)).toBe(true);
    expect(p.a.sendMessage(bytes(3000, 9), { unordered: true })).toBe(true);
    expect(p.a.sendDatagram(bytes(100, 7))).toBe(true);
    p.run(() => p.eventsB.filter((e) => e.type === 'message').length === 5);
    const got = p.eventsB.filter((e) => e.type === 'message');
    const ordered = got
      .filter((e) => e.type === 'message' && !e.unordered)
      .map((e) => (e.type === 'message' ? e.data : null));
    expect(ordered).toEqual(msgs);
    expect(p.eventsB.some((e) => e.type === 'datagram' && e.data.length === 100)).toBe(true);
  });

  it('recovers from loss', () => {
    const p = new Pair(20, { congestion: 'newreno' });
    let n = 0;
    p.drop = () => ++n % 7 === 0;
    const id = p.a.openStream();
    const data = bytes(300_000, 5);
    let written = 0;
    const got: Uint8Array[] = [];
    const ok = p.run(() => {
      if (written < data.length) written += p.a.write(id, data.subarray(written));
      else p.a.finish(id);
      for (;;) {
        const r = p.b.streamIds().includes(id) ? p.b.read(p.now, id) : null;
        if (r === null) break;
        got.push(r);
      }
      return p.eventsB.some((e) => e.type === 'stream_finished');
    });
    expect(ok).toBe(true);
    expect(equalBytes(concatBytes(...got), data)).toBe(true);
    expect(p.a.stats().packetsLost).toBeGreaterThan(0);
  });

  it('closes with a code and the peer sees it', () => {
    const p = new Pair(5);
    p.a.sendMessage(bytes(10));
    p.run(() => p.eventsB.some((e) => e.type === 'message'));
    p.a.close(p.now, 0x105, 'bye');
    p.run(() => p.eventsB.some((e) => e.type === 'closed'));
    const ev = p.eventsB.find((e) => e.type === 'closed');
    expect(ev).toMatchObject({ type: 'closed', code: 0x105, reason: 'bye', remote: true });
    p.run(() => p.a.state === 'closed' && p.b.state === 'closed');
    expect(p.a.state).toBe('closed');
    expect(p.b.state).toBe('closed');
    expect(ErrorCode.NO_ERROR).toBe(0);
  });
});

describe('public accessors for the connection layer', () => {
  it('recvComplete: true once the FIN and every byte before it arrived, before any read', () => {
    const p = new Pair(5);
    const id = p.a.openStream();
    expect(p.b.recvComplete(id)).toBe(false); // unknown stream
    const data = bytes(30_000);
    expect(p.a.write(id, data)).toBe(data.length);
    p.run(() => p.b.streamIds().includes(id), 5000);
    expect(p.b.recvComplete(id)).toBe(false); // no FIN yet
    p.a.finish(id);
    expect(p.run(() => p.b.recvComplete(id), 5000)).toBe(true);
    // nothing was read: the bytes are still there
    const got: Uint8Array[] = [];
    for (let r = p.b.read(p.now, id); r !== null; r = p.b.read(p.now, id)) got.push(r);
    expect(equalBytes(concatBytes(...got), data)).toBe(true);
  });

  it('recvComplete: false for a stream we stopped', () => {
    const p = new Pair(5);
    const id = p.a.openStream();
    p.a.write(id, bytes(1000));
    p.a.finish(id);
    p.run(() => p.b.recvComplete(id), 5000);
    p.b.stopSending(p.now, id, 7);
    expect(p.b.recvComplete(id)).toBe(false);
  });

  it('seedRtt: the first sample before any ACK; ignored once an ACK gave one, and for bad values', () => {
    const p = new Pair(20);
    expect(p.a.stats().srttMs).toBe(333);
    p.a.seedRtt(Number.NaN);
    p.a.seedRtt(-1);
    expect(p.a.stats().srttMs).toBe(333);
    p.a.seedRtt(41);
    expect(p.a.stats()).toMatchObject({ rttMs: 41, srttMs: 41, minRttMs: 41 });
    p.a.seedRtt(5); // a second seed is not a sample
    expect(p.a.stats().srttMs).toBe(41);
    const id = p.a.openStream();
    p.a.write(id, bytes(10));
    p.run(() => p.a.stats().bytesInFlight === 0 && p.a.stats().rttMs !== 41, 5000);
    expect(p.a.stats().rttMs).toBeGreaterThanOrEqual(40);
    expect(p.a.stats().rttMs).toBeLessThan(70);
  });
  it('RTT warm-up: PINGs after opening re-measure a handshake-time sample inflated by queueing; then no more', () => {
    // the handshake and the first PING queue behind handshake work (16 ms round trips), then
    // the path is 1 ms; with the 1/8 EWMA alone the idle connection's estimate stays ~15 ms
    const p = new Pair(8, { rttProbes: 3 }, { rttProbes: 3 });
    p.a.seedRtt(15);
    p.a.ping();
    p.b.ping();
    p.run(() => p.a.stats().minRttMs > 0 && p.b.stats().minRttMs > 0, 40);
    expect(p.a.stats().srttMs).toBeGreaterThanOrEqual(15);
    p.delay = 0.5;
    p.run(() => false, 1000);
    for (const c of [p.a, p.b]) {
      expect(c.stats().srttMs).toBeLessThan(1.2);
      expect(c.stats().minRttMs).toBe(1);
    }
    // three PINGs each, then nothing until the keepalive (15 s): a one-off cost
    const sent = p.a.stats().packetsSent;
    expect(p.a.armedTimers().map((t) => t.timer)).not.toContain('RttProbe');
    p.run(() => false, 10_000);
    expect(p.a.stats().packetsSent).toBe(sent);
    // after the warm-up, a smaller sample is ordinary again (RFC 9002 §5.3 EWMA)
    const q = new Pair(8, { rttProbes: 1 });
    q.a.ping();
    q.run(() => q.a.stats().minRttMs > 0, 40);
    q.run(() => false, 100); // the probe at 50 ms, also 16 ms: the warm-up is over
    q.delay = 0.5;
    q.a.ping();
    q.run(() => q.a.stats().minRttMs === 1, 200);
    expect(q.a.stats().srttMs).toBeGreaterThan(13);
  });

  it("RTT warm-up: a PING owed leaves early with the ACK of the peer's PING (one packet, not two)", () => {
    // b answers a's warm-up (rttProbeAnswer): a's PING arrives at 58 and b's goes with its ACK
    const pair = (bProbes: number): Pair => {
      const p = new Pair(8, { rttProbes: 1 }, { rttProbes: bProbes, rttProbeAnswer: true });
      p.run(() => false, 1000);
      return p;
    };
    const p = pair(1);
    expect(p.b.stats().packetsSent).toBe(pair(0).b.stats().packetsSent);
    expect(p.a.stats().packetsSent).toBe(pair(0).a.stats().packetsSent + 1); // the ACK of b's PING
    expect(p.b.stats()).toMatchObject({ rttMs: 16, minRttMs: 16 });
    expect(p.a.stats()).toMatchObject({ rttMs: 16, minRttMs: 16 });
    expect(p.b.armedTimers().map((t) => t.timer)).not.toContain('RttProbe');
    expect(() => new Pair(8, {}, { rttProbeAnswer: 1 as unknown as boolean })).toThrow(TypeError);
  });

  it('RTT warm-up: the last PING re-measures when its packet leaves on a later turn than the one that asked', () => {
    // A real driver handles a datagram or a timer at one `now` and sends what it caused on its
    // next turn, a little later (turnMs): the PING's sample must still count as the warm-up's.
    // The first round trips queue behind other handshakes (12 ms each way), then the path has 1.
    const measured = (answering: boolean, side: 'a' | 'b'): { before: number; after: number } => {
      const p = new Pair(12, { rttProbes: 1 }, { rttProbes: 1, rttProbeAnswer: answering });
      p.turnMs = 0.05;
      // answering: a's first packet is lost, so the first PING b sees is a's warm-up one, and
      // b's own leaves early with its ACK (receive path); else both leave on their timers
      if (answering) p.drop = (from, pn) => from === 'a' && pn === 0;
      const c = side === 'a' ? p.a : p.b;
      p.run(() => c.stats().minRttMs > 0, 30);
      const before = c.stats().srttMs;
      p.delay = 1;
      p.run(() => false, 1000);
      expect(c.armedTimers().map((t) => t.timer)).not.toContain('RttProbe');
      expect(c.stats().minRttMs).toBeLessThan(2.3);
      return { before, after: c.stats().srttMs };
    };
    for (const [answering, side] of [
      [false, 'a'],
      [false, 'b'],
      [true, 'b'],
    ] as const) {
      const { before, after } = measured(answering, side);
      expect(before).toBeGreaterThan(23);
      // re-initialised by the warm-up's sample (the 1/8 EWMA alone leaves ~21)
      expect(after).toBeLessThan(2.3);
    }
    // the warm-up is over: a later, smaller sample is ordinary again (RFC 9002 §5.3 EWMA)
    const q = new Pair(12, { rttProbes: 1 }, { rttProbes: 1 });
    q.turnMs = 0.05;
    q.run(() => q.a.stats().minRttMs > 0, 30);
    q.delay = 1;
    q.run(() => false, 1000);
    const srtt = q.a.stats().srttMs;
    q.delay = 0.25;
    q.a.ping();
    q.run(() => q.a.stats().minRttMs < 1, q.now + 1000);
    expect(q.a.stats().minRttMs).toBeLessThan(1);
    expect(q.a.stats().srttMs).toBeGreaterThan(srtt - 0.3);
  });

  it("RTT warm-up: a PMTU probe's PING (the peer's first packet) never takes the warm-up PING along", () => {
    // neither side answers (a simultaneous open): a's first packet, a PMTU probe with a PING,
    // reaches b 35 ms after b opened, late in a busy burst; b's warm-up PING waits for its own
    // timer (50 ms) instead of measuring that burst with the probe's ACK
    const p = new Pair(35, { rttProbes: 1 }, { rttProbes: 1 });
    p.run(() => p.b.stats().packetsReceived > 0);
    expect(p.now).toBe(35);
    expect(p.b.armedTimers().find((t) => t.timer === 'RttProbe')?.at).toBe(50);
    p.delay = 1;
    p.run(() => false, 1000);
    expect(p.b.armedTimers().map((t) => t.timer)).not.toContain('RttProbe');
    expect(p.b.stats().srttMs).toBeLessThan(2.3);
  });

  it('RTT warm-up: never early on the opening packet (answering side) nor before 30 ms (the other)', () => {
    // the packet that opens the answering side arrives at its open (0 ms): answered alone, and
    // b's warm-up waits for the peer's, up to 250 ms
    const opening = (bProbes: number): Pair => {
      const q = new Pair(0, {}, { rttProbes: bProbes, rttProbeAnswer: true });
      q.a.ping();
      q.run(() => q.b.stats().packetsReceived > 0);
      return q;
    };
    const q = opening(1);
    expect(q.now).toBe(0);
    expect(q.b.armedTimers().find((t) => t.timer === 'RttProbe')?.at).toBe(250);
    // a PING 8 ms after the open, on the side that does not answer: its warm-up keeps its 50 ms
    const late = (bProbes: number): Pair => {
      const r = new Pair(8, {}, { rttProbes: bProbes });
      r.a.ping();
      r.run(() => r.b.stats().packetsReceived > 0);
      return r;
    };
    const r = late(1);
    expect(r.now).toBe(8);
    expect(r.b.armedTimers().find((t) => t.timer === 'RttProbe')?.at).toBe(50);
    for (const [x, x0] of [
      [q, opening(0)],
      [r, late(0)],
    ] as const) {
      x.run(() => false, 1000);
      x0.run(() => false, 1000);
      expect(x.b.stats().packetsSent).toBe(x0.b.stats().packetsSent + 1);
    }
  });

  it('without rttProbes (the default) no warm-up PING is sent; with it, exactly that many', () => {
    const sent = (rttProbes: number): number => {
      const p = new Pair(8, { rttProbes });
      p.a.ping();
      p.run(() => false, 1000);
      return p.a.stats().packetsSent;
    };
    expect(sent(3) - sent(0)).toBe(3);
    expect(() => new Pair(8, { rttProbes: -1 })).toThrow(RangeError);
  });
});

describe('receive slab per connection (recv-buffer.ts)', () => {
  // Small frames are copied into a slab and read back as views of it; the application may use a
  // view's whole .buffer (transfer, forward), so two peers' bytes must never share one.
  let packets = new Uint8Array(64 * 1024);
  let packetsUsed = 0;
  /** Every packet of `from` to `to`, its payload in a shared 64 KiB slab (as core decrypts). */
  function deliver(now: number, from: ReliableConnection, to: ReliableConnection): void {
    for (let t = from.pollTransmit(now); t !== null; t = from.pollTransmit(now)) {
      if (packetsUsed + t.payload.length > packets.length) {
        packets = new Uint8Array(64 * 1024);
        packetsUsed = 0;
      }
      const p = packets.subarray(packetsUsed, packetsUsed + t.payload.length);
      p.set(t.payload);
      packetsUsed += t.payload.length;
      to.handlePacket(now, t.packetNumber, p);
    }
    while (from.pollEvent(now) !== null) {}
  }
  function connect(): { a: ReliableConnection; b: ReliableConnection; id: number } {
    const a = new ReliableConnection({ role: 'initiator', now: 0, overhead: 8 });
    const b = new ReliableConnection({ role: 'responder', now: 0, overhead: 8 });
    return { a, b, id: a.openStream() };
  }
  /** `a` writes `data` on `id`, `b` reads all of it (a reader that keeps up): the views read. */
  function transfer(now: number, c: ReturnType<typeof connect>, data: Uint8Array): Uint8Array[] {
    c.a.write(c.id, data);
    deliver(now, c.a, c.b);
    while (c.b.pollEvent(now) !== null) {}
    const views: Uint8Array[] = [];
    for (let r = c.b.read(now, c.id); r !== null; r = c.b.read(now, c.id)) views.push(r);
    deliver(now, c.b, c.a);
    return views;
  }

  it('chunks read from two connections receiving in turn never share an ArrayBuffer', () => {
    // before: every buffer of the process carved from one slab, so B's views held A's bytes
    const conns = [connect(), connect()];
    const seen = [new Set<ArrayBufferLike>(), new Set<ArrayBufferLike>()];
    let now = 0;
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 2; k++) {
        now += 1;
        const views = transfer(now, conns[k]!, new Uint8Array(200).fill(k + 1));
        expect(concatBytes(...views)).toEqual(new Uint8Array(200).fill(k + 1));
        for (const v of views) {
          seen[k]!.add(v.buffer);
          // nothing but this connection's bytes anywhere in the ArrayBuffer underneath
          expect(new Uint8Array(v.buffer).every((x) => x === 0 || x === k + 1)).toBe(true);
        }
      }
    }
    // the copies still share a slab within a connection (one allocation per ~35 packets)
    expect(seen[0]!.size).toBeLessThanOrEqual(2);
    for (const x of seen[0]!) expect(seen[1]!.has(x)).toBe(false);
  });

  it('a connection idle after a transfer holds no slab; the next copy goes to a new one', () => {
    const c = connect();
    let now = 0;
    /** the connection's timers run (delayed ACK, keepalive at 15 s), nothing arrives to copy */
    const idle = (ms: number): void => {
      const until = now + ms;
      for (let i = 0; i < 50; i++) {
        const t = c.b.pollTimeout();
        if (t === null || t > until) break;
        now = Math.max(now, t);
        c.b.handleTimeout(now);
        deliver(now, c.b, c.a);
        deliver(now, c.a, c.b);
      }
      now = until;
    };
    for (let round = 0; round < 2; round++) {
      let last: Uint8Array | undefined;
      for (let i = 0; i < 10; i++) last = transfer(++now, c, bytes(300, i + 1)).at(-1);
      idle(20_000);
      expect(c.b.state).toBe('open');
      // no region handed out is reused: the next packet's copy is in a new ArrayBuffer (before:
      // the process-wide slab stayed, and the copy went next to the previous transfer's bytes)
      const next = transfer(++now, c, bytes(300, 99));
      expect(concatBytes(...next)).toEqual(bytes(300, 99));
      expect(next[0]!.buffer).not.toBe(last!.buffer);
      expect(last).toEqual(bytes(300, 10));
      idle(20_000);
      expect(c.b.recvSlab().slab).toBeNull();
    }
  });
});
