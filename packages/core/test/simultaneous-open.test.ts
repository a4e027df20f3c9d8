import type { SecureChannel, SecureEndpoint } from '@srmudp/crypto';
import type { Network } from '@srmudp/sim';
import { compareBytes } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { type Address, CloseCode, DEFAULTS, lostPeerCode, type Transmit } from '../src/index.js';
import { ADDR_A, ADDR_B, randomBytes, SimEndpoint, sha256, simPair, Writer } from './helpers.js';

/**
 * Simultaneous open (both peers dial each other's card at the same moment, as after a hole
 * punch), on the sim clock: each side answers the other's initiation and may send under that
 * session at once (crypto README, "Simultaneous open"), so the first byte arrives one path RTT
 * after connect() whichever side writes and whichever wins the tie-break. With any one handshake
 * datagram lost, everything each side sent from its earliest moment arrives once, in order, and
 * both sides end on one session.
 */

const ONE_WAY = 20; // 40 ms path RTT, as in apps/perf P3

function channels(s: SimEndpoint): SecureChannel[] {
  return (s.ep as unknown as { secure: SecureEndpoint }).secure.channels();
}

/** the side whose initiation wins the tie-break (smaller Ed25519 key) first */
function order(a: SimEndpoint, b: SimEndpoint): [SimEndpoint, SimEndpoint] {
  return compareBytes(a.key, b.key) < 0 ? [a, b] : [b, a];
}

/** Drops the `nth` (0-based) handshake datagram of type `type` (0x81 initiation, 0x82 response)
 * that `s` sends. */
function dropHandshake(net: Network, s: SimEndpoint, type: number, nth: number): { dropped: number } {
  const state = { dropped: 0 };
  let seen = 0;
  net.setSendFilter(s.name, (t) => {
    if (t.data[0] !== type || seen++ !== nth) return false;
    state.dropped++;
    return true;
  });
  return state;
}

