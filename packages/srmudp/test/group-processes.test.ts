// 100 group members over real sockets on loopback, in 4 child processes: every live member
// receives each broadcast exactly once, before and after 10 members leave or crash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './scale/group-cluster.js';

const N = 100;

describe(`a group of ${N} members in 4 processes`, () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start(N, 4, 'gossip');
    await cluster.build(90_000);
  }, 180_000);

  afterAll(async () => {
    await cluster?.close();
  });

  async function deliveredOnce(ids: { id: string; origin: number }[], live: (i: number) => boolean) {
    const end = Date.now() + 30_000;
    let counts: number[][] = [];
    for (;;) {
      counts = await cluster.counts(ids.map((x) => x.id));
      const done = ids.every(({ origin }, k) =>
        (counts[k] as number[]).every((c, i) => i === origin || !live(i) || c >= 1),
      );
      if (done || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // late duplicates would show up now
    await new Promise((r) => setTimeout(r, 1000));
    counts = await cluster.counts(ids.map((x) => x.id));
    ids.forEach(({ origin }, k) => {
      const row = counts[k] as number[];
      const wrong = row
        .map((c, i) => ({ i, c }))
        .filter(({ i, c }) => live(i) && c !== (i === origin ? 0 : 1));
      expect(wrong, `message ${k} from member ${origin}: members with a count other than 1`).toEqual([]);
    });
  }

  it('every member receives each broadcast exactly once, holding at most 7 connections', async () => {
    // connections being closed (evictions, refused requests during the joins) go within seconds
    await cluster.until((st) => Math.max(...st.connections) <= 7, 20_000, 'at most 7 connections each');
    const ids: { id: string; origin: number }[] = [];
    for (const origin of [0, 37, 64, 99, 12])
      ids.push({ id: await cluster.broadcast(origin, `from ${origin}`), origin });
    await deliveredOnce(ids, () => true);
  }, 60_000);

  it('after 5 members leave and 5 crash, the live ones still receive each broadcast once', async () => {
    const leaving = [3, 28, 51, 77, 90];
    const crashing = [8, 33, 58, 71, 95];
    await cluster.kill(leaving, true);
    await cluster.kill(crashing, false);
    const gone = new Set([...leaving, ...crashing]);
    await cluster.until((s) => s.neighbours.every((x, i) => gone.has(i) || x > 0), 30_000, 'views repaired');
    const ids: { id: string; origin: number }[] = [];
    for (const origin of [1, 50, 98])
      ids.push({ id: await cluster.broadcast(origin, `after ${origin}`), origin });
    await deliveredOnce(ids, (i) => !gone.has(i));
    const counts = await cluster.counts(ids.map((x) => x.id));
    for (const row of counts) for (const i of gone) expect(row[i]).toBe(0);
  }, 90_000);
});
