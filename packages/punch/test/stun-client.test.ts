import { Network, Rng } from '@srmudp/sim';
import { decodeStun, encodeStun, StunMethod } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import {
  type Endpoint,
  handleStunRequest,
  StunClient,
  type StunClientEvent,
  transactionKey,
} from '../src/index.js';
import { rngRandom } from './harness.js';

const SERVER: Endpoint = { host: '198.51.100.1', port: 3478 };
const ME: Endpoint = { host: '203.0.113.5', port: 40000 };

function drainEvents(c: StunClient): StunClientEvent[] {
  const out: StunClientEvent[] = [];
  for (let e = c.pollEvent(); e !== null; e = c.pollEvent()) out.push(e);
  return out;
}

/** Runs a client alone (every request lost) and records when it sends. */
function sendTimes(c: StunClient, until: number): number[] {
  const times: number[] = [];
  let now = 0;
  for (let guard = 0; guard < 1000; guard++) {
    while (c.pollTransmit(now) !== null) times.push(now);
    const t = c.pollTimeout();
    if (t === null || t > until) break;
    now = t;
    c.handleTimeout(now);
  }
  return times;
}

describe('StunClient (RFC 8489 §6.2.1)', () => {
  it('retransmits at 0, 500, 1500, 3500, 7500, 15500, 31500 ms and times out at 39500 ms', () => {
    const c = new StunClient({ random: rngRandom(new Rng(1)) });
    c.request(0, SERVER);
    expect(sendTimes(c, 100_000)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    const ev = drainEvents(c);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: 'error', code: 'STUN_TIMEOUT', server: SERVER });
    expect(c.pending).toBe(0);
    expect(c.stats()).toMatchObject({ requests: 1, sent: 7, retransmits: 6, timeouts: 1 });
  });

  it('honours a shorter configuration (tests, filtering probes)', () => {
    const c = new StunClient({ random: rngRandom(new Rng(2)), rtoMs: 100, rc: 3, rm: 4 });
    c.request(1000, SERVER);
    const times: number[] = [];
    let now = 1000;
    for (let i = 0; i < 20; i++) {
      while (c.pollTransmit(now) !== null) times.push(now);
      const t = c.pollTimeout();
      if (t === null) break;
      now = t;
      c.handleTimeout(now);
    }
    expect(times).toEqual([1000, 1100, 1300]);
    expect(now).toBe(1700); // 1300 + 4 × 100
    expect(drainEvents(c)[0]).toMatchObject({ code: 'STUN_TIMEOUT' });
  });

  it('matches the response by transaction id and reports mapped, origin, other address and RTT', () => {
    const c = new StunClient({ random: rngRandom(new Rng(3)) });
    const id = c.request(0, SERVER);
    const req = c.pollTransmit(0)!;
    expect(req.to).toEqual(SERVER);
    expect(req.socket).toBe(0);
    const res = handleStunRequest(req.data, ME, SERVER, {
      otherAddress: { host: '198.51.100.2', port: 3479 },
    })!;
    // a response with another transaction id is not ours
    const foreign = res.slice();
    foreign[19]! ^= 0xff;
    expect(c.handle(10, SERVER, foreign)).toBe(false);
    expect(c.handle(42, SERVER, res)).toBe(true);
    const [ev] = drainEvents(c);
    expect(ev).toEqual({
      type: 'response',
      id,
      server: SERVER,
      socket: 0,
      from: SERVER,
      mapped: ME,
      responseOrigin: SERVER,
      otherAddress: { host: '198.51.100.2', port: 3479 },
      software: 'srmudp',
      rttMs: 42,
    });
    expect(c.pending).toBe(0);
    // a duplicate (retransmitted) response after completion is ignored
    expect(c.handle(50, SERVER, res)).toBe(false);
    // (the altered copy failed its FINGERPRINT and was not even counted as STUN)
    expect(c.stats().dropped).toBe(1);
  });

  it('Karn: no RTT sample after a retransmission', () => {
    const c = new StunClient({ random: rngRandom(new Rng(4)) });
    c.request(0, SERVER);
    const first = c.pollTransmit(0)!;
    c.handleTimeout(500);
    expect(c.pollTransmit(500)).not.toBeNull();
    c.handle(600, SERVER, handleStunRequest(first.data, ME, SERVER)!);
    expect(drainEvents(c)[0]).toMatchObject({ type: 'response', rttMs: null });
  });

  it('IPv6 mapped addresses round-trip through XOR-MAPPED-ADDRESS', () => {
    const c = new StunClient({ random: rngRandom(new Rng(5)) });
    const server6 = { host: '2001:db8::1', port: 3478 };
    const me6 = { host: '2001:db8:0:1::abcd', port: 50000 };
    c.request(0, server6);
    const req = c.pollTransmit(0)!;
    c.handle(1, server6, handleStunRequest(req.data, me6, server6)!);
    expect(drainEvents(c)[0]).toMatchObject({ type: 'response', mapped: me6 });
  });

  it('reports error responses typed, with status and reason', () => {
    const c = new StunClient({ random: rngRandom(new Rng(6)) });
    c.request(0, SERVER, { changeRequest: { changeIp: true, changePort: true } });
    const req = c.pollTransmit(0)!;
    expect(decodeStun(req.data).changeRequest).toEqual({ changeIp: true, changePort: true });
    const res = handleStunRequest(req.data, ME, SERVER)!; // single-socket responder: 420
    c.handle(5, SERVER, res);
    expect(drainEvents(c)[0]).toMatchObject({
      type: 'error',
      code: 'STUN_ERROR_RESPONSE',
      status: 420,
      changeRequest: { changeIp: true, changePort: true },
    });
  });

  it('a success without a mapped address does not end the transaction', () => {
    const c = new StunClient({ random: rngRandom(new Rng(7)) });
    c.request(0, SERVER);
    const req = decodeStun(c.pollTransmit(0)!.data);
    const bogus = encodeStun({
      class: 'success',
      method: StunMethod.Binding,
      transactionId: req.transactionId,
    });
    expect(c.handle(1, SERVER, bogus)).toBe(true);
    expect(c.pending).toBe(1);
    expect(drainEvents(c)).toEqual([]);
  });

  it('cancel emits STUN_CANCELLED; API misuse throws', () => {
    const c = new StunClient({ random: rngRandom(new Rng(8)), maxTransactions: 1 });
    const id = c.request(0, SERVER);
    expect(() => c.request(0, SERVER)).toThrow(RangeError);
    c.cancel(id);
    expect(drainEvents(c)[0]).toMatchObject({ code: 'STUN_CANCELLED' });
    expect(() => new StunClient({ random: rngRandom(new Rng(1)), rtoMs: 0 })).toThrow(
      '"rtoMs" expected positive finite number, got 0',
    );
    // @ts-expect-error: misuse
    expect(() => new StunClient({})).toThrow(TypeError);
    expect(() => c.request(Number.NaN, SERVER)).toThrow('"now" expected finite number, got NaN');
  });
});

