import { describe, expect, it } from 'vitest';
import { CloseCode } from '../src/index.js';
import { ADDR_A, ADDR_B, SimEndpoint, simPair } from './helpers.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe('long-lived connections', () => {
  it('survive rekeys (keys renewed every 120 s) with only keepalives in between', () => {
    const { net, a, b } = simPair('rekey', { a: { keepaliveMs: 10_000 }, b: { keepaliveMs: 10_000 } });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
    for (let minute = 1; minute <= 7; minute++) {
      net.runFor(60_000);
      expect(conn.sendMessage(text(`minute ${minute}`))).toBe(true);
    }
    net.drive({ until: () => b.messages.length === 7, maxTimeMs: 5000 });
    expect(b.messages.map((m) => str(m.data))).toEqual(
      Array.from({ length: 7 }, (_, i) => `minute ${i + 1}`),
    );
    expect(a.count('closed') + b.count('closed')).toBe(0);
    expect(a.count('connected')).toBe(1);
    expect(b.count('connected')).toBe(1);
  });

  it('after migration, rekeys follow the connection to its new address', () => {
    const { net, a, b } = simPair('rekey-migrate', { a: { keepaliveMs: 5000 }, b: { keepaliveMs: 5000 } });
    a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
    const moved = { host: '10.8.8.8', port: 999 };
    net.moveHost('a', [moved]);
    net.drive({ until: () => b.count('path_changed') > 0, maxTimeMs: 20_000 });
    net.runFor(400_000); // several rekeys, some started by b towards the new address
    const cb = b.ep.connection(b.connected()[0]!.id)!;
    expect(cb.sendMessage(text('still here'))).toBe(true);
    net.drive({ until: () => a.messages.length > 0, maxTimeMs: 5000 });
    expect(str(a.messages[0]!.data)).toBe('still here');
    expect(a.count('closed') + b.count('closed')).toBe(0);
  });

  it('keys that expire with no rekey answered close the connection as ours: remote false, SESSION_EXPIRED', () => {
    // a's idle timeout outlives the keys (180 s): nothing from b after connecting, so every
    // rekey goes unanswered until the keys are rejected
    const { net, a, b } = simPair('keys-expire', { a: { idleTimeoutMs: 400_000 } });
    const conn = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    const t0 = net.now;
    net.setLink('b', 'a', { loss: 1 });
    net.drive({ until: () => a.count('closed') > 0, maxTimeMs: 250_000 });
    expect(a.find('closed')).toEqual([
      {
        type: 'closed',
        id: conn.id,
        code: CloseCode.SESSION_EXPIRED,
        reason: 'session keys expired and no rekey was answered',
        remote: false,
      },
    ]);
    // after the keys' 180 s (a rekey still out then gets its handshake timeout), not before
    expect(net.now - t0).toBeGreaterThanOrEqual(170_000);
    expect(net.now - t0).toBeLessThanOrEqual(200_000);
  });

  it('a peer whose CLOSE was lost and that dials again (same boot) gets a new connection, not its data acknowledged and dropped', () => {
    const { net, a, b } = simPair('lost-close-redial');
    const c1 = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    expect(c1.sendMessage(text('first'))).toBe(true);
    net.drive({ until: () => b.messages.length > 0, maxTimeMs: 5000 });
    const oldId = b.connected()[0]!.id;
    // a closes; its CLOSE (and every repeat of it) is lost, so b still holds the connection
    net.setLink('a', 'b', { loss: 1 });
    c1.close(net.now, 0, 'bye');
    net.drive({ until: () => a.count('gone') > 0, maxTimeMs: 20_000 });
    expect(b.count('closed')).toBe(0);
    net.setLink('a', 'b', {});
    // a dials b again: a rekey for b's channel, but a new connection for a, numbered from 0
    const c2 = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') === 2, maxTimeMs: 5000 });
    expect(c2.sendMessage(text('second'))).toBe(true);
    net.drive({ until: () => b.messages.length === 2, maxTimeMs: 5000 });
    expect(b.messages.map((m) => str(m.data))).toEqual(['first', 'second']);
    expect(b.find('closed')).toEqual([
      {
        type: 'closed',
        id: oldId,
        code: CloseCode.PEER_RESTARTED,
        reason: 'peer reconnected: its packet numbers started again',
        remote: true,
      },
    ]);
    const fresh = b.connected()[1]!;
    expect(fresh.id).not.toBe(oldId);
    expect(b.messages[1]).toMatchObject({ id: fresh.id });
    // and the new connection works both ways, for good
    expect(b.ep.connection(fresh.id)!.sendMessage(text('welcome back'))).toBe(true);
    net.drive({ until: () => a.messages.length > 0, maxTimeMs: 5000 });
    expect(str(a.messages[0]!.data)).toBe('welcome back');
    net.runFor(60_000);
    expect(a.count('closed')).toBe(1); // c1's, ours
    expect(b.count('closed')).toBe(1);
    expect(c2.state).toBe('established');
  });

  it('a peer that missed our CLOSE and renews its keys gets no new connection here: it times out, as it would have without the rekey', () => {
    // b dialled, so b renews the keys (120 s after the handshake); a closes at 105 s and its
    // CLOSE (and every repeat) is lost, so b holds the connection and keeps sending
    const { net, a, b } = simPair('lost-close-rekey');
    const cb = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    const t0 = net.now;
    net.runFor(105_000 - (net.now - t0));
    const ca = a.ep.connection(a.connected()[0]!.id)!;
    net.setLink('a', 'b', { loss: 1 });
    ca.close(net.now, 0, 'bye');
    net.drive({ until: () => a.count('gone') > 0, maxTimeMs: 20_000 });
    expect(b.count('closed')).toBe(0);
    net.setLink('a', 'b', {});
    // b writes on: its rekey (at 120 s) is, to a, a new incoming session, and b's packets under it
    // number on from the old connection's
    for (let i = 0; i < 40 && b.count('closed') === 0; i++) {
      cb.sendMessage(text(`late ${i}`));
      net.runFor(1000);
    }
    net.drive({ until: () => b.count('closed') > 0, maxTimeMs: 60_000 });
    // b times out: not 'peer reconnected', not 'closed by the peer'
    expect(b.find('closed')).toEqual([
      expect.objectContaining({ id: cb.id, code: CloseCode.IDLE_TIMEOUT, remote: false }),
    ]);
    expect(b.count('connected')).toBe(1);
    // the rekey reached a, which refused it as no connection of its own
    expect(a.count('connected')).toBe(1);
    expect(a.messages).toHaveLength(0);
    expect(a.find('closed')).toEqual([{ type: 'closed', id: ca.id, code: 0, reason: 'bye', remote: false }]);
    expect(net.now - t0).toBeGreaterThan(120_000);
    expect(a.ep.stats().drops.no_connection ?? 0).toBeGreaterThan(0);
    // b dials again (numbered from 0): a new connection, both ways
    const c2 = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => a.count('connected') === 2 && b.count('connected') === 2, maxTimeMs: 5000 });
    expect(c2.sendMessage(text('again'))).toBe(true);
    net.drive({ until: () => a.messages.length > 0, maxTimeMs: 5000 });
    expect(str(a.messages[0]!.data)).toBe('again');
    expect(a.ep.connection(a.connected()[1]!.id)!.sendMessage(text('welcome'))).toBe(true);
    net.drive({ until: () => b.messages.length > 0, maxTimeMs: 5000 });
    expect(str(b.messages[0]!.data)).toBe('welcome');
  });

  it('a peer that renews its keys while our connection is closing keeps that connection: it goes on closing, and our CLOSE reaches the peer', () => {
    // b dialled, so b renews the keys (120 s after the handshake); a closes at 119.5 s with a
    // message unacknowledged (its data is lost until 121 s), so a is still closing, draining
    // (at least 2 s), when b's rekey arrives; the message's retransmissions are lost until
    // after the drain's bound, so the close abandons it
    const { net, a, b } = simPair('closing-rekey');
    const cb = b.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    const t0 = net.now;
    const ca = a.ep.connection(a.connected()[0]!.id)!;
    // a's data packets (0x90/0x91) are lost from 119.5 s to 121 s; its handshake packets get through
    net.setSendFilter(
      'a',
      (t, now) => now - t0 >= 119_500 && now - t0 < 121_000 && ((t.data[0] as number) & 0xfe) === 0x90,
    );
    net.runFor(119_500);
    expect(ca.sendMessage(text('last words'))).toBe(true);
    ca.close(net.now, 0, 'bye');
    for (let i = 0; i < 20 && cb.state === 'established'; i++) {
      cb.sendMessage(text(`late ${i}`));
      net.runFor(200);
    }
    net.drive({ until: () => b.count('closed') > 0 && a.count('gone') > 0, maxTimeMs: 30_000 });
    // b hears our CLOSE, under its new keys: closed by the peer, with our code and reason
    expect(b.find('closed')).toEqual([{ type: 'closed', id: cb.id, code: 0, reason: 'bye', remote: true }]);
    // and a made no connection of b's rekey
    expect(a.count('connected')).toBe(1);
    expect(a.find('closed')).toEqual([{ type: 'closed', id: ca.id, code: 0, reason: 'bye', remote: false }]);
    expect(net.now - t0).toBeGreaterThan(120_000);
  });

  it('a peer that restarts (new boot, same key) replaces its old connection', () => {
    const { net, a, b } = simPair('restart');
    a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    const oldId = a.connected()[0]!.id;
    // b crashes and comes back at the same address with the same identity, then dials a
    net.removeHost('b');
    const b2 = new SimEndpoint('b', { rngSeed: 'b-after-restart' });
    net.addHost('b2', b2, [{ ...ADDR_B }]);
    const c2 = b2.ep.connect(net.now, { addresses: [ADDR_A], remoteKey: a.key });
    net.drive({ until: () => a.count('connected') === 2 && b2.count('connected') === 1, maxTimeMs: 10_000 });
    expect(a.find('closed')[0]).toMatchObject({ id: oldId, remote: true, code: 0x13 });
    const fresh = a.connected()[1]!;
    expect(fresh.id).not.toBe(oldId);
    expect(fresh.remoteKey).toEqual(b2.key);
    c2.sendMessage(text('hello again'));
    net.drive({ until: () => a.messages.length > 0, maxTimeMs: 5000 });
    expect(a.messages[0]).toMatchObject({ id: fresh.id });
    const back = a.ep.connection(fresh.id)!;
    back.sendMessage(text('welcome back'));
    net.drive({ until: () => b2.messages.length > 0, maxTimeMs: 5000 });
    expect(str(b2.messages[0]!.data)).toBe('welcome back');
    expect(a.ep.stats().connections).toBe(1);
  });
});

