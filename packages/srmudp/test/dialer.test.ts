// The dial glue between the NAT session and core (src/dialer.ts), with a real core Endpoint and a
// scripted session: what core is asked to dial, when, and how each dial ends.
import { randomBytes } from 'node:crypto';
import { CloseCode, CoreEndpoint as Endpoint } from '@srmudp/core';
import { generateIdentity } from '@srmudp/crypto';
import type {
  DialNext,
  DialOutcome,
  DialPlan,
  Endpoint as NatEndpoint,
  RemoteCandidate,
} from '@srmudp/punch';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../src/connection.js';
import { Dialer, type DialerOwner } from '../src/dialer.js';
import type { Driver } from '../src/driver.js';
import { SrmudpError } from '../src/index.js';
import { NamedPeers, type NamedPeersHost, type PeerEvent } from '../src/named-peers.js';
import { TimerQueue } from '../src/timer-queue.js';

const random = (n: number) => new Uint8Array(randomBytes(n));
const A = { host: '198.51.100.7', port: 4000 };
const HIT = { host: '198.51.100.7', port: 51234 };

class ScriptedNat {
  readonly dials: Array<{ peer: string; candidates: readonly RemoteCandidate[] }> = [];
  readonly ended: Array<{ peer: string; outcome: DialOutcome }> = [];
  readonly cancelled: string[] = [];
  plan: DialPlan = {
    addresses: [A],
    verdict: {
      plan: { kind: 'direct' },
      localMapping: 'consistent',
      remoteMapping: 'random',
      error: null,
    },
  };
  next: DialNext[] = [];
  dial(_now: number, peer: string, candidates: readonly RemoteCandidate[]): DialPlan {
    this.dials.push({ peer, candidates });
    return this.plan;
  }
  dialEnded(_now: number, peer: string, outcome: DialOutcome): DialNext {
    this.ended.push({ peer, outcome });
    return this.next.shift() ?? { kind: 'fail', error: null };
  }
  cancelDial(_now: number, peer: string): void {
    this.cancelled.push(peer);
  }
}

function setup() {
  let now = 1000;
  const endpoint = new Endpoint({ identity: generateIdentity(random), random }, now);
  const timers = new TimerQueue();
  const driver = {
    endpoint,
    clock: () => now,
    after: (ms: number, fn: () => void) => timers.add(now + ms, fn),
  } as unknown as Driver;
  const owner: DialerOwner = {
    driver,
    closing: false,
    liveConnection: () => undefined,
    connectionOf: () => undefined,
    relaysFor: () => [],
    learnGates: () => {},
    reachGates: () => null,
    kick: () => {},
  };
  const nat = new ScriptedNat();
  const dialer = new Dialer(owner, nat);
  const remoteKey = generateIdentity(random).publicKey;
  /** the datagrams core sends now, by destination port */
  const sent = () => {
    const out: number[] = [];
    for (let t = endpoint.pollTransmit(now); t !== null; t = endpoint.pollTransmit(now)) out.push(t.to.port);
    return out;
  };
  /** core's events so far */
  const events = () => {
    const out: Array<{ type: string; id?: number; code?: string }> = [];
    for (let e = endpoint.pollEvent(); e !== null; e = endpoint.pollEvent()) {
      out.push({
        type: e.type,
        ...('id' in e ? { id: e.id } : {}),
        ...('error' in e ? { code: e.error.code } : {}),
      });
    }
    return out;
  };
  /** core's handshake timeout passes: its connect_failed goes to the dialer, as the node does */
  const timeout = () => {
    now += 10_001;
    endpoint.handleTimeout(now);
    sent(); // retransmissions before the timeout: not looked at
    for (let e = endpoint.pollEvent(); e !== null; e = endpoint.pollEvent()) {
      if (e.type === 'connect_failed') dialer.onConnectFailed(e.id, e.error);
    }
  };
  /** the driver's timers due within `ms` run */
  const advance = (ms: number) => {
    now += ms;
    for (const fn of timers.due(now)) fn();
  };
  return { endpoint, owner, dialer, nat, remoteKey, sent, events, timeout, advance };
}

/** A façade connection as the dialer sees it (only `isClosed` is looked at). */
const fakeConnection = () => ({ isClosed: false }) as unknown as Connection;

/**
 * Core's 'connect_failed' of a dial the restarted peer's new session replaced, naming that
 * session's connection `successor` (core's event-contract test).
 */
const replaced = (successor: number) =>
  new SrmudpError('CLOSED', 'the connection closed while connecting (by the peer: peer restarted)', {
    cause: { code: CloseCode.PEER_RESTARTED, reason: 'peer restarted', remote: true, successor },
  });

/** `p`'s outcome so far: the connection, the error, or 'pending'. */
function outcome<T>(p: Promise<T>): () => T | unknown {
  let result: T | unknown = 'pending';
  p.then(
    (c) => {
      result = c;
    },
    (e: unknown) => {
      result = e;
    },
  );
  return () => result;
}
const settle = () => new Promise((r) => setImmediate(r));

const target = (key: Uint8Array) => ({ addresses: [A], candidates: [{ ...A, kind: 'srflx' as const }], key });

