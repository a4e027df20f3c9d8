import {
  type CongestionControllerFactory,
  type ConnectionConfig,
  newReno,
  type ReliableOptions,
  type ResolvedReliableOptions,
  resolveConfig,
} from '@srmudp/reliability';
import { DATA_HEADER_LENGTH, isClosedError } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import type { ConnectionApi } from '../src/api.js';
import { ReliableConfigs, resolveEndpointConfig } from '../src/config.js';
import { CoreEndpoint } from '../src/endpoint.js';
import { ADDR_B, identity, randomBytes, SimEndpoint, simPair } from './helpers.js';

describe('EndpointConfig contracts', () => {
  it('congestion takes a CongestionControllerFactory; one controller per path', () => {
    let made = 0;
    const counting: CongestionControllerFactory = (o) => {
      made++;
      return newReno(o);
    };
    const { net, a, b } = simPair('cc-factory', { a: { congestion: counting } });
    const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => ca.state === 'established', maxTimeMs: 5000 });
    expect(made).toBe(1);
    expect(ca.stats().cwnd).toBeGreaterThan(0);
    // the built-in names stay shorthands
    const n = simPair('cc-name', { a: { congestion: 'cubic' } });
    const c2 = n.a.ep.connect(n.net.now, { addresses: [ADDR_B], remoteKey: n.b.key });
    n.net.drive({ until: () => c2.state === 'established', maxTimeMs: 5000 });
    expect(c2.state).toBe('established');
  });

  it('refuses an unknown congestion controller with an exact error', () => {
    const base = { identity: identity('cfg'), random: (n: number) => randomBytes(`cfg${n}`, n) };
    for (const bad of ['vegas', 42, {}]) {
      expect(() => new CoreEndpoint({ ...base, congestion: bad as never }, 0)).toThrow(
        new RangeError(
          `"congestion" expected 'bbr', 'cubic', 'newreno' or a CongestionControllerFactory, got ${String(bad)}`,
        ),
      );
    }
  });

  it('relay.peerGoneGraceMs is a non-negative integer (exact error)', () => {
    const base = { identity: identity('cfg'), random: (n: number) => randomBytes(`cfg${n}`, n) };
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => new CoreEndpoint({ ...base, relay: { peerGoneGraceMs: bad } }, 0)).toThrow(
        new RangeError(`"relay.peerGoneGraceMs" expected a non-negative integer, got ${bad}`),
      );
    }
    expect(() => new CoreEndpoint({ ...base, relay: { peerGoneGraceMs: 0 } }, 0)).not.toThrow();
  });

  it('every "closed" failure is recognised by isClosedError, whatever its older spelling', () => {
    const ep = new CoreEndpoint({ identity: identity('x'), random: (n) => randomBytes(`x${n}`, n) }, 0);
    ep.close(0);
    let err: unknown = null;
    try {
      ep.connect(0, { addresses: [ADDR_B] });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ENDPOINT_CLOSED' });
    expect(isClosedError(err)).toBe(true);
    expect(isClosedError(new Error('CLOSED'))).toBe(false);
  });
});

