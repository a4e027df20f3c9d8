/**
 * TURN's CVE-2020-26262 lesson: a relay must never send to anything but an authenticated,
 * bound client hop. Unbound and spoofed channel datagrams are dropped and counted, and a
 * property test checks the invariant over random sequences of everything a host and hostile
 * clients can do.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeChannelData, openPolicy, peekChannel, type RelayTransmit } from '../src/index.js';
import { fakePacket, Local, lastOf } from './local.js';

describe('unbound and spoofed channel data', () => {
  it('from a hop no client is up on: dropped (`unknown_hop`), nothing sent anywhere', () => {
    const L = new Local({ policy: openPolicy() });
    L.add('a');
    const B = L.add('b');
    const { chA } = L.circuit('a', 'b');
    // an attacker who knows a's channel number sends from its own address
    L.service.handleChannelData(L.now, 'hop:attacker', encodeChannelData(chA, fakePacket(1)));
    expect(L.service.pollTransmit(L.now)).toBeNull();
    expect(L.service.stats().dropped.unknown_hop).toBe(1);
    expect(B.inbox).toHaveLength(0);
  });

  it('on a channel not bound on that hop: dropped (`unbound_channel`), the client told at most once a second', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const C = L.add('c');
    const { chA } = L.circuit('a', 'b');
    // c (a client, but not on this circuit) uses a's channel number from its own hop
    for (let i = 0; i < 5; i++)
      L.service.handleChannelData(L.now, C.hop, encodeChannelData(chA, fakePacket(i)));
    L.pump();
    expect(B.inbox).toHaveLength(0);
    expect(A.inbox).toHaveLength(0);
    expect(L.service.stats().dropped.unbound_channel).toBe(5);
    expect(C.controlIn.filter((m) => m[1] === 0x06)).toHaveLength(1); // one CLOSE unknown_channel
    L.advance(1_000);
    L.service.handleChannelData(L.now, C.hop, encodeChannelData(chA, fakePacket(9)));
    L.pump();
    expect(C.controlIn.filter((m) => m[1] === 0x06)).toHaveLength(2);
  });

  it('malformed headers and non-srmudp payloads are dropped and counted', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const { chA } = L.circuit('a', 'b');
    const good = encodeChannelData(chA, fakePacket(1));
    const bad = [good.subarray(0, good.length - 1), Uint8Array.of(0x40, 0, 0, 0), Uint8Array.of(0x41)];
    for (const d of bad) L.service.handleChannelData(L.now, A.hop, d);
    L.service.handleChannelData(L.now, A.hop, encodeChannelData(chA, Uint8Array.of(0x00, 1, 2, 3))); // STUN-like
    L.service.handleChannelData(L.now, A.hop, encodeChannelData(chA, Uint8Array.of(0xc0, 1, 2, 3))); // QUIC long header
    L.pump();
    expect(B.inbox).toHaveLength(0);
    const s = L.service.stats().dropped;
    expect(s.malformed).toBe(3);
    expect(s.not_srmudp).toBe(2);
  });

  it('a client only receives on channels it bound, and unwraps nothing else', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    L.add('b');
    const { chA } = L.circuit('a', 'b');
    expect(A.client.unwrap(L.now, encodeChannelData(chA + 1, fakePacket(1)))).toBeNull();
    expect(A.client.unwrap(L.now, Uint8Array.of(0x40, 0, 0, 5, 1))).toBeNull();
    expect(A.client.stats().dropped).toMatchObject({ unknown_channel: 1, malformed: 1 });
    expect(A.client.unwrap(L.now, encodeChannelData(chA, fakePacket(2)))?.packet).toEqual(fakePacket(2));
  });

  it('never sends to anything but a bound, authenticated client hop (property)', () => {
    type Op =
      | { op: 'up' | 'down' | 'open' | 'close'; who: number; to: number; accept: boolean }
      | { op: 'data'; hop: number; channel: number; type: number }
      | { op: 'move'; who: number; hop: number }
      | { op: 'send'; who: number; to: number }
      | { op: 'time'; ms: number };
    const who = fc.integer({ min: 0, max: 4 });
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          op: fc.constantFrom('up', 'down', 'open', 'open', 'open', 'close'),
          who,
          to: who,
          accept: fc.constantFrom(true, true, true, false),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constant('data'),
          hop: fc.integer({ min: 0, max: 7 }),
          channel: fc.integer({ min: 0x4000, max: 0x4003 }),
          type: fc.constantFrom(0x90, 0x81, 0x00),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ op: fc.constant('move'), who, hop: fc.integer({ min: 0, max: 7 }) }),
      },
      { weight: 4, arbitrary: fc.record({ op: fc.constant('send'), who, to: who }) },
      {
        weight: 1,
        arbitrary: fc.record({ op: fc.constant('time'), ms: fc.integer({ min: 0, max: 400_000 }) }),
      },
    ) as fc.Arbitrary<Op>;
    const totals = { runs: 0, forwarded: 0, opened: 0 };
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 60 }), (ops) => {
        let forwarded = 0;
        const L = new Local({ seed: 'prop', policy: openPolicy(), limits: { maxCircuitsPerClient: 2 } });
        const names = ['c0', 'c1', 'c2', 'c3', 'c4'];
        for (const n of names) L.add(n);
        // Intercept every transmit and check it against the service's own view right then.
        const svc = L.service;
        const poll = svc.pollTransmit.bind(svc);
        svc.pollTransmit = (now: number): RelayTransmit<string> | null => {
          const t = poll(now);
          if (t?.kind === 'channel') {
            forwarded++;
            const owner = [...L.clients.values()].find((c) => c.hop === t.hop && c.up);
            if (!owner) throw new Error(`channel datagram to ${t.hop}, which is no client's hop`);
            const ch = peekChannel(t.data);
            if (!svc.circuitsOf(owner.key).some((c) => c.channel === ch)) {
              throw new Error(`channel 0x${ch.toString(16)} is not bound on ${owner.name}'s hop`);
            }
          }
          return t;
        };
        for (const o of ops) {
          if (o.op === 'time') L.advance(o.ms);
          else if (o.op === 'send') {
            const c = L.get(names[o.who]!);
            const mine = c.client.channels();
            const ch = mine[o.to % Math.max(1, mine.length)]?.channel ?? -1;
            const d = ch >= 0 && c.up ? c.client.wrap(L.now, ch, fakePacket(2)) : null;
            if (d) svc.handleChannelData(L.now, c.hop, d);
            L.pump();
          } else if (o.op === 'data') {
            const hop = o.hop < 5 ? L.get(names[o.hop]!).hop : `hop:stranger${o.hop}`;
            const p = fakePacket(1, 50, o.type);
            svc.handleChannelData(L.now, hop, encodeChannelData(o.channel, p));
            L.pump();
          } else if (o.op === 'move') {
            const c = L.get(names[o.who]!);
            if (!c.up) continue;
            c.hop = `hop:${c.name}-moved${o.hop}`; // a host moves a session only to an address it validated
            svc.clientMoved(L.now, c.key, c.hop);
            L.pump();
          } else {
            const c = L.get(names[o.who]!);
            const t = L.get(names[o.to]!);
            if (o.op === 'up' && !c.up) L.up(c.name);
            else if (o.op === 'down' && c.up) L.down(c.name);
            else if (o.op === 'open' && c.up && c !== t) {
              c.client.connect(L.now, t.key);
              L.pump();
              const inc = lastOf(t.events, 'incoming');
              if (o.accept && inc && t.up) {
                try {
                  t.client.accept(L.now, inc.incomingId);
                } catch {
                  /* answered before */
                }
              }
              L.pump();
            } else if (o.op === 'close' && c.up) {
              const ch = c.client.channels()[0];
              if (ch) c.client.close(L.now, ch.channel);
              L.pump();
            }
          }
          // also: every channel a client believes bound is bound to the same peer at the relay
          for (const c of L.clients.values()) {
            if (!c.up) continue;
            for (const ch of c.client.channels()) {
              const at = svc.circuitsOf(c.key).find((x) => x.channel === ch.channel);
              if (at && !at.peer.every((b, i) => b === ch.peer[i]))
                throw new Error('channel bound to another peer');
            }
          }
        }
        totals.runs++;
        totals.forwarded += forwarded;
        totals.opened += svc.stats().circuitsOpened;
      }),
      { numRuns: 200, seed: 20_250_301 },
    );
    // the sequences do exercise forwarding (the check is not vacuous)
    expect(totals.opened).toBeGreaterThan(totals.runs / 2);
    expect(totals.forwarded).toBeGreaterThan(totals.runs);
  });
});
