import { describe, expect, it } from 'vitest';
import type { Address, SimNode, Transmit } from '../src/index.js';
import {
  echoNode,
  failWithSeed,
  Network,
  natPresets,
  Rng,
  ScriptedNode,
  SimError,
  withSeed,
} from '../src/index.js';

const A = { host: '10.0.0.1', port: 1000 };
const B = { host: '10.0.0.2', port: 2000 };
const bytes = (s: string) => new TextEncoder().encode(s);

/**
 * A chatty node with its own seeded randomness: pings its peer at random intervals, answers
 * pings, stops after `rounds` pings. Exercises timers, loss, NATs and the RNG together.
 */
class Chatter implements SimNode {
  readonly #rng: Rng;
  readonly #peer: Address;
  readonly #out: Transmit[] = [];
  #next: number | null;
  #left: number;
  received = 0;
  constructor(rng: Rng, peer: Address, rounds: number) {
    this.#rng = rng;
    this.#peer = peer;
    this.#left = rounds;
    this.#next = rounds > 0 ? 0 : null;
  }
  handle(_now: number, from: Address, _to: Address, data: Uint8Array): void {
    this.received++;
    if (data[0] === 1) this.#out.push({ to: from, data: Uint8Array.of(2, ...data.subarray(1)) });
  }
  handleTimeout(now: number): void {
    if (this.#next === null || now < this.#next) return;
    this.#out.push({ to: this.#peer, data: Uint8Array.of(1, ...this.#rng.bytes(1 + this.#rng.int(40))) });
    this.#left--;
    this.#next = this.#left > 0 ? now + 1 + this.#rng.next() * 50 : null;
  }
  pollTransmit(): Transmit | null {
    return this.#out.shift() ?? null;
  }
  pollTimeout(): number | null {
    return this.#next;
  }
}

function scenario(seed: number | string, traceLimit = 100_000) {
  const net = new Network({ seed, traceLimit });
  net.addNat('na', { ...natPresets.symmetric, publicIp: '198.51.100.1', filtering: 'endpoint-independent' });
  net.addHost('a', new Chatter(net.rng.fork('a'), B, 300), [A], { nat: 'na' });
  net.addHost('b', new Chatter(net.rng.fork('b'), { host: '198.51.100.1', port: 1 }, 0), [B]);
  net.setPath('na', 'b', { latencyMs: 20, jitterMs: 10, loss: 0.1, duplicate: 0.05, reorder: 0.1 });
  net.drive({ maxSteps: 100_000 });
  return net;
}

/** `net.drive()` fails with SIM_NODE_FAILED, `message`, and the node's own error as cause. */
function expectNodeFailed(net: Network, message: string, cause: Error): void {
  try {
    net.drive();
    expect.unreachable();
  } catch (e) {
    expect((e as SimError).code).toBe('SIM_NODE_FAILED');
    expect((e as Error).message).toBe(message);
    expect((e as Error).cause).toBe(cause);
  }
}

describe('determinism', () => {
  it('the same seed gives the same trace and hash', () => {
    const x = scenario('same');
    const y = scenario('same');
    expect(x.trace().length).toBeGreaterThan(500);
    expect(y.trace()).toEqual(x.trace());
    expect(y.traceHash()).toBe(x.traceHash());
    expect(y.stats()).toEqual(x.stats());
    expect(y.now).toBe(x.now);
  });

  it('the hash does not depend on whether readable lines are kept', () => {
    expect(scenario('same', 0).traceHash()).toBe(scenario('same').traceHash());
    expect(scenario('same', 0).trace()).toEqual([]);
  });

  it('a different seed gives a different trace', () => {
    expect(scenario('one').traceHash()).not.toBe(scenario('two').traceHash());
    expect(scenario(1).traceHash()).not.toBe(scenario('1x').traceHash());
  });

  it('the trace is bounded, the hash covers everything', () => {
    const net = new Network({ seed: 't', traceLimit: 10 });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', echoNode(), [B]);
    for (let i = 0; i < 20; i++) a.send(B, Uint8Array.of(i));
    net.drive();
    expect(net.trace()).toHaveLength(10);
    expect(net.trace().at(-1)).toBe('0 recv a #39 10.0.0.2:2000>10.0.0.1:1000 1');
    const off = new Network({ seed: 't', traceLimit: 0 });
    const a2 = new ScriptedNode();
    off.addHost('a', a2, [A]);
    off.addHost('b', echoNode(), [B]);
    for (let i = 0; i < 20; i++) a2.send(B, Uint8Array.of(i));
    off.drive();
    expect(off.trace()).toEqual([]);
    expect(off.traceHash()).toBe(net.traceHash());
  });
});

describe('clock, timers and ordering', () => {
  it('timers fire at their absolute time; time never goes backwards', () => {
    const seen: number[] = [];
    const timers = [5, 5, 2, 40];
    const node: SimNode = {
      handle() {},
      handleTimeout(now) {
        seen.push(now);
        timers.shift();
      },
      pollTransmit: () => null,
      pollTimeout: () => timers[0] ?? null,
    };
    const net = new Network({ seed: 1, startTime: 1 });
    net.addHost('n', node, [A]);
    expect(net.drive()).toBe('idle');
    // the timer at 2 was asked for at time 5: it fires at 5, not in the past
    expect(seen).toEqual([5, 5, 5, 40]);
    expect(net.now).toBe(40);
  });

  it('simultaneous events: datagrams in send order, then timers in host order', () => {
    const log: string[] = [];
    const mk = (name: string, timerAt: number | null): SimNode => {
      let t = timerAt;
      return {
        handle: (_n, _f, _t, d) => log.push(`${name} recv ${d[0]}`),
        handleTimeout: (now) => {
          log.push(`${name} timer ${now}`);
          t = null;
        },
        pollTransmit: () => null,
        pollTimeout: () => t,
      };
    };
    const net = new Network({ seed: 1 });
    const s = new ScriptedNode();
    net.addHost('s', s, [{ host: '10.0.0.9', port: 9 }]);
    net.addHost('x', mk('x', 10), [A]);
    net.addHost('y', mk('y', 10), [B]);
    net.setDefaultLink({ latencyMs: 10 });
    s.send(B, Uint8Array.of(1));
    s.send(A, Uint8Array.of(2));
    s.send(B, Uint8Array.of(3));
    net.drive();
    expect(log).toEqual(['y recv 1', 'x recv 2', 'y recv 3', 'x timer 10', 'y timer 10']);
  });

  it('step() returns false when idle and processes one event at a time', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', echoNode(), [B]);
    expect(net.step()).toBe(false);
    a.send(B, bytes('x'));
    expect(net.step()).toBe(true); // delivery to b
    expect(a.received).toHaveLength(0);
    expect(net.step()).toBe(true); // echo to a
    expect(a.received).toHaveLength(1);
    expect(net.step()).toBe(false);
    expect(net.steps).toBe(2);
  });

  it('drive({ maxTimeMs }) stops at the limit and leaves the clock there; runFor advances an idle network', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', echoNode(), [B]);
    net.setPath('a', 'b', { latencyMs: 100 });
    a.send(B, bytes('x'));
    expect(net.drive({ maxTimeMs: 150 })).toBe('time');
    expect(net.now).toBe(150);
    expect(a.received).toHaveLength(0);
    expect(net.drive()).toBe('idle');
    expect(net.now).toBe(200);
    net.runFor(1000);
    expect(net.now).toBe(1200);
    expect(net.drive({ until: (n) => n.now > 0 })).toBe('until');
  });