describe('reliability configuration of connections', () => {
  type Internal = { rel: { config: ConnectionConfig } };
  const relConfig = (c: ConnectionApi | undefined): ConnectionConfig => (c as unknown as Internal).rel.config;

  it('is resolved once per role, RTT-probe answering and path MTU, then shared', () => {
    const settings = resolveEndpointConfig(
      { identity: identity('rc'), random: (n) => new Uint8Array(n) },
      0,
    ).reliable;
    const configs = new ReliableConfigs(settings);
    const first = configs.options('responder', true, 1472, 5, null);
    const again = configs.options('responder', true, 1472, 99, null);
    if (!('config' in first) || !('config' in again)) throw new Error('expected resolved options');
    expect(again.config).toBe(first.config);
    expect(again.now).toBe(99);
    expect(first.config).toEqual(
      resolveConfig({
        ...settings,
        role: 'responder',
        now: 5,
        rttProbeAnswer: true,
        maxUdpPayload: 1472,
        headroom: DATA_HEADER_LENGTH,
      }),
    );
    const variants = [
      configs.options('initiator', true, 1472, 5, null),
      configs.options('responder', false, 1472, 5, null),
      configs.options('responder', true, 1452, 5, null),
    ].map((o) => ('config' in o ? o.config : null));
    expect(new Set([first.config, ...variants]).size).toBe(4);
    expect(variants.map((c) => [c?.role, c?.rttProbeAnswer, c?.maxUdpPayload])).toEqual([
      ['initiator', true, 1472],
      ['responder', false, 1472],
      ['responder', true, 1452],
    ]);
    // with a log, per connection: plain options carrying it
    const log = (): void => {};
    const logged = configs.options('responder', true, 1472, 5, log);
    expect('config' in logged).toBe(false);
    expect(resolveConfig(logged as ReliableOptions).log).toBe(log);
  });

  it('is the only cache: one config per key, never shared across a key field, a log or an endpoint', () => {
    const factory: CongestionControllerFactory = (o) => newReno(o);
    const settings = resolveEndpointConfig(
      { identity: identity('rk'), random: (n) => new Uint8Array(n), congestion: factory },
      0,
    ).reliable;
    const configs = new ReliableConfigs(settings);
    const configOf = (o: ReliableOptions | ResolvedReliableOptions): ConnectionConfig => {
      if (!('config' in o)) throw new Error('expected resolved options');
      return o.config;
    };
    // adjacent path MTUs: a key that packed the fields carelessly (a sum, a missing bit) collides
    const roles = ['initiator', 'responder'] as const;
    const seen = new Set<ConnectionConfig>();
    for (const maxUdpPayload of [1280, 1281, 1282, 1452, 1453, 1472]) {
      for (const rttProbeAnswer of [false, true]) {
        for (const role of roles) {
          const config = configOf(configs.options(role, rttProbeAnswer, maxUdpPayload, 1, null));
          expect([config.role, config.rttProbeAnswer, config.maxUdpPayload]).toEqual([
            role,
            rttProbeAnswer,
            maxUdpPayload,
          ]);
          // the endpoint's settings reach it; its congestion factory is shared, not copied
          expect(config.congestion).toBe(factory);
          expect(config.headroom).toBe(DATA_HEADER_LENGTH);
          expect(configOf(configs.options(role, rttProbeAnswer, maxUdpPayload, 2, null))).toBe(config);
          seen.add(config);
        }
      }
    }
    expect(seen.size).toBe(6 * 2 * 2);
    // a log is per connection: plain options, resolved by the connection, never the shared config
    const log = (): void => {};
    const logged = configs.options('initiator', false, 1452, 3, log);
    expect('config' in logged).toBe(false);
    expect(resolveConfig(logged as ReliableOptions)).not.toBe(
      configOf(configs.options('initiator', false, 1452, 3, null)),
    );
    // another endpoint, even with the same settings: its own configurations
    const other = new ReliableConfigs(settings);
    expect(seen.has(configOf(other.options('initiator', false, 1452, 3, null)))).toBe(false);
  });

  it('two connections an endpoint accepted share one object; different endpoint options do not', () => {
    const { net, a, b } = simPair('rc-share', { b: { keepaliveMs: 7000 } });
    const c = new SimEndpoint('c');
    net.addHost('c', c, [{ host: '10.0.0.3', port: 4433 }]);
    const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    const cc = c.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') === 2, maxTimeMs: 5000 });
    expect([ca.state, cc.state]).toEqual(['established', 'established']);
    const accepted = b.events.flatMap((e) => (e.type === 'connected' ? [b.ep.connection(e.id)] : []));
    expect(accepted.length).toBe(2);
    const [x, y] = accepted.map(relConfig);
    expect(x?.keepaliveMs).toBe(7000);
    // b's key sorts before both a's and c's (the stream-id role is decided by the keys)
    expect([x?.role, y?.role]).toEqual(['initiator', 'initiator']);
    expect(y).toBe(x);
    expect(relConfig(ca).keepaliveMs).not.toBe(7000);
    expect(relConfig(ca)).not.toBe(x);
  });
});
