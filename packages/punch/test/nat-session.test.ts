import { Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import {
  buildBindingResponse,
  DEFAULT_NAT_TIMING,
  DEFAULT_STUN_SERVERS,
  encodeBindingRequest,
  type NatEvent,
  NatSession,
  tryDecodeBinding,
} from '../src/index.js';
import { rngRandom } from './harness.js';

const S1 = { host: '198.51.100.1', port: 3478 };
const PEER_RANDOM = [
  { host: '203.0.113.9', port: 7000 },
  { host: '203.0.113.9', port: 7001 },
];

function events(s: NatSession): NatEvent[] {
  const out: NatEvent[] = [];
  for (let e = s.pollEvent(); e !== null; e = s.pollEvent()) out.push(e);
  return out;
}

/** A session that gathered with one plain server (mapping unknown). */
function gathered(seed = 1, config: Partial<ConstructorParameters<typeof NatSession>[0]> = {}): NatSession {
  const s = new NatSession(
    {
      random: rngRandom(new Rng(seed)),
      stunServers: [S1],
      hostAddresses: [{ host: '192.168.1.10', port: 5000 }],
      ...config,
    },
    0,
  );
  const req = s.pollTransmit(0)!;
  const res = buildBindingResponse({
    transactionId: tryDecodeBinding(req.data)!.transactionId,
    mapped: { host: '203.0.113.10', port: 5000 },
  })!;
  expect(s.handle(10, 0, S1, res)).toBe(true);
  events(s);
  return s;
}

describe('NatSession: the pool and its routes', () => {
  it('sockets are asked for, routed on a probe from the peer, given back except the connection one', () => {
    const s = gathered(1, { birthday: { sockets: 3 } });
    // local unknown x remote random: the prober role after the fallback delay; force the sockets
    // role with a consistent-looking peer and a last-resort start
    const peer = [{ host: '198.51.100.20', port: 5000 }];
    const plan = s.dial(10, 'p', peer);
    expect(plan.verdict.plan).toEqual({
      kind: 'birthday',
      sockets: true,
      prober: true,
      start: 'last_resort',
    });
    expect(plan.addresses).toEqual(peer);
    expect(events(s)).toEqual([]); // nothing before the plain dial failed
    expect(s.dialEnded(10_010, 'p', { connected: false, code: 'HANDSHAKE_TIMEOUT' })).toEqual({
      kind: 'retry',
      addresses: peer,
    });
    const open = events(s).find((e) => e.type === 'open_sockets');
    expect(open).toEqual({ type: 'open_sockets', request: 1, count: 3 });
    // the host could bind only two
    s.socketsOpened(10_020, 1, [7, 8], [40007, 40008]);
    const sends = [];
    for (let now = 10_020; now < 10_100; now++) {
      for (let t = s.pollTransmit(now); t !== null; t = s.pollTransmit(now))
        if (t.socket !== 0) sends.push(t);
    }
    expect(sends.map((t) => [t.socket, t.to.host, t.to.port])).toEqual([
      [7, '198.51.100.20', 5000],
      [8, '198.51.100.20', 5000],
    ]);
    // a probe from a stranger is refused; from the peer's IP it is answered from that socket
    const probe = encodeBindingRequest(new Uint8Array(12).fill(3));
    expect(s.handle(10_100, 8, { host: '192.0.2.66', port: 1 }, probe)).toBe(true);
    expect(s.stats().poolRefused).toBe(1);
    const from = { host: '198.51.100.20', port: 61_000 };
    expect(s.handle(10_100, 8, from, probe)).toBe(true);
    const reply = s.pollTransmit(10_100)!;
    expect(reply).toMatchObject({ socket: 8, to: from });
    expect(tryDecodeBinding(reply.data)?.xorMappedAddress).toMatchObject({
      host: '198.51.100.20',
      port: 61_000,
    });
    expect(s.route(from)).toBe(8);
    expect(s.route({ host: '198.51.100.20', port: 5000 })).toBe(0);
    // core's datagrams to the peer now leave from socket 8; data from it on socket 8 is core's
    expect(s.handle(10_110, 8, from, Uint8Array.of(0x10, 1, 2, 3))).toBe(false);
    expect(s.dialEnded(10_200, 'p', { connected: true, remote: from })).toEqual({ kind: 'done' });
    expect(events(s)).toEqual([{ type: 'close_sockets', ids: [7] }]);
    expect(s.route(from)).toBe(8);
    // the connection ends: its socket is closed too
    s.releaseRoute(20_000, from);
    expect(events(s)).toEqual([{ type: 'close_sockets', ids: [8] }]);
    expect(s.route(from)).toBe(0);
    expect(s.handle(20_001, 8, from, probe)).toBe(true);
    expect(s.stats().unknownSocket).toBe(1);
  });

  it('sockets arriving after the attempt ended are closed at once; a probe hit is a dial address', () => {
    const s = gathered(2);
    s.dial(10, 'p', PEER_RANDOM); // local unknown x random: prober after 1.5 s
    s.handleTimeout(1510);
    const probes = [];
    for (let now = 1510; now < 1600; now++)
      for (let t = s.pollTransmit(now); t !== null; t = s.pollTransmit(now)) probes.push(t);
    expect(probes.length).toBeGreaterThanOrEqual(8);
    expect(probes.every((p) => p.socket === 0 && p.to.host === '203.0.113.9' && p.to.port !== 7000)).toBe(
      true,
    );
    const hit = probes[3]!;
    const answer = buildBindingResponse({
      transactionId: tryDecodeBinding(hit.data)!.transactionId,
      mapped: { host: '203.0.113.10', port: 5000 },
    })!;
    expect(s.handle(1600, 0, hit.to, answer)).toBe(true);
    expect(events(s)).toEqual([{ type: 'dial_addresses', peer: 'p', addresses: [hit.to] }]);
    expect(s.pollTransmit(1700)).toBeNull(); // probing stopped
    const next = s.dialEnded(10_010, 'p', { connected: false, code: 'HANDSHAKE_TIMEOUT' });
    if (next.kind !== 'retry') throw new Error(`expected retry, got ${next.kind}`);
    expect(next.addresses[0]).toEqual(hit.to);
    s.cancelDial(10_020, 'p');
    // a late answer to the pool request of an ended attempt
    s.socketsOpened(10_030, 99, [5], [40005]);
    expect(events(s)).toEqual([{ type: 'close_sockets', ids: [5] }]);
  });

  it('UDP_BLOCKED is lifted by any datagram from a public address (and gathering runs again)', () => {
    const s = new NatSession({ random: rngRandom(new Rng(5)), stunServers: [S1] }, 0);
    for (let now = 0; now <= 5000; now += 250) {
      s.handleTimeout(now);
      while (s.pollTransmit(now) !== null);
    }
    expect(s.status()).toMatchObject({ state: 'failed', error: { code: 'UDP_BLOCKED' } });
    expect(s.judge(PEER_RANDOM).error?.code).toBe('UDP_BLOCKED');
    events(s);
    // a LAN datagram proves nothing about the uplink
    expect(s.handle(5100, 0, { host: '192.168.1.20', port: 5000 }, Uint8Array.of(0x10, 0))).toBe(false);
    expect(s.judge(PEER_RANDOM).error?.code).toBe('UDP_BLOCKED');
    // a peer's packet from the internet: UDP works (it goes on to core)
    expect(s.handle(5200, 0, { host: '203.0.113.9', port: 7000 }, Uint8Array.of(0x10, 0))).toBe(false);
    expect(s.judge(PEER_RANDOM).error).toBeNull();
    expect(events(s)).toContainEqual({ type: 'gathering', reason: 'udp_seen' });
    // the servers still do not answer: not "blocked" any more, and no gathering loop on traffic
    for (let now = 5250; now <= 11_000; now += 250) {
      s.handleTimeout(now);
      while (s.pollTransmit(now) !== null);
      s.handle(now, 0, { host: '203.0.113.9', port: 7000 }, Uint8Array.of(0x10, 0));
    }
    expect(s.status()).toMatchObject({ state: 'failed', error: { code: 'NO_STUN_SERVER' } });
    expect(s.judge(PEER_RANDOM).error).toBeNull();
    const evs = events(s);
    expect(evs.filter((e) => e.type === 'gathering')).toHaveLength(0);
    expect(evs.filter((e) => e.type === 'no_server')).toHaveLength(1);
  });

  it('UDP_BLOCKED is retried every blockedRetryMs (the verdict holding meanwhile); a reflector that answers lifts it', () => {
    const s = new NatSession(
      {
        random: rngRandom(new Rng(6)),
        stunServers: [S1],
        hostAddresses: [{ host: '192.168.1.10', port: 5000 }],
      },
      0,
    );
    let now = 0;
    const step = (until: number) => {
      for (; now <= until; now += 250) {
        s.handleTimeout(now);
        while (s.pollTransmit(now) !== null);
      }
    };
    step(5000);
    expect(s.udpBlocked()).toBe(true);
    expect(s.pollTimeout()).toBe(5000 + DEFAULT_NAT_TIMING.blockedRetryMs);
    events(s);
    step(5000 + DEFAULT_NAT_TIMING.blockedRetryMs - 250);
    expect(events(s).filter((e) => e.type === 'gathering')).toHaveLength(0);
    // the retry: a gathering whose verdict is not known yet, the old one standing
    s.handleTimeout(20_000);
    expect(events(s)).toContainEqual({ type: 'gathering', reason: 'refresh' });
    expect(s.status().state).toBe('gathering');
    expect(s.udpBlocked()).toBe(true);
    expect(s.judge(PEER_RANDOM).error?.code).toBe('UDP_BLOCKED');
    // still blocked: failed again, the next retry 15 s later (not refreshMs)
    now = 20_000;
    step(25_000);
    expect(s.status()).toMatchObject({ state: 'failed', error: { code: 'UDP_BLOCKED' } });
    expect(s.pollTimeout()).toBeLessThanOrEqual(25_000 + DEFAULT_NAT_TIMING.blockedRetryMs);
    // UDP unblocked: the next retry's request is answered
    now = s.pollTimeout() as number;
    s.handleTimeout(now);
    expect(events(s)).toContainEqual({ type: 'gathering', reason: 'refresh' });
    const req = s.pollTransmit(now);
    expect(req).not.toBeNull();
    const res = buildBindingResponse({
      transactionId: tryDecodeBinding(req!.data)!.transactionId,
      mapped: { host: '203.0.113.10', port: 5000 },
    })!;
    expect(s.handle(now + 20, 0, req!.to, res)).toBe(true);
    expect(s.udpBlocked()).toBe(false);
    expect(s.judge(PEER_RANDOM).error).toBeNull();
    step(now + 6000);
    expect(s.status()).toMatchObject({ state: 'ready', error: null });
    expect(s.candidates()).toContainEqual(expect.objectContaining({ host: '203.0.113.10', port: 5000 }));
    // ready: back to the ordinary refresh
    expect(events(s).filter((e) => e.type === 'gathering')).toHaveLength(0);
  });

  it('API misuse throws exact errors; network input never does', () => {
    const s = gathered(3);
    expect(() => s.dial(0, '', [])).toThrow('"peer" expected a non-empty string');
    expect(() => s.dial(0, 'p', [{ host: 'example.org', port: 1 }])).toThrow(
      '"candidates[0]" expected an IP endpoint, got example.org:1',
    );
    // names are resolved by the driver
    expect(() => s.setStunServers(0, [{ host: 'stun.example.org', port: 3478 }])).toThrow(
      '"stunServers[0]" expected an IP endpoint, got stun.example.org:3478',
    );
    expect(() => s.socketsOpened(0, 1, [0], [40000])).toThrow(
      '"ids[0]" expected a new socket id >= 1, got 0',
    );
    expect(() => s.socketsOpened(0, 1, [1], [70000])).toThrow(
      '"localPorts[0]" expected a port in 1..65535, got 70000',
    );
    expect(() => s.handleTimeout(Number.NaN)).toThrow('"now" expected finite number, got NaN');
    expect(() => new NatSession({ random: rngRandom(new Rng(1)), timing: { refreshMs: -1 } }, 0)).toThrow(
      '"timing.refreshMs" expected a non-negative finite number, got -1',
    );
    expect(() => new NatSession({ random: rngRandom(new Rng(1)), birthday: { sockets: 0 } }, 0)).toThrow(
      '"birthday.sockets" expected integer in [1, 4096], got 0',
    );
    expect(s.handle(0, 0, { host: 'not an ip', port: -1 }, new Uint8Array(0))).toBe(false);
  });

  it('close gives every pool socket back and stops every timer', () => {
    const s = gathered(4, { birthday: { sockets: 2 } });
    s.dial(10, 'p', [{ host: '198.51.100.20', port: 5000 }]);
    s.dialEnded(10_010, 'p', { connected: false, code: 'HANDSHAKE_TIMEOUT' });
    const open = events(s).find((e) => e.type === 'open_sockets')!;
    s.socketsOpened(10_020, (open as { request: number }).request, [1, 2], [40001, 40002]);
    s.close(10_030);
    expect(events(s)).toEqual([{ type: 'close_sockets', ids: [1, 2] }]);
    expect(s.pollTimeout()).toBeNull();
    expect(s.pollTransmit(10_040)).toBeNull();
    expect(s.handle(10_040, 0, S1, new Uint8Array(20))).toBe(false);
  });
});

describe('defaults', () => {
  it('the default STUN list: host:port entries of several operators', () => {
    const operators = new Set<string>();
    for (const s of DEFAULT_STUN_SERVERS) {
      const m = /^([a-z0-9.-]+\.[a-z]+):(\d+)$/.exec(s);
      expect(m, s).not.toBeNull();
      const port = Number(m![2]);
      expect(port).toBeGreaterThan(0);
      expect(port).toBeLessThan(65536);
      operators.add(m![1]!.split('.').slice(-2).join('.'));
    }
    expect(operators.size).toBeGreaterThanOrEqual(5);
    expect(Object.isFrozen(DEFAULT_STUN_SERVERS)).toBe(true);
  });

  it('timings', () => {
    expect(DEFAULT_NAT_TIMING).toEqual({
      gatherTimeoutMs: 5000,
      refreshMs: 120_000,
      blockedRetryMs: 15_000,
      bindingKeepaliveMs: 25_000,
      regatherMinGapMs: 5000,
      lanGraceMs: 2500,
      birthdayTimeoutMs: 30_000,
      lastResortCooldownMs: 600_000,
    });
  });
});
