import { Rng } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import {
  buildBindingResponse,
  DEFAULT_PORT_MAPPING_TIMING,
  type NatEvent,
  NatSession,
  type PortMappingEvent,
  tryDecodeBinding,
} from '../src/index.js';
import { rngRandom } from './harness.js';

const LAN = { host: '192.168.1.20', port: 40000 };
const EXT = { host: '198.51.101.20', port: 40000 };
const S1 = { host: '203.0.113.200', port: 3478 };
const S2 = { host: '203.0.113.201', port: 3478 };
const T = DEFAULT_PORT_MAPPING_TIMING;

function drain(s: NatSession): NatEvent[] {
  const out: NatEvent[] = [];
  for (let e = s.pollEvent(); e !== null; e = s.pollEvent()) out.push(e);
  return out;
}
const of = <K extends NatEvent['type']>(es: NatEvent[], type: K) =>
  es.filter((e): e is Extract<NatEvent, { type: K }> => e.type === type);

function session(
  config: Partial<ConstructorParameters<typeof NatSession>[0]> = {},
  hosts = [LAN],
): NatSession {
  return new NatSession(
    {
      random: rngRandom(new Rng(7)),
      stunServers: [],
      hostAddresses: hosts,
      localPort: LAN.port,
      portMapping: true,
      ...config,
    },
    0,
  );
}

/** Answers every pending Binding request with a per-destination port (a symmetric NAT). */
function answerSymmetric(s: NatSession, now: number): void {
  let port = 50000;
  for (let t = s.pollTransmit(now); t !== null; t = s.pollTransmit(now)) {
    const req = tryDecodeBinding(t.data);
    if (req === null) continue;
    const res = buildBindingResponse({
      transactionId: req.transactionId,
      mapped: { host: '198.51.100.20', port: port++ },
    });
    s.handle(now, 0, t.to, res);
  }
}

/** A gathered session behind a symmetric NAT; events drained. */
function symmetricSession(config: Partial<ConstructorParameters<typeof NatSession>[0]> = {}): NatSession {
  const s = session({ stunServers: [S1, S2], ...config });
  drain(s);
  answerSymmetric(s, 1);
  drain(s);
  return s;
}
/** A peer's record behind a symmetric NAT: two reflexive ports on one IP. */
const RANDOM_PEER = [
  { host: '203.0.113.10', port: 7000, kind: 'srflx' as const },
  { host: '203.0.113.10', port: 7001, kind: 'srflx' as const },
];