describe('simultaneous open', () => {
  for (const writerWins of [true, false]) {
    it(`the first byte arrives one path RTT after connect(): writer ${writerWins ? 'wins' : 'loses'} the tie-break`, () => {
      const { net, a, b } = simPair(`simul-first-${writerWins}`, { link: { latencyMs: ONE_WAY } });
      const [win, lose] = order(a, b);
      const [writer, reader] = writerWins ? [win, lose] : [lose, win];
      const cw = writer.ep.connect(net.now, {
        addresses: [writer === a ? ADDR_B : ADDR_A],
        remoteKey: reader.key,
      });
      const cr = reader.ep.connect(net.now, {
        addresses: [reader === a ? ADDR_B : ADDR_A],
        remoteKey: writer.key,
      });
      let sid = -1;
      writer.onEvent = (e) => {
        if (e.type !== 'connected' || sid >= 0) return;
        sid = cw.openStream();
        cw.write(sid, Uint8Array.of(7));
      };
      const start = net.now;
      net.drive({ until: () => sid >= 0 && reader.sink(cr.id, sid).bytes > 0, maxTimeMs: 5000 });
      expect(reader.sink(cr.id, sid).chunks).toEqual([Uint8Array.of(7)]);
      // one RTT: the initiations cross (half), the byte sealed under the session the writer
      // answered follows its response (half); before, 1.5 RTT (writer wins) or 2 (loses)
      expect(net.now - start).toBeLessThanOrEqual(2 * ONE_WAY + 2);
      net.runFor(200);
      expect(writer.count('connected')).toBe(1);
      expect(reader.count('connected')).toBe(1);
    });
  }

  // Handshake datagrams of a simultaneous open: each side's initiation (the winner sends it
  // again when the loser's arrives) and its response to the other's.
  const losses: { who: 'win' | 'lose'; type: number; nth: number; what: string }[] = [
    { who: 'win', type: 0x81, nth: 0, what: "the winner's initiation" },
    { who: 'win', type: 0x81, nth: 1, what: "the winner's resent initiation" },
    { who: 'lose', type: 0x81, nth: 0, what: "the loser's initiation" },
    { who: 'win', type: 0x82, nth: 0, what: "the winner's response" },
    { who: 'lose', type: 0x82, nth: 0, what: "the loser's response" },
    { who: 'lose', type: 0x82, nth: 1, what: "the loser's second response" },
  ];
  for (const l of losses) {
    it(`${l.what} lost: all data from the earliest moment arrives once, in order; one session`, () => {
      const { net, a, b } = simPair(`simul-loss-${l.who}-${l.type}-${l.nth}`, {
        link: { latencyMs: ONE_WAY },
      });
      const [win, lose] = order(a, b);
      const drop = dropHandshake(net, l.who === 'win' ? win : lose, l.type, l.nth);
      const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
      const cb = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
      const data = { a: randomBytes(`sa-${l.what}`, 50_000), b: randomBytes(`sb-${l.what}`, 50_000) };
      const streams = { a: -1, b: -1 };
      const writers: Writer[] = [];
      for (const [s, c, k] of [
        [a, ca, 'a'],
        [b, cb, 'b'],
      ] as const) {
        s.onEvent = (e) => {
          if (e.type === 'connected') {
            // the earliest moment: messages and a stream, all at once
            for (let i = 0; i < 5; i++) expect(c.sendMessage(Uint8Array.of(k.charCodeAt(0), i))).toBe(true);
            streams[k] = c.openStream();
            const w = new Writer(c, streams[k], data[k]);
            writers.push(w);
            w.pump();
          } else if (e.type === 'writable') for (const w of writers) if (w.conn === c) w.pump();
        };
      }
      net.drive({
        until: () =>
          streams.a >= 0 &&
          streams.b >= 0 &&
          b.sink(cb.id, streams.a).finished &&
          a.sink(ca.id, streams.b).finished &&
          a.messages.length >= 5 &&
          b.messages.length >= 5,
        maxTimeMs: 20_000,
      });
      expect(drop.dropped).toBe(1);
      expect(sha256(b.sink(cb.id, streams.a).chunks)).toBe(sha256(data.a));
      expect(sha256(a.sink(ca.id, streams.b).chunks)).toBe(sha256(data.b));
      // the grace period of a retired session (10 s) and any handshake timeout run out
      net.runFor(30_000);
      expect(b.messages.map((m) => [...m.data])).toEqual([0, 1, 2, 3, 4].map((i) => [97, i]));
      expect(a.messages.map((m) => [...m.data])).toEqual([0, 1, 2, 3, 4].map((i) => [98, i]));
      for (const s of [a, b]) {
        expect(s.count('connected')).toBe(1);
        expect(s.count('closed')).toBe(0);
        expect(s.count('connect_failed')).toBe(0);
      }
      const [cha, chb] = [channels(a), channels(b)];
      expect(cha).toHaveLength(1);
      expect(chb).toHaveLength(1);
      for (const ch of [...cha, ...chb]) {
        expect(ch.pending).toBeNull();
        expect(ch.next).toBeNull();
        expect(ch.previous).toBeNull();
        expect(ch.isConfirmed).toBe(true);
      }
      expect(cha[0]?.handshakeHash).toEqual(chb[0]?.handshakeHash);
      expect(ca.state).toBe('established');
      expect(cb.state).toBe('established');
    });
  }
});

/**
 * An early session the peer never uses: everything `a` sends is lost, so `b` never sees `a`'s
 * answer (nor its initiation) while `b`'s initiations reach `a`. `a` reports its connection up on
 * the session it answered with, keeps it past its own initiation's timeout, and closes it one
 * handshake timeout after that session began. The keys were lost here, with nothing from the
 * peer: a close of ours (`remote: false`, SESSION_EXPIRED), not "closed by the peer".
 */
describe('an early session the peer never uses', () => {
  for (const deafWins of [true, false]) {
    it(`closed here, code SESSION_EXPIRED, remote false (the side whose datagrams are lost ${deafWins ? 'wins' : 'loses'} the tie-break)`, () => {
      const { net, a, b } = simPair(`simul-unused-${deafWins}`, { link: { latencyMs: ONE_WAY } });
      const [win, lose] = order(a, b);
      const [deaf, peer] = deafWins ? [win, lose] : [lose, win];
      let lost = 0;
      net.setSendFilter(deaf.name, () => {
        lost++;
        return true;
      });
      const conn = deaf.ep.connect(net.now, {
        addresses: [deaf === a ? ADDR_B : ADDR_A],
        remoteKey: peer.key,
      });
      peer.ep.connect(net.now, { addresses: [peer === a ? ADDR_B : ADDR_A], remoteKey: deaf.key });
      net.drive({ until: () => deaf.count('closed') > 0, maxTimeMs: 25_000 });
      expect(lost).toBeGreaterThan(0);
      expect(deaf.count('connected')).toBe(1);
      const closed = deaf.find('closed');
      expect(closed).toEqual([
        {
          type: 'closed',
          id: conn.id,
          code: CloseCode.SESSION_EXPIRED,
          reason:
            'the peer never used the new session (no packet under its keys within the handshake timeout)',
          remote: false,
        },
      ]);
      expect(lostPeerCode(closed[0] as { code: number; remote: boolean })).toBe('SESSION_EXPIRED');
      // not before one handshake timeout from the peer's first initiation: kept past our own
      expect(net.now).toBeGreaterThanOrEqual(DEFAULTS.handshakeTimeoutMs + ONE_WAY);
      expect(peer.count('connected')).toBe(0);
      expect(peer.find('connect_failed').map((e) => e.error.code)).toEqual(['HANDSHAKE_TIMEOUT']);
    });
  }
});

