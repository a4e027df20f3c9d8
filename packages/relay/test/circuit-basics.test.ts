import { describe, expect, it } from 'vitest';
import { openPolicy } from '../src/index.js';
import { allOf, fakePacket, Local, lastOf, seqOf } from './local.js';

describe('a circuit between two clients', () => {
  it('binds a channel on each hop and forwards both ways, rewriting the channel number', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    expect(lastOf(A.events, 'ready')?.restarted).toBe(false);
    const { chA, chB } = L.circuit('a', 'b');
    expect(chA).toBeGreaterThanOrEqual(0x4000);
    expect(chB).toBeGreaterThanOrEqual(0x4000);
    expect(lastOf(B.events, 'bound')).toMatchObject({ role: 'target', channel: chB });
    expect(lastOf(A.events, 'bound')).toMatchObject({ role: 'requester', channel: chA });

    L.send('a', 'b', fakePacket(7));
    expect(B.inbox).toHaveLength(1);
    const got = B.client.unwrap(L.now, B.inbox[0]!);
    expect(got?.channel).toBe(chB);
    expect(got?.peer).toEqual(A.key);
    expect(got?.packet).toEqual(fakePacket(7));

    L.send('b', 'a', fakePacket(8));
    expect(A.client.unwrap(L.now, A.inbox[0]!)?.packet).toEqual(fakePacket(8));
    expect(seqOf(A.inbox[0]!)).toBe(8);
    const s = L.service.stats();
    expect(s.packetsForwarded).toBe(2);
    expect(s.bytesForwarded).toBe(200);
    expect(s.circuits).toBe(1);
    expect(s.circuitsOpened).toBe(1);
    expect(allOf(L.relayEvents, 'circuit_opened')).toHaveLength(1);
  });

  it('closing on one end closes it on the other with `normal`', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const { chA, chB } = L.circuit('a', 'b');
    A.client.close(L.now, chA);
    L.pump();
    expect(lastOf(B.events, 'closed')).toMatchObject({ channel: chB, reason: 'normal' });
    expect(L.service.stats().circuits).toBe(0);
    expect(A.client.wrap(L.now, chA, fakePacket(1))).toBeNull();
  });

  it('hands the first end-to-end packet to the target with INCOMING', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    A.client.connect(L.now, B.key, { firstPacket: fakePacket(1, 150, 0x81) });
    L.pump();
    const inc = lastOf(B.events, 'incoming');
    expect(inc?.requester).toEqual(A.key);
    expect(inc?.firstPacket).toEqual(fakePacket(1, 150, 0x81));
    expect(inc?.voucher).toBeNull();
  });

  it('a hop that goes down closes its circuits for the other end with `peer_gone`', () => {
    const L = new Local({ policy: openPolicy() });
    L.add('a');
    const B = L.add('b');
    const { chB } = L.circuit('a', 'b');
    L.down('a');
    expect(lastOf(B.events, 'closed')).toMatchObject({ channel: chB, reason: 'peer_gone' });
    expect(L.service.stats().clients).toBe(1);
  });

  it('what a leaving client sent just before its hop went down still reaches the other end, ahead of the close', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    const { chA, chB } = L.circuit('a', 'b');
    // b's last datagrams (its sessions' CLOSE) and the end of its hop session in one read: the
    // relay takes both before it sends anything
    for (const seq of [1, 2, 3]) {
      const d = B.client.wrap(L.now, chB, fakePacket(seq));
      if (d === null) throw new Error('no channel');
      L.service.handleChannelData(L.now, B.hop, d);
    }
    L.service.clientDown(L.now, B.key);
    // in this order: the three datagrams on a's channel, then the close notice to a
    const out: string[] = [];
    for (let t = L.service.pollTransmit(L.now); t !== null; t = L.service.pollTransmit(L.now)) {
      if (t.hop !== A.hop) continue;
      if (t.kind === 'control') out.push('control');
      else {
        expect(A.client.unwrap(L.now, t.data)?.channel).toBe(chA);
        out.push(`packet ${seqOf(t.data)}`);
      }
    }
    expect(out).toEqual(['packet 1', 'packet 2', 'packet 3', 'control']);
    expect(L.service.stats().dropped.circuit_closed).toBe(0);
    expect(L.service.stats().packetsForwarded).toBe(3);
  });

  it('a client whose hop goes down sees every channel closed and every request failed', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    L.add('b');
    const C = L.add('c');
    const { chA } = L.circuit('a', 'b');
    C.events.length = 0;
    const pendingId = A.client.connect(L.now, C.key); // C does not answer yet
    L.pump();
    A.client.hopDown(L.now);
    for (let e = A.client.pollEvent(); e; e = A.client.pollEvent()) A.events.push(e);
    expect(A.events.filter((e) => e.type === 'closed')).toContainEqual(
      expect.objectContaining({ channel: chA, reason: 'hop_down' }),
    );
    expect(A.events.filter((e) => e.type === 'rejected')).toContainEqual(
      expect.objectContaining({ requestId: pendingId, reason: 'hop_down' }),
    );
    expect(() => A.client.connect(L.now, C.key)).toThrow(expect.objectContaining({ code: 'RELAY_HOP_DOWN' }));
  });

  it('a key connecting from a second hop replaces the first: STATUS same_key_elsewhere, circuits `replaced`', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    const old = A.hop;
    A.hop = 'hop:a2';
    L.service.clientUp(L.now, A.key, A.hop);
    // the STATUS for the old hop session was addressed to the old hop
    const t = L.service.pollTransmit(L.now);
    expect(t).toMatchObject({ kind: 'control', hop: old });
    L.pump();
    expect(lastOf(B.events, 'closed')?.reason).toBe('replaced');
    expect(L.service.stats().clients).toBe(2);
    // a late clientDown of the replaced session leaves the new one alone
    L.service.clientDown(L.now, A.key, old);
    expect(L.service.stats().clients).toBe(2);
  });

  it('a migrated hop keeps its circuits', () => {
    const L = new Local({ policy: openPolicy() });
    const A = L.add('a');
    const B = L.add('b');
    L.circuit('a', 'b');
    A.hop = 'hop:a-moved';
    L.service.clientMoved(L.now, A.key, A.hop);
    L.send('b', 'a', fakePacket(3));
    expect(A.inbox).toHaveLength(1);
    L.send('a', 'b', fakePacket(4));
    expect(B.inbox).toHaveLength(1);
  });
});
