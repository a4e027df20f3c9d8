// The responder under hostile load (issue 11): cookies by rate, per-source budgets, eviction.
import { describe, expect, it } from 'vitest';
import { type CryptoBackend, nobleBackend } from '../src/backend.js';
import {
  HandshakeBudget,
  LoadMeter,
  type PendingEntry,
  PendingTable,
  prefixOf,
  RateLimiter,
  resolveLimits,
  SourceRate,
  UNDER_LOAD_AFTER_MS,
} from '../src/handshake-guard.js';
import { CookieJar, InitiationForger } from '../src/testing.js';
import { collect, confirm, run, seededRandom, side } from './helpers.js';

function counting(): CryptoBackend & { dh: number } {
  const base = nobleBackend();
  const b = {
    name: 'counting',
    dh: 0,
    x25519: (p: Uint8Array, q: Uint8Array) => {
      b.dh++;
      return base.x25519(p, q);
    },
    x25519Public: (p: Uint8Array) => {
      b.dh++;
      return base.x25519Public(p);
    },
    aeadSeal: base.aeadSeal,
    aeadOpen: base.aeadOpen,
  };
  return b;
}

/** noble's AEAD with a stand-in for X25519 (XOR): the responder's work without its cost, so
 * thousands of answered handshakes run in a test; the work clock says what they "cost". */
function cheapDh(): CryptoBackend {
  const base = nobleBackend();
  return {
    name: 'cheap-dh',
    x25519: (p: Uint8Array, q: Uint8Array) => p.map((x, i) => x ^ (q[i] as number)),
    x25519Public: (p: Uint8Array) => p.map((x) => x ^ 0x5a),
    aeadSeal: base.aeadSeal,
    aeadOpen: base.aeadOpen,
  };
}

describe('load follows the rate of initiations', () => {
  it('over the threshold per second: under load, and for 1 s after the rate falls', () => {
    const m = new LoadMeter(10);
    for (let i = 0; i < 10; i++) expect(m.record(i * 100)).toBe(false); // 10/s: at the threshold
    let under = false;
    for (let i = 0; i < 30; i++) under = m.record(1000 + i * 10); // 100/s
    expect(under).toBe(true);
    // the last initiation over the threshold came at 1290
    expect(m.underLoad(1290 + UNDER_LOAD_AFTER_MS - 1)).toBe(true);
    expect(m.underLoad(1290 + UNDER_LOAD_AFTER_MS)).toBe(false);
    expect(m.record(5000)).toBe(false); // quiet again
  });

  it('threshold 0 means always under load', () => {
    expect(new LoadMeter(0).record(0)).toBe(true);
    expect(new LoadMeter(0).underLoad(0)).toBe(true);
  });

  it('a confirmed initiation leaves the count, from the window that counted it', () => {
    const m = new LoadMeter(10);
    // 100/s for 1 s, each confirmed 5 ms later: never more than one in flight
    for (let i = 0; i < 100; i++) {
      expect(m.record(i * 10)).toBe(false);
      m.forget(i * 10, i * 10 + 5);
    }
    expect(m.rate(1000)).toBe(0);
    // 10 counted late in one window, confirmed early in the next: taken from the previous window
    for (let i = 0; i < 10; i++) m.record(1900 + i);
    expect(m.rate(2000)).toBe(10);
    m.forget(1900, 2000);
    expect(m.rate(2000)).toBe(9);
    // one more unconfirmed is at the threshold, not over it; then two over
    expect(m.record(2001)).toBe(false);
    expect(m.record(2002)).toBe(true);
    // a confirmation does not lift a verdict already given
    m.forget(2002, 2003);
    m.forget(2001, 2003);
    expect(m.underLoad(2003)).toBe(true);
    // a confirmation of an initiation counted two windows ago changes nothing
    const before = m.rate(4100);
    m.forget(1950, 4100);
    expect(m.rate(4100)).toBe(before);
  });
});

