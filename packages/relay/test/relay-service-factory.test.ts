// relayService(init): a RelayServiceFactory for a host that builds its relay service itself
// (core's `relay.serve`), so that the host needs none of the serving code unless its caller serves.
import { describe, expect, it } from 'vitest';
import { DEFAULT_RELAY_LIMITS, openPolicy, RelayService, relayService } from '../src/index.js';

const relayId = new Uint8Array(32).fill(9);
const random = (n: number) => new Uint8Array(n).fill(n);

describe('relayService(init)', () => {
  it('builds a RelayService from the caller’s policy and limits and the host’s components', () => {
    const factory = relayService({ policy: openPolicy(), limits: { maxClients: 7 } });
    const hops: string[] = [];
    const s = factory<{ id: string }>({
      relayId,
      random,
      hopKey: (h) => {
        hops.push(h.id);
        return h.id;
      },
      unixTimeOffsetMs: 5,
    });
    expect(s).toBeInstanceOf(RelayService);
    expect(s.relayId).toEqual(relayId);
    expect(s.instance).toEqual(random(8));
    expect(s.limits).toEqual({ ...DEFAULT_RELAY_LIMITS, maxClients: 7 });
    s.clientUp(0, new Uint8Array(32).fill(1), { id: 'hop-1' });
    expect(hops).toContain('hop-1');
    expect(s.stats().clients).toBe(1);
    // each call builds a service of its own
    const t = factory({ relayId, random });
    expect(t).not.toBe(s);
    expect(t.stats().clients).toBe(0);
    expect(relayService({ policy: openPolicy() })({ relayId, random }).limits).toEqual(DEFAULT_RELAY_LIMITS);
  });

  it('checks the policy at once, the limits when the service is built', () => {
    expect(() => relayService({ policy: {} as never })).toThrow(
      new TypeError('"policy" expected an AdmissionPolicy (openPolicy(), groupPolicy(…), …)'),
    );
    expect(() => relayService(undefined as never)).toThrow(TypeError);
    const bad = relayService({ policy: openPolicy(), limits: { maxClients: -1 } });
    expect(() => bad({ relayId, random })).toThrow(RangeError);
  });
});
