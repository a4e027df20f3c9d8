import { Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import {
  type Candidate,
  inferMapping,
  makeCandidate,
  type Probe,
  type PunchEvent,
  Puncher,
  type PuncherConfig,
} from '../src/index.js';
import { rngRandom } from './harness.js';

const hostL = makeCandidate('host', { host: '192.168.1.10', port: 5000 });
const srflxL = makeCandidate('srflx', { host: '203.0.113.10', port: 5000 }, 0, hostL.address);
const hostR = makeCandidate('host', { host: '192.168.1.20', port: 5000 });
const srflxR = makeCandidate('srflx', { host: '198.51.100.20', port: 5000 });
const host6L = makeCandidate('host', { host: '2001:db8::10', port: 5000 });
const host6R = makeCandidate('host', { host: '2001:db8::20', port: 5000 });

function make(over: Partial<PuncherConfig> = {}): { p: Puncher; probes: Probe[] } {
  const probes: Probe[] = [];
  const p = new Puncher({
    random: rngRandom(new Rng(1)),
    controlling: true,
    localCandidates: [hostL, srflxL, host6L],
    remoteCandidates: [srflxR, hostR, host6R],
    probeFactory: (probe) => {
      probes.push(probe);
      return new Uint8Array([probes.length & 0xff]);
    },
    ...over,
  });
  return { p, probes };
}

function events(p: Puncher): PunchEvent[] {
  const out: PunchEvent[] = [];
  for (let e = p.pollEvent(); e !== null; e = p.pollEvent()) out.push(e);
  return out;
}

/** Runs the puncher alone until `until` ms, collecting transmit times. */
function run(p: Puncher, from: number, until: number): { at: number; to: string }[] {
  const sent: { at: number; to: string }[] = [];
  let now = from;
  let sameTime = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    for (let t = p.pollTransmit(now); t !== null; t = p.pollTransmit(now))
      sent.push({ at: now, to: `${t.to.host}:${t.to.port}` });
    const next = p.pollTimeout();
    if (next === null || next > until) break;
    // a timer that never moves forward would spin the driver loop
    sameTime = next <= now ? sameTime + 1 : 0;
    if (sameTime > 10) throw new Error(`busy timer at ${now} (state ${p.state})`);
    now = Math.max(now, next);
    p.handleTimeout(now);
  }
  return sent;
}

