// Punch coordination over a relayed session (relayed-punch.ts): codec, bounds, and the timing of
// the simultaneous open (the answering end punches at once, the dialling end RTT/2 after the ACK),
// and which candidates are punched (direct ones only).
import type { Candidate } from '@srmudp/rendezvous';
import { describe, expect, it } from 'vitest';
import {
  decodePunch,
  encodePunch,
  MAX_CANDIDATES,
  PUNCH_MS,
  RelayedPunch,
  type RelayedPunchOwner,
} from '../src/relayed-punch.js';

describe('punch messages', () => {
  it('round-trip IPv4 and IPv6 candidates with their kinds', () => {
    const m = {
      type: 'sync' as const,
      nonce: 0xdeadbeef,
      candidates: [
        { host: '192.168.1.20', port: 40000, kind: 'host' as const },
        { host: '198.51.100.20', port: 1234, kind: 'srflx' as const },
        { host: '2001:db8::7', port: 65535, kind: 'srflx' as const },
      ],
    };
    expect(decodePunch(encodePunch(m))).toEqual(m);
  });
  it('malformed input is null, never a throw; at most 12 candidates are sent', () => {
    const good = encodePunch({
      type: 'ack',
      nonce: 1,
      candidates: [{ host: '10.0.0.1', port: 9, kind: 'host' }],
    });
    for (let n = 0; n < good.length; n++) expect(decodePunch(good.subarray(0, n))).toBeNull();
    expect(decodePunch(Uint8Array.of(...good, 0))).toBeNull();
    expect(decodePunch(Uint8Array.of(4, ...good.subarray(1)))).toBeNull();
    const zeroPort = good.slice();
    zeroPort[zeroPort.length - 1] = 0;
    zeroPort[zeroPort.length - 2] = 0;
    expect(decodePunch(zeroPort)).toBeNull();
    const many = Array.from({ length: 20 }, (_, i) => ({ host: `10.0.0.${i + 1}`, port: 9 }));
    expect(decodePunch(encodePunch({ type: 'sync', nonce: 2, candidates: many }))?.candidates).toHaveLength(
      MAX_CANDIDATES,
    );
  });
});

const srflxOf = (side: 'a' | 'b'): Candidate[] => [
  { kind: 'srflx', family: 4, host: side === 'a' ? '203.0.113.10' : '198.51.100.20', port: 1000 },
];

/** Two ends wired back to back with a one-way delay `owd` on a virtual clock. */
function pair(owd: number, candidatesOf: (side: 'a' | 'b') => Candidate[] = srflxOf) {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; dead: boolean }> = [];
  const punched: Array<{ side: string; at: number; hosts: string[]; maxMs: number }> = [];
  const ends: Record<string, RelayedPunch> = {};
  const owner = (side: 'a' | 'b', other: 'a' | 'b'): RelayedPunchOwner => ({
    clock: () => now,
    after: (ms, fn) => {
      const t = { at: now + ms, fn, dead: false };
      timers.push(t);
      return { cancel: () => (t.dead = true) };
    },
    random32: () => 42,
    candidates: () => candidatesOf(side),
    send: (_id, data) => {
      const copy = data.slice();
      const t = { at: now + owd, fn: () => ends[other]?.onMessage(1, copy), dead: false };
      timers.push(t);
      return true;
    },
    relayed: () => true,
    punch: (_id, c, maxMs) => punched.push({ side, at: now, hosts: c.map((x) => x.host), maxMs }),
    drop: () => {},
  });
  ends.a = new RelayedPunch(owner('a', 'b'));
  ends.b = new RelayedPunch(owner('b', 'a'));
  const run = (until: number) => {
    for (let i = 0; i < 1000; i++) {
      const next = timers.filter((t) => !t.dead && t.at <= until).sort((x, y) => x.at - y.at)[0];
      if (next === undefined) break;
      next.dead = true;
      now = next.at;
      next.fn();
    }
    now = until;
  };
  return { ends: ends as { a: RelayedPunch; b: RelayedPunch }, punched, run };
}

describe('RelayedPunch', () => {
  it('both ends punch the other’s candidates at the same moment (SYNC, ACK, then GO: the dialler waits RTT/2 after sending GO)', () => {
    const { ends, punched, run } = pair(40);
    ends.a.relayedStart(1, true);
    ends.b.relayedStart(1, false);
    run(1000);
    expect(punched.sort((x, y) => x.side.localeCompare(y.side))).toEqual([
      { side: 'a', at: 120, hosts: ['198.51.100.20'], maxMs: PUNCH_MS },
      { side: 'b', at: 120, hosts: ['203.0.113.10'], maxMs: PUNCH_MS },
    ]);
  });
  it('only direct candidates are punched: a relay candidate is the path we have, and a peer with only those is not punched', () => {
    const mixed = (side: 'a' | 'b'): Candidate[] => [
      { kind: 'relay', family: 4, host: '192.0.2.1', port: 443 },
      ...srflxOf(side),
      { kind: 'host', family: 4, host: side === 'a' ? '10.0.0.2' : '10.0.1.2', port: 1000 },
    ];
    const { ends, punched, run } = pair(40, mixed);
    ends.a.relayedStart(1, true);
    ends.b.relayedStart(1, false);
    run(1000);
    expect(punched.map((p) => [p.side, p.hosts])).toEqual(
      expect.arrayContaining([
        ['a', ['198.51.100.20', '10.0.1.2']],
        ['b', ['203.0.113.10', '10.0.0.2']],
      ]),
    );
    expect(punched).toHaveLength(2);
    const relayOnly = pair(40, () => [{ kind: 'relay', family: 4, host: '192.0.2.1', port: 443 }]);
    relayOnly.ends.a.relayedStart(1, true);
    relayOnly.ends.b.relayedStart(1, false);
    relayOnly.run(10 * 60_000);
    expect(relayOnly.punched).toEqual([]);
  });
  it('a connection that stays relayed punches again, at most 3 rounds; forget() stops it', () => {
    const { ends, punched, run } = pair(10);
    ends.a.relayedStart(1, true);
    run(10 * 60_000);
    expect(punched.filter((p) => p.side === 'a')).toHaveLength(3);
    const { ends: e2, punched: p2, run: run2 } = pair(10);
    e2.a.relayedStart(1, true);
    run2(100);
    e2.a.forget(1);
    run2(10 * 60_000);
    expect(p2.filter((p) => p.side === 'a')).toHaveLength(1);
  });
  it('again() (UDP came back here) runs a round at once with a fresh budget, from either end', () => {
    const { ends, punched, run } = pair(10);
    ends.a.relayedStart(1, true);
    ends.b.relayedStart(1, false);
    run(10 * 60_000);
    expect(punched.filter((p) => p.side === 'b')).toHaveLength(3); // rounds spent
    punched.length = 0;
    // the answering end's network unblocked UDP: it starts the round itself
    ends.b.again(1);
    run(10 * 60_000 + 100);
    expect(punched.map((p) => p.side).sort()).toEqual(['a', 'b']);
    expect(punched.every((p) => p.at <= 10 * 60_000 + 30)).toBe(true);
  });
});