  it('a node poked between calls is polled by the next step, and by drive after until ran', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', b, [B]);
    expect(net.nextEventTime()).toBeNull();
    a.send(B, bytes('poke'));
    expect(net.nextEventTime()).toBe(0);
    net.drive();
    expect(b.received).toHaveLength(1);
    let poked = false;
    net.drive({
      until: () => {
        if (!poked) {
          poked = true;
          a.send(B, bytes('from until'));
        }
        return b.received.length === 2;
      },
      maxSteps: 10,
    });
    expect(b.received[1]!.data).toEqual(bytes('from until'));
  });

  it('a node driving the network re-entrantly is refused', () => {
    const net = new Network({ seed: 're' });
    let err: unknown;
    net.addHost(
      'n',
      {
        handle() {},
        handleTimeout() {
          try {
            net.step();
          } catch (e) {
            err = e;
          }
        },
        pollTransmit: () => null,
        pollTimeout: () => (err === undefined ? 1 : null),
      },
      [A],
    );
    net.drive();
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('Network.step() called re-entrantly from a node');
  });

  it('trace lines tell what happened, drops with their reason', () => {
    const net = new Network({ seed: 'lines', traceLimit: 100 });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', echoNode(), [B]);
    net.setLink('a', 'b', { latencyMs: 1, mtu: 2 });
    a.send(B, bytes('ok'));
    a.send(B, bytes('big'));
    a.send({ host: '10.9.9.9', port: 1 }, bytes('?'));
    net.note('done');
    net.drive();
    // send lines end with a content digest
    const lines = net.trace().map((l) => (l.includes(' send ') ? l.replace(/ [0-9a-f]{1,8}$/, '') : l));
    expect(lines).toEqual([
      '0 note done',
      '0 send a #0 10.0.0.1:1000>10.0.0.2:2000 2',
      '0 send a #1 10.0.0.1:1000>10.0.0.2:2000 3',
      '0 drop mtu a->b #1 10.0.0.1:1000>10.0.0.2:2000 3',
      '0 send a #2 10.0.0.1:1000>10.9.9.9:1 1',
      '0 drop noRoute a #2 10.0.0.1:1000>10.9.9.9:1 1',
      '1 recv b #0 10.0.0.1:1000>10.0.0.2:2000 2',
      '1 send b #3 10.0.0.2:2000>10.0.0.1:1000 2',
      '1 recv a #3 10.0.0.2:2000>10.0.0.1:1000 2',
    ]);
  });

  it('data is copied on send: a node may reuse its buffer', () => {
    const buf = Uint8Array.of(1, 2, 3);
    const net = new Network({ seed: 1 });
    let sent = false;
    net.addHost(
      'a',
      {
        handle() {},
        handleTimeout() {},
        pollTransmit: () => {
          if (sent) return null;
          sent = true;
          return { to: B, data: buf };
        },
        pollTimeout: () => null,
      },
      [A],
    );
    const b = new ScriptedNode();
    net.addHost('b', b, [B]);
    net.step(); // polls a, schedules; delivers
    buf[0] = 99;
    net.drive();
    expect(b.received[0]!.data).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe('send filter', () => {
  it('drops what the filter refuses, counts and traces it, passes the rest, and is removed by null', () => {
    const net = new Network({ seed: 'filter', traceLimit: 100 });
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', b, [B]);
    net.setLink('a', 'b', { latencyMs: 1 });
    const seen: { from: string; to: string; byte: number; at: number }[] = [];
    net.setSendFilter('a', (t, now) => {
      seen.push({
        from: `${t.from.host}:${t.from.port}`,
        to: `${t.to.host}:${t.to.port}`,
        byte: t.data[0]!,
        at: now,
      });
      return t.data[0] === 0x90;
    });
    a.send(B, Uint8Array.of(0x90, 1));
    a.send(B, Uint8Array.of(0x81, 2));
    a.send(B, Uint8Array.of(0x90, 3), { at: 5 });
    net.drive();
    expect(b.received.map((r) => r.data[1])).toEqual([2]);
    expect(seen).toEqual([
      { from: '10.0.0.1:1000', to: '10.0.0.2:2000', byte: 0x90, at: 0 },
      { from: '10.0.0.1:1000', to: '10.0.0.2:2000', byte: 0x81, at: 0 },
      { from: '10.0.0.1:1000', to: '10.0.0.2:2000', byte: 0x90, at: 5 },
    ]);
    // sent by the host, dropped before any link: the link never saw them
    expect(net.stats('a')).toMatchObject({ sent: 3, dropped: { filter: 2, loss: 0 } });
    expect(net.stats()).toMatchObject({ sent: 3, delivered: 1, dropped: { filter: 2 } });
    expect(net.linkStats('a', 'b').sent).toBe(1);
    expect(net.trace().filter((l) => l.includes(' drop '))).toEqual([
      '0 drop filter a #0 10.0.0.1:1000>10.0.0.2:2000 2',
      '5 drop filter a #2 10.0.0.1:1000>10.0.0.2:2000 2',
    ]);
    // b's own sends are not filtered; null removes a's filter
    b.send(A, Uint8Array.of(0x90, 4));
    net.setSendFilter('a', null);
    a.send(B, Uint8Array.of(0x90, 5));
    net.drive();
    expect(a.received.map((r) => r.data[1])).toEqual([4]);
    expect(b.received.map((r) => r.data[1])).toEqual([2, 5]);
    expect(seen).toHaveLength(3);
  });

  it('a filtered run is as deterministic as any: same seed and filter, same hash; the drops change it', () => {
    const run = (filtered: boolean) => {
      const net = new Network({ seed: 'filter-hash' });
      const a = new ScriptedNode();
      net.addHost('a', a, [A]);
      net.addHost('b', echoNode(), [B]);
      net.setPath('a', 'b', { latencyMs: 3, jitterMs: 2, loss: 0.1 });
      if (filtered) net.setSendFilter('b', (t) => (t.data[0]! & 1) === 1);
      for (let i = 0; i < 50; i++) a.send(B, Uint8Array.of(i), { at: i });
      net.drive();
      return { hash: net.traceHash(), echoed: a.received.length };
    };
    expect(run(true)).toEqual(run(true));
    expect(run(true).hash).not.toBe(run(false).hash);
    expect(run(true).echoed).toBeLessThan(run(false).echoed);
  });

  it('a filter that throws fails the step like a node, naming host, time and seed; misuse is refused', () => {
    const net = new Network({ seed: 'filter-throws' });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', new ScriptedNode(), [B]);
    const boom = new Error('boom');
    net.setSendFilter('a', () => {
      throw boom;
    });
    a.send(B, bytes('x'));
    expectNodeFailed(net, 'host "a" send filter threw at t=0ms: boom (seed=filter-throws)', boom);
    expect(() => net.setSendFilter('nobody', null)).toThrow(RangeError);
    expect(() => net.setSendFilter('a', 42 as never)).toThrow(TypeError);
  });
});

describe('bounds and errors name the seed', () => {
  const forever = (): SimNode => {
    let t = 0;
    return {
      handle() {},
      handleTimeout(now) {
        t = now + 10;
      },
      pollTransmit: () => null,
      pollTimeout: () => t,
    };
  };

  it('driveBounded throws a SimError with the seed when the bound is exceeded', () => {
    const net = new Network({ seed: 'bounded-42' });
    net.addHost('n', forever(), [A]);
    let err: unknown;
    try {
      net.driveBounded(100);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SimError);
    expect((err as SimError).code).toBe('SIM_BOUND_EXCEEDED');
    expect((err as SimError).seed).toBe('bounded-42');
    expect((err as Error).message).toBe(
      'driveBounded: not idle after 100 steps at t=990ms (seed=bounded-42)',
    );
  });

  it('driveBounded returns the step count when the condition holds, throws when idle first', () => {
    const net = new Network({ seed: 7 });
    net.addHost('n', forever(), [A]);
    expect(net.driveBounded(100, (n) => n.now >= 200)).toBe(21);
    const idle = new Network({ seed: 8 });
    idle.addHost('a', new ScriptedNode(), [A]);
    expect(() => idle.driveBounded(10, () => false)).toThrow(/idle after 0 steps .*\(seed=8\)$/);
    expect(idle.driveBounded(10)).toBe(0);
  });

  it('drive() has a default step bound', () => {
    const net = new Network({ seed: 'busy' });
    net.addHost('n', forever(), [A]);
    expect(() => net.drive({ maxSteps: 50 })).toThrow(/drive: still busy after 50 steps .*\(seed=busy\)/);
  });

  it('a node that throws is reported with host, time and seed, the original as cause', () => {
    const net = new Network({ seed: 's' });
    const boom = new Error('boom');
    net.addHost(
      'bad',
      {
        handle() {
          throw boom;
        },
        handleTimeout() {},
        pollTransmit: () => null,
        pollTimeout: () => null,
      },
      [B],
    );
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    a.send(B, bytes('x'));
    expectNodeFailed(net, 'host "bad" handle threw at t=0ms: boom (seed=s)', boom);
  });

  it('sending from an address the host does not own is a SimError', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    a.send(B, bytes('x'), { from: { host: '6.6.6.6', port: 1 } });
    expect(() => net.step()).toThrow(
      'host "a" sent from 6.6.6.6:1, which is not one of its addresses (seed=1)',
    );
  });

  it('failWithSeed and withSeed put the seed in the message', () => {
    expect(() => failWithSeed(99, 'no convergence')).toThrow('no convergence (seed=99)');
    expect(() =>
      withSeed('abc', () => {
        throw new Error('x');
      }),
    ).toThrow('x (seed=abc)');
    expect(withSeed(5, (s) => s)).toBe(5);
  });

  it('rejects API misuse', () => {
    const net = new Network({ seed: 1 });
    net.addHost('a', new ScriptedNode(), [A]);
    expect(() => net.addHost('a', new ScriptedNode(), [B])).toThrow('name "a" is already used');
    expect(() => net.addHost('b', new ScriptedNode(), [A])).toThrow(
      'address 10.0.0.1:1000 is already used in that network',
    );
    expect(() => net.addHost('c', new ScriptedNode(), [])).toThrow(
      '"addresses" expected a non-empty array of addresses',
    );
    expect(() => net.addHost('d', new ScriptedNode(), [{ host: 'x', port: 70000 }])).toThrow(
      '"address.port" expected an integer in 0..65535, got 70000',
    );
    expect(() => net.stats('zz')).toThrow('no host, NAT or link named "zz"');
    expect(() => new Network({ seed: Number.NaN })).toThrow('"seed" expected a finite number, got NaN');
  });
});

describe('topology changes', () => {
  it('moveHost: packets to the old address are dropped, the new one works, the peer sees the new source', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', b, [B]);
    net.setDefaultLink({ latencyMs: 10 });
    b.send(A, bytes('1'));
    net.runFor(5);
    net.moveHost('a', [{ host: '10.9.9.9', port: 1000 }]);
    net.drive();
    expect(a.received).toHaveLength(0);
    expect(net.stats('b').dropped.noRoute).toBe(1);
    a.send(B, bytes('2'));
    net.drive();
    expect(b.received[0]!.from).toEqual({ host: '10.9.9.9', port: 1000 });
  });

  it('moveHost to a taken address throws and leaves the host where it was', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', echoNode(), [B]);
    expect(() => net.moveHost('a', [B])).toThrow('address 10.0.0.2:2000 is already used in that network');
    expect(net.addresses('a')).toEqual([A]);
    a.send(B, bytes('still here'));
    net.drive();
    expect(a.received).toHaveLength(1);
  });

  it('removeHost: the node is never called again', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    net.addHost('a', a, [A]);
    net.addHost('b', echoNode(), [B]);
    a.send(B, bytes('x'));
    net.removeHost('b');
    net.drive();
    expect(a.received).toHaveLength(0);
    expect(net.stats('a').dropped.noRoute).toBe(1);
  });

  it('a multi-homed host sends from a chosen address and is reached on each', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    const A2 = { host: '10.0.0.1', port: 1001 };
    net.addHost('a', a, [A, A2]);
    net.addHost('b', echoNode(), [B]);
    a.send(B, bytes('p'));
    a.send(B, bytes('s'), { from: A2 });
    net.drive();
    expect(a.received.map((r) => r.to)).toEqual([A, A2]);
  });
});