describe('reconnect', () => {
  it('close then connect again at once: the new connection waits for the old one, both sides agree', () => {
    const { net, a, b } = simPair('reconnect', { link: { latencyMs: 15 } });
    const first = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => b.count('connected') > 0 && a.count('connected') > 0, maxTimeMs: 5000 });
    first.sendMessage(text('one'));
    first.close(net.now, 0, 'done');
    const second = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    expect(second.id).not.toBe(first.id);
    expect(a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key })).toBe(second);
    net.drive({ until: () => a.count('connected') === 2 && b.count('connected') === 2, maxTimeMs: 10_000 });
    expect(a.find('closed')[0]).toMatchObject({ id: first.id, remote: false });
    expect(b.find('closed')[0]).toMatchObject({ remote: true, reason: 'done' });
    expect(b.messages.map((m) => str(m.data))).toEqual(['one']);
    second.sendMessage(text('two'));
    const bNew = b.connected()[1]!.id;
    b.ep.connection(bNew)!.sendMessage(text('two back'));
    net.drive({ until: () => b.messages.length === 2 && a.messages.length === 1, maxTimeMs: 5000 });
    expect(b.messages[1]).toMatchObject({ id: bNew });
    expect(str(a.messages[0]!.data)).toBe('two back');
    net.runFor(5000);
    expect(a.ep.stats().connections).toBe(1);
    expect(b.ep.stats().connections).toBe(1);
  });
});
