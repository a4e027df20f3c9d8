import { describe, expect, it, vi } from 'vitest';
import { SecureChannel } from '../src/secure-channel.js';
import { collect, confirm, deliver, run, type Side, seededRandom, side } from './helpers.js';

const timing = {
  rekeyAfterMs: 10_000,
  gracePeriodMs: 2_000,
  rejectAfterMs: 30_000,
  handshakeTimeoutMs: 5_000,
};

/** The endpoint's answer must be the earliest deadline of its channels (the timer heap misses none). */
function expectConsistent(s: Side): void {
  let min = Number.POSITIVE_INFINITY;
  for (const ch of s.ep.channels()) {
    const t = ch.pollTimeout();
    if (t !== null && t < min) min = t;
  }
  const got = s.ep.pollTimeout() ?? Number.POSITIVE_INFINITY;
  // the responder's half-open expiries may come first; a channel's deadline never hides
  expect(got).toBeLessThanOrEqual(min);
  if (got < min) expect(got).not.toBe(Number.POSITIVE_INFINITY);
}

describe('SecureEndpoint timer heap', () => {
  it('pollTimeout stays the earliest channel deadline through data, first seals, rekeys and expiry', () => {
    const server = side(100, '10.0.0.100', { timing });
    const clients: Side[] = [];
    const chans: SecureChannel[] = [];
    for (let i = 0; i < 6; i++) {
      const c = side(200 + i, `10.0.1.${i}`, { timing });
      clients.push(c);
      const ch = c.ep.connect(0, { address: server.addr, remoteKey: server.ep.identity.publicKey });
      chans.push(ch);
      run([server, c], 0, { stopWhen: () => ch.isEstablished });
      confirm(1, c, server, ch, 0);
    }
    const all = [server, ...clients];
    const rnd = seededRandom(7);
    const pns = new Map<SecureChannel, number>();
    const nextPn = (ch: SecureChannel): number => {
      const n = (pns.get(ch) ?? 0) + 1;
      pns.set(ch, n);
      return n;
    };
    let now = 2;
    for (let step = 0; step < 400; step++) {
      now += 1 + ((rnd(1)[0] as number) % 250);
      const who = (rnd(1)[0] as number) % clients.length;
      const c = clients[who] as Side;
      const ch = chans[who] as SecureChannel;
      // some traffic either way, some silence (unanswered keys, rekeys by time)
      if ((rnd(1)[0] as number) % 3 !== 0 && ch.isEstablished) {
        const r = server.ep.handle(now, c.addr, ch.seal(nextPn(ch) + 1000, Uint8Array.of(step & 255)));
        if (r.type === 'data' && (rnd(1)[0] as number) % 2 === 0 && r.channel.isEstablished)
          c.ep.handle(now, server.addr, r.channel.seal(nextPn(r.channel) + 1000, Uint8Array.of(1)));
      }
      for (const s of all) expectConsistent(s);
      for (const s of all) {
        const t = s.ep.pollTimeout();
        if (t !== null && t <= now) s.ep.handleTimeout(now);
      }
      for (const w of collect(now, all)) deliver(now, all, w);
      for (const w of collect(now, all)) deliver(now, all, w);
      for (const s of all) expectConsistent(s);
    }
    // the rekeys by time did happen on every channel that kept talking
    expect(server.ep.stats().initiationsProcessed).toBeGreaterThan(6);
  });

  it('a handshake datagram recomputes the deadlines of the channels it reaches, not of every channel', () => {
    // issue 19: every initiation used to mark all channels' deadlines for recomputation, so a
    // responder with n connections spent O(n) per handshake datagram (quadratic in P4)
    const server = side(300, '10.0.0.100', { timing });
    const n = 12;
    for (let i = 0; i < n; i++) {
      const c = side(400 + i, `10.0.2.${i}`, { timing });
      const ch = c.ep.connect(0, { address: server.addr, remoteKey: server.ep.identity.publicKey });
      run([server, c], 0, { stopWhen: () => ch.isEstablished });
      confirm(1, c, server, ch, 0);
    }
    expect(server.ep.channels().length).toBe(n);
    server.ep.pollTimeout();
    const late = side(500, '10.0.3.1', { timing });
    const ch = late.ep.connect(10, { address: server.addr, remoteKey: server.ep.identity.publicKey });
    const spy = vi.spyOn(SecureChannel.prototype, 'pollTimeout');
    try {
      let visited = 0;
      for (let round = 0; round < 6 && !ch.isEstablished; round++) {
        for (const w of collect(10, [server, late])) {
          // under load: the initiation is answered by a cookie reply first, then resent with mac2
          deliver(10, [server, late], w, { underLoad: true });
          spy.mockClear();
          server.ep.pollTimeout();
          visited = Math.max(visited, spy.mock.calls.length);
          expectConsistent(server);
          expectConsistent(late);
        }
      }
      expect(ch.isEstablished).toBe(true);
      expect(server.ep.stats().cookieRepliesSent).toBe(1);
      // the new peer's channel only
      expect(visited).toBeLessThanOrEqual(1);
    } finally {
      spy.mockRestore();
    }
    expectConsistent(server);
  });
});