describe('Puncher', () => {
  it('pairs same-family candidates only, host pairs first, pruned to one pair per (socket, remote)', () => {
    const { p } = make();
    p.start(0);
    const pairs = p.pairs();
    expect(pairs.map((x) => x.remote.address.host)).toEqual([
      '2001:db8::20',
      '192.168.1.20',
      '198.51.100.20',
    ]);
    for (const pair of pairs) expect(pair.local.type).toBe('host'); // srflx local replaced by its base
  });

  it('paces probes: >= pacingMs apart overall, >= pairIntervalMs per pair', () => {
    const { p } = make({ pacingMs: 10, pairIntervalMs: 40 });
    p.start(0);
    const sent = run(p, 0, 500);
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(10);
    const byPair = new Map<string, number[]>();
    for (const s of sent) byPair.set(s.to, [...(byPair.get(s.to) ?? []), s.at]);
    expect(byPair.size).toBe(3);
    for (const times of byPair.values()) {
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(40);
    }
    expect(sent.length).toBeGreaterThan(30);
  });

  it('times out with PUNCH_TIMEOUT when nothing answers, and stops sending', () => {
    const { p } = make({ timeoutMs: 3000 });
    p.start(0);
    run(p, 0, 10_000);
    const ev = events(p);
    expect(ev).toEqual([
      { type: 'failed', code: 'PUNCH_TIMEOUT', message: expect.stringContaining('no candidate pair worked') },
    ]);
    expect(p.state).toBe('failed');
    expect(p.pollTransmit(20_000)).toBeNull();
    expect(p.pollTimeout()).toBeNull();
  });

  it('nominates the first success, keeps probing for settleMs, then completes', () => {
    const { p } = make({ settleMs: 1000 });
    p.start(0);
    run(p, 0, 100);
    p.authenticated(100, srflxR.address);
    expect(events(p)).toEqual([{ type: 'nominated', pair: expect.objectContaining({ remote: srflxR }) }]);
    expect(p.state).toBe('settling');
    const during = run(p, 100, 1099);
    expect(during.length).toBeGreaterThan(10); // still probing (acks, better pairs)
    run(p, 1099, 1100);
    expect(events(p)).toEqual([{ type: 'completed', pair: expect.objectContaining({ remote: srflxR }) }]);
    expect(run(p, 1100, 5000)).toEqual([]);
  });

  it('a better pair found later replaces the nominated one (upgraded)', () => {
    const { p } = make();
    p.start(0);
    p.authenticated(50, srflxR.address);
    p.authenticated(80, hostR.address);
    const ev = events(p);
    expect(ev.map((e) => e.type)).toEqual(['nominated', 'upgraded']);
    expect(p.selected()!.remote).toEqual(hostR);
    // a worse one does not
    p.authenticated(90, srflxR.address);
    expect(events(p)).toEqual([]);
  });

  it('accepts the peer at an unknown address: peer-reflexive candidate', () => {
    const { p } = make();
    p.start(0);
    const odd = { host: '198.51.100.20', port: 52502 }; // a NAT rewrote the port (NATLAB-NOTES §7)
    p.authenticated(10, odd);
    const ev = events(p);
    expect(ev[0]).toMatchObject({ type: 'peer_reflexive', candidate: { type: 'prflx', address: odd } });
    expect(ev[1]).toMatchObject({ type: 'nominated', pair: { remote: { type: 'prflx', address: odd } } });
    expect(p.stats().peerReflexive).toBe(1);
    // the new pair is probed like the others during settling
    const sent = run(p, 10, 500);
    expect(sent.some((s) => s.to === '198.51.100.20:52502')).toBe(true);
  });

  it('after completion, migrates when the selected address went silent (NAT rebinding)', () => {
    const { p } = make({ settleMs: 100, migrateAfterMs: 2000 });
    p.start(0);
    p.authenticated(10, srflxR.address);
    run(p, 10, 200);
    events(p);
    const rebound = { host: '198.51.100.20', port: 6000 };
    p.authenticated(1000, rebound); // the old path was heard 990 ms ago: not yet
    expect(events(p).map((e) => e.type)).toEqual(['peer_reflexive']);
    p.authenticated(2500, rebound);
    expect(events(p)).toEqual([
      expect.objectContaining({ type: 'migrated', previous: expect.objectContaining({ remote: srflxR }) }),
    ]);
    expect(p.selected()!.remote.address).toEqual(rebound);
  });

  it('random x random with no host pairs fails at once; with host pairs after the grace period', () => {
    const nats = { localNat: { mapping: 'random' as const }, remoteNat: { mapping: 'random' as const } };
    const a = make({ ...nats, localCandidates: [srflxL], remoteCandidates: [srflxR] }).p;
    a.start(0);
    expect(events(a)).toEqual([
      {
        type: 'failed',
        code: 'PUNCH_IMPOSSIBLE',
        message: expect.stringMatching(/local NAT random.*remote NAT random.*relay/),
      },
    ]);
    const b = make({ ...nats, impossibleGraceMs: 1500 }).p;
    b.start(0);
    run(b, 0, 5000);
    const ev = events(b);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: 'failed', code: 'PUNCH_IMPOSSIBLE' });
    // but a same-LAN pair that answers within the grace period connects
    const c = make({ ...nats }).p;
    c.start(0);
    run(c, 0, 200);
    c.authenticated(200, hostR.address);
    expect(events(c)[0]).toMatchObject({ type: 'nominated' });
  });

  it('trickled remote candidates are added to the checklist', () => {
    const { p } = make({ remoteCandidates: [] });
    p.start(0);
    expect(run(p, 0, 100)).toEqual([]);
    p.addRemoteCandidates(100, [srflxR]);
    expect(run(p, 100, 200).map((s) => s.to)).toContain('198.51.100.20:5000');
  });

  it('skips probes the factory declines', () => {
    const p = new Puncher({
      random: rngRandom(new Rng(1)),
      controlling: false,
      localCandidates: [hostL],
      remoteCandidates: [hostR],
      probeFactory: () => null,
    });
    p.start(0);
    expect(run(p, 0, 200)).toEqual([]);
    expect(p.stats().skipped).toBeGreaterThan(0);
  });

  it('birthday roles: the random side asks for sockets and sends from each; the consistent side probes random ports', () => {
    const random = make({
      localNat: { mapping: 'random' },
      remoteNat: { mapping: 'consistent', filtering: 'address-and-port-dependent' },
      birthday: { sockets: 8, socketPacingMs: 1 },
    });
    random.p.start(0);
    expect(events(random.p)).toEqual([{ type: 'open_sockets', count: 8 }]);
    run(random.p, 0, 100);
    const fromSockets = random.probes.filter((x) => x.kind === 'birthday');
    expect(fromSockets.map((x) => x.socket)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const x of fromSockets) expect(x.to).toEqual(srflxR.address);

    const consistent = make({
      localNat: { mapping: 'consistent', filtering: 'address-and-port-dependent' },
      remoteNat: { mapping: 'random' },
      birthday: { maxProbes: 50, probeIntervalMs: 10 },
    });
    consistent.p.start(0);
    run(consistent.p, 0, 10_000);
    const rp = consistent.probes.filter((x) => x.kind === 'birthday');
    expect(rp).toHaveLength(50); // bounded
    expect(new Set(rp.map((x) => x.to.port)).size).toBe(50); // distinct ports
    for (const x of rp) {
      expect(x.to.host).toBe('198.51.100.20');
      expect(x.to.port).toBeGreaterThanOrEqual(1024);
      expect(x.socket).toBe(0);
    }
  });

  it('unknown filtering on the consistent side: birthday only after fallbackDelayMs without success', () => {
    const { p, probes } = make({
      localNat: { mapping: 'consistent' },
      remoteNat: { mapping: 'random' },
      birthday: { fallbackDelayMs: 1500 },
    });
    p.start(0);
    run(p, 0, 1499);
    expect(probes.filter((x) => x.kind === 'birthday')).toHaveLength(0);
    run(p, 1499, 1600);
    expect(probes.filter((x) => x.kind === 'birthday').length).toBeGreaterThan(0);
  });

  it('API misuse throws exact errors', () => {
    const noFactory = { random: () => new Uint8Array(0), controlling: true, localCandidates: [] };
    expect(() => new Puncher(noFactory as unknown as PuncherConfig)).toThrow(
      '"probeFactory" expected function',
    );
    expect(() => make({ pacingMs: -1 })).toThrow('"pacingMs" expected non-negative finite number, got -1');
    expect(() => make({ birthday: { sockets: 0 } })).toThrow(
      '"birthday.sockets" expected integer in [1, 4096], got 0',
    );
    const { p } = make();
    p.start(0);
    expect(() => p.start(1)).toThrow('Puncher.start called in state "checking"');
  });

  it('reports before start or after close are ignored, counted', () => {
    const { p } = make();
    p.authenticated(0, srflxR.address);
    p.start(0);
    p.close();
    p.authenticated(1, srflxR.address);
    expect(p.stats().ignored).toBe(2);
    expect(p.state).toBe('closed');
  });
});