/**
 * The anti-amplification exemption simultaneous open needs (ConnectionTable.isDialled), seen from
 * outside: the peer's crossing initiation reaches us before ours reaches it, our early session
 * comes up on the address it came from, and that path's 3x budget is forgotten in the same step
 * (the path is validated), so our answer leaves only if an outgoing connection of ours dials that
 * address; to an address nobody dials (a spoofed source) the answer stays under the 3x limit,
 * which that initiation alone cannot pay for: dropped and counted `amplification_limit`.
 */
describe('amplification exemption: addresses we dial', () => {
  const victim = { host: '198.51.100.9', port: 53 };
  const RESPONSE = 0x82;

  /**
   * `a` dials `b` at ADDR_B (and `more` by a second connect()), `b` dials `a`; `b`'s initiation
   * reaches `a` from `from` before `a`'s reaches `b`. What `a` sends in answer, and its drops.
   */
  function crossing(
    names: [string, string],
    from: Address,
    more: Address[] = [],
    before?: (a: SimEndpoint) => void,
  ) {
    const a = new SimEndpoint(names[0]);
    const b = new SimEndpoint(names[1]);
    before?.(a);
    const conn = a.ep.connect(0, { addresses: [ADDR_B], remoteKey: b.key });
    if (more.length > 0) expect(a.ep.connect(0, { addresses: more, remoteKey: b.key }).id).toBe(conn.id);
    b.ep.connect(0, { addresses: [ADDR_A], remoteKey: a.key });
    const init = b.pollTransmit(0);
    expect(init?.data[0]).toBe(0x81);
    while (a.pollTransmit(0) !== null); // a's initiations: still on their way
    a.handle(5, from, ADDR_A, (init as Transmit).data);
    const answers: Address[] = [];
    for (let t = a.pollTransmit(5); t !== null; t = a.pollTransmit(5))
      if (t.data[0] === RESPONSE) answers.push(t.to);
    return { conn, answers, ampDrops: a.ep.stats().drops.amplification_limit ?? 0 };
  }

  for (const names of [
    ['a', 'b'],
    ['b', 'a'],
  ] as [string, string][]) {
    describe(`${names[0]} dials ${names[1]}`, () => {
      it('a crossing initiation from the address we dial is answered (the early session is up)', () => {
        const r = crossing(names, ADDR_B);
        expect(r.conn.state).toBe('established');
        expect(r.answers).toEqual([ADDR_B]);
        expect(r.ampDrops).toBe(0);
      });

      it('from an address nobody dials, the answer stays under the 3x limit', () => {
        const r = crossing(names, victim);
        expect(r.answers).toEqual([]);
        expect(r.ampDrops).toBe(1);
        // another port of the address we dial is another address
        const other = crossing(names, { host: ADDR_B.host, port: ADDR_B.port + 1 });
        expect(other.answers).toEqual([]);
        expect(other.ampDrops).toBe(1);
      });

      it('an address a second connect() added is dialled too', () => {
        const r = crossing(names, victim, [victim]);
        expect(r.answers).toEqual([victim]);
        expect(r.ampDrops).toBe(0);
      });

      it('an address only a closed connection dialled is not', () => {
        const r = crossing(names, victim, [], (a) => {
          const gone = a.ep.connect(0, { addresses: [victim], remoteKey: new SimEndpoint(names[1]).key });
          gone.closeImmediately(0);
          expect(gone.state).toBe('closed');
          while (a.pollTransmit(0) !== null);
        });
        expect(r.answers).toEqual([]);
        expect(r.ampDrops).toBe(1);
      });
    });
  }
});