describe('port mapping rules (sans-IO)', () => {
  it('is off unless asked for, and asks the host once for a private IPv4 address', () => {
    const off = session({ portMapping: undefined });
    expect(of(drain(off), 'map_port')).toEqual([]);
    expect(off.status().portMapping.state).toBe('off');
    expect(off.pollTimeout()).toBeNull();

    const pub = session({}, [{ host: '203.0.113.50', port: 40000 }]);
    expect(of(drain(pub), 'map_port')).toEqual([]);
    expect(pub.status().portMapping.state).toBe('idle');

    const s = session();
    const asks = of(drain(s), 'map_port');
    expect(asks).toEqual([
      {
        type: 'map_port',
        request: 1,
        internal: LAN,
        lifetimeMs: T.lifetimeMs,
        timeoutMs: T.attemptTimeoutMs,
        renew: null,
      },
    ]);
    expect(s.status().portMapping.state).toBe('mapping');
    expect(s.pollTimeout()).toBe(T.attemptTimeoutMs);
  });

  it('publishes the mapping first, renews it at half its lifetime and deletes it on close', () => {
    const s = session();
    drain(s);
    s.portMapped(100, 1, { protocol: 'nat-pmp', external: EXT, lifetimeMs: 3_600_000 });
    const es = drain(s);
    expect(of(es, 'candidates').at(-1)?.candidates).toEqual([{ kind: 'srflx', family: 4, ...EXT }]);
    const st = s.status().portMapping;
    expect(st).toMatchObject({ state: 'mapped', external: EXT, internal: LAN, protocol: 'nat-pmp' });
    expect(st.expiresAt).toBe(3_600_100);
    expect(s.pollTimeout()).toBe(1_800_100);

    s.handleTimeout(1_800_100);
    const renew = of(drain(s), 'map_port');
    expect(renew).toEqual([
      expect.objectContaining({ request: 2, renew: { external: EXT, protocol: 'nat-pmp' } }),
    ]);
    // a renewal keeps the mapping published while it runs
    expect(s.status().portMapping.state).toBe('mapped');
    s.portMapped(1_800_200, 2, { protocol: 'nat-pmp', external: EXT, lifetimeMs: 3_600_000 });
    expect(s.status().portMapping).toMatchObject({ expiresAt: 5_400_200, renewals: 2 });
    expect(of(drain(s), 'candidates')).toEqual([]); // same candidate: nothing to republish

    s.close(2_000_000);
    expect(of(drain(s), 'unmap_port')).toEqual([
      { type: 'unmap_port', internal: LAN, external: EXT, protocol: 'nat-pmp' },
    ]);
    expect(s.pollTimeout()).toBeNull();
  });

  it('a failed renewal is retried until the lease ends, then the candidate goes', () => {
    const s = session();
    drain(s);
    s.portMapped(0, 1, { protocol: 'upnp-igd', external: EXT, lifetimeMs: 100_000 });
    drain(s);
    s.handleTimeout(50_000);
    const [r] = of(drain(s), 'map_port');
    s.portMapFailed(50_010, r!.request, 'NO_GATEWAY', 'router gone');
    expect(s.status().portMapping.state).toBe('mapped');
    expect(s.pollTimeout()).toBe(50_010 + T.attemptTimeoutMs);
    let now = 50_010;
    let renewals = 0;
    while (now < 100_000) {
      now = s.pollTimeout()!;
      s.handleTimeout(now);
      for (const e of of(drain(s), 'map_port')) {
        renewals++;
        expect(e.renew).not.toBeNull();
      }
    }
    expect(renewals).toBeGreaterThanOrEqual(2);
    const st = s.status().portMapping;
    expect(st.state).toBe('failed');
    expect(st.error?.code).toBe('EXPIRED');
    expect(s.candidates()).toEqual([]);
  });

  it('no router: retried a bounded number of times with growing gaps, then given up until the network changes', () => {
    const s = session();
    const times: number[] = [];
    let now = 0;
    for (let i = 0; i < 10; i++) {
      const asks = of(drain(s), 'map_port');
      if (asks.length > 0) times.push(now);
      const next = s.pollTimeout();
      if (next === null) break;
      now = next;
      s.handleTimeout(now); // nobody answers: the attempt times out
    }
    expect(times).toEqual([
      0,
      T.attemptTimeoutMs + T.retryMs,
      2 * T.attemptTimeoutMs + T.retryMs + 3 * T.retryMs,
    ]);
    expect(s.pollTimeout()).toBeNull();
    expect(s.status().portMapping).toMatchObject({ state: 'failed', nextAt: null });
    expect(s.status().portMapping.error?.code).toBe('NO_GATEWAY');
    // a new network: try again at once
    s.setHostAddresses(now, [{ host: '10.0.0.5', port: 40000 }]);
    expect(of(drain(s), 'map_port')).toEqual([
      expect.objectContaining({ internal: { host: '10.0.0.5', port: 40000 } }),
    ]);
  });

  it('a mapping to a private address (double NAT) is deleted and not published', () => {
    const s = session();
    drain(s);
    s.portMapped(10, 1, {
      protocol: 'upnp-igd',
      external: { host: '100.64.0.20', port: 40000 },
      lifetimeMs: 7_200_000,
    });
    const es = drain(s);
    expect(of(es, 'unmap_port')).toHaveLength(1);
    expect(s.status().portMapping.error?.code).toBe('DOUBLE_NAT');
    expect(s.candidates()).toEqual([]);
    expect(s.pollTimeout()).toBeNull();
  });

  it('a late success of an abandoned attempt is deleted; a stale failure is ignored', () => {
    const s = session();
    drain(s);
    s.handleTimeout(T.attemptTimeoutMs); // attempt 1 abandoned
    s.portMapped(T.attemptTimeoutMs + 5, 1, { protocol: 'upnp-igd', external: EXT, lifetimeMs: 7_200_000 });
    expect(of(drain(s), 'unmap_port')).toEqual([
      { type: 'unmap_port', internal: LAN, external: EXT, protocol: 'upnp-igd' },
    ]);
    expect(s.candidates()).toEqual([]);
    s.portMapFailed(T.attemptTimeoutMs + 6, 99, 'REFUSED', 'nobody asked');
    expect(s.status().portMapping.error?.code).toBe('NO_GATEWAY');
  });

  it('an unusable router answer is a refusal, never a throw; a late success after an address change is deleted', () => {
    const s = session();
    drain(s);
    for (const bad of [
      { protocol: 'upnp-igd', external: { host: '', port: 40000 }, lifetimeMs: 1 },
      { protocol: 'upnp-igd', external: { host: 'router.lan', port: 40000 }, lifetimeMs: 1 },
      { protocol: 'upnp-igd', external: { host: EXT.host, port: 0 }, lifetimeMs: 1 },
      { protocol: 'smoke-signals', external: EXT, lifetimeMs: 1 },
    ]) {
      const s2 = session();
      drain(s2);
      expect(() => s2.portMapped(1, 1, bad as never)).not.toThrow();
      expect(s2.status().portMapping.error?.code).toBe('REFUSED');
      expect(s2.candidates()).toEqual([]);
    }
    s.setHostAddresses(5, [{ host: '10.0.0.5', port: LAN.port }]); // attempt 1 abandoned, 2 asked
    s.portMapped(6, 1, { protocol: 'nat-pmp', external: EXT, lifetimeMs: 7_200_000 });
    expect(of(drain(s), 'unmap_port')).toEqual([
      { type: 'unmap_port', internal: LAN, external: EXT, protocol: 'nat-pmp' },
    ]);
    expect(s.status().portMapping.state).toBe('mapping');
  });

  it('an address or port change deletes the old mapping and maps the new one', () => {
    const s = session();
    drain(s);
    s.portMapped(0, 1, { protocol: 'nat-pmp', external: EXT, lifetimeMs: 7_200_000 });
    drain(s);
    s.setHostAddresses(5, [{ host: LAN.host, port: 40001 }]);
    const es = drain(s);
    expect(of(es, 'unmap_port')).toEqual([
      { type: 'unmap_port', internal: LAN, external: EXT, protocol: 'nat-pmp' },
    ]);
    expect(of(es, 'map_port')).toEqual([
      expect.objectContaining({ internal: { host: LAN.host, port: 40001 }, renew: null }),
    ]);
    expect(of(es, 'candidates').at(-1)?.candidates).toEqual([]);
  });

  it('a mapping makes a symmetric NAT reachable: random × random is no longer impossible', () => {
    const s = symmetricSession();
    expect(s.status().nat?.mapping).toBe('random');
    const peer = RANDOM_PEER;
    expect(s.judge(peer).error?.code).toBe('PUNCH_IMPOSSIBLE');
    // the records this node publishes: two reflexive ports on one IP (a random NAT)
    expect(s.candidates()).toHaveLength(2);

    s.portMapped(2, 1, { protocol: 'upnp-igd', external: EXT, lifetimeMs: 7_200_000 });
    const v = s.judge(peer);
    expect(v.error).toBeNull();
    expect(v.plan).toEqual({ kind: 'direct' });
    expect(v.localMapping).toBe('consistent');
    // the record now holds the mapping alone: a peer no longer infers a random NAT
    expect(s.candidates()).toEqual([{ kind: 'srflx', family: 4, ...EXT }]);
    // an eim × mapped pair needs no birthday either (we are reachable unsolicited)
    expect(s.judge([{ host: '203.0.113.10', port: 7000, kind: 'srflx' }]).plan).toEqual({ kind: 'direct' });
  });

  it("a peer's candidate of kind 'mapped' is judged a full cone and dialled before its other public addresses", () => {
    const s = symmetricSession({ portMapping: false });
    const random = RANDOM_PEER;
    expect(s.judge(random).error?.code).toBe('PUNCH_IMPOSSIBLE');
    const withMapping = [...random, { host: '198.51.102.10', port: 7000, kind: 'mapped' as const }];
    const v = s.judge(withMapping);
    expect(v).toMatchObject({ error: null, plan: { kind: 'direct' }, remoteMapping: 'consistent' });
    const plan = s.dial(2, 'p', [{ host: '192.168.1.30', port: 7000, kind: 'host' }, ...withMapping]);
    expect(plan.addresses.map((a) => `${a.host}:${a.port}`)).toEqual([
      '192.168.1.30:7000',
      '198.51.102.10:7000',
      '203.0.113.10:7000',
      '203.0.113.10:7001',
    ]);
  });

  it('a running dial judged impossible is re-planned when the mapping arrives', () => {
    const s = symmetricSession();
    const peer = [...RANDOM_PEER, { host: '192.168.1.30', port: 7000, kind: 'host' as const }];
    const plan = s.dial(2, 'p1', peer);
    expect(plan.verdict.error?.code).toBe('PUNCH_IMPOSSIBLE');
    s.portMapped(3, 1, { protocol: 'pcp', external: EXT, lifetimeMs: 7_200_000 });
    drain(s);
    // LAN grace over: the dial would have failed; with the mapping it does not
    s.handleTimeout(10_000);
    expect(of(drain(s), 'dial_failed')).toEqual([]);
  });

  it('refuses bad timings with a typed error', () => {
    expect(() => session({ portMapping: { lifetimeMs: -1 } })).toThrow(RangeError);
    expect(() => session({ portMapping: { nope: 1 } as never })).toThrow(TypeError);
  });

  it('events carry only plain data (they cross to the host)', () => {
    const s = session();
    const e = of(drain(s), 'map_port')[0] as PortMappingEvent;
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });
});
