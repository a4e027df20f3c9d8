import { ReliableConnection, type ReliableEvent, type ReliableOptions } from '../../src/index.js';

/** Minimal deterministic pipe between two connections (unit tests; the property and performance
 * tests use @srmudp/sim). Delay is one-way ms; `drop(from, pn)` decides losses. */
export class Pair {
  now = 0;
  readonly a: ReliableConnection;
  readonly b: ReliableConnection;
  readonly eventsA: ReliableEvent[] = [];
  readonly eventsB: ReliableEvent[] = [];
  private inflight: { at: number; to: 'a' | 'b'; pn: number; payload: Uint8Array; seq: number }[] = [];
  private seq = 0;
  drop: (from: 'a' | 'b', pn: number, size: number) => boolean = () => false;
  maxSize = 1500;
  delivered = 0;
  /** ms the clock moves between handling a step's packets and timers and sending what they
   * caused: a real driver sends on a later turn of its loop, with a later `now` (default 0) */
  turnMs = 0;

  constructor(
    public delay = 10,
    optsA: Partial<ReliableOptions> = {},
    optsB: Partial<ReliableOptions> = {},
  ) {
    this.a = new ReliableConnection({ role: 'initiator', now: 0, overhead: 8, ...optsA });
    this.b = new ReliableConnection({ role: 'responder', now: 0, overhead: 8, ...optsB });
  }

  private flush(): void {
    for (const [name, c] of [
      ['a', this.a],
      ['b', this.b],
    ] as const) {
      for (let i = 0; i < 10_000; i++) {
        const t = c.pollTransmit(this.now);
        if (t === null) break;
        if (t.datagramSize > this.maxSize || this.drop(name, t.packetNumber, t.datagramSize)) continue;
        this.inflight.push({
          at: this.now + this.delay,
          to: name === 'a' ? 'b' : 'a',
          pn: t.packetNumber,
          payload: t.payload,
          seq: this.seq++,
        });
      }
      for (let ev = c.pollEvent(this.now); ev !== null; ev = c.pollEvent(this.now))
        (name === 'a' ? this.eventsA : this.eventsB).push(ev);
    }
  }

  /** Advances to the next event; false when nothing is scheduled. */
  step(): boolean {
    this.flush();
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.inflight) next = Math.min(next, p.at);
    const ta = this.a.pollTimeout();
    const tb = this.b.pollTimeout();
    if (ta !== null) next = Math.min(next, ta);
    if (tb !== null) next = Math.min(next, tb);
    if (!Number.isFinite(next)) return false;
    this.now = Math.max(this.now, next);
    const due = this.inflight.filter((p) => p.at <= this.now).sort((x, y) => x.at - y.at || x.seq - y.seq);
    this.inflight = this.inflight.filter((p) => p.at > this.now);
    for (const p of due) {
      this.delivered++;
      (p.to === 'a' ? this.a : this.b).handlePacket(this.now, p.pn, p.payload);
    }
    if (ta !== null && ta <= this.now) this.a.handleTimeout(this.now);
    if (tb !== null && tb <= this.now) this.b.handleTimeout(this.now);
    this.now += this.turnMs;
    this.flush();
    return true;
  }

  /** Steps until `until()` or the time/step bound. */
  run(until: () => boolean, maxTime = 60_000, maxSteps = 1_000_000): boolean {
    for (let i = 0; i < maxSteps && this.now <= maxTime; i++) {
      if (until()) return true;
      if (!this.step()) return until();
    }
    return until();
  }
}
