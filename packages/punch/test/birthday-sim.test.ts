import { natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { birthdayHitProbability } from '../src/index.js';
import { dialBoth, gatherBoth, SERVERS, twoHosts } from './topology.js';

const SEEDS = Number(process.env.PUNCH_BIRTHDAY_SEEDS ?? 20);

function plan(h: ReturnType<typeof twoHosts>['a'], peer: ReturnType<typeof twoHosts>['a']) {
  return h.session.judge(peer.card()).plan;
}

describe('birthday strategy in sim: EIM/APDF x symmetric (both roles, simulated socket pool)', () => {
  it(`two STUN servers: connects in >= 95% of ${SEEDS} seeded runs within 30 s, bounded in packets`, () => {
    let ok = 0;
    const failures: string[] = [];
    const times: number[] = [];
    for (let seed = 100; seed < 100 + SEEDS; seed++) {
      const t = twoHosts(seed, { nat: natPresets.portRestrictedCone }, { nat: natPresets.symmetric });
      gatherBoth(t);
      t.net.runFor(8000); // filtering tests
      const { a, b } = t;
      expect(a.session.status().nat).toMatchObject({
        mapping: 'consistent',
        filtering: 'address-and-port-dependent',
      });
      expect(b.session.status().nat?.mapping).toBe('random');
      expect(plan(a, b)).toEqual({ kind: 'birthday', sockets: false, prober: true, start: 'now' });
      expect(plan(b, a)).toEqual({ kind: 'birthday', sockets: true, prober: false, start: 'fallback' });
      const t0 = t.net.now;
      dialBoth(t, 35_000);
      // bounded: at most maxProbes random-port probes, one send per pool socket per round
      expect(a.session.stats().probesSent).toBeLessThanOrEqual(2500);
      expect(b.session.stats().poolSends).toBeLessThanOrEqual(256 * 4);
      expect(b.socketsAsked).toBe(256);
      const da = a.dials.get('b')!;
      const db = b.dials.get('a')!;
      if (da.state === 'connected' && db.state === 'connected') {
        ok++;
        times.push(Math.max(da.endedAt!, db.endedAt!) - t0);
        // the random side runs the connection over the pool socket that was hit, keeps only it
        expect(b.pool.size).toBe(1);
        const [id] = [...b.pool.keys()];
        expect(b.session.route(db.remote!)).toBe(id);
        // the consistent side found the port by its probe (a peer-reflexive address, not in the card)
        expect(b.card().some((c) => c.host === da.remote!.host && c.port === da.remote!.port)).toBe(false);
        expect(a.session.stats().probeHits).toBe(1);
      } else {
        failures.push(`seed ${seed}: a=${da.state}/${da.code} b=${db.state}/${db.code}`);
        // a failed birthday says what it tried
        expect(da.code ?? db.code).toBe('PUNCH_TIMEOUT');
        expect(b.pool.size).toBe(0); // every socket given back
      }
    }
    expect(ok, failures.join('; ')).toBeGreaterThanOrEqual(Math.ceil(SEEDS * 0.95));
    for (const x of times) expect(x).toBeLessThanOrEqual(30_000);
  });

  it('one RFC 5780 server (OTHER-ADDRESS, CHANGE-REQUEST) classifies both sides: the birthday starts at once', () => {
    const t = twoHosts(
      'one-5780',
      { nat: natPresets.portRestrictedCone },
      { nat: natPresets.symmetric },
      { servers: SERVERS.rfc5780 },
    );
    gatherBoth(t);
    t.net.runFor(8000);
    const { a, b } = t;
    expect(a.session.status().nat).toMatchObject({
      mapping: 'consistent',
      filtering: 'address-and-port-dependent',
    });
    expect(b.session.status().nat?.mapping).toBe('random');
    expect(plan(a, b)).toMatchObject({ prober: true, start: 'now' });
    dialBoth(t);
    expect(a.dials.get('b')!.state).toBe('connected');
    expect(b.dials.get('a')!.state).toBe('connected');
  });

  it('one plain server: both mappings unknown, so each side plays both roles once the plain dial failed', () => {
    let ok = 0;
    const n = 10;
    for (let seed = 300; seed < 300 + n; seed++) {
      const t = twoHosts(
        seed,
        { nat: natPresets.portRestrictedCone },
        { nat: natPresets.symmetric },
        { servers: SERVERS.plain },
      );
      gatherBoth(t);
      const { a, b } = t;
      expect(a.session.status().nat?.mapping).toBe('unknown');
      expect(b.session.status().nat?.mapping).toBe('unknown');
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        expect(plan(x, y)).toEqual({ kind: 'birthday', sockets: true, prober: true, start: 'last_resort' });
      }
      const t0 = t.net.now;
      dialBoth(t, 35_000);
      const da = a.dials.get('b')!;
      const db = b.dials.get('a')!;
      // nothing but plain punching during core's first handshake attempt (10 s)
      const firstOpen = Math.min(
        ...[a, b].map((h) => h.event('open_sockets')[0]?.at ?? Number.POSITIVE_INFINITY),
      );
      expect(firstOpen - t0).toBeGreaterThanOrEqual(10_000);
      expect(a.socketsAsked).toBe(256);
      expect(b.socketsAsked).toBe(256);
      if (da.state === 'connected' && db.state === 'connected') {
        ok++;
        expect(Math.max(da.endedAt!, db.endedAt!) - t0).toBeLessThanOrEqual(30_000);
        expect(da.retries).toBeGreaterThanOrEqual(1);
      }
    }
    // 20 s of probing at 100/s (2000 probes, 256 sockets): P(miss) = 0.04 % per run
    expect(ok).toBeGreaterThanOrEqual(n - 1);
  });

  it('a last-resort birthday against an absent peer fails PUNCH_TIMEOUT and is not repeated within the cooldown', () => {
    const t = twoHosts(
      'absent',
      { nat: natPresets.portRestrictedCone },
      { nat: natPresets.symmetric },
      {
        servers: SERVERS.plain,
      },
    );
    gatherBoth(t);
    const { a, net } = t;
    net.removeHost('b'); // the card stays, the peer is gone
    a.connect(net.now, 'b');
    net.drive({ until: () => a.dials.get('b')!.state !== 'dialing', maxTimeMs: 40_000 });
    expect(a.dials.get('b')).toMatchObject({ state: 'failed', code: 'PUNCH_TIMEOUT' });
    expect(a.socketsAsked).toBe(256);
    expect(a.pool.size).toBe(0);
    const probes = a.session.stats().probesSent;
    expect(probes).toBeGreaterThan(1000);
    expect(probes).toBeLessThanOrEqual(2500);
    // redial a minute later: plain only (HANDSHAKE_TIMEOUT after 10 s), no sockets, no probes
    net.runFor(60_000);
    a.connect(net.now, 'b');
    net.drive({ until: () => a.dials.get('b')!.state !== 'dialing', maxTimeMs: 40_000 });
    expect(a.dials.get('b')).toMatchObject({ state: 'failed', code: 'HANDSHAKE_TIMEOUT' });
    expect(a.socketsAsked).toBe(256);
    expect(a.session.stats().probesSent).toBe(probes);
    // after the cooldown (10 min) it is tried again
    net.runFor(600_000);
    a.connect(net.now, 'b');
    net.drive({ until: () => a.dials.get('b')!.state !== 'dialing', maxTimeMs: 40_000 });
    expect(a.dials.get('b')).toMatchObject({ state: 'failed', code: 'PUNCH_TIMEOUT' });
    expect(a.socketsAsked).toBe(512);
  });

  it('the documented probabilities hold', () => {
    expect(birthdayHitProbability(256, 1000)).toBeCloseTo(0.981, 2);
    expect(birthdayHitProbability(256, 2000)).toBeGreaterThan(0.9995);
    expect(birthdayHitProbability(256, 2500)).toBeGreaterThan(0.99995);
  });
});
