// A group of N members spread over a few child processes (fixtures/group-members.ts), in gossip
// or full-mesh mode. Every wait is bounded.
import { fileURLToPath } from 'node:url';
import { PeerProcess } from '../peer-process.js';

const fixture = fileURLToPath(new URL('../fixtures/group-members.ts', import.meta.url));

export interface Measure {
  heapUsed: number;
  rss: number;
  cpuMicros: number;
  connections: number;
}

export interface MemberDiag {
  id: string;
  active: string[];
  eager: string[];
  lazy: string[];
  pending: string[];
  connections: number;
  stats: {
    delivered: number;
    duplicates: number;
    unroutable: number;
    connections: number;
    drops: Record<string, number>;
    sent: Record<string, number>;
    received: Record<string, number>;
  } | null;
}

export class Cluster {
  private constructor(
    readonly mode: 'gossip' | 'mesh',
    readonly procs: PeerProcess[],
    readonly cards: string[],
    readonly per: number,
  ) {}

  static async start(total: number, processes: number, mode: 'gossip' | 'mesh'): Promise<Cluster> {
    const per = Math.ceil(total / processes);
    const started = await Promise.all(
      Array.from({ length: processes }, (_, i) =>
        PeerProcess.start({ count: Math.min(per, total - i * per), mode }, fixture, [
          '--expose-gc',
          // e.g. --cpu-prof --cpu-prof-dir=/tmp/prof (diagnosis)
          ...(process.env.SRMUDP_GROUP_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
        ]),
      ),
    );
    const cards = started.flatMap((s) => s.ready.cards as string[]);
    return new Cluster(
      mode,
      started.map((s) => s.peer),
      cards,
      per,
    );
  }

  get size(): number {
    return this.cards.length;
  }

  private where(i: number): { p: PeerProcess; local: number } {
    return { p: this.procs[Math.floor(i / this.per)] as PeerProcess, local: i % this.per };
  }

  /** 120 s: a process holding thousands of mesh connections answers slowly on a loaded machine */
  private async ask(p: PeerProcess, cmd: object, reply: string, ms = 120_000) {
    p.send(cmd);
    return p.next((m) => m.type === reply, ms);
  }

  /** Joins members `from..to-1`: each through `bootstrap(i)` (cards of other members). */
  async join(from: number, to: number, bootstrap: (i: number) => number[]): Promise<void> {
    const byProc = new Map<PeerProcess, Record<string, string[]>>();
    for (let i = from; i < to; i++) {
      const { p, local } = this.where(i);
      const b = byProc.get(p) ?? {};
      b[local] = bootstrap(i).map((j) => this.cards[j] as string);
      byProc.set(p, b);
    }
    await Promise.all(
      [...byProc].map(([p, b]) => this.ask(p, { type: 'join', bootstrap: b }, 'joined', 120_000)),
    );
  }

  async status(): Promise<{ neighbours: number[]; connections: number[] }> {
    const all = await Promise.all(this.procs.map((p) => this.ask(p, { type: 'status' }, 'status', 120_000)));
    return {
      neighbours: all.flatMap((s) => s.neighbours as number[]),
      connections: all.flatMap((s) => s.connections as number[]),
    };
  }

  /** Polls status until `ok` (bounded). */
  async until(
    ok: (s: { neighbours: number[]; connections: number[] }) => boolean,
    ms: number,
    what: string,
  ): Promise<void> {
    const end = Date.now() + ms;
    let last: { neighbours: number[]; connections: number[] } | null = null;
    while (Date.now() < end) {
      last = await this.status();
      if (ok(last)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(last)}`);
  }

  /**
   * Gossip: members join in batches of 10, each through 3 members of earlier batches. Mesh: in
   * batches of 10 too, each member of a batch names every member so far (it dials the earlier
   * ones, which accept), then every member names every other one (the connections exist: the
   * first connection wins). All 100 naming all at once (9,900 dials together) established no
   * connection within 240 s on the loaded 2-core machine; `ms` bounds each batch.
   */
  async build(ms = 120_000): Promise<void> {
    const n = this.size;
    if (this.mode === 'mesh') {
      for (let start = 0; start < n; start += 10) {
        const end = Math.min(n, start + 10);
        await this.join(start, end, (i) => [...Array(end).keys()].filter((j) => j !== i));
        await this.until(
          (s) => s.connections.slice(0, end).every((c) => c >= end - 1),
          ms,
          `mesh of members 0..${end - 1}`,
        );
      }
      await this.join(0, n, (i) => [...Array(n).keys()].filter((j) => j !== i));
      await this.until((s) => s.connections.every((c) => c >= n - 1), ms, 'full mesh');
      return;
    }
    await this.join(0, 1, () => []);
    let rng = 12345;
    const pick = (k: number) => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return rng % k;
    };
    for (let start = 1; start < n; start += 10) {
      const end = Math.min(n, start + 10);
      await this.join(start, end, () => {
        const s = new Set<number>();
        while (s.size < Math.min(3, start)) s.add(pick(start));
        return [...s];
      });
      await this.until(
        (st) => st.neighbours.slice(0, end).every((x) => x > 0),
        ms,
        `members ${start}..${end - 1} joined`,
      );
    }
  }

  async broadcast(member: number, text: string, tag = ''): Promise<string> {
    const { p, local } = this.where(member);
    const r = await this.ask(p, { type: 'broadcast', member: local, text, tag }, 'sent');
    return r.id as string;
  }

  /** Deliveries of each id at each member (global order). */
  async counts(ids: string[]): Promise<number[][]> {
    const all = await Promise.all(this.procs.map((p) => this.ask(p, { type: 'counts', ids }, 'counts')));
    return ids.map((_, k) => all.flatMap((a) => (a.counts as number[][])[k] as number[]));
  }

  /** Per member (global order): its id, gossip views and counters (see the fixture's 'diag'). */
  async diag(): Promise<MemberDiag[]> {
    const all = await Promise.all(this.procs.map((p) => this.ask(p, { type: 'diag' }, 'diag')));
    return all.flatMap((a) => a.members as MemberDiag[]);
  }

  /** First delivery time (Date.now(), -1 if none) of each id at each member (global order). */
  async times(ids: string[]): Promise<number[][]> {
    const all = await Promise.all(this.procs.map((p) => this.ask(p, { type: 'times', ids }, 'times')));
    return ids.map((_, k) => all.flatMap((a) => (a.times as number[][])[k] as number[]));
  }

  async kill(members: number[], leave: boolean): Promise<void> {
    const byProc = new Map<PeerProcess, number[]>();
    for (const i of members) {
      const { p, local } = this.where(i);
      byProc.set(p, [...(byProc.get(p) ?? []), local]);
    }
    await Promise.all(
      [...byProc].map(([p, m]) => this.ask(p, { type: 'kill', members: m, leave }, 'killed')),
    );
  }

  async measure(): Promise<Measure> {
    const all = await Promise.all(this.procs.map((p) => this.ask(p, { type: 'measure' }, 'measure')));
    return {
      heapUsed: all.reduce((s, a) => s + (a.heapUsed as number), 0),
      rss: all.reduce((s, a) => s + (a.rss as number), 0),
      cpuMicros: all.reduce(
        (s, a) => s + (a.cpu as { user: number; system: number }).user + (a.cpu as { system: number }).system,
        0,
      ),
      connections: all.reduce((s, a) => s + (a.connections as number), 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
  }
}
