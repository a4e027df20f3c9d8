import { type CongestionControllerFactory, newReno } from '@srmudp/reliability';
import { isClosedError } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { CoreEndpoint } from '../src/endpoint.js';
import { ADDR_B, identity, randomBytes, simPair } from './helpers.js';

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
