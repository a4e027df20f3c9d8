/**
 * `node.nat`: what the node knows about its NAT (the NAT session's status, candidates and
 * counters), and the waits on it: `ready()` and `regather()` resolve once a gathering has a
 * result, at most their timeout later, and at once when the node closes.
 */
import type { NatSession, NatSessionStats, NatSessionStatus, ReflexiveCandidate } from '@srmudp/punch';
import type { Driver } from './driver.js';

/** What the node knows about its NAT, and what it can be asked (`node.nat`). */
export interface NodeNat {
  /**
   * State of gathering, classification (mapping, filtering) for IPv4 and IPv6 apart in
   * `families` (`nat` is IPv4's when both have one), server-reflexive endpoints, and why the last
   * gathering failed (`NO_STUN_SERVER`: none resolved or reachable, e.g. offline;
   * `UDP_BLOCKED`: no server answered), and the router port mapping (`portMapping`: state,
   * external address, protocol, lease end, last error).
   */
  status(): NatSessionStatus;
  /**
   * Resolves with the status once the first gathering has a result (or gathering is off or has
   * no server), at most `timeoutMs` (default 15 s) later. Start-up never waits for it.
   */
  ready(opts?: { timeoutMs?: number }): Promise<NatSessionStatus>;
  /** Gathers again now; resolves with the status when that gathering has a result. */
  regather(opts?: { timeoutMs?: number }): Promise<NatSessionStatus>;
  /** The server-reflexive candidates now (cards and records carry them). */
  candidates(): ReflexiveCandidate[];
  /** Dial and birthday counters (attempts, probes, pool hits…) and dropped STUN datagrams. */
  stats(): Readonly<NatSessionStats>;
}

const DEFAULT_WAIT_MS = 15_000;

/** The waits on the NAT session behind `node.nat`. */
export class NatWaits {
  private waiters: Array<{ after: number; resolve: () => void }> = [];

  constructor(
    private readonly session: NatSession,
    private readonly driver: Driver,
  ) {}

  /** `node.nat`; `assertOpen` throws once the node is closed, `kick` runs the loop. */
  api(assertOpen: () => void, kick: () => void): NodeNat {
    return {
      status: () => this.session.status(),
      ready: (o = {}) => this.settled(o.timeoutMs ?? DEFAULT_WAIT_MS),
      regather: (o = {}) => {
        assertOpen();
        this.session.regather(this.driver.clock(), 'requested');
        kick();
        return this.settled(o.timeoutMs ?? DEFAULT_WAIT_MS);
      },
      candidates: () => this.session.candidates(),
      stats: () => this.session.stats(),
    };
  }

  /** A gathering has a result (`gatherings` of them so far): the waits begun before it resolve. */
  gathered(gatherings: number): void {
    for (const w of [...this.waiters]) if (gatherings > w.after) w.resolve();
  }

  /** The node closed: every wait resolves. */
  close(): void {
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /**
   * Resolves with the status once the NAT session is not resolving names or gathering (at once
   * when it is not), at most `timeoutMs` later.
   */
  private settled(timeoutMs: number): Promise<NatSessionStatus> {
    const st = this.session.status().state;
    if (this.driver.stopped || (st !== 'resolving' && st !== 'gathering')) {
      return Promise.resolve(this.session.status());
    }
    return new Promise((resolve) => {
      const timer = this.driver.after(timeoutMs, () => done());
      const w = { after: this.session.status().gatherings, resolve: () => done() };
      const done = () => {
        timer.cancel();
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(this.session.status());
      };
      this.waiters.push(w);
    });
  }
}
