import { natPresets } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import { Keepalive, type KeepaliveEvent } from '../src/index.js';
import { gatherBoth, KIND, punchBoth } from './harness.js';
import { twoPeers } from './topology.js';

function drain(k: Keepalive): KeepaliveEvent[] {
  const out: KeepaliveEvent[] = [];
  for (let e = k.pollEvent(); e !== null; e = k.pollEvent()) out.push(e);
  return out;
}

/** Advances a Keepalive alone; `answer` decides whether each keepalive gets a reply (after 50 ms). */
function runAlone(k: Keepalive, until: number, answer: (n: number) => boolean) {
  const log: { at: number; e: KeepaliveEvent }[] = [];
  let n = 0;
  let pendingReply: number | null = null;
  for (let guard = 0; guard < 10_000; guard++) {
    const t = k.pollTimeout();
    const next: number | null = pendingReply !== null && (t === null || pendingReply < t) ? pendingReply : t;
    if (next === null || next > until) break;
    if (next === pendingReply) {
      k.onReceive(next);
      pendingReply = null;
      continue;
    }
    k.handleTimeout(next);
    for (const e of drain(k)) {
      log.push({ at: next, e });
      if (e.type === 'keepalive' && answer(n++)) pendingReply = next + 50;
    }
  }
  return log;
}

describe('Keepalive', () => {
  it('every 10 s while young, every 25 s once established, as long as replies come', () => {
    const k = new Keepalive(0);
    const log = runAlone(k, 200_000, () => true);
    const times = log.filter((l) => l.e.type === 'keepalive').map((l) => l.at);
    // young for the first 60 s: 10 s; the keepalive due at 60 s falls after that, so 25 s applies
    expect(times.slice(0, 7)).toEqual([10_000, 20_000, 30_000, 40_000, 50_000, 75_000, 100_000]);
    expect(log.some((l) => l.e.type === 'path_lost')).toBe(false);
  });

  it('application traffic postpones keepalives (a sent datagram refreshes the binding)', () => {
    const k = new Keepalive(0);
    k.onSend(9000);
    k.onReceive(9000);
    expect(k.pollTimeout()).toBe(19_000);
  });

  it('3 unanswered keepalives (2 s apart) → path_lost + regather', () => {
    const k = new Keepalive(0);
    const log = runAlone(k, 100_000, (n) => n < 2);
    const kinds = log.map((l) => `${l.e.type}@${l.at}`);
    // answered at 10 s and 20 s; then 30 s, 32 s, 34 s unanswered; lost at 36 s
    expect(kinds).toEqual([
      'keepalive@10000',
      'keepalive@20000',
      'keepalive@30000',
      'keepalive@32000',
      'keepalive@34000',
      'path_lost@36000',
      'regather@36000',
    ]);
    expect(log[5]!.e).toEqual({ type: 'path_lost', silentMs: 36_000 - 20_050, unanswered: 3 });
    expect(k.state).toBe('lost');
    expect(k.pollTimeout()).toBeNull();
    k.onReceive(40_000);
    expect(drain(k)).toEqual([{ type: 'path_recovered' }]);
    expect(k.state).toBe('alive');
  });

  it('silence while sending (no keepalives needed) still detects the loss', () => {
    const k = new Keepalive(0, { silenceMs: 30_000 });
    let lostAt = -1;
    for (let t = 1000; t <= 40_000; t += 1000) {
      k.onSend(t);
      k.handleTimeout(t);
      for (const e of drain(k)) if (e.type === 'path_lost') lostAt = t;
    }
    expect(lostAt).toBe(30_000);
  });

  it('a change of local addresses asks for regather', () => {
    const k = new Keepalive(0, { localAddresses: [{ host: '192.168.1.10', port: 5000 }] });
    k.localAddressesChanged(5, [{ host: '192.168.1.10', port: 5000 }]);
    expect(drain(k)).toEqual([]);
    k.localAddressesChanged(6, [{ host: '10.0.0.7', port: 5000 }]);
    expect(drain(k)).toEqual([
      {
        type: 'regather',
        reason: 'address_changed',
        added: [{ host: '10.0.0.7', port: 5000 }],
        removed: [{ host: '192.168.1.10', port: 5000 }],
      },
    ]);
  });

  it('configuration is checked', () => {
    expect(() => new Keepalive(0, { intervalMs: 0 })).toThrow(
      '"intervalMs" expected positive finite number, got 0',
    );
    expect(() => new Keepalive(Number.NaN)).toThrow(TypeError);
  });
});

describe('keepalive and re-punch in sim (NAT binding timeout 30 s)', () => {
  const nat = { ...natPresets.portRestrictedCone, bindingTimeoutMs: 30_000 };

  function idleThenPing(keepalive: boolean) {
    const { net, a, b } = twoPeers(
      11,
      { nat, peer: keepalive ? {} : { keepalive: false } },
      { nat, peer: keepalive ? {} : { keepalive: false } },
    );
    gatherBoth(net, a, b);
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    net.runFor(120_000); // idle for 2 minutes
    const before = b.receivedKinds(KIND.ping);
    a.ping(net.now);
    net.runFor(1000);
    return { a, b, delivered: b.receivedKinds(KIND.ping) - before };
  }

  it('keepalives keep the binding alive through 120 s of idle time', () => {
    const { a, delivered } = idleThenPing(true);
    expect(delivered).toBeGreaterThanOrEqual(1);
    expect(a.keepalive!.keepalivesSent).toBeGreaterThanOrEqual(5);
    expect(a.keepaliveEvents.some((e) => e.type === 'path_lost')).toBe(false);
  });

  it('without keepalives the binding expires and the datagram is dropped by the NAT (control)', () => {
    const { delivered } = idleThenPing(false);
    expect(delivered).toBe(0);
  });

  it('a lost binding triggers path_lost + regather, and re-gathering and re-punching restores the path', () => {
    const seqNat = {
      ...nat,
      portAllocation: 'sequential' as const,
      portRange: [30000, 30999] as [number, number],
    };
    const { net, a, b } = twoPeers(12, { nat: seqNat }, { nat });
    gatherBoth(net, a, b);
    punchBoth(net, a, b);
    const oldPublic = b.selected!.remote.address;
    // outage on A's uplink longer than the binding timeout: both NATs forget the flow
    net.setLink('natA', 'natB', { loss: 1 });
    net.setLink('natB', 'natA', { loss: 1 });
    net.drive({ until: () => a.keepaliveEvents.some((e) => e.type === 'regather'), maxTimeMs: 120_000 });
    expect(a.keepaliveEvents.map((e) => e.type)).toContain('path_lost');
    net.setLink('natA', 'natB', { latencyMs: 10 });
    net.setLink('natB', 'natA', { latencyMs: 10 });
    net.runFor(31_000); // the old mappings time out
    gatherBoth(net, a, b);
    punchBoth(net, a, b);
    expect(a.puncher!.state).toBe('completed');
    expect(b.puncher!.state).toBe('completed');
    expect(b.selected!.remote.address).not.toEqual(oldPublic); // A got a new public port
    const before = b.receivedKinds(KIND.ping);
    a.ping(net.now);
    net.runFor(500);
    expect(b.receivedKinds(KIND.ping)).toBe(before + 1);
  });
});
