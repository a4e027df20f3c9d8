import { ReliableConnection } from '@srmudp/reliability';
import { Rng } from '@srmudp/sim';
import { type Address, decodeFrames, type Frame } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import type { PathChangeReason, PathInfo } from '../src/api.js';
import { GRACE_MS, PATH_LOST_PTOS, PathSet, SAME_TIER_RTT_GAIN_MS, UPGRADE_RETRY_MS } from '../src/paths.js';
import { relayRoute } from '../src/relays.js';
import { routeOf } from '../src/route.js';

const V4: Address = { host: '10.0.0.2', port: 4433 };
const V4B: Address = { host: '10.0.9.2', port: 4433 };
const V6: Address = { host: '2001:db8::2', port: 4433 };
const V6B: Address = { host: '2001:db8::3', port: 4433 };
const PEER_GONE_GRACE = 5000;
/** relayed routes through two relays */
const R1 = relayRoute(new Uint8Array(32).fill(1), 0x4001);
const R2 = relayRoute(new Uint8Array(32).fill(2), 0x4002);

/**
 * One side of a connection with a PathSet over a real (sans-IO) ReliableConnection, on a fake
 * clock: what the paths decide is recorded; probe packets are built and decoded like core does.
 */
class Side {
  now = 0;
  readonly rel = new ReliableConnection({ role: 'initiator', now: 0, overhead: 29 });
  readonly changes: { path: PathInfo; reason: PathChangeReason }[] = [];
  readonly lost: PathInfo[] = [];
  readonly drops: string[] = [];
  /** when the peer-gone wait ran out (PathsHost.onPeerGone) */
  readonly gone: number[] = [];
  readonly paths: PathSet;

  constructor(first: Address, seed = 'paths') {
    const rng = new Rng(seed);
    this.paths = new PathSet(
      {
        rel: this.rel,
        random: (n) => rng.bytes(n),
        onChanged: (path, reason) => this.changes.push({ path, reason }),
        onLost: (path) => this.lost.push(path),
        drop: (reason) => this.drops.push(reason),
        peerGoneGraceMs: PEER_GONE_GRACE,
        onPeerGone: (now) => this.gone.push(now),
      },
      routeOf(first),
      this.rel.activePath,
    );
  }

  /** Advances the clock to `t`, running the paths' timers on the way. */
  at(t: number): void {
    for (let i = 0; i < 1000; i++) {
      const next = this.paths.nextTimeout();
      if (next > t) break;
      this.now = Math.max(this.now, next);
      this.paths.handleTimeout(this.now);
    }
    this.now = Math.max(this.now, t);
  }

  /** Every probe packet due now: [destination, frames] after building and decoding it. */
  probes(): { to: Address; frames: Frame[]; size: number }[] {
    const out: { to: Address; frames: Frame[]; size: number }[] = [];
    for (let p = this.paths.pollProbe(); p !== null; p = this.paths.pollProbe()) {
      const t = this.rel.buildProbe(this.now, p.path.transport, p.frames, p.budget);
      if (t === null) continue;
      expect(t.path).toBe(p.path.transport); // the packet says where it goes
      p.path.onSent(t.datagramSize);
      out.push({ to: p.path.route.address, frames: decodeFrames(t.payload), size: t.datagramSize });
    }
    return out;
  }

  /** A packet of `kind` from `from` (pn newest or not): what core does around reliability. */
  receive(from: Address, kind: 'probing' | 'non_probing', bytes = 1200, newest = true): void {
    const path = this.paths.arrived(this.now, from, bytes);
    this.paths.afterPacket(this.now, path, kind, newest);
  }

  /** The peer answers a challenge. */
  respond(challenge: Frame): void {
    if (challenge.type !== 'path_challenge') throw new TypeError('not a challenge');
    this.paths.onResponse(this.now, challenge.data);
  }
}

function challengeOf(probes: { frames: Frame[] }[]): Frame {
  const f = probes.flatMap((p) => p.frames).find((x) => x.type === 'path_challenge');
  if (f === undefined) throw new Error('no challenge sent');
  return f;
}