/** A sim host that runs one StunClient transaction and records its events. */
class ClientNode {
  readonly client: StunClient;
  readonly events: StunClientEvent[] = [];
  constructor(
    rng: Rng,
    readonly server: Endpoint,
  ) {
    this.client = new StunClient({ random: rngRandom(rng) });
  }
  start(now: number) {
    this.client.request(now, this.server);
  }
  handle(now: number, from: Endpoint, _to: Endpoint, data: Uint8Array) {
    this.client.handle(now, from, data);
    for (let e = this.client.pollEvent(); e !== null; e = this.client.pollEvent()) this.events.push(e);
  }
  handleTimeout(now: number) {
    this.client.handleTimeout(now);
    for (let e = this.client.pollEvent(); e !== null; e = this.client.pollEvent()) this.events.push(e);
  }
  pollTransmit(now: number) {
    const t = this.client.pollTransmit(now);
    return t === null ? null : { to: { ...t.to }, data: t.data };
  }
  pollTimeout() {
    return this.client.pollTimeout();
  }
}

class ResponderNode {
  #out: { to: Endpoint; data: Uint8Array }[] = [];
  answered = 0;
  handle(_now: number, from: Endpoint, to: Endpoint, data: Uint8Array) {
    const r = handleStunRequest(data, from, to);
    if (r !== null) {
      this.answered++;
      this.#out.push({ to: from, data: r });
    }
  }
  handleTimeout() {}
  pollTransmit() {
    return this.#out.shift() ?? null;
  }
  pollTimeout() {
    return null;
  }
}

describe('StunClient vs responder in sim', () => {
  it('retransmissions get through 60% loss each way (seeded)', () => {
    let ok = 0;
    for (let seed = 0; seed < 10; seed++) {
      const net = new Network({ seed, defaultLink: { latencyMs: 20, loss: 0.6 } });
      const client = new ClientNode(net.rng.fork('c'), SERVER);
      const server = new ResponderNode();
      net.addHost('server', server, [SERVER]);
      net.addHost('client', client, [ME]);
      client.start(net.now);
      net.drive({ until: () => client.events.length > 0, maxTimeMs: 60_000 });
      const e = client.events[0]!;
      if (e.type === 'response') {
        ok++;
        expect(e.mapped).toEqual(ME);
      } else expect(e.code).toBe('STUN_TIMEOUT');
    }
    // each attempt fails with p = 1 - 0.4² = 0.84; 7 attempts all failing: 0.84^7 ≈ 0.30
    expect(ok).toBeGreaterThanOrEqual(4);
  });

  it('times out with STUN_TIMEOUT after 39.5 s when the server is unreachable', () => {
    const net = new Network({ seed: 1, defaultLink: { latencyMs: 20, loss: 1 } });
    const client = new ClientNode(net.rng.fork('c'), SERVER);
    net.addHost('server', new ResponderNode(), [SERVER]);
    net.addHost('client', client, [ME]);
    client.start(net.now);
    net.drive({ until: () => client.events.length > 0, maxTimeMs: 60_000 });
    expect(client.events[0]).toMatchObject({ type: 'error', code: 'STUN_TIMEOUT' });
    expect(net.now).toBe(39_500);
  });
});

describe('transactionKey', () => {
  it('is the 12-byte id in lower-case hex, zero-padded when shorter, its first 12 bytes when longer', () => {
    const id = Uint8Array.from({ length: 12 }, (_, i) => i * 21 + 5);
    expect(transactionKey(id)).toBe('051a2f44596e8398adc2d7ec');
    expect(transactionKey(id.subarray(0, 2))).toBe('051a00000000000000000000');
    expect(transactionKey(Uint8Array.of(...id, 0xff))).toBe(transactionKey(id));
  });
});