describe('load counts what real peers do not confirm', () => {
  it('200 real peers per second (IK and XX) never put the responder under load; forgeries do', () => {
    const backend = counting();
    const b = side(2, '10.0.0.2', { backend, limits: { loadThreshold: 20 } });
    let t = 0;
    for (let i = 0; i < 60; i++) {
      const a = side(100 + i, `10.0.${1 + (i % 3)}.${1 + i}`);
      // every third peer dials without b's key: XX
      const ik = i % 3 !== 0;
      const ca = a.ep.connect(t, { address: b.addr, ...(ik ? { remoteKey: b.ep.identity.publicKey } : {}) });
      // XX: until b has message 3; IK: until a has the answer, then its first packet
      const done = () => b.events.filter((e) => e.type === 'established').length > i;
      run([a, b], t, { stopWhen: () => (ik ? ca.isEstablished : done()), until: t + 100 });
      if (ik) confirm(t, a, b, ca);
      expect(done()).toBe(true);
      expect(b.ep.underLoad(t)).toBe(false);
      t += 5; // 200 initiations per second
    }
    const st = b.ep.stats();
    expect(st.initiationsProcessed).toBe(60);
    expect(st.cookieRepliesSent).toBe(0);
    expect(b.events.filter((e) => e.type === 'established')).toHaveLength(60);
    // forged IK initiations with a valid mac1 (they cannot confirm): under load past the
    // threshold, no DH after
    const forger = new InitiationForger({ random: seededRandom(7), responderKey: b.ep.identity.publicKey });
    for (let i = 0; i < 200; i++)
      b.ep.handle(t + i, { host: `198.51.${i % 10}.1`, port: 1000 + i }, forger.ik());
    collect(t + 200, [b]);
    expect(b.ep.underLoad(t + 200)).toBe(true);
    const forged = b.ep.stats().initiationsProcessed - 60;
    expect(forged).toBeGreaterThan(15);
    expect(forged).toBeLessThanOrEqual(21);
    expect(b.ep.stats().cookieRepliesSent).toBeGreaterThan(0);
  });

  it('under load, a real peer confirming after its cookie round trip takes both of its initiations back', () => {
    const b = side(2, '10.0.0.2', { limits: { loadThreshold: 20 } });
    const forger = new InitiationForger({ random: seededRandom(8), responderKey: b.ep.identity.publicKey });
    for (let i = 0; i < 30; i++) b.ep.handle(i, { host: `198.51.${i % 10}.1`, port: 1000 + i }, forger.ik());
    collect(30, [b]);
    expect(b.ep.underLoad(30)).toBe(true);
    // then only real peers, 40 per second for 3 s: each first gets a cookie reply while b is
    // under load; counted at arrival, both of its initiations leave the measure at confirmation,
    // so the load lapses once the forgeries have left the window (had the peers' initiations
    // stayed counted, 80 per second would keep b under load)
    const cookied: boolean[] = [];
    let t = 100;
    for (let i = 0; i < 120; i++, t += 25) {
      const a = side(200 + i, `10.1.${i % 200}.1`);
      const ca = a.ep.connect(t, { address: b.addr, remoteKey: b.ep.identity.publicKey });
      const before = a.ep.stats().cookieRepliesAccepted;
      run([a, b], t, { stopWhen: () => ca.isEstablished, until: t + 20 });
      expect(ca.isEstablished).toBe(true);
      confirm(t, a, b, ca);
      cookied.push(a.ep.stats().cookieRepliesAccepted > before);
    }
    expect(cookied.slice(0, 20).every((c) => c)).toBe(true);
    // the 30 forgeries leave the weighted window by 1,600 ms or so; the verdict lasts 1 s more
    expect(cookied.slice(-20).some((c) => c)).toBe(false);
    expect(b.ep.underLoad(t)).toBe(false);
    expect(b.events.filter((e) => e.type === 'established')).toHaveLength(120);
  });
});