describe('PathSet: validation and migration (RFC 9000 §8-§9)', () => {
  it('a non-probing packet from a new address is validated before the connection moves; streams stay', () => {
    const s = new Side(V4);
    s.receive(V4B, 'non_probing', 60);
    const probes = s.probes();
    expect(probes).toHaveLength(1);
    expect(probes[0]?.to).toEqual(V4B);
    expect(probes[0]?.frames.map((f) => f.type)).toEqual(['path_challenge']);
    expect(s.paths.info).toEqual({ kind: 'direct', address: V4 }); // not moved before the answer
    const before = s.rel.activePath;
    s.now = 20;
    s.respond(challengeOf(probes));
    expect(s.changes).toEqual([{ path: { kind: 'direct', address: V4B }, reason: 'migration' }]);
    expect(s.rel.activePath).not.toBe(before); // RFC 9000 §9.4: fresh RTT and congestion state
    expect(s.rel.activePath.rtt.hasSample).toBe(false);
  });

  it('a probing packet (challenge only) from a new address is answered there, and is no migration', () => {
    const s = new Side(V4);
    const path = s.paths.arrived(0, V6, 60);
    s.paths.onChallenge(path, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    s.paths.afterPacket(0, path, 'probing', true);
    const probes = s.probes();
    expect(probes).toEqual([
      {
        to: V6,
        frames: [{ type: 'path_response', data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }],
        size: expect.any(Number),
      },
    ]);
    s.at(60_000);
    expect(s.changes).toEqual([]);
  });

  it('an old reordered packet from another address starts nothing', () => {
    const s = new Side(V4);
    s.receive(V4B, 'non_probing', 1200, false);
    expect(s.probes()).toEqual([]);
  });

  it('anti-amplification: nothing goes to an unvalidated address beyond 3x what it sent (RFC 9000 §8.1)', () => {
    const s = new Side(V4);
    s.receive(V4B, 'non_probing', 20); // 60 bytes of budget: below one probe
    expect(s.probes()).toEqual([]);
    s.receive(V4B, 'non_probing', 20, false); // 120 bytes now
    const [p] = s.probes();
    expect(p?.size).toBeLessThanOrEqual(120);
    let sent = p?.size ?? 0;
    for (let t = 0; t < 20_000; t += 100) {
      s.at(t);
      for (const q of s.probes()) sent += q.size;
    }
    expect(sent).toBeLessThanOrEqual(120);
  });

  it('a challenge is retried with backoff, 5 tries, then the route is given up and we stay', () => {
    const s = new Side(V4);
    s.receive(V4B, 'non_probing', 1200);
    const sends: number[] = [];
    for (let t = 0; t <= 120_000; t += 10) {
      s.at(t);
      if (s.probes().length > 0) sends.push(s.now);
    }
    expect(sends).toHaveLength(5);
    for (let i = 2; i < sends.length; i++) {
      expect((sends[i] as number) - (sends[i - 1] as number)).toBeGreaterThan(
        1.9 * ((sends[i - 1] as number) - (sends[i - 2] as number)),
      );
    }
    expect(s.drops).toContain('path_validation_failed');
    expect(s.paths.info).toEqual({ kind: 'direct', address: V4 });
  });

  it('a response that answers no challenge is dropped and counted', () => {
    const s = new Side(V4);
    s.paths.onResponse(0, new Uint8Array(8));
    expect(s.drops).toEqual(['path_response_unexpected']);
  });
});

describe('PathSet: upgrades (direct IPv6 > direct IPv4 > relayed)', () => {
  it('established on IPv4 while the peer has an IPv6 candidate: probe it, move once validated', () => {
    const s = new Side(V4);
    s.paths.considerUpgrades(0, [V4, V6]);
    const probes = s.probes();
    expect(probes.map((p) => p.to)).toEqual([V6]);
    s.now = 15;
    s.respond(challengeOf(probes));
    expect(s.changes).toEqual([{ path: { kind: 'direct', address: V6 }, reason: 'upgrade' }]);
  });

  it('never probes down or sideways by choice', () => {
    const s = new Side(V6);
    s.paths.considerUpgrades(0, [V4, V4B, V6B]);
    expect(s.probes()).toEqual([]);
  });

  it('within a tier, a validated path takes over only for a round trip at least 5 ms better', () => {
    for (const [activeRtt, moves] of [
      [40, false], // 36 + 5 > 40: not clearly better
      [50, true], // 36 + 5 <= 50
    ] as const) {
      const s = new Side(V4, `paths-${activeRtt}`);
      s.paths.considerUpgrades(0, [V6, V6B]);
      const [p1, p2] = s.probes();
      s.now = 10;
      s.respond(challengeOf([p1 as { frames: Frame[] }])); // the tier upgrade: at once
      expect(s.paths.info.address).toEqual(V6);
      s.rel.seedRtt(activeRtt); // the active IPv6 path measures this round trip
      s.now = 36; // V6B's challenge (sent at 0) is answered: a 36 ms round trip
      s.respond(challengeOf([p2 as { frames: Frame[] }]));
      expect(s.changes.map((c) => [c.path.address, c.reason])).toEqual(
        moves
          ? [
              [V6, 'upgrade'],
              [V6B, 'upgrade'],
            ]
          : [[V6, 'upgrade']],
      );
    }
    expect(SAME_TIER_RTT_GAIN_MS).toBe(5);
  });

  it('a candidate that never answered is probed again after a minute', () => {
    const s = new Side(V4);
    s.paths.considerUpgrades(0, [V6]);
    expect(s.probes()).toHaveLength(1);
    let count = 0;
    let last = 0;
    for (let t = 0; t <= 2 * UPGRADE_RETRY_MS + 1000; t += 50) {
      s.at(t);
      const n = s.probes().length;
      if (n > 0) last = s.now;
      count += n;
    }
    // the 4 retries of the first round, then a new round once the first gave up and a minute passed
    expect(count).toBeGreaterThanOrEqual(5);
    expect(last).toBeGreaterThan(UPGRADE_RETRY_MS);
    expect(s.changes).toEqual([]);
  });
});

describe('PathSet: a redial restarts a validation in backoff', () => {
  it('dialled again (UDP back, a punch opened the far NAT): a challenge in its backoff starts over at once', () => {
    const s = new Side(V4);
    s.paths.considerUpgrades(0, [V6]);
    expect(s.probes()).toHaveLength(1);
    // the second try goes out; the third is due only after a longer backoff
    let t = 0;
    let tries = 1;
    for (; t <= 10_000 && tries < 2; t += 10) {
      s.at(t);
      tries += s.probes().length;
    }
    expect(tries).toBe(2);
    const now = s.now + 20;
    s.at(now);
    expect(s.probes()).toEqual([]); // waiting for the third try
    // the same candidates again without a redial: nothing new
    s.paths.considerUpgrades(now, [V6]);
    expect(s.probes()).toEqual([]);
    // a redial naming it: a fresh challenge now, which answered moves the connection
    s.paths.considerUpgrades(now, [V6], [V6]);
    const again = s.probes();
    expect(again.map((p) => p.to)).toEqual([V6]);
    s.now = now + 15;
    s.respond(challengeOf(again));
    expect(s.changes).toEqual([{ path: { kind: 'direct', address: V6 }, reason: 'upgrade' }]);
  });

  it('a redial does not restart a challenge in its first tries (no restart loop)', () => {
    const s = new Side(V4);
    s.paths.considerUpgrades(0, [V6], [V6]);
    expect(s.probes()).toHaveLength(1);
    s.at(5);
    s.paths.considerUpgrades(5, [V6], [V6]);
    expect(s.probes()).toEqual([]);
  });
});

describe('PathSet: loss of the active path and fallback', () => {
  /** Makes the active path lose `n` consecutive PTOs (packets sent, nothing acknowledged). */
  function silence(s: Side, n: number): void {
    s.rel.queueFrame({ type: 'ping' });
    s.rel.pollTransmit(s.now);
    const lost = s.lost.length;
    for (let i = 0; i < 100 && s.rel.ptoCount < n && s.lost.length === lost; i++) {
      const t = s.rel.pollTimeout();
      if (t === null) break;
      s.now = Math.max(s.now, t);
      s.rel.handleTimeout(s.now);
      for (let x = s.rel.pollTransmit(s.now); x !== null; x = s.rel.pollTransmit(s.now));
      s.paths.handleTimeout(s.now);
    }
  }

  it(`after ${PATH_LOST_PTOS} probe timeouts the active path is lost: path_lost once, then fallback to the warm path`, () => {
    const s = new Side(V4);
    s.paths.considerUpgrades(0, [V6]);
    s.now = 10;
    s.respond(challengeOf(s.probes()));
    expect(s.paths.info.address).toEqual(V6);
    silence(s, PATH_LOST_PTOS);
    expect(s.lost).toEqual([{ kind: 'direct', address: V6 }]);
    expect(s.changes.map((c) => c.reason)).toEqual(['upgrade', 'fallback']);
    expect(s.paths.info.address).toEqual(V4);
  });

  it('without a warm path the loss is only reported; after the grace period the old path is gone', () => {
    const s = new Side(V4);
    s.paths.considerUpgrades(0, [V6]);
    s.now = 10;
    s.respond(challengeOf(s.probes()));
    s.at(10 + GRACE_MS + 1); // the IPv4 path is no longer warm
    silence(s, PATH_LOST_PTOS);
    expect(s.lost).toHaveLength(1);
    expect(s.changes.map((c) => c.reason)).toEqual(['upgrade']);
  });

  it('the peer still sending on the lower tier we left is no migration; once our path is lost it is followed', () => {
    const s = new Side(V4);
    s.paths.considerUpgrades(0, [V6]);
    s.now = 10;
    s.respond(challengeOf(s.probes()));
    s.receive(V4, 'non_probing'); // the peer has not moved to IPv6 yet
    expect(s.paths.info.address).toEqual(V6);
    s.paths.onSendError(20, V6, true);
    s.paths.onSendError(20, V6, true); // our IPv6 path is dead: lost, and the warm IPv4 path takes over
    expect(s.changes.map((c) => c.reason)).toEqual(['upgrade', 'fallback']);
    expect(s.paths.info.address).toEqual(V4);
  });

  it('unreachable send errors on the active path make it lost', () => {
    const s = new Side(V4);
    s.paths.onSendError(0, V4, true);
    expect(s.lost).toEqual([]);
    s.paths.onSendError(0, V4, true);
    expect(s.lost).toEqual([{ kind: 'direct', address: V4 }]);
    s.paths.onSendError(0, V4, true);
    expect(s.lost).toHaveLength(1); // once per episode
  });
});

describe('PathSet: a relay reports the peer gone (CLOSE peer_gone)', () => {
  it('relay-only: the connection waits the grace period for the peer, then ends (once)', () => {
    const s = new Side(R1);
    s.now = 100;
    s.paths.routeClosed(100, R1, true);
    expect(s.lost).toEqual([expect.objectContaining({ kind: 'relayed', channel: 0x4001 })]);
    s.at(100 + PEER_GONE_GRACE - 1);
    expect(s.gone).toEqual([]);
    s.at(100 + PEER_GONE_GRACE);
    expect(s.gone).toEqual([100 + PEER_GONE_GRACE]);
    s.at(100 + 3 * PEER_GONE_GRACE);
    expect(s.gone).toHaveLength(1);
  });

  it('any authenticated packet of the peer (here on a new circuit) cancels the wait', () => {
    const s = new Side(R1);
    s.paths.routeClosed(0, R1, true);
    s.at(1000);
    s.receive(R2, 'non_probing');
    s.at(3 * PEER_GONE_GRACE);
    expect(s.gone).toEqual([]);
  });

  it('a new circuit bound to the peer (a standby route) cancels the wait', () => {
    const s = new Side(R1);
    s.paths.routeClosed(0, R1, true);
    s.at(1000);
    s.paths.addStandby(1000, routeOf(R2));
    s.at(3 * PEER_GONE_GRACE);
    expect(s.gone).toEqual([]);
  });

  it('another live path: the closed route is dropped (a fallback when it was active), no wait', () => {
    const s = new Side(R1);
    // a validated standby circuit through a second relay
    s.paths.addStandby(0, routeOf(R2));
    s.now = 10;
    s.respond(challengeOf(s.probes()));
    expect(s.paths.info.address).toEqual(R1);
    s.paths.routeClosed(20, R1, true);
    expect(s.changes.map((c) => c.reason)).toEqual(['fallback']);
    expect(s.paths.info.address).toEqual(R2);
    expect(s.paths.all().map((p) => p.route.address)).toEqual([R2]);
    s.at(3 * PEER_GONE_GRACE);
    expect(s.gone).toEqual([]);
  });

  it('a direct active path: a standby circuit whose peer is gone is only dropped', () => {
    const s = new Side(V4);
    s.paths.addStandby(0, routeOf(R1));
    s.paths.routeClosed(10, R1, true);
    expect(s.paths.all().map((p) => p.route.address)).toEqual([V4]);
    expect(s.lost).toEqual([]);
    s.at(3 * PEER_GONE_GRACE);
    expect(s.gone).toEqual([]);
  });

  it('a circuit closed for another reason (our hop went down) starts no wait', () => {
    const s = new Side(R1);
    s.paths.routeClosed(0, R1, false);
    expect(s.lost).toHaveLength(1);
    s.at(3 * PEER_GONE_GRACE);
    expect(s.gone).toEqual([]);
  });
});