describe('Dialer (NAT session ↔ core)', () => {
  it('a birthday hit redials at once with the hit first; the dropped handshake is not a failure', async () => {
    const s = setup();
    let result: Connection | SrmudpError | null = null;
    const p = s.dialer.dial(target(s.remoteKey)).then(
      (c) => {
        result = c;
      },
      (e: SrmudpError) => {
        result = e;
      },
    );
    await new Promise((r) => setImmediate(r)); // the pacer admits at once
    expect(s.nat.dials).toEqual([
      { peer: Buffer.from(s.remoteKey).toString('hex'), candidates: [{ ...A, kind: 'srflx' }] },
    ]);
    expect(s.sent()).toEqual([A.port]); // core's initiation to the plan's address
    const first = s.events();
    expect(first).toEqual([]);
    const peer = s.nat.dials[0]?.peer as string;
    s.dialer.onNatEvent({ type: 'dial_addresses', peer, addresses: [HIT] });
    // a fresh handshake: its initiation goes to the hit now (core's retransmission would wait)
    expect(s.sent()).toEqual([HIT.port, A.port]);
    const closed = s.events();
    expect(closed).toEqual([{ type: 'connect_failed', id: 1, code: 'CLOSED' }]);
    s.dialer.onConnectFailed(1, new SrmudpError('CLOSED', 'closed'));
    expect(s.nat.ended).toEqual([]); // not reported to the session: the dial goes on as id 2
    // core's handshake timeout (10 s) inside the birthday window: the session says retry
    s.nat.next.push({ kind: 'retry', addresses: [HIT, A] });
    s.timeout();
    expect(s.nat.ended).toEqual([{ peer, outcome: { connected: false, code: 'HANDSHAKE_TIMEOUT' } }]);
    expect(s.sent()).toEqual([HIT.port, A.port]); // dial 3, at once
    // then the window is over: the session's error is the dial's
    s.nat.next.push({
      kind: 'fail',
      error: new SrmudpError('PUNCH_TIMEOUT', 'no direct path within 30000 ms'),
    });
    s.timeout();
    await p;
    expect(result).toMatchObject({ code: 'PUNCH_TIMEOUT' });
  });

  it('dial_failed ends core’s dial with the session’s error; a verdict without addresses fails at once', async () => {
    const s = setup();
    const p = s.dialer.dial(target(s.remoteKey));
    await new Promise((r) => setImmediate(r));
    const peer = s.nat.dials[0]?.peer as string;
    s.dialer.onNatEvent({
      type: 'dial_failed',
      peer,
      error: new SrmudpError('PUNCH_IMPOSSIBLE', 'no direct path can be punched'),
    });
    await expect(p).rejects.toMatchObject({ code: 'PUNCH_IMPOSSIBLE' });
    expect(s.events()).toEqual([{ type: 'connect_failed', id: 1, code: 'CLOSED' }]); // core's dial closed
    s.nat.plan = {
      addresses: [],
      verdict: { ...s.nat.plan.verdict, error: new SrmudpError('UDP_BLOCKED', 'outbound UDP is blocked') },
    };
    await expect(s.dialer.dial(target(generateIdentity(random).publicKey))).rejects.toMatchObject({
      code: 'UDP_BLOCKED',
    });
  });

  it('a dial core reports closed while connecting fails CONNECT_FAILED at once: no redial, no relay', async () => {
    const s = setup();
    const p = s.dialer.dial(target(s.remoteKey));
    await new Promise((r) => setImmediate(r));
    const peer = s.nat.dials[0]?.peer as string;
    // core withheld its 'connected' (the peer's CLOSE came in the same turn): 'connect_failed', CLOSED
    s.nat.next.push({ kind: 'retry', addresses: [A] }); // not asked: the session is not consulted
    s.dialer.onConnectFailed(
      1,
      new SrmudpError('CLOSED', 'the connection closed while connecting (by the peer: bye)', {
        cause: { code: 7, reason: 'bye', remote: true, successor: null },
      }),
    );
    await expect(p).rejects.toMatchObject({
      code: 'CONNECT_FAILED',
      message: 'the connection closed while connecting (by the peer: bye)',
    });
    expect(s.nat.ended).toEqual([]);
    expect(s.nat.cancelled).toEqual([peer]);
    expect(s.sent()).toEqual([A.port]); // the first initiation only: no second dial
  });

  it("a dial the restarted peer's new session replaced resolves with that session's connection (announced next)", async () => {
    const s = setup();
    const p1 = outcome(s.dialer.dial(target(s.remoteKey)));
    const p2 = outcome(s.dialer.dial(target(s.remoteKey)));
    await settle();
    // core's order: the replaced dial's 'connect_failed' (CLOSED, 0x13, successor 2), then connection 2's 'connected'
    s.dialer.onConnectFailed(1, replaced(2));
    await settle();
    expect(p1()).toBe('pending');
    expect(s.nat.cancelled).toEqual([Buffer.from(s.remoteKey).toString('hex')]);
    const conn = fakeConnection();
    s.dialer.onConnected(2, s.remoteKey, { kind: 'direct', address: A }, conn);
    await settle();
    expect(p1()).toBe(conn);
    expect(p2()).toBe(conn);
    expect(s.sent()).toEqual([A.port]); // no second dial
  });

  it("a replaced dial whose successor core withheld too fails CONNECT_FAILED with that one's close", async () => {
    const s = setup();
    const p = outcome(s.dialer.dial(target(s.remoteKey)));
    await settle();
    s.dialer.onConnectFailed(1, replaced(2));
    // connection 2 closed in the turn that connected it too: core ends it as a dial
    s.dialer.onConnectFailed(
      2,
      new SrmudpError('CLOSED', 'the connection closed while connecting (by the peer: bye)', {
        cause: { code: 7, reason: 'bye', remote: true, successor: null },
      }),
    );
    await settle();
    expect(p()).toMatchObject({
      code: 'CONNECT_FAILED',
      cause: { code: 'CLOSED', cause: { code: 7 } },
    });
    // a connection announced later is no dial's answer any more
    s.dialer.onConnected(2, s.remoteKey, { kind: 'direct', address: A }, fakeConnection());
    expect(p()).toMatchObject({ code: 'CONNECT_FAILED' });
  });

  it('a replaced dial whose connect() calls were all aborted ends there', async () => {
    const s = setup();
    const ac = new AbortController();
    const p = s.dialer.dial(target(s.remoteKey), ac.signal);
    await settle();
    s.dialer.onConnectFailed(1, replaced(2));
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    // a connection announced later is nobody's answer; a new connect() is a new attempt
    s.dialer.onConnected(2, s.remoteKey, { kind: 'direct', address: A }, fakeConnection());
    const again = outcome(s.dialer.dial(target(s.remoteKey)));
    await settle();
    expect(again()).toBe('pending');
    expect(s.nat.dials.length).toBe(2);
    s.dialer.close();
    await settle();
    expect(again()).toMatchObject({ code: 'NODE_CLOSED' });
  });

  it("a named peer's dial the restarted peer replaced: 'established' once (by the new connection), no 'reconnecting'", async () => {
    const s = setup();
    const peerEvents: PeerEvent[] = [];
    const host = {
      closing: false,
      rendezvous: {},
      reconnectDelayMs: 1000,
      after: (ms: number, fn: () => void) => s.owner.driver.after(ms, fn),
      assertOpen: () => {},
      refuseOwnKey: () => {},
      liveConnection: () => undefined,
      dial: (resolved, name) => s.dialer.dial(resolved, undefined, name),
      emitPeer: (e) => peerEvents.push(e),
    } as NamedPeersHost;
    const named = new NamedPeers(host);
    named.add('B', { host: A.host, port: A.port, peerId: s.remoteKey });
    await settle();
    expect(s.nat.dials.length).toBe(1);
    s.dialer.onConnectFailed(1, replaced(2));
    // the registry's order for the new session's 'connected' (connection-registry.ts onConnected)
    const hex = Buffer.from(s.remoteKey).toString('hex');
    const conn = fakeConnection();
    const p = named.find(hex, s.dialer.nameFor(2));
    expect(p?.name).toBe('B');
    named.established(p as NonNullable<typeof p>, s.remoteKey, conn);
    s.dialer.onConnected(2, s.remoteKey, { kind: 'direct', address: A }, conn);
    await settle();
    s.advance(10_000);
    await settle();
    expect(peerEvents.map((e) => e.state)).toEqual(['established']);
    expect(named.get('B')).toMatchObject({ conn, dialing: null, lastError: null });
    named.close();
  });

  it('two connect() calls wait on one attempt; aborting both gives the attempt (and its sockets) back', async () => {
    const s = setup();
    const a1 = new AbortController();
    const a2 = new AbortController();
    const p1 = s.dialer.dial(target(s.remoteKey), a1.signal);
    const p2 = s.dialer.dial(target(s.remoteKey), a2.signal);
    await new Promise((r) => setImmediate(r));
    expect(s.endpoint.stats().handshaking).toBe(1); // one core dial for both
    a1.abort();
    await expect(p1).rejects.toMatchObject({ code: 'ABORTED' });
    expect(s.nat.cancelled).toEqual([]);
    a2.abort();
    await expect(p2).rejects.toMatchObject({ code: 'ABORTED' });
    expect(s.nat.cancelled).toEqual([Buffer.from(s.remoteKey).toString('hex')]);
    expect(s.events()).toEqual([{ type: 'connect_failed', id: 1, code: 'CLOSED' }]);
  });

  it('a dial without a peer id (Noise XX) is keyed by its addresses', async () => {
    const s = setup();
    void s.dialer.dial({ addresses: [A], candidates: [A] }).catch(() => {});
    await new Promise((r) => setImmediate(r));
    expect(s.nat.dials[0]?.peer).toBe(`xx|${A.host}|${A.port}`);
    const hit: NatEndpoint = HIT;
    s.dialer.onNatEvent({ type: 'dial_addresses', peer: `xx|${A.host}|${A.port}`, addresses: [hit] });
    expect(s.sent()).toEqual([A.port, HIT.port, A.port]);
    s.dialer.close();
  });
});