describe('per-source budgets', () => {
  it('token buckets: a burst, then the rate; buckets are independent and bounded', () => {
    const r = new RateLimiter(20, 3); // burst 5
    let ok = 0;
    for (let i = 0; i < 50; i++) if (r.take(0, 'a')) ok++;
    expect(ok).toBe(5);
    expect(r.peek(0, 'a')).toBe(false);
    expect(r.take(50, 'a')).toBe(true); // 1 token per 50 ms
    expect(r.take(50, 'a')).toBe(false);
    expect(r.take(50, 'b')).toBe(true);
    for (const k of ['c', 'd', 'e']) r.take(50, k); // bounded: 'a' is forgotten
    expect(r.peek(50, 'a')).toBe(true);
  });

  it('buckets refilled by the rate are dropped at the next window; a drained one is kept', () => {
    const r = new RateLimiter(20, 1000); // burst 5, 1 token per 50 ms
    for (let k = 0; k < 100; k++) expect(r.take(0, `k${k}`)).toBe(true);
    for (let i = 0; i < 5; i++) r.take(990, 'drained');
    expect(r.size).toBe(101);
    expect(r.take(1000, 'new')).toBe(true); // the window rolls: the 100 quiet keys are full again
    expect(r.size).toBe(2);
    expect(r.peek(1000, 'drained')).toBe(false); // still counted: its bucket is kept
    expect(r.take(1000, 'k0')).toBe(true); // a dropped key starts with a full burst, as before
    for (let i = 0; i < 4; i++) expect(r.take(1000, 'k0')).toBe(true);
    expect(r.take(1000, 'k0')).toBe(false);
  });

  it('without another take, tick at nextPruneAt drops the refilled buckets; none held: +Inf', () => {
    const r = new RateLimiter(20, 1000); // burst 5, 1 token per 50 ms
    expect(r.nextPruneAt()).toBe(Number.POSITIVE_INFINITY);
    for (let k = 0; k < 100; k++) r.take(10, `k${k}`);
    for (let i = 0; i < 5; i++) r.take(990, 'drained');
    expect(r.nextPruneAt()).toBe(1000);
    r.tick(1000); // the 100 quiet keys are full again; 'drained' is not
    expect(r.size).toBe(1);
    expect(r.nextPruneAt()).toBe(2000);
    r.tick(2000);
    expect(r.size).toBe(0);
    expect(r.nextPruneAt()).toBe(Number.POSITIVE_INFINITY);
    expect(r.take(2000, 'k0')).toBe(true); // a dropped key starts again with its burst
  });

  it('a shared rate is split among the keys asking; a quiet key keeps its burst', () => {
    const r = new RateLimiter(20, 1000, 100, 5); // at most 20/s each, 100/s for all, bursts of 5
    const took = new Map<string, number>();
    for (let t = 0; t < 3000; t += 10) {
      for (let k = 0; k < 50; k++) {
        const key = `k${k}`;
        if (r.take(t, key)) took.set(key, (took.get(key) ?? 0) + 1);
      }
    }
    const total = [...took.values()].reduce((a, b) => a + b, 0);
    // 50 keys x burst 5, then 100/s shared (2/s each) for 3 s: 6 more each, less a fraction
    expect(total).toBeGreaterThanOrEqual(50 * 5 + 250);
    expect(total).toBeLessThanOrEqual(50 * 5 + 300);
    expect(Math.max(...took.values()) - Math.min(...took.values())).toBeLessThanOrEqual(2);
    // a key that never asked gets its burst at once, whatever the others did
    let fresh = 0;
    for (let i = 0; i < 5; i++) if (r.take(3000, 'newcomer')) fresh++;
    expect(fresh).toBe(5);
  });

  it('prefixes: /24 for IPv4 and IPv4-mapped IPv6, /64 for IPv6', () => {
    expect(prefixOf('203.0.113.7')).toBe('203.0.113/24');
    expect(prefixOf('::ffff:203.0.113.9')).toBe('203.0.113/24');
    expect(prefixOf('2001:db8:1:2:3::4')).toBe('20010db800010002/64');
    expect(prefixOf('2001:db8:1:2:3::4')).toBe(prefixOf('2001:db8:1:2::ffff'));
    expect(prefixOf('2001:db8:1:2:3::4')).not.toBe(prefixOf('2001:db8:1:3::4'));
    expect(prefixOf('not-an-ip')).toBe('not-an-ip');
  });

  it('pending table: a full budget evicts its oldest entry; globally, those without a cookie go first', () => {
    const limits = resolveLimits({ maxPending: 6, maxPendingPerAddress: 2, maxPendingPerPrefix: 4 });
    const t = new PendingTable(limits);
    const evicted: number[] = [];
    let n = 0;
    const entry = (address: string, prefix: string, cookie: boolean): PendingEntry => {
      const localIndex = ++n;
      return { localIndex, source: { address, prefix }, cookie, evict: () => evicted.push(localIndex) };
    };
    t.add(entry('x|1', 'x', false)); // 1
    t.add(entry('x|1', 'x', false)); // 2
    t.add(entry('x|1', 'x', false)); // 3: address x|1 full -> its oldest (1) evicted
    expect(evicted).toEqual([1]);
    t.add(entry('x|2', 'x', false)); // 4
    t.add(entry('x|3', 'x', false)); // 5: prefix x holds 2, 3, 4, 5
    expect(evicted).toEqual([1]);
    t.add(entry('x|4', 'x', false)); // 6: prefix x full -> its oldest (2) evicted
    expect(evicted).toEqual([1, 2]);
    t.add(entry('y|1', 'y', true)); // 7
    t.add(entry('y|2', 'y', true)); // 8: total 6 (3, 4, 5, 6 without a cookie; 7, 8 with)
    t.add(entry('z|1', 'z', true)); // 9: total full -> the oldest without a cookie (3)
    expect(evicted).toEqual([1, 2, 3]);
    t.add(entry('z|2', 'z', true)); // 10 -> 4
    t.add(entry('z|3', 'z', true)); // 11 -> 5
    t.add(entry('z|4', 'z', true)); // 12 -> 6: none without a cookie left
    t.add(entry('w|1', 'w', true)); // 13 -> the oldest with one (7)
    expect(evicted).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(t.size).toBe(6);
    expect(t.remove(8)).toBe(true);
    expect(t.remove(8)).toBe(false);
    expect(t.evicted).toBe(7);
  });

  it('limits are validated', () => {
    expect(() => resolveLimits({ maxPending: 0 })).toThrow(RangeError);
    expect(() => resolveLimits({ loadThreshold: -1 })).toThrow(RangeError);
    expect(resolveLimits({ loadThreshold: 0 }).loadThreshold).toBe(0);
    expect(() => resolveLimits({ handshakeCpuShare: 1.5 })).toThrow(RangeError);
    expect(() => resolveLimits({ handshakeCpuShare: 0 })).toThrow(RangeError);
    expect(() => resolveLimits({ minHandshakesPerSecond: 100, maxHandshakesPerSecond: 50 })).toThrow(
      RangeError,
    );
  });
});