describe('Rng', () => {
  it('is deterministic per seed; numbers and strings are distinct seeds; forks are stable', () => {
    const a = new Rng('x');
    const b = new Rng('x');
    const seqA = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(seqA);
    expect(new Rng(1).next()).toBe(new Rng('1').next()); // documented: the seed is its text
    expect(new Rng(1).next()).not.toBe(new Rng(2).next());
    const r = new Rng('root');
    const f1 = r.fork('link').next();
    r.next();
    expect(r.fork('link').next()).toBe(f1);
    expect(r.fork('other').next()).not.toBe(f1);
    expect(r.fork('link').seed).toBe('root/link');
  });

  it('next() is uniform on [0,1) (chi-square, 20 bins) and int(n) stays in range', () => {
    const r = new Rng('uniform');
    const n = 100_000;
    const bins = new Array<number>(20).fill(0);
    let outOfRange = 0;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outOfRange++;
      else bins[Math.floor(x * 20)]!++;
    }
    expect(outOfRange).toBe(0);
    const e = n / 20;
    const chi2 = bins.reduce((s, o) => s + ((o - e) * (o - e)) / e, 0);
    expect(chi2).toBeLessThan(50); // 19 dof: p(chi2 > 50) < 1e-4
    for (let i = 0; i < 1000; i++) {
      const k = r.int(7);
      expect(Number.isInteger(k) && k >= 0 && k < 7).toBe(true);
    }
    expect(() => r.int(0)).toThrow('"n" expected an integer in 1..2^32, got 0');
  });

  it('bytes() fills every length with all byte values', () => {
    const r = new Rng(3);
    for (let len = 0; len < 9; len++) expect(r.bytes(len)).toHaveLength(len);
    const seen = new Set(r.bytes(10_000));
    expect(seen.size).toBe(256);
  });
});