describe('candidate helpers', () => {
  it('RFC 8445 priorities: host > prflx > srflx; IPv6 and public preferred within a type', () => {
    const c = (t: Candidate['type'], host: string) => makeCandidate(t, { host, port: 1 }).priority;
    expect(c('host', '192.168.1.1')).toBeGreaterThan(c('prflx', '203.0.113.1'));
    expect(c('prflx', '203.0.113.1')).toBeGreaterThan(c('srflx', '203.0.113.1'));
    expect(c('host', '2001:db8::1')).toBeGreaterThan(c('host', '203.0.113.1'));
    expect(c('host', '203.0.113.1')).toBeGreaterThan(c('host', '192.168.1.1'));
    expect(c('host', '192.168.1.1')).toBe(126 * 2 ** 24 + 0x3fff * 256 + 255);
  });
});

describe('Puncher strategy updates', () => {
  it('unknown mapping x random: birthday as a fallback only (not certain)', () => {
    const { p } = make({ localNat: { mapping: 'unknown' }, remoteNat: { mapping: 'random' } });
    p.start(0);
    expect(p.strategy).toEqual({ kind: 'birthday', localRole: 'prober', certain: false });
  });

  it('setLocalNat: learning APDF filtering starts the birthday at once; learning EIF cancels it', () => {
    const a = make({ localNat: { mapping: 'consistent' }, remoteNat: { mapping: 'random' } });
    a.p.start(0);
    run(a.p, 0, 100);
    expect(a.probes.some((x) => x.kind === 'birthday')).toBe(false);
    a.p.setLocalNat(100, { mapping: 'consistent', filtering: 'address-and-port-dependent' });
    run(a.p, 100, 200);
    expect(a.probes.some((x) => x.kind === 'birthday')).toBe(true);

    const b = make({ localNat: { mapping: 'consistent' }, remoteNat: { mapping: 'random' } });
    b.p.start(0);
    b.p.setLocalNat(100, { mapping: 'consistent', filtering: 'endpoint-independent' });
    expect(b.p.strategy.kind).toBe('direct');
    run(b.p, 100, 5000); // the busy-timer guard in run() also checks the cancelled start time
    expect(b.probes.some((x) => x.kind === 'birthday')).toBe(false);
  });
});

describe('inferMapping (records without a NAT type)', () => {
  const c = (type: Candidate['type'], host: string, port: number) => makeCandidate(type, { host, port });
  it('two srflx ports on one IP: random; one srflx: unknown; public host without srflx: open', () => {
    expect(
      inferMapping([
        c('host', '192.168.1.2', 5000),
        c('srflx', '198.51.100.2', 40000),
        c('srflx', '198.51.100.2', 40001),
      ]),
    ).toBe('random');
    expect(inferMapping([c('host', '192.168.1.2', 5000), c('srflx', '198.51.100.2', 5000)])).toBe('unknown');
    expect(inferMapping([c('host', '198.51.100.9', 5000)])).toBe('open');
    expect(inferMapping([c('host', '198.51.100.9', 5000), c('srflx', '203.0.113.1', 7)])).toBe('unknown');
    expect(inferMapping([])).toBe('unknown');
  });

  it('the puncher infers when remoteNat is absent, and re-infers on trickled candidates', () => {
    const p = new Puncher({
      random: rngRandom(new Rng(1)),
      controlling: true,
      localCandidates: [hostL],
      localNat: { mapping: 'consistent', filtering: 'address-and-port-dependent' },
      remoteCandidates: [c('srflx', '198.51.100.2', 40000)],
      probeFactory: () => new Uint8Array(1),
    });
    p.start(0);
    expect(p.strategy.kind).toBe('direct');
    p.addRemoteCandidates(10, [c('srflx', '198.51.100.2', 40007)]);
    expect(p.strategy).toEqual({ kind: 'birthday', localRole: 'prober', certain: true });
  });
});