describe('the cap of validated handshakes follows their measured cost', () => {
  it('cap = CPU share ÷ cost, within bounds; the first samples replace the assumption', () => {
    const b = new HandshakeBudget(resolveLimits({}));
    expect(b.perSecond()).toBe(200); // nothing measured: 0.5 ÷ 2.5 ms
    for (let i = 0; i < 50; i++) b.record(0.25);
    expect(b.costMs).toBeCloseTo(0.25, 6);
    expect(b.perSecond()).toBeCloseTo(2000, 6);
    for (let i = 0; i < 50; i++) b.record(40); // a busy thread: handshakes take longer
    expect(b.costMs).toBeGreaterThan(39); // a lasting rise comes through, 4× per sample at most
    expect(b.perSecond()).toBeCloseTo(50, 0); // the floor (0.5 ÷ 40 ms = 12.5)
    b.record(Number.NaN);
    b.record(-1);
    expect(b.costMs).toBeGreaterThan(30);
    const fast = new HandshakeBudget(resolveLimits({ maxHandshakesPerSecond: 5000 }));
    for (let i = 0; i < 50; i++) fast.record(0.001);
    expect(fast.perSecond()).toBe(5000);
  });

  it("the driver's event-loop utilisation: a saturated loop halves the cap down to the floor, a calm one restores it", () => {
    const b = new HandshakeBudget(resolveLimits({}));
    for (let i = 0; i < 50; i++) b.record(0.25);
    b.reportUtilization(0.8); // between calm and busy: unchanged
    expect(b.perSecond()).toBeCloseTo(2000, 6);
    b.reportUtilization(0.95);
    expect(b.perSecond()).toBeCloseTo(1000, 6);
    for (let i = 0; i < 10; i++) b.reportUtilization(1);
    expect(b.perSecond()).toBe(50);
    b.reportUtilization(Number.NaN);
    b.reportUtilization(2);
    expect(b.perSecond()).toBe(50);
    for (let i = 0; i < 20; i++) b.reportUtilization(0.3);
    expect(b.perSecond()).toBeCloseTo(2000, 6);
  });

  it('a shared total that changes: each source gets its part of the new total', () => {
    const r = new SourceRate(1000, 20_000, 100);
    const src = (i: number) => ({ address: `a${i}`, prefix: `p${i}` });
    const count = (from: number, to: number) => {
      let n = 0;
      for (let t = from; t < to; t += 1) for (let i = 0; i < 4; i++) if (r.take(t, src(i))) n++;
      return n;
    };
    count(0, 1000); // bursts spent, the sources counted as active
    expect(count(1000, 2000)).toBeLessThanOrEqual(110);
    r.setTotal(2000);
    expect(count(2000, 3000)).toBeGreaterThan(1800);
  });

  it('a responder under a cookie-answering flood answers what the share of its thread buys', () => {
    // 20 sources at 2,000 initiations/s together for 1.5 s; each answered one "costs" `cost` ms
    // on the work clock. Counted over the last 0.5 s (the sources' bursts are spent by then).
    const answered = (cost: number | null) => {
      let w = 0;
      const b = side(2, '10.0.0.2', {
        backend: cheapDh(),
        limits: { loadThreshold: 10, handshakesPerAddress: 1000 },
        ...(cost === null ? {} : { workClock: () => (w += cost) }),
      });
      const forger = new InitiationForger({ random: seededRandom(6) });
      const jars = Array.from({ length: 20 }, () => new CookieJar());
      let before = 0;
      for (let i = 0; i < 3000; i++) {
        const t = i * 0.5;
        if (t === 1000) before = b.ep.stats().initiationsProcessed;
        const jar = jars[i % 20] as CookieJar;
        const init = jar.sign(forger.xx());
        b.ep.handle(t, { host: `198.18.${i % 20}.1`, port: 7 }, init);
        for (const x of collect(t, [b])) if (x.data[0] === 0x84) jar.take(init, x.data);
      }
      return { n: b.ep.stats().initiationsProcessed - before, st: b.ep.stats() };
    };
    const fixed = answered(null); // no clock: the assumed 2.5 ms, 200/s
    expect(fixed.st.handshakesPerSecondUnderLoad).toBe(200);
    expect(fixed.n).toBeGreaterThan(80);
    expect(fixed.n).toBeLessThanOrEqual(110);
    const cheap = answered(0.5); // 1,000/s
    expect(cheap.st.handshakeCostMs).toBeCloseTo(0.5, 6);
    expect(cheap.n).toBeGreaterThan(400);
    expect(cheap.n).toBeLessThanOrEqual(520);
    const dear = answered(10); // 0.5 ÷ 10 ms = 50/s (the floor)
    expect(dear.n).toBeLessThanOrEqual(30);
  });
});

