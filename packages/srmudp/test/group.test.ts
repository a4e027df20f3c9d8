// Groups over real sockets on loopback: 20 members in one process, each holding a handful of
// connections, every live member receiving each broadcast exactly once; members leaving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNode, type Group, type GroupMessage, type SrmudpNode } from '../src/index.js';
import { text, waitFor } from './helpers.js';

interface Member {
  node: SrmudpNode;
  group: Group;
  /** message id → times delivered */
  got: Map<string, number>;
  texts: string[];
}

const N = 20;
const ROOM = 'loopback-room';

async function member(bootstrap: string[]): Promise<Member> {
  const node = await createNode({ host: '127.0.0.1' });
  const group = node.group(ROOM, { bootstrap });
  const m: Member = { node, group, got: new Map(), texts: [] };
  group.onMessage((msg: GroupMessage) => {
    m.got.set(msg.id, (m.got.get(msg.id) ?? 0) + 1);
    m.texts.push(text(msg.data));
  });
  return m;
}

/** Members join one after another through up to 3 members already in the group. */
async function buildGroup(n: number): Promise<Member[]> {
  const members: Member[] = [await member([])];
  for (let i = 1; i < n; i++) {
    const inGroup = members.slice(-6);
    const cards = inGroup.slice(0, 3).map((m) => m.node.contactCard());
    const m = await member(cards);
    members.push(m);
    await waitFor(() => m.group.neighbours().length > 0, 15_000, `member ${i} has a neighbour`);
  }
  return members;
}

/** Waits until every member but the origin delivered `id`; returns when all have. */
async function delivered(members: Member[], origin: Member, id: string, ms = 20_000): Promise<void> {
  await waitFor(
    () => members.every((m) => m === origin || (m.got.get(id) ?? 0) >= 1),
    ms,
    `every member delivered ${id.slice(0, 8)} (missing: ${members.filter((m) => m !== origin && !m.got.has(id)).length})`,
  );
}

describe(`a group of ${N} members on loopback`, () => {
  let members: Member[] = [];

  beforeAll(async () => {
    members = await buildGroup(N);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(members.map((m) => m.node.close()));
  });

  it('holds a handful of connections per member and a connected membership', async () => {
    // views settle: every member has neighbours, nobody holds more than active view + 2
    await waitFor(() => members.every((m) => m.group.neighbours().length >= 1), 20_000, 'neighbours');
    // connections being closed (a neighbour evicted, a request refused) take a moment to go
    await waitFor(
      () => members.every((m) => m.node.stats().endpoint.connections <= 5 + 2),
      10_000,
      `at most 7 connections each (${members.map((m) => m.node.stats().endpoint.connections).join(' ')})`,
    );
    for (const m of members) {
      expect(m.node.groupStats()?.connections).toBeLessThanOrEqual(5 + 2);
      expect(m.group.members().length).toBeGreaterThanOrEqual(m.group.neighbours().length);
    }
  });

  it('delivers every broadcast to every member exactly once', async () => {
    const ids: { id: string; origin: Member }[] = [];
    for (let i = 0; i < 6; i++) {
      const origin = members[(i * 7) % N] as Member;
      ids.push({ id: origin.group.broadcast(`hello ${i} from ${origin.node.peerId.slice(0, 8)}`), origin });
    }
    for (const { id, origin } of ids) await delivered(members, origin, id);
    // let duplicates (if any were to be delivered) arrive: IHAVE batches, grafts
    await new Promise((r) => setTimeout(r, 1000));
    for (const { id, origin } of ids) {
      for (const m of members) expect(m.got.get(id) ?? 0).toBe(m === origin ? 0 : 1);
    }
    const last = members[N - 1] as Member;
    expect(last.texts).toContain(`hello 0 from ${(members[0] as Member).node.peerId.slice(0, 8)}`);
    // application messages on the same connections are untouched by the gossip framing
    const a = members[0] as Member;
    const b = members.find((m) => a.group.neighbours().includes(m.node.peerId)) as Member;
    const conn = a.node.connection(b.node.peerId);
    expect(conn).toBeDefined();
    const app = new Uint8Array([0xf7, 0x01, 0x02]); // starts like a façade message: escaped
    const got = new Promise<Uint8Array>((resolve) => b.node.onMessage((m) => resolve(m.data)));
    conn?.send(app);
    expect(await got).toEqual(app);
    b.node.onMessage(null);
  }, 60_000);

  it('a large payload travels as a blob and arrives whole', async () => {
    const origin = members[3] as Member;
    const big = new Uint8Array(100_000).map((_, i) => i * 31);
    const id = origin.group.broadcast(big);
    const received = new Map<Member, Uint8Array>();
    for (const m of members) {
      if (m !== origin) m.group.once('message', (msg: GroupMessage) => received.set(m, msg.data));
    }
    await delivered(members, origin, id, 30_000);
    for (const m of members) {
      if (m === origin) continue;
      expect(m.got.get(id)).toBe(1);
      expect(received.get(m)).toEqual(big);
    }
    // it went as a blob: announced along the tree, fetched from a neighbour
    expect(members.some((m) => (m.node.groupStats()?.framesSent.gossip ?? 0) > 0)).toBe(true);
  }, 40_000);

  it('members that leave or crash: the others still get every broadcast, once', async () => {
    // two leave gracefully, two crash (node closed: their neighbours see the connection end)
    const gone = [members[5], members[11], members[14], members[17]] as Member[];
    (gone[0] as Member).group.leave();
    (gone[1] as Member).group.leave();
    expect((gone[0] as Member).group.isLeft).toBe(true);
    expect(() => (gone[0] as Member).group.broadcast('x')).toThrow(/left group/);
    await Promise.all([(gone[2] as Member).node.close(), (gone[3] as Member).node.close()]);
    const live = members.filter((m) => !gone.includes(m));
    // the views repair (a lost neighbour is replaced from the passive view)
    await waitFor(() => live.every((m) => m.group.neighbours().length >= 1), 20_000, 'views repaired');
    const origin = live[live.length - 1] as Member;
    const id = origin.group.broadcast('after the departures');
    await delivered(live, origin, id);
    await new Promise((r) => setTimeout(r, 500));
    for (const m of live) expect(m.got.get(id) ?? 0).toBe(m === origin ? 0 : 1);
    for (const m of gone) expect(m.got.has(id)).toBe(false);
  }, 60_000);
});
