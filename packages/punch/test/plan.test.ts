import { describe, expect, it } from 'vitest';
import {
  type FilteringBehavior,
  inferMapping,
  type MappingBehavior,
  makeCandidate,
  type NatSummary,
  planPunch,
} from '../src/index.js';

/** The single-role form the façade's first NAT module used (one role per side). */
type PunchStrategy =
  | { readonly kind: 'direct' }
  | { readonly kind: 'birthday'; readonly localRole: 'prober' | 'sockets'; readonly certain: boolean }
  | { readonly kind: 'impossible'; readonly reason: string };

const MAPPINGS: MappingBehavior[] = ['open', 'consistent', 'random', 'unknown'];
const FILTERINGS: (FilteringBehavior | undefined)[] = [
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
  'unknown',
  undefined,
];

/** The façade NAT module's rule before this change, verbatim in behaviour: the slow obvious reference. */
function legacy(local: NatSummary, remote: NatSummary): PunchStrategy {
  if (local.mapping === 'random' && remote.mapping === 'random') {
    return {
      kind: 'impossible',
      reason:
        'local NAT random (endpoint-dependent mapping) × remote NAT random (endpoint-dependent mapping)',
    };
  }
  const maybeConsistent = (m: MappingBehavior) => m === 'open' || m === 'consistent' || m === 'unknown';
  const b = (
    f: FilteringBehavior | undefined,
    role: 'prober' | 'sockets',
    uncertain: boolean,
  ): PunchStrategy =>
    f === 'endpoint-independent' || f === 'address-dependent'
      ? { kind: 'direct' }
      : { kind: 'birthday', localRole: role, certain: f === 'address-and-port-dependent' && !uncertain };
  if (maybeConsistent(local.mapping) && remote.mapping === 'random') {
    return b(local.filtering, 'prober', local.mapping === 'unknown');
  }
  if (local.mapping === 'random' && maybeConsistent(remote.mapping)) {
    return b(remote.filtering, 'sockets', remote.mapping === 'unknown');
  }
  return { kind: 'direct' };
}

describe('planPunch', () => {
  it('without the unknown fallback, planPunch equals the first NAT module rule on every combination', () => {
    const single = (local: NatSummary, remote: NatSummary): PunchStrategy => {
      const p = planPunch(local, remote);
      if (p.kind !== 'birthday') return p;
      return { kind: 'birthday', localRole: p.prober ? 'prober' : 'sockets', certain: p.start === 'now' };
    };
    let n = 0;
    for (const lm of MAPPINGS)
      for (const lf of FILTERINGS)
        for (const rm of MAPPINGS)
          for (const rf of FILTERINGS) {
            const local = { mapping: lm, ...(lf ? { filtering: lf } : {}) };
            const remote = { mapping: rm, ...(rf ? { filtering: rf } : {}) };
            expect(single(local, remote), `${lm}/${lf} x ${rm}/${rf}`).toEqual(legacy(local, remote));
            n++;
          }
    expect(n).toBe(400);
  });

  it('known pairs: the rows of the expected matrix', () => {
    const apdf = 'address-and-port-dependent' as const;
    expect(
      planPunch({ mapping: 'consistent', filtering: apdf }, { mapping: 'random' }, { unknownFallback: true }),
    ).toEqual({
      kind: 'birthday',
      sockets: false,
      prober: true,
      start: 'now',
    });
    expect(planPunch({ mapping: 'random' }, { mapping: 'consistent' }, { unknownFallback: true })).toEqual({
      kind: 'birthday',
      sockets: true,
      prober: false,
      start: 'fallback',
    });
    expect(
      planPunch({ mapping: 'consistent', filtering: 'address-dependent' }, { mapping: 'random' }).kind,
    ).toBe('direct');
    expect(planPunch({ mapping: 'random' }, { mapping: 'random' }).kind).toBe('impossible');
    expect(
      planPunch({ mapping: 'consistent' }, { mapping: 'consistent' }, { unknownFallback: true }).kind,
    ).toBe('direct');
  });

  it('unknown mappings: the roles that could be needed, only as a last resort', () => {
    const f = { unknownFallback: true };
    expect(planPunch({ mapping: 'unknown' }, { mapping: 'unknown' }, f)).toEqual({
      kind: 'birthday',
      sockets: true,
      prober: true,
      start: 'last_resort',
    });
    // we are consistent with APDF; the peer published one srflx: it might be random
    expect(
      planPunch(
        { mapping: 'consistent', filtering: 'address-and-port-dependent' },
        { mapping: 'unknown' },
        f,
      ),
    ).toEqual({
      kind: 'birthday',
      sockets: false,
      prober: true,
      start: 'last_resort',
    });
    // our own filter lets a random peer in: nothing to do
    expect(
      planPunch({ mapping: 'consistent', filtering: 'endpoint-independent' }, { mapping: 'unknown' }, f).kind,
    ).toBe('direct');
    expect(planPunch({ mapping: 'unknown' }, { mapping: 'consistent' }, f)).toMatchObject({
      sockets: true,
      prober: false,
    });
    // without the option the legacy rule holds: unknown is "probably consistent"
    expect(planPunch({ mapping: 'unknown' }, { mapping: 'unknown' }).kind).toBe('direct');
    // whenever one side is known random the start is never "last resort"
    for (const m of MAPPINGS) {
      const p = planPunch({ mapping: 'random' }, { mapping: m }, f);
      if (p.kind === 'birthday') expect(p.start).not.toBe('last_resort');
    }
  });
});

describe('inferMapping (records carry candidates only)', () => {
  it('two srflx ports on one IP: random; one srflx: unknown; public host without srflx: open', () => {
    const s = (port: number) => makeCandidate('srflx', { host: '203.0.113.9', port });
    expect(inferMapping([s(1), s(2)])).toBe('random');
    expect(inferMapping([s(1)])).toBe('unknown');
    expect(inferMapping([makeCandidate('host', { host: '198.51.100.3', port: 5 })])).toBe('open');
    expect(inferMapping([makeCandidate('host', { host: '192.168.1.3', port: 5 })])).toBe('unknown');
  });
});