describe('a responder under a flood', () => {
  it('forged IK initiations with a valid mac1: past the threshold no DH, cookie replies bounded per source', () => {
    const backend = counting();
    const b = side(2, '10.0.0.2', { backend, limits: { loadThreshold: 20 } });
    const forger = new InitiationForger({ random: seededRandom(3), responderKey: b.ep.identity.publicKey });
    let replies = 0;
    for (let i = 0; i < 2000; i++) {
      const from = { host: `198.51.${i % 10}.1`, port: 1000 + (i % 10) };
      b.ep.handle(i * 0.5, from, forger.ik()); // 2000/s for 1 s from 10 sources
      replies += collect(i * 0.5, [b]).length;
    }
    const st = b.ep.stats();
    // one DH (es) per forgery processed before the responder went under load, none after
    expect(st.initiationsProcessed).toBeLessThanOrEqual(21);
    expect(backend.dh).toBe(st.initiationsProcessed);
    expect(st.dropped.handshake_failed).toBe(st.initiationsProcessed);
    expect(st.cookieRepliesSent).toBe(replies);
    // per source: a burst of 3, then 10/s for ~1 s
    expect(replies).toBeLessThanOrEqual(10 * (3 + 11));
    expect(st.dropped.rate_limited).toBeGreaterThan(1500);
    expect(b.ep.underLoad(999)).toBe(true);
  });

  it("a responder that went quiet lets go of its sources' rate buckets on its own timer", () => {
    const b = side(2, '10.0.0.2', { limits: { loadThreshold: 0 } }); // under load: cookies first
    const forger = new InitiationForger({ random: seededRandom(5), responderKey: b.ep.identity.publicKey });
    for (let i = 0; i < 50; i++) b.ep.handle(i, { host: `198.51.${i}.1`, port: 1000 + i }, forger.ik());
    expect(collect(50, [b])).toHaveLength(50);
    expect(b.ep.stats().cookieRepliesSent).toBe(50);
    // no half-open handshake and no channel: only the cookie budget's buckets of 50 sources,
    // and the 50 cookie replies the load measure remembers (until they leave its horizon)
    let now = 50;
    let steps = 0;
    for (let t = b.ep.pollTimeout(); t !== null && steps < 100; t = b.ep.pollTimeout(), steps++) {
      expect(t).toBeGreaterThan(now);
      now = t;
      b.ep.handleTimeout(now);
    }
    expect(b.ep.pollTimeout()).toBeNull(); // every bucket dropped: nothing left to wake for
    expect(steps).toBeGreaterThan(0);
    expect(now).toBeLessThanOrEqual(10_000);
    b.ep.handle(now, { host: '198.51.0.1', port: 1000 }, forger.ik()); // a source that comes back is served
    expect(b.ep.stats().cookieRepliesSent).toBe(51);
  });

  it('cookie replies to one prefix follow the handshake cap when it is above cookieRepliesPerPrefix', () => {
    // 1,000 new addresses of one /24 in 1 s (P4's clients on one host): each needs a cookie before
    // its handshake, so a prefix held to 200 cookie replies/s could never reach a cap of 1,000/s
    const cap = (handshakeCostMs: number) => {
      const b = side(2, '10.0.0.2', { backend: cheapDh(), limits: { loadThreshold: 0, handshakeCostMs } });
      const forger = new InitiationForger({ random: seededRandom(5), responderKey: b.ep.identity.publicKey });
      for (let i = 0; i < 1000; i++) b.ep.handle(i, { host: '198.51.100.7', port: 2000 + i }, forger.ik());
      return b.ep.stats().cookieRepliesSent;
    };
    // cap 0.5 / 0.5 ms = 1,000/s: one reply per address (the prefix's burst of 50 and its rate)
    expect(cap(0.5)).toBeGreaterThanOrEqual(950);
    // cap 0.5 / 5 ms = 100/s: the configured 200/s per prefix (burst 50) stays the floor
    const low = cap(5);
    expect(low).toBeGreaterThanOrEqual(200);
    expect(low).toBeLessThanOrEqual(260);
  });

  it('a real initiator gets in during the flood: cookie reply, retry with mac2, handshake, confirmation', () => {
    const b = side(2, '10.0.0.2', { limits: { loadThreshold: 20 } });
    const a = side(1, '10.0.0.1');
    const forger = new InitiationForger({ random: seededRandom(4), responderKey: b.ep.identity.publicKey });
    for (let i = 0; i < 200; i++) b.ep.handle(i, { host: '198.51.100.1', port: i }, forger.junk());
    for (let i = 0; i < 200; i++) b.ep.handle(200 + i, { host: '198.51.100.2', port: i }, forger.ik());
    collect(400, [b]);
    expect(b.ep.underLoad(400)).toBe(true);
    const ca = a.ep.connect(400, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b], 400, { stopWhen: () => ca.isEstablished, until: 2000 });
    expect(ca.isEstablished).toBe(true);
    expect(a.ep.stats().cookieRepliesAccepted).toBe(1);
    confirm(401, a, b, ca);
    expect(b.events.map((e) => e.type)).toEqual(['established']);
    expect(b.ep.stats().dropped.bad_mac1).toBeGreaterThan(0);
  });

  it('cookie-answering half-open XX floods: per-address and per-prefix budgets, oldest evicted, real peer admitted', () => {
    const b = side(2, '10.0.0.2', {
      limits: { loadThreshold: 10, maxPending: 40, maxPendingPerAddress: 2, maxPendingPerPrefix: 8 },
    });
    const forger = new InitiationForger({ random: seededRandom(5) });
    const jars = new Map<string, CookieJar>();
    const sources = Array.from({ length: 50 }, (_, i) => ({ host: `198.18.${i % 10}.${i}`, port: 7 }));
    let t = 0;
    for (let round = 0; round < 6; round++) {
      for (const from of sources) {
        t += 2;
        const key = from.host;
        let jar = jars.get(key);
        if (!jar) {
          jar = new CookieJar();
          jars.set(key, jar);
        }
        const init = jar.sign(forger.xx());
        b.ep.handle(t, from, init);
        for (const w of collect(t, [b])) if (w.data[0] === 0x84) jar.take(init, w.data);
      }
    }
    const st = b.ep.stats();
    expect(st.cookieRepliesSent).toBeGreaterThan(0);
    expect(st.initiationsProcessed).toBeGreaterThan(40); // the attacker did get half-open states
    expect(b.ep.pendingHandshakes()).toBeLessThanOrEqual(40);
    expect(st.pendingEvicted).toBeGreaterThan(0);
    // a real XX peer from another prefix completes at once
    const a = side(1, '10.0.0.1');
    const ca = a.ep.connect(t, { address: b.addr });
    run([a, b], t, { stopWhen: () => ca.isEstablished && b.events.length > 0, until: t + 2000 });
    expect(ca.isEstablished).toBe(true);
    expect(b.events.map((e) => e.type)).toEqual(['established']);
  });

  it('an initiator whose unconfirmed responder session was evicted handshakes again and gets through', () => {
    const timing = { handshakeTimeoutMs: 4000 };
    const b = side(2, '10.0.0.2', { limits: { maxPending: 1 }, timing });
    const a = side(1, '10.0.0.1', { timing });
    const c = side(3, '10.0.0.3', { timing });
    const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b], 0, { stopWhen: () => ca.isEstablished });
    // another initiation fills the budget before A's first packet arrives: A's session is evicted
    const cc = c.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([c, b], 0, { stopWhen: () => cc.isEstablished });
    expect(b.ep.stats().pendingEvicted).toBe(1);
    expect(b.ep.handle(1, a.addr, ca.seal(0, new Uint8Array(0)))).toEqual({
      type: 'dropped',
      reason: 'unknown_index',
    });
    // nothing comes back under A's keys: half a handshake timeout later A handshakes again
    const t = run([a, b], 1, { stopWhen: () => a.events.length > 1, until: 10_000 });
    expect(t).toBeGreaterThanOrEqual(2000);
    expect(t).toBeLessThan(2500);
    expect(a.events.map((e) => e.type)).toEqual(['established', 'rekeyed']);
    confirm(t, a, b, ca, 1);
    expect(b.events.map((e) => e.type)).toEqual(['established']);
  });

  it('a low-order ephemeral key in XX message 1 is a failed handshake, not an internal error', () => {
    const b = side(2, '10.0.0.2');
    const forger = new InitiationForger({ random: (n) => new Uint8Array(n) });
    const init = forger.xx(); // ephemeral key all zero: the DH of message 2 gives zero
    expect(b.ep.handle(0, { host: '192.0.2.1', port: 1 }, init)).toEqual({
      type: 'dropped',
      reason: 'handshake_failed',
    });
    expect(b.ep.stats().dropped.internal_error).toBe(0);
    expect(b.ep.pendingHandshakes()).toBe(0);
  });
});
