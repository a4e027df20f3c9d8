// The original srmudp multi-peer semantics (issue 5): four nodes on loopback in a full mesh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNode, type SrmudpNode } from '../src/index.js';
import { allEstablished, text, waitFor } from './helpers.js';

describe('four nodes in a full mesh on loopback', () => {
  const nodes: Record<string, SrmudpNode> = {};
  const names = ['A', 'B', 'C', 'D'];

  beforeAll(async () => {
    for (const n of ['A', 'B', 'C']) nodes[n] = await createNode({ host: '127.0.0.1' });
    const card = (n: string) => (nodes[n] as SrmudpNode).contactCard();
    // D is given its peers at creation, the others later with peers.add (C in two calls)
    nodes.D = await createNode({ host: '127.0.0.1', peers: { A: card('A'), B: card('B'), C: card('C') } });
    nodes.A?.peers.add({ B: card('B'), C: card('C'), D: card('D') });
    nodes.B?.peers.add({ A: card('A'), C: card('C'), D: card('D') });
    nodes.C?.peers.add({ A: card('A'), B: card('B') });
    nodes.C?.peers.add({ D: card('D') });
    for (const n of names) {
      const others = names.filter((o) => o !== n);
      await waitFor(() => allEstablished(nodes[n] as SrmudpNode, others), 10_000, `${n} established`);
    }
  });

  afterAll(async () => {
    await Promise.all(Object.values(nodes).map((n) => n.close()));
  });

  const node = (n: string) => nodes[n] as SrmudpNode;

  it('reports every peer established with a direct path and an RTT (null until measured, then a real figure)', async () => {
    for (const n of names) {
      const st = node(n).status();
      for (const o of names.filter((x) => x !== n)) {
        expect(st[o]?.state).toBe('established');
        expect(st[o]?.path?.kind).toBe('direct');
        expect(st[o]?.rttMs === null || (st[o]?.rttMs as number) >= 0).toBe(true);
        expect(st[o]?.peerId).toBe(node(o).peerId);
      }
    }
    // every direction is measured within a few round trips (bounded wait)
    const measured = () =>
      names.every((n) => names.every((o) => o === n || node(n).status()[o]?.rttMs !== null));
    for (let i = 0; i < 200 && !measured(); i++) await new Promise((r) => setTimeout(r, 10));
    for (const n of names) {
      const st = node(n).status();
      for (const o of names.filter((x) => x !== n)) {
        expect(st[o]?.rttMs).toBeGreaterThan(0);
        // loopback: far below RFC 9002's 333 ms default that an unmeasured RTT used to show
        expect(st[o]?.rttMs).toBeLessThan(300);
      }
    }
  });

  it('sends to all peers, and a node never receives its own message', async () => {
    expect(node('A').send('hello all').sort()).toEqual(['B', 'C', 'D']);
    for (const n of ['B', 'C', 'D']) {
      const m = await node(n).receive({ timeout: 5000 });
      expect(m?.peer).toBe('A');
      expect(text(m?.data ?? new Uint8Array())).toBe('hello all');
      expect(m?.timestamp).toBeGreaterThan(0);
    }
    expect(await node('A').receive({ timeout: 200 })).toBeNull();
  });

  it('sends to a subset: B and C get it, D gets nothing', async () => {
    expect(
      node('A')
        .send('to B and C', { to: ['B', 'C'] })
        .sort(),
    ).toEqual(['B', 'C']);
    for (const n of ['B', 'C'])
      expect(text((await node(n).receive({ timeout: 5000 }))?.data ?? new Uint8Array())).toBe('to B and C');
    expect(await node('D').receive({ timeout: 300 })).toBeNull();
  });

  it('sends to one peer only', async () => {
    node('A').send('only B', { to: ['B'] });
    expect(text((await node('B').receive({ timeout: 5000 }))?.data ?? new Uint8Array())).toBe('only B');
    expect(await node('C').receive({ timeout: 300 })).toBeNull();
    expect(await node('D').receive({ timeout: 10 })).toBeNull();
  });

  it('a hook consumes messages so receive() returns null', async () => {
    const got: string[] = [];
    node('B').onMessage((m) => got.push(`${m.peer}:${text(m.data)}`));
    node('A').send('hooked', { to: ['B'] });
    await waitFor(() => got.length === 1, 5000, 'hook');
    expect(got).toEqual(['A:hooked']);
    expect(await node('B').receive({ timeout: 300 })).toBeNull();
    node('B').onMessage(null);
  });

  it('after A removes B and B removes A, A still reaches C and D and B gets nothing more from A', async () => {
    node('A').peers.remove(['B']);
    node('B').peers.remove(['A']);
    await waitFor(
      () => node('A').status().B === undefined && node('A').connection('B') === undefined,
      5000,
      'A drops B',
    );
    expect(node('A').send('after removal').sort()).toEqual(['C', 'D']);
    for (const n of ['C', 'D']) {
      expect(text((await node(n).receive({ timeout: 5000 }))?.data ?? new Uint8Array())).toBe(
        'after removal',
      );
    }
    // a removed name is no longer known: an error naming it (issue 21 item 4; it returned [] before)
    expect(() => node('A').send('to removed B', { to: ['B'] })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_PEER' }),
    );
    expect(node('A').send('to B by peer id', { to: [node('B').peerId] })).toEqual([]);
    expect(await node('B').receive({ timeout: 500 })).toBeNull();
    // the others are unaffected
    node('C').send('from C', { to: ['B'] });
    expect((await node('B').receive({ timeout: 5000 }))?.peer).toBe('C');
  });
});
